import assert from "node:assert/strict";
import { parseUnits } from "../../lib/candles/decimal.ts";
import { granularityById } from "../../lib/candles/granularity.ts";
import { acceleratedClock } from "../../lib/clock.ts";
import type { SimTrade } from "../../lib/simulator/market.ts";
import { parseKrakenMessage } from "../../lib/kraken/messages.ts";
import {
  krakenDemoProducts,
  type KrakenSimulator,
  type KrakenSimulatorOptions,
  startKrakenSimulator,
} from "../../lib/kraken/simulator.ts";
import { pairNames } from "../../lib/kraken/simulator/pairs.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** A bare WebSocket client recording raw frames. */
class Client {
  readonly texts: string[] = [];
  readonly frames: Json[] = [];
  closeCode?: number;
  closeReason?: string;
  readonly closed: Promise<void>;
  constructor(readonly ws: WebSocket) {
    ws.onmessage = (e) => {
      this.texts.push(e.data);
      this.frames.push(JSON.parse(e.data));
    };
    this.closed = new Promise((r) =>
      ws.onclose = (e) => {
        this.closeCode = e.code;
        this.closeReason = e.reason;
        r();
      }
    );
  }
  static async open(sim: KrakenSimulator): Promise<Client> {
    const c = new Client(new WebSocket(sim.wsUrl));
    await new Promise((r) => c.ws.onopen = r);
    return c;
  }
  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }
  subscribe(symbol: string[], snapshot = true, reqId = 1): void {
    this.send({
      method: "subscribe",
      params: { channel: "trade", symbol, snapshot },
      req_id: reqId,
    });
  }
  trades(type?: "snapshot" | "update"): Json[] {
    return this.frames.filter((f) => f.channel === "trade" && (!type || f.type === type));
  }
  tradeData(symbol?: string): Json[] {
    return this.trades().flatMap((f) => f.data).filter((d) => !symbol || d.symbol === symbol);
  }
  acks(method = "subscribe"): Json[] {
    return this.frames.filter((f) => f.method === method);
  }
  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    await this.closed;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function withSim(
  options: KrakenSimulatorOptions,
  fn: (sim: KrakenSimulator) => Promise<void>,
): Promise<void> {
  const sim = await startKrakenSimulator({
    products: krakenDemoProducts(3, { tradesPerSecond: 20 }),
    historyMs: 120_000,
    historyTradesPerSecond: 5,
    ...options,
    ws: { heartbeatIntervalMs: 100, flushIntervalMs: 25, ...options.ws },
    rest: { publicLimit: { ratePerSecond: 1000, burst: 1000 }, ...options.rest },
  });
  try {
    await fn(sim);
  } finally {
    await sim.close();
  }
}

const byId = (sim: KrakenSimulator, symbol: string) =>
  new Map(sim.market.trades(symbol, 0, Date.now() + 60_000).map((t) => [t.parsed.id, t]));

