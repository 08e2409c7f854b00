/**
 * Real Coinbase data (/work/shared/fixtures/coinbase-real, see its README) through the real
 * code: 24 s of the Advanced Trade WebSocket replayed frame by frame to the feed, and the
 * recorded `/market/products` answer through `PRODUCTS=all`.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { Aggregator } from "../../lib/candles/aggregator.ts";
import type { Candle, CandleUpdate } from "../../lib/candles/candle.ts";
import { parseUnits, unitsToNumber } from "../../lib/candles/decimal.ts";
import { GRANULARITIES, granularityById } from "../../lib/candles/granularity.ts";
import { loadConfig } from "../../lib/config.ts";
import { Feed } from "../../lib/coinbase/feed.ts";
import type { FeedGap } from "../../lib/exchange/feed_types.ts";
import { parseRfc3339 } from "../../lib/coinbase/wire_values.ts";
import type { Trade } from "../../lib/candles/trade.ts";
import { RestClient } from "../../lib/coinbase/rest.ts";
import { catalogueEntry, resolveProducts } from "../../lib/history/catalogue.ts";

/** A recorded wire trade as the one parsed trade type (what parseFrame yields). */
function toTrade(
  x: { product_id: string; trade_id: string; price: string; size: string; time: string },
): Trade {
  return {
    product: x.product_id,
    id: Number(x.trade_id),
    price: Number(x.price),
    size: parseUnits(x.size),
    timeMs: parseRfc3339(x.time),
  };
}
import { referenceCandles, referenceList } from "../candles/reference.ts";

/** Byte-exact copies of the recordings, with their README. */
const FIXTURE_DIR = new URL("../fixtures/coinbase-real", import.meta.url).pathname;

interface RecordLine {
  t: "header" | "connect" | "send" | "recv";
  ts?: number;
  data?: string;
}

interface RawTrade {
  product_id: string;
  trade_id: string;
  price: string;
  size: string;
  time: string;
  side: string;
}

interface RawCandle {
  start: string;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  product_id: string;
}

const BUCKET_S = 300;
/** The open bucket of the capture: 2026-08-09 21:05 UTC. */
const BUCKET_2105 = Date.UTC(2026, 7, 9, 21, 5, 0) / 1000;

const lines: RecordLine[] = (await Deno.readTextFile(`${FIXTURE_DIR}/ws-2026-08-09-btc-eth.jsonl`))
  .split("\n").filter(Boolean).map((l) => JSON.parse(l));
const received = lines.filter((l) => l.t === "recv");

/** Seconds-shifts every time field of a frame's text, keeping fractions and everything else. */
function shiftFrame(text: string, shiftS: number): string {
  return text
    .replace(/(\d{4}-\d{2}-\d{2})([T ])(\d{2}:\d{2}:\d{2})/g, (_, day, sep, time) => {
      const iso = new Date(Date.parse(`${day}T${time}Z`) + shiftS * 1000).toISOString();
      return `${iso.slice(0, 10)}${sep}${iso.slice(11, 19)}`;
    })
    .replace(/"start":"(\d+)"/g, (_, s) => `"start":"${Number(s) + shiftS}"`);
}

/** Renumbers `sequence_num` 0, 1, 2 … in frame order (the capture left out frames it numbered). */
function renumber(text: string, seq: number): string {
  return text.replace(/"sequence_num":\d+/, `"sequence_num":${seq}`);
}

/** Every trade of the capture (snapshots and updates, with repeats), as recorded. */
function recordedTrades(): RawTrade[] {
  const out: RawTrade[] = [];
  for (const l of received) {
    const f = JSON.parse(l.data!);
    if (f.channel !== "market_trades") continue;
    for (const e of f.events) out.push(...e.trades);
  }
  return out;
}

/** Every `candles` item of the capture with its frame's time (epoch ms). */
function recordedCandles(): { frameMs: number; type: string; candle: RawCandle }[] {
  const out: { frameMs: number; type: string; candle: RawCandle }[] = [];
  for (const l of received) {
    const f = JSON.parse(l.data!);
    if (f.channel !== "candles") continue;
    for (const e of f.events) {
      for (const c of e.candles) {
        out.push({ frameMs: parseRfc3339(f.timestamp), type: e.type, candle: c });
      }
    }
  }
  return out;
}