Deno.test("Kraken simulator speaks WebSocket v2", async (t) => {
  await withSim({}, async (sim) => {
    const c = await Client.open(sim);
    await until("the status message", () => c.frames.length >= 1);
    await sleep(250);
    await t.step("a status message on connect; no heartbeat before the first subscribe", () => {
      assert.equal(c.frames.length, 1);
      const [s] = c.frames;
      assert.equal(s.channel, "status");
      assert.equal(s.data[0].system, "online");
      assert.equal(s.data[0].api_version, "v2");
      assert.match(c.texts[0]!, /"connection_id":\d{19,20}[,}]/);
    });
    c.subscribe(["BTC/USD", "NOPE/USD", "ETH/USD"], true, 7);
    await until(
      "updates of both symbols",
      () =>
        c.trades("update").some((f) => f.data[0].symbol === "BTC/USD") &&
        c.trades("update").some((f) => f.data[0].symbol === "ETH/USD"),
    );
    await t.step("one ack per symbol; the unknown one fails alone", () => {
      const acks = c.acks();
      assert.deepEqual(acks.map((a) => [a.result?.symbol ?? a.symbol, a.success, a.req_id]), [
        ["BTC/USD", true, 7],
        ["NOPE/USD", false, 7],
        ["ETH/USD", true, 7],
      ]);
      assert.deepEqual(acks[0].result, { channel: "trade", snapshot: true, symbol: "BTC/USD" });
      assert.equal(acks[1].error, "Currency pair not supported NOPE/USD");
      for (const a of acks) {
        assert.match(a.time_in, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
        assert.match(a.time_out, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      }
    });
    await t.step("snapshot: the latest 50 trades, oldest first, consecutive ids", () => {
      const snaps = c.trades("snapshot");
      assert.deepEqual(snaps.map((s) => s.data[0].symbol), ["BTC/USD", "ETH/USD"]);
      for (const s of snaps) {
        assert.equal(s.data.length, 50);
        const ids = s.data.map((d: Json) => d.trade_id);
        assert.deepEqual(ids, ids.map((_: number, i: number) => ids[0] + i));
      }
      // The snapshot follows its own ack.
      const btcAck = c.frames.findIndex((f) => f.method === "subscribe");
      assert.equal(c.frames[btcAck + 1].type, "snapshot");
    });
    await t.step("trade objects: numbers written from the exact decimal text", () => {
      const truth = byId(sim, "BTC/USD");
      const text = c.texts.find((x) => x.includes('"type":"update"') && x.includes("BTC/USD"))!;
      const frame = JSON.parse(text);
      for (const d of frame.data) {
        assert.deepEqual(Object.keys(d), [
          "symbol",
          "side",
          "price",
          "qty",
          "ord_type",
          "trade_id",
          "timestamp",
        ]);
        const sim = truth.get(d.trade_id)!;
        assert.ok(text.includes(`"price":${sim.price},"qty":${sim.size},`), "raw decimals");
        assert.equal(typeof d.price, "number");
        assert.equal(typeof d.qty, "number");
        assert.match(d.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
        assert.ok(d.side === "buy" || d.side === "sell");
        assert.ok(d.ord_type === "limit" || d.ord_type === "market");
      }
    });
    await t.step("parseKrakenMessage reads the market's own trades from the frames", () => {
      const truth = byId(sim, "BTC/USD");
      let n = 0;
      for (const text of c.texts.filter((x) => x.startsWith('{"channel":"trade"'))) {
        const m = parseKrakenMessage(text);
        assert.equal(m.kind, "trades");
        if (m.kind !== "trades") continue;
        assert.equal(m.rejected, 0);
        for (const tr of m.trades.filter((x) => x.symbol === "BTC/USD")) {
          const { symbol: _s, side: _d, subMs, ...trade } = tr;
          const sim = truth.get(tr.id)!;
          assert.deepEqual(trade, sim.parsed);
          assert.equal(subMs, sim.timeUs % 1000);
          n++;
        }
      }
      assert.ok(n > 50);
    });
    await t.step("ids run on consecutively from the snapshot through the updates", () => {
      for (const s of ["BTC/USD", "ETH/USD"]) {
        const ids = [...new Set(c.tradeData(s).map((d) => d.trade_id))].sort((a, b) => a - b);
        assert.deepEqual(ids, ids.map((_, i) => ids[0] + i), s);
      }
    });
    await t.step("ping → pong with req_id; a repeated subscribe fails", async () => {
      c.send({ method: "ping", req_id: 42 });
      c.subscribe(["BTC/USD"], false, 8);
      await until("pong", () => c.frames.some((f) => f.method === "pong"));
      await until("the second ack", () => c.acks().length === 4);
      const pong = c.frames.find((f) => f.method === "pong");
      assert.equal(pong.req_id, 42);
      assert.deepEqual(
        [c.acks()[3].success, c.acks()[3].error, c.acks()[3].symbol],
        [false, "Already subscribed", "BTC/USD"],
      );
    });
    await t.step("unsubscribe: acks, and that symbol's updates stop", async () => {
      c.send({ method: "unsubscribe", params: { channel: "trade", symbol: ["ETH/USD"] } });
      await until("unsubscribe ack", () => c.acks("unsubscribe").length === 1);
      assert.deepEqual(c.acks("unsubscribe")[0].result, { channel: "trade", symbol: "ETH/USD" });
      const before = c.tradeData("ETH/USD").length;
      await sleep(200);
      assert.equal(c.tradeData("ETH/USD").length, before);
      assert.ok(c.tradeData("BTC/USD").length > 0);
    });
    await c.close();
  });
});

Deno.test("Kraken simulator sends heartbeats on a quiet connection after its first subscribe", async () => {
  const products = [{ id: "QUIET/USD", price: 1, tradesPerSecond: 0.001, tick: 0.0001 }];
  await withSim({ products }, async (sim) => {
    const c = await Client.open(sim);
    c.subscribe(["QUIET/USD"], false);
    await until("heartbeats", () => c.frames.filter((f) => f.channel === "heartbeat").length >= 3);
    assert.deepEqual(c.texts.filter((x) => x.includes("heartbeat")).slice(0, 1), [
      '{"channel":"heartbeat"}',
    ]);
    await c.close();
  });
});

Deno.test("Kraken simulator limits the inbound message rate", async () => {
  await withSim({ ws: { msgRateLimit: { ratePerSecond: 0.5, burst: 2 } } }, async (sim) => {
    const c = await Client.open(sim);
    for (let i = 0; i < 5; i++) c.send({ method: "ping", req_id: i });
    await until("five answers", () => c.frames.length >= 6);
    assert.equal(c.frames.filter((f) => f.method === "pong").length, 2);
    assert.deepEqual(
      c.frames.filter((f) => f.Error),
      new Array(3).fill({ Error: "Exceeded msg rate" }),
    );
    await c.close();
  });
});

/** Fetches a public REST endpoint of the simulator over HTTP. */
async function rest(
  sim: KrakenSimulator,
  path: string,
): Promise<{ status: number; text: string; json: Json }> {
  const res = await fetch(`${sim.restUrl}/0/public/${path}`);
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) };
}

Deno.test("Kraken simulator REST: Trades pages every trade by the ns cursor", async (t) => {
  await withSim({ historyMs: 20 * 60_000 }, async (sim) => {
    sim.market.advance(Date.now());
    const all = sim.market.trades("BTC/USD", 0, Date.now() + 1);
    await t.step(
      "a row's shape: strings with the pair's decimals, float seconds, b/s, m/l",
      async () => {
        const r = await rest(sim, "Trades?pair=XBTUSD&since=0&count=5");
        assert.equal(r.status, 200);
        assert.deepEqual(r.json.error, []);
        assert.deepEqual(Object.keys(r.json.result), ["XXBTZUSD", "last"]);
        const rows = r.json.result.XXBTZUSD;
        assert.equal(rows.length, 5);
        for (const [i, row] of rows.entries()) {
          const sim = all[i]!;
          assert.equal(row.length, 7);
          assert.match(row[0], /^\d+\.\d$/); // BTC/USD's tick is 0.1
          assert.match(row[1], /^\d+\.\d{8}$/);
          assert.equal(Number(row[0]), Number(sim.price));
          assert.equal(parseUnits(row[1]), sim.parsed.size);
          assert.equal(typeof row[2], "number");
          assert.ok(
            r.text.includes(
              `${Math.floor(sim.timeUs / 1e6)}.${String(sim.timeUs % 1e6).padStart(6, "0")}`,
            ),
          );
          assert.ok(row[3] === "b" || row[3] === "s");
          assert.ok(row[4] === "m" || row[4] === "l");
          assert.equal(row[5], "");
          assert.equal(row[6], sim.parsed.id);
        }
        assert.equal(typeof r.json.result.last, "string");
        assert.match(r.json.result.last, /^\d{19}$/);
      },
    );
    await t.step("pages of 7 (splitting runs of fills) return every trade once", async () => {
      const got: number[] = [];
      let since = "0";
      for (let i = 0; i < 1000; i++) {
        const r = await rest(sim, `Trades?pair=XXBTZUSD&since=${since}&count=7`);
        const rows = r.json.result.XXBTZUSD as Json[];
        if (!rows.length) break;
        got.push(...rows.map((x) => x[6]));
        since = r.json.result.last;
        if (got.length >= all.length) break;
      }
      const want = all.map((x) => x.parsed.id);
      assert.deepEqual(got.slice(0, want.length), want);
      const shared = all.filter((x) => (x.fill ?? 0) > 0).length;
      assert.ok(shared > all.length * 0.15, `runs of fills: ${shared} of ${all.length}`);
    });
    await t.step("without since: the latest trades; count is capped at 1000", async () => {
      const r = await rest(sim, "Trades?pair=BTC/USD&count=5000");
      const rows = r.json.result.XXBTZUSD as Json[];
      assert.equal(rows.length, 1000);
      const ids = rows.map((x) => x[6]);
      assert.deepEqual(ids, ids.map((_, i) => ids[0] + i));
      const latest = sim.market.latestTrades("BTC/USD", 1, Date.now())[0]!;
      assert.ok(latest.parsed.id - ids.at(-1) < 100);
    });
    await t.step("errors in error[], with HTTP 200", async () => {
      const unknown = await rest(sim, "Trades?pair=NOPEUSD");
      assert.deepEqual([unknown.status, unknown.json], [200, {
        error: ["EQuery:Unknown asset pair"],
      }]);
      const bad = await rest(sim, "Trades?pair=XBTUSD&count=zero");
      assert.deepEqual(bad.json, { error: ["EGeneral:Invalid arguments"] });
      const missing = await rest(sim, "Trades");
      assert.deepEqual(missing.json, { error: ["EGeneral:Invalid arguments"] });
    });
  });
});