/** Waits (polling every 20 ms) until `cond` holds or `ms` pass. */
async function until(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** A one-connection WebSocket server that replays `frames` once the client subscribes. */
function replayServer(frames: string[], gapsMs: number[]) {
  const subscribes: string[] = [];
  let sent = 0;
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    let started = false;
    socket.onmessage = async (e) => {
      subscribes.push(String(e.data));
      if (started) return;
      started = true;
      for (let i = 0; i < frames.length; i++) {
        if (gapsMs[i]! > 0) await new Promise((r) => setTimeout(r, gapsMs[i]));
        if (socket.readyState !== WebSocket.OPEN) return;
        socket.send(frames[i]!);
        sent++;
      }
    };
    return response;
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}`,
    subscribes,
    sent: () => sent,
    close: () => server.shutdown(),
  };
}

Deno.test("the recorded Coinbase WebSocket session through the real feed", async (t) => {
  // Whole 5-minute buckets that bring the capture's start to at most now.
  const firstS = received[0]!.ts!;
  const shiftS = Math.floor((Date.now() / 1000 - firstS) / BUCKET_S) * BUCKET_S;
  ok(shiftS > 0 && shiftS % BUCKET_S === 0);
  // The capture, then its two market_trades snapshots once more: what a resubscribe replays.
  const snapshots = received.filter((l) =>
    /"channel":"market_trades".*"type":"snapshot"/.test(l.data!)
  );
  equal(snapshots.length, 2);
  const frames = [...received, ...snapshots].map((l, i) =>
    renumber(shiftFrame(l.data!, shiftS), i)
  );
  // The recorded pacing, 20 times faster (the 24 s take about 1.2 s).
  const gapsMs = [...received, ...snapshots].map((l, i) =>
    i === 0 || i >= received.length ? 0 : (l.ts! - received[i - 1]!.ts!) * 1000 / 20
  );
  const server = replayServer(frames, gapsMs);

  const aggregator = new Aggregator();
  const updates: CandleUpdate[] = [];
  const delivered: Trade[] = [];
  const gaps: FeedGap[] = [];
  const feed = new Feed({
    url: server.url,
    products: ["BTC-USD", "ETH-USD"],
    connectIntervalMs: 0,
    staleAfterMs: 5000,
    handlers: {
      // What the service does with a frame's trades (lib/service/pipeline.ts onTrades).
      onTrades: (trades) => {
        delivered.push(...trades);
        for (const x of trades) aggregator.add(x);
        updates.push(...aggregator.drain());
      },
      onGap: (g) => gaps.push(g),
    },
  });
  const shifted = recordedTrades().map((x) => JSON.parse(shiftFrame(JSON.stringify(x), shiftS)));
  const distinct = new Map(shifted.map((x) => [`${x.product_id}:${x.trade_id}`, x]));
  try {
    feed.start();
    await until(() => feed.stats.frames >= frames.length, 15_000);
    equal(server.sent(), frames.length, "every recorded frame was sent");

    await t.step("the feed subscribes to market_trades and heartbeats, one channel each", () => {
      deepStrictEqual(server.subscribes.map((s) => JSON.parse(s).channel), [
        "market_trades",
        "heartbeats",
      ]);
      deepStrictEqual(JSON.parse(server.subscribes[0]!).product_ids, ["BTC-USD", "ETH-USD"]);
    });

    await t.step("all 279 trades are accepted, and none twice", () => {
      equal(distinct.size, 279, "the capture's distinct trades");
      // The feed passes replays on; the aggregator alone drops repeated ids.
      equal(delivered.length, 279 + 200, "the capture's trades and the replayed snapshots'");
      deepStrictEqual(
        new Set(delivered.map((x) => `${x.product}:${x.id}`)),
        new Set(distinct.keys()),
      );
      equal(feed.stats.rejectedTrades, 0);
      equal(feed.stats.garbageFrames, 0);
      equal(feed.stats.errors, 0);
      equal(feed.stats.frames, frames.length);
      equal(aggregator.stats.trades, 279);
      equal(aggregator.stats.duplicates, 200, "the replayed snapshots' 200 trades dropped");
    });

    await t.step(
      "each snapshot ends where the updates begin: no trade between, none in both",
      () => {
        for (const product of ["BTC-USD", "ETH-USD"]) {
          const ids = recordedTrades().filter((x) => x.product_id === product).map((x) =>
            Number(x.trade_id)
          );
          equal(ids.length, new Set(ids).size, `${product}: no trade recorded twice`);
          const sorted = [...ids].sort((a, b) => a - b);
          equal(sorted.at(-1)! - sorted[0]! + 1, ids.length, `${product}: ids are contiguous`);
        }
      },
    );

    await t.step("renumbered frames show no sequence gap and no reconnect", () => {
      deepStrictEqual(gaps, []);
      equal(feed.stats.sequenceGaps, 0);
      equal(feed.stats.reconnects, 0);
      equal(feed.status()[0]!.state, "subscribed");
    });

    await t.step("candles at every granularity equal a naive fold of the trades", () => {
      const lastMs = Math.max(...delivered.map((x) => x.timeMs));
      // The clock passes the end of every bucket (the day included).
      aggregator.tick(lastMs + 86_400_000 + 10_000);
      updates.push(...aggregator.drain());
      const ref = referenceCandles([...distinct.values()].map(toTrade));
      let compared = 0;
      for (const product of ["BTC-USD", "ETH-USD"]) {
        for (const g of GRANULARITIES) {
          const done = new Map<number, Candle>();
          for (const u of updates) {
            if (u.product === product && u.granularity === g.id && u.complete) {
              done.set(u.candle.start, u.candle);
            }
          }
          const ours = [...done.values()].sort((a, b) => a.start - b.start);
          const expected = referenceList(ref, product, g.id);
          deepStrictEqual(ours, expected, `${product} ${g.id}`);
          compared += expected.length;
        }
      }
      // Two or three minutes per product, one 5-minute bucket or two, one of each coarser.
      ok(compared >= 2 * (2 + 1 + 6), `compared ${compared} candles`);
    });
  } finally {
    await feed.stop();
    await server.close();
  }
});

Deno.test("the capture's own sequence numbers: the detector reports exactly the jumps the file has", async () => {
  const shiftS = Math.floor((Date.now() / 1000 - received[0]!.ts!) / BUCKET_S) * BUCKET_S;
  const frames = received.map((l) => shiftFrame(l.data!, shiftS));
  const seqs = received.map((l) => JSON.parse(l.data!).sequence_num as number);
  const jumps = seqs.filter((n, i) => i > 0 && n > seqs[i - 1]! + 1).length;
  ok(jumps > 20, `the capture skips numbers ${jumps} times (left-out ticker and level2 frames)`);
  const server = replayServer(frames, frames.map(() => 0));
  const gaps: FeedGap[] = [];
  let trades = 0;
  const feed = new Feed({
    url: server.url,
    products: ["BTC-USD", "ETH-USD"],
    connectIntervalMs: 0,
    handlers: { onTrades: (t) => trades += t.length, onGap: (g) => gaps.push(g) },
  });
  try {
    feed.start();
    await until(() => feed.stats.frames >= frames.length, 15_000);
    equal(feed.stats.frames, frames.length);
    equal(feed.stats.sequenceGaps, jumps);
    equal(gaps.length, jumps);
    ok(gaps.every((g) => g.reason === "sequence" && g.fromMs <= g.toMs));
    equal(trades, 279, "gaps do not cost trades: every one is still delivered");
  } finally {
    await feed.stop();
    await server.close();
  }
});

/** Folds trades (oldest first by id) into a candle of strings-exact values. */
function fold(trades: RawTrade[], start: number): Candle {
  const prices = trades.map((x) => Number(x.price));
  let volume = 0n;
  for (const x of trades) volume += BigInt(parseUnits(x.size));
  return {
    start,
    open: prices[0]!,
    high: Math.max(...prices),
    low: Math.min(...prices),
    close: prices.at(-1)!,
    volume: unitsToNumber(volume),
  };
}

function numbers(c: RawCandle): Candle {
  return {
    start: Number(c.start),
    open: Number(c.open),
    high: Number(c.high),
    low: Number(c.low),
    close: Number(c.close),
    volume: unitsToNumber(parseUnits(c.volume)),
  };
}

Deno.test("Coinbase's own 21:05 candles are prefix folds of the trades, and so are ours", () => {
  const distinct = new Map(recordedTrades().map((x) => [`${x.product_id}:${x.trade_id}`, x]));
  const open = recordedCandles().filter((c) => Number(c.candle.start) === BUCKET_2105);
  // Two snapshot entries (the open bucket ends each product's snapshot) and four updates.
  deepStrictEqual(open.map((c) => c.type), [
    "snapshot",
    "snapshot",
    "update",
    "update",
    "update",
    "update",
  ]);
  const lagsS: number[] = [];
  for (const { frameMs, candle } of open) {
    const product = candle.product_id;
    const inBucket = [...distinct.values()]
      .filter((x) => x.product_id === product && parseRfc3339(x.time) >= BUCKET_2105 * 1000)
      .sort((a, b) => Number(a.trade_id) - Number(b.trade_id));
    const want = numbers(candle);
    const k = inBucket.findIndex((_, i) =>
      JSON.stringify(fold(inBucket.slice(0, i + 1), BUCKET_2105)) === JSON.stringify(want)
    );
    ok(k >= 0, `${product} candle at ${frameMs} is a prefix fold of the bucket's trades`);
    const covered = inBucket.slice(0, k + 1);
    lagsS.push((frameMs - parseRfc3339(covered.at(-1)!.time)) / 1000);

    // Our roll-up of the same trades: 1-minute candles from trades, 5-minute from those.
    const agg = new Aggregator();
    for (const x of covered) {
      agg.add(toTrade(x));
    }
    deepStrictEqual(agg.live(product, granularityById("FIVE_MINUTE")), want, `${product} ours`);
  }
  // Coinbase's candles lag the trades they cover by seconds, never lead them.
  ok(lagsS.every((s) => s >= 0 && s < 30), `lags ${lagsS.map((s) => s.toFixed(1))} s`);
});