Deno.test("Kraken simulator REST: OHLC and AssetPairs", async (t) => {
  const start = Date.UTC(2026, 2, 14, 12, 0, 30);
  let now = start;
  await withSim({
    clock: () => now,
    products: krakenDemoProducts(5, { tradesPerSecond: 2 }),
    historyMs: 13 * 3600_000,
    historyTradesPerSecond: 0.2,
  }, async (sim) => {
    await t.step(
      "OHLC: the 720 most recent minutes, the last one open, equal to the truth",
      async () => {
        const r = await rest(sim, "OHLC?pair=XETHZUSD&interval=1");
        assert.deepEqual(r.json.error, []);
        const rows = r.json.result.XETHZUSD as Json[];
        const current = Math.floor(now / 60_000) * 60;
        assert.ok(rows.length <= 720 && rows.length > 700, `${rows.length} rows`);
        assert.ok(rows[0][0] >= current - 719 * 60);
        assert.equal(rows.at(-1)[0], current);
        assert.equal(r.json.result.last, current - 60);
        const truth = sim.market.candles(
          "ETH/USD",
          granularityById("ONE_MINUTE"),
          rows[0][0],
          current,
        );
        assert.deepEqual(
          rows.map((
            x,
          ) => [x[0], Number(x[1]), Number(x[2]), Number(x[3]), Number(x[4]), Number(x[6])]),
          truth.map((c) => [c.start, c.open, c.high, c.low, c.close, c.volume]),
        );
        for (const x of rows) {
          assert.equal(typeof x[7], "number");
          assert.match(x[5], /^\d+\.\d{2}$/);
        }
        const since = await rest(sim, `OHLC?pair=ETHUSD&interval=5&since=${current - 1800}`);
        const five = since.json.result.XETHZUSD as Json[];
        assert.ok(five.length >= 6 && five.length <= 7);
        assert.ok(five.every((x) => x[0] >= current - 1800));
        const bad = await rest(sim, "OHLC?pair=ETHUSD&interval=120");
        assert.deepEqual(bad.json, { error: ["EGeneral:Invalid arguments"] });
      },
    );
    await t.step("AssetPairs: Kraken's keys and names", async () => {
      const r = await rest(sim, "AssetPairs");
      assert.deepEqual(Object.keys(r.json.result), [
        "XXBTZUSD",
        "XETHZUSD",
        "ADAUSD",
        "XDGUSD",
        "SOLUSD",
      ]);
      const btc = r.json.result.XXBTZUSD;
      assert.equal(btc.altname, "XBTUSD");
      assert.equal(btc.wsname, "XBT/USD");
      assert.deepEqual([btc.base, btc.quote, btc.status], ["XXBT", "ZUSD", "online"]);
      assert.deepEqual([btc.pair_decimals, btc.lot_decimals], [1, 8]);
      assert.equal(typeof btc.ordermin, "string");
      assert.equal(r.json.result.XDGUSD.wsname, "XDG/USD");
      assert.equal(r.json.result.XDGUSD.pair_decimals, 7);
      const one = await rest(sim, "AssetPairs?pair=XBTUSD,SOLUSD");
      assert.deepEqual(Object.keys(one.json.result), ["XXBTZUSD", "SOLUSD"]);
      const unknown = await rest(sim, "AssetPairs?pair=XBTUSD,NOPEUSD");
      assert.deepEqual(unknown.json, { error: ["EQuery:Unknown asset pair"] });
      assert.deepEqual(pairNames("X001/USD").key, "X001USD");
    });
    await t.step("market time follows the injected clock", async () => {
      now = start + 90_000;
      const r = await rest(sim, "Trades?pair=SOLUSD&count=1");
      const [row] = r.json.result.SOLUSD as Json[];
      assert.ok(row[2] <= now / 1000 && row[2] > (now - 10_000) / 1000, `${row[2]}`);
      const time = await rest(sim, "Time");
      assert.equal(time.json.result.unixtime, Math.floor(now / 1000));
    });
  });
});