Deno.test("the recorded products answer through PRODUCTS=all", async (t) => {
  const body = await Deno.readTextFile(`${FIXTURE_DIR}/rest-market-products-2026-08-09.json`);
  const rows: Record<string, unknown>[] = JSON.parse(body).products;
  const requests: string[] = [];
  // The recorded answer, byte for byte, whatever the page asked for (it holds all 920 rows).
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    requests.push(url.pathname + url.search);
    return new Response(body, { headers: { "content-type": "application/json" } });
  });
  const rest = new RestClient({
    baseUrl: `http://127.0.0.1:${server.addr.port}/api/v3/brokerage`,
    ratePerSecond: 1000,
  });
  const served = async (env: Record<string, string>) =>
    (await resolveProducts(loadConfig((n) => ({ PRODUCTS: "all", ...env })[n]), rest)).map((p) =>
      p.productId
    ).sort();
  /** The README's reading of the rows: online, not an alias, in the quote currencies. */
  const expected = (quotes: string[]) =>
    rows.filter((r) =>
      r.status === "online" && r.alias === "" && quotes.includes(String(r.quote_currency_id))
    ).map((r) => String(r.product_id)).sort();
  try {
    await t.step("the capture has 920 rows: 912 online, 8 delisted, 400 aliases", () => {
      equal(rows.length, 920);
      equal(rows.filter((r) => r.status === "online").length, 912);
      equal(rows.filter((r) => r.status === "delisted").length, 8);
      equal(rows.filter((r) => r.alias !== "").length, 400);
    });

    await t.step("QUOTE_CURRENCIES=USD serves the 397 online USD books", async () => {
      const ids = await served({ QUOTE_CURRENCIES: "USD" });
      equal(ids.length, 397);
      deepStrictEqual(ids, expected(["USD"]));
      ok(ids.includes("BTC-USD") && ids.includes("USDT-USD"));
      for (const gone of ["DAI-USD", "EOS-USD", "MKR-USD", "RNDR-USD"]) {
        ok(!ids.includes(gone), `delisted ${gone} is not served`);
      }
      ok(requests.length <= 2, `a repeated full answer ends the paging (${requests.length})`);
    });

    await t.step("USD,USDC adds only the 5 USDC books that are not aliases", async () => {
      const ids = await served({ QUOTE_CURRENCIES: "USD,USDC" });
      equal(ids.length, 402);
      deepStrictEqual(ids, expected(["USD", "USDC"]));
      deepStrictEqual(ids.filter((id) => id.endsWith("-USDC")), [
        "AUDD-USDC",
        "EURC-USDC",
        "TGBP-USDC",
        "USDT-USDC",
        "XSGD-USDC",
      ]);
      ok(!ids.includes("BTC-USDC"), "BTC-USDC is an alias of BTC-USD: its frames are that book's");
    });

    await t.step("sharding splits the served set with every product in one shard", async () => {
      const all = await served({ QUOTE_CURRENCIES: "USD,USDC" });
      const shards = await Promise.all(
        [0, 1, 2].map((i) =>
          served({ QUOTE_CURRENCIES: "USD,USDC", SHARD_COUNT: "3", SHARD_INDEX: String(i) })
        ),
      );
      deepStrictEqual(shards.flat().sort(), all);
      ok(shards.every((s) => s.length > 100), `shard sizes ${shards.map((s) => s.length)}`);
    });

    await t.step("delisted rows become delisted catalogue entries with their sizes", async () => {
      const products = await rest.products({ productType: "SPOT" });
      equal(products.length, 920);
      const dai = products.find((p) => p.productId === "DAI-USD")!;
      deepStrictEqual(
        { ...catalogueEntry(dai, 1), product_id: dai.productId },
        {
          product_id: "DAI-USD",
          base_currency: "DAI",
          quote_currency: "USD",
          status: "delisted",
          min_size: "0.00001",
          max_size: "10514300",
          last_updated: 1,
        },
      );
      const alias = products.find((p) => p.productId === "BTC-USDC")!;
      deepStrictEqual([alias.alias, alias.quoteCurrency, alias.status], [
        "BTC-USD",
        "USDC",
        "online",
      ]);
    });
  } finally {
    await server.shutdown();
  }
});