Deno.test("Kraken simulator REST enforces its public rate limit", async (t) => {
  let wall = 1_000_000;
  await t.step("default: ~1/s with a burst of 3, answered with HTTP 200", async () => {
    await withSim({ rest: { limitClock: () => wall, publicLimit: undefined } }, async (sim) => {
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await rest(sim, "Time"));
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200]);
      assert.deepEqual(answers.map((a) => a.json.error), [[], [], [], [
        "EAPI:Rate limit exceeded",
      ]]);
      wall += 1000;
      assert.deepEqual((await rest(sim, "Time")).json.error, []);
      assert.deepEqual((await rest(sim, "Time")).json.error, ["EAPI:Rate limit exceeded"]);
      assert.equal(sim.rest.requests.filter((q) => q.forced === "rate-limit").length, 2);
    });
  });
  await t.step("or with HTTP 429; injected faults come first", async () => {
    await withSim({
      rest: {
        limitClock: () => wall,
        publicLimit: { ratePerSecond: 1, burst: 1 },
        rateLimitStatus: 429,
      },
    }, async (sim) => {
      sim.injectRestFaults({ kind: "error", count: 1, error: "EService:Busy" });
      sim.injectRestFaults({ kind: "http", count: 1, status: 502 });
      assert.deepEqual((await rest(sim, "Time")).json, { error: ["EService:Busy"] });
      const edge = await fetch(`${sim.restUrl}/0/public/Time`);
      assert.equal(edge.status, 502);
      await edge.body?.cancel();
      assert.equal((await rest(sim, "Time")).status, 200);
      const limited = await rest(sim, "Time");
      assert.deepEqual([limited.status, limited.json], [429, {
        error: ["EAPI:Rate limit exceeded"],
      }]);
    });
  });
});

Deno.test("Kraken simulator withholds fills sharing a timestamp on the WebSocket only", async (t) => {
  await withSim({
    products: krakenDemoProducts(3, { tradesPerSecond: 60 }),
    withholdShare: 0.17,
  }, async (sim) => {
    const c = await Client.open(sim);
    c.subscribe(["BTC/USD", "ETH/USD", "ADA/USD"]);
    await sleep(2000);
    await c.close();
    const withheld = new Set(sim.ws.withheldTrades.map((x) => `${x.product_id}:${x.parsed.id}`));
    let sent = 0;
    let lostInRange = 0;
    for (const symbol of ["BTC/USD", "ETH/USD", "ADA/USD"]) {
      const ids = [...new Set(c.tradeData(symbol).map((d) => d.trade_id as number))].sort((a, b) =>
        a - b
      );
      const truth = byId(sim, symbol);
      await t.step(
        `${symbol}: every missing id was withheld, a later fill of a shown trade's time`,
        () => {
          let jumps = 0;
          for (let i = 1; i < ids.length; i++) {
            if (ids[i]! > ids[i - 1]! + 1) jumps++;
            for (let id = ids[i - 1]! + 1; id < ids[i]!; id++) {
              const lost = truth.get(id)!;
              assert.ok(withheld.has(`${symbol}:${id}`), `id ${id} missing but not withheld`);
              assert.ok((lost.fill ?? 0) > 0);
              const first = truth.get(id - lost.fill!)!;
              assert.equal(first.timeUs, lost.timeUs);
              assert.ok(ids.includes(first.parsed.id), "the first fill of a run arrives");
            }
          }
          assert.ok(jumps > 3, `${jumps} jumps`);
        },
      );
      await t.step(`${symbol}: REST Trades has every one of them`, async () => {
        const names = pairNames(symbol);
        const r = await rest(
          sim,
          `Trades?pair=${names.altname}&since=${
            (truth.get(ids[0]!)!.timeUs - 1) * 1000
          }&count=1000`,
        );
        const restIds = (r.json.result[names.key] as Json[]).map((x) => x[6] as number)
          .filter((id) => id <= ids.at(-1)!);
        assert.deepEqual(restIds, restIds.map((_, i) => ids[0]! + i));
        assert.equal(restIds.at(-1), ids.at(-1));
      });
      sent += ids.length;
      for (let id = ids[0]!; id <= ids.at(-1)!; id++) {
        if (withheld.has(`${symbol}:${id}`)) lostInRange++;
      }
    }
    await t.step("about the configured share of the trades is withheld", () => {
      const share = lostInRange / (lostInRange + sent);
      assert.ok(Math.abs(share - 0.17) < 0.06, `withheld share ${share.toFixed(3)}`);
    });
  });
});

Deno.test("Kraken simulator faults", async (t) => {
  await withSim({}, async (sim) => {
    await t.step("drop closes the symbol's sockets only", async () => {
      const a = await Client.open(sim);
      const b = await Client.open(sim);
      a.subscribe(["BTC/USD"]);
      b.subscribe(["ETH/USD"]);
      await until("acks", () => a.acks().length === 1 && b.acks().length === 1);
      assert.equal(sim.dropConnections({ symbol: "BTC/USD" }), 1);
      await a.closed;
      assert.equal(a.closeCode, 4000);
      assert.equal(b.ws.readyState, WebSocket.OPEN);
      assert.equal(sim.restartProxy({ symbol: "ETH/USD" }), 1);
      await b.closed;
      assert.deepEqual([b.closeCode, b.closeReason], [1001, "WebSocket proxy restarting"]);
    });
    await t.step("stall: no frames for its span, trades of it lost", async () => {
      const c = await Client.open(sim);
      c.subscribe(["BTC/USD"], false);
      await until("updates", () => c.trades("update").length > 2);
      sim.stall(400);
      await sleep(30);
      const n = c.frames.length;
      await sleep(300);
      assert.equal(c.frames.length, n);
      await until("updates again", () => c.frames.length > n + 2, 2000);
      const ids = [...new Set(c.tradeData().map((d) => d.trade_id as number))].sort((x, y) =>
        x - y
      );
      assert.ok(ids.at(-1)! - ids[0]! + 1 > ids.length, "the stall lost trades");
      await c.close();
    });
    await t.step("a silent subscription: acked, nothing for it, the rest flows", async () => {
      const c = await Client.open(sim);
      c.subscribe(["BTC/USD", "ETH/USD"], false);
      await until(
        "both flowing",
        () => c.tradeData("BTC/USD").length > 0 && c.tradeData("ETH/USD").length > 0,
      );
      assert.equal(sim.silenceSubscription("BTC/USD"), 1);
      await sleep(30);
      const btc = c.tradeData("BTC/USD").length;
      const eth = c.tradeData("ETH/USD").length;
      await sleep(300);
      assert.equal(c.tradeData("BTC/USD").length, btc);
      assert.ok(c.tradeData("ETH/USD").length > eth);
      c.send({ method: "unsubscribe", params: { channel: "trade", symbol: ["BTC/USD"] } });
      c.subscribe(["BTC/USD"], true, 2);
      await until("BTC/USD again", () => c.tradeData("BTC/USD").length > btc + 50);
      sim.silenceSubscription("ADA/USD", { next: 1 });
      c.subscribe(["ADA/USD"], true, 4);
      await until("ADA/USD ack", () => c.acks().some((a) => a.req_id === 4));
      await sleep(200);
      assert.ok(c.acks().find((a) => a.req_id === 4).success);
      assert.equal(c.tradeData("ADA/USD").length, 0, "no snapshot, no updates");
      await c.close();
    });
    await t.step("a status change is announced", async () => {
      const c = await Client.open(sim);
      await until("status", () => c.frames.length === 1);
      sim.setSystemStatus("maintenance");
      await until("status update", () => c.frames.length === 2);
      assert.equal(c.frames[1].data[0].system, "maintenance");
      sim.setSystemStatus("online");
      await c.close();
    });
  });
});

Deno.test("Kraken simulator runs on an injected accelerated clock", async () => {
  const start = Date.UTC(2026, 0, 1);
  await withSim({ clock: acceleratedClock(60, start), historyMs: 60_000 }, async (sim) => {
    const c = await Client.open(sim);
    c.subscribe(["BTC/USD"], false);
    await until("updates", () => c.tradeData().length > 100);
    await c.close();
    const last: SimTrade = sim.market.latestTrades("BTC/USD", 1)[0]!;
    const lastWs = c.tradeData().at(-1);
    assert.ok(
      Date.parse(lastWs.timestamp) >= start && Date.parse(lastWs.timestamp) < start + 600_000,
    );
    assert.ok(last.parsed.timeMs >= Date.parse(lastWs.timestamp));
  });
});
