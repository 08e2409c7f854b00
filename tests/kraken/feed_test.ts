import assert from "node:assert/strict";
import { Aggregator } from "../../lib/candles/aggregator.ts";
import type { Trade } from "../../lib/candles/trade.ts";
import { systemClock } from "../../lib/clock.ts";
import type {
  ConnectionStatus,
  FeedGap,
  FeedHandlers,
  FeedSubscription,
} from "../../lib/exchange/feed_types.ts";
import { KrakenFeed, type KrakenFeedOptions } from "../../lib/kraken/feed.ts";
import {
  krakenDemoProducts,
  type KrakenSimulator,
  type KrakenSimulatorOptions,
  type SimProductSpec,
  startKrakenSimulator,
} from "../../lib/kraken/simulator.ts";

const symbolOf = (key: string) => key.slice("kraken:".length).replace("-", "/");
const keyOf = (symbol: string) => `kraken:${symbol.replace("/", "-")}`;

function specs(n: number, tradesPerSecond = 10): SimProductSpec[] {
  return krakenDemoProducts(n, { tradesPerSecond });
}

/** Everything a feed delivered, also passed to an aggregator (the owner of dedupe). */
class Recorder {
  readonly trades = new Map<string, Trade>();
  readonly aggregator = new Aggregator();
  readonly connectionOf = new Map<string, string>();
  readonly maxTimeOf = new Map<string, number>();
  /** Per product, the oldest trade time delivered (its first snapshot's oldest trade). */
  readonly firstTimeOf = new Map<string, number>();
  readonly gaps: FeedGap[] = [];
  readonly statuses: ConnectionStatus[] = [];
  readonly subscriptions: FeedSubscription[] = [];
  readonly unknown: string[] = [];
  deliveredTwice = 0;
  outOfOrder = 0;
  count = 0;

  handlers: FeedHandlers = {
    onTrades: (trades, info) => {
      let prev: Trade | undefined;
      for (const raw of trades) {
        // The candle core's fields only (KrakenTrade carries symbol, side, subMs besides).
        const t: Trade = {
          product: raw.product,
          id: raw.id,
          price: raw.price,
          size: raw.size,
          timeMs: raw.timeMs,
        };
        this.aggregator.add(t);
        const key = `${t.product}:${t.id}`;
        if (this.trades.has(key)) this.deliveredTwice++;
        this.trades.set(key, t);
        this.connectionOf.set(t.product, info.connectionId);
        if (t.timeMs > (this.maxTimeOf.get(t.product) ?? 0)) {
          this.maxTimeOf.set(t.product, t.timeMs);
        }
        if (t.timeMs < (this.firstTimeOf.get(t.product) ?? Infinity)) {
          this.firstTimeOf.set(t.product, t.timeMs);
        }
        if (prev && prev.product === t.product && prev.id > t.id) this.outOfOrder++;
        prev = t;
        this.count++;
      }
    },
    onGap: (g) => this.gaps.push(g),
    onStatus: (s) => this.statuses.push(s),
    onSubscribed: (s) => this.subscriptions.push(s),
    onUnknownProducts: (p) => this.unknown.push(...p),
  };

  countFor(product: string): number {
    let n = 0;
    for (const t of this.trades.values()) if (t.product === product) n++;
    return n;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * The invariant: per product, from `t0` up to its newest trade delivered, the distinct delivered
 * trades equal the simulator's log outside that product's reported gaps (withheld trades
 * included: the WebSocket never sent them, so a gap must cover each), and the aggregator counted
 * each once. Returns how many trades were compared.
 */
function assertMatchesLog(
  sim: KrakenSimulator,
  rec: Recorder,
  products: string[],
  t0: number,
): number {
  assert.equal(rec.outOfOrder, 0, "trades of a frame were not oldest first");
  assert.equal(rec.aggregator.stats.trades, rec.trades.size, "distinct trades counted once");
  assert.equal(rec.aggregator.stats.duplicates, rec.deliveredTwice, "every repeat dropped");
  let compared = 0;
  for (const p of products) {
    assert.ok(rec.connectionOf.has(p), `no trade delivered for ${p}`);
    const last = rec.maxTimeOf.get(p)!;
    // Up to the newest trade delivered (by id: fills after it at the same ms may be withheld,
    // and their gap shows only with the next trade that comes).
    const newest = Math.max(
      ...[...rec.trades.values()].filter((t) => t.product === p).map((t) => t.id),
    );
    const windows = rec.gaps.filter((g) => g.products.includes(p));
    const inGap = (ms: number) => windows.some((g) => ms >= g.fromMs && ms <= g.toMs);
    // From the millisecond after t0, or after the product's first trade delivered when that is
    // later: what trades before the first subscription's snapshot is the seeding's to fetch (on
    // a loaded machine a later connection subscribes well after t0), and fills of that
    // millisecond may precede the snapshot. Every loss after it must be in a reported gap.
    const from = Math.max(t0, rec.firstTimeOf.get(p)!);
    const expected = sim.market.trades(symbolOf(p), from + 1, last + 1).map((t) => t.parsed)
      .filter((t) => t.id <= newest && !inGap(t.timeMs));
    const got = [...rec.trades.values()]
      .filter((t) => t.product === p && t.timeMs > from && t.timeMs <= last && !inGap(t.timeMs))
      .sort((a, b) => a.id - b.id);
    assert.deepEqual(got, expected, `trades of ${p} differ from the simulator's log`);
    compared += got.length;
  }
  return compared;
}

interface Ctx {
  sim: KrakenSimulator;
  rec: Recorder;
  feed: KrakenFeed;
  t0: number;
  keys: string[];
}

/** Runs `fn` with a fresh simulator and feed, always closing both. */
async function scenario(
  products: SimProductSpec[],
  fn: (ctx: Ctx) => Promise<void>,
  options: {
    sim?: KrakenSimulatorOptions;
    feed?: Partial<KrakenFeedOptions>;
    extraKeys?: string[];
  } = {},
): Promise<void> {
  const sim = await startKrakenSimulator({
    products,
    historyMs: 120_000,
    historyTradesPerSecond: 5,
    ...options.sim,
    ws: { heartbeatIntervalMs: 100, flushIntervalMs: 25, ...options.sim?.ws },
  });
  const rec = new Recorder();
  const keys = products.map((p) => keyOf(p.id));
  const feed = new KrakenFeed({
    url: sim.wsUrl,
    products: [...keys, ...(options.extraKeys ?? [])],
    clock: systemClock,
    handlers: rec.handlers,
    connectIntervalMs: 10,
    staleAfterMs: 400,
    backoff: { initialMs: 20, maxMs: 200 },
    gapMarginMs: 50,
    ackTimeoutMs: 2000,
    ...options.feed,
  });
  try {
    const t0 = Date.now();
    feed.start();
    await until(
      "all connections subscribed",
      () => feed.status().every((s) => s.state === "subscribed" || s.state === "closed"),
    );
    await fn({ sim, rec, feed, t0, keys });
  } finally {
    await feed.stop();
    await sim.close();
  }
}

Deno.test("KrakenFeed streams trades equal to the simulator's log", async (t) => {
  await scenario(specs(5), async ({ sim, rec, feed, t0, keys }) => {
    await sleep(1000);
    await t.step("every trade, once, no gap", () => {
      assert.ok(assertMatchesLog(sim, rec, keys, t0) > 30);
      assert.deepEqual(rec.gaps, []);
    });
    await t.step("connections, batches and the subscription report", () => {
      assert.deepEqual(feed.status().map((s) => [s.id, s.products.length]), [
        ["kraken-ws-0", 2],
        ["kraken-ws-1", 2],
        ["kraken-ws-2", 1],
      ]);
      assert.equal(rec.subscriptions.length, 3);
      for (const s of rec.subscriptions) {
        // Every pair's snapshot replayed trades; each from before the subscription.
        assert.deepEqual([...s.replayedFrom.keys()].sort(), [...s.products].sort());
        for (const ms of s.replayedFrom.values()) assert.ok(ms <= s.atMs);
      }
      const [s] = feed.status();
      assert.equal(s!.state, "subscribed");
      assert.equal(s!.reconnects, 0);
      assert.ok(s!.lastMessageAgeS! < 0.3);
      assert.ok(s!.tradesPerS > 0);
      assert.equal(feed.stats.trades, rec.count);
      assert.equal(feed.stats.sequenceGaps, 0);
      assert.ok(rec.deliveredTwice === 0 || rec.deliveredTwice < 100);
    });
  }, { feed: { symbolsPerConnection: 2, subscribeBatchSize: 1 } });
});

Deno.test("KrakenFeed recovers from a dropped connection; the snapshot replays the window", async () => {
  await scenario(specs(3), async ({ sim, rec, feed, t0, keys }) => {
    await sleep(400);
    assert.equal(sim.dropConnections(), 1);
    await until("a reconnect gap", () => rec.gaps.length > 0);
    await sleep(400);
    const [gap] = rec.gaps;
    assert.equal(gap!.reason, "reconnect");
    assert.equal(gap!.connectionId, "kraken-ws-0");
    // 50 trades at 10/s reach ~5 s back: the whole window was replayed.
    assert.deepEqual(gap!.replayed, keys);
    assert.deepEqual(gap!.products, []);
    assert.ok(gap!.fromMs < gap!.toMs);
    assert.equal(feed.status()[0]!.reconnects, 1);
    assert.ok(rec.deliveredTwice > 0, "the snapshot replayed nothing");
    assert.equal(rec.subscriptions.length, 2);
    assertMatchesLog(sim, rec, keys, t0);
  });
});

Deno.test("KrakenFeed reconnects a stalled socket and leaves what its snapshot misses to repair", async () => {
  await scenario(specs(4, 40), async ({ sim, rec, feed, t0, keys }) => {
    await sleep(300);
    assert.equal(sim.stall(1500, { symbol: "BTC/USD" }), 1);
    const other = () => rec.countFor(keys[2]!) + rec.countFor(keys[3]!);
    const before = other();
    await until(
      "kraken-ws-0 to go stale",
      () => rec.statuses.some((s) => s.id === "kraken-ws-0" && s.state === "stale"),
    );
    await until("the other connection to stream on", () => other() > before);
    await until(
      "a reconnect",
      () =>
        feed.status()[0]!.state === "subscribed" && rec.gaps.some((g) => g.reason === "reconnect"),
    );
    await sleep(300);
    assert.equal(feed.status()[1]!.reconnects, 0);
    assert.match(feed.status()[0]!.lastError!, /No message for/);
    const gaps = rec.gaps.filter((g) => g.reason === "reconnect");
    assert.deepEqual(gaps.map((g) => g.connectionId), ["kraken-ws-0"]);
    // Snapshots of 2 trades (~50 ms at 40/s) cannot vouch for a window of over 400 ms.
    assert.deepEqual(gaps[0]!.products, keys.slice(0, 2));
    assert.deepEqual(gaps[0]!.replayed, []);
    // Trade ids say it too: each pair's first trade after the reconnect jumped.
    for (const key of keys.slice(0, 2)) {
      assert.ok(
        rec.gaps.some((g) => g.reason === "sequence" && g.products[0] === key),
        JSON.stringify(rec.gaps),
      );
    }
    assertMatchesLog(sim, rec, keys, t0);
  }, { sim: { ws: { snapshotSize: 2 } }, feed: { symbolsPerConnection: 2 } });
});

Deno.test("KrakenFeed backs off with jitter after Cloudflare's 1001 close", async () => {
  const delays: number[] = [];
  await scenario(specs(2), async ({ sim, rec, feed, t0, keys }) => {
    await sleep(300);
    assert.equal(sim.restartProxy(), 1);
    await until("resubscribed", () => rec.subscriptions.length === 2);
    await sleep(200);
    assert.match(feed.status()[0]!.lastError!, /code 1001, WebSocket proxy restarting/);
    assert.equal(feed.status()[0]!.reconnects, 1);
    // The first retry after a subscribed session waits a jittered share of initialMs.
    assert.deepEqual(delays.filter((d) => d > 10), [80 * 0.5]);
    assert.equal(rec.gaps.filter((g) => g.reason === "reconnect").length, 1);
    assertMatchesLog(sim, rec, keys, t0);
  }, {
    feed: {
      backoff: { initialMs: 80, maxMs: 400 },
      random: () => 0.5,
      sleep: (ms, signal) => {
        delays.push(ms);
        return new Promise((r) => {
          const t = setTimeout(r, ms);
          signal.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
        });
      },
    },
  });
});

Deno.test("KrakenFeed resubscribes a silent subscription and reports its window", async () => {
  await scenario(specs(3), async ({ sim, rec, feed, t0, keys }) => {
    await sleep(300);
    assert.equal(sim.silenceSubscription("ETH/USD"), 1);
    const eth = keys[1]!;
    const others = () => rec.countFor(keys[0]!) + rec.countFor(keys[2]!);
    const before = others();
    await until("the resubscribe's gap", () => rec.gaps.some((g) => g.reason === "reconnect"));
    await sleep(300);
    assert.ok(others() > before, "the other pairs stopped");
    const [gap] = rec.gaps.filter((g) => g.reason === "reconnect");
    assert.deepEqual([...gap!.products, ...gap!.replayed], [eth]);
    // ~500 ms silent at 10/s: the 50-trade snapshot reaches back over it.
    assert.deepEqual(gap!.replayed, [eth]);
    assert.ok(gap!.toMs - gap!.fromMs >= 500);
    const s = feed.status()[0]!;
    assert.equal(s.reconnects, 0, "the socket itself stayed");
    assert.equal(s.state, "subscribed");
    assert.deepEqual(sim.ws.subscriptions(), [["BTC/USD", "ADA/USD", "ETH/USD"]]);
    const lastEth = rec.maxTimeOf.get(eth)!;
    await until("ETH/USD flowing again", () => rec.maxTimeOf.get(eth)! > lastEth);
    assertMatchesLog(sim, rec, keys, t0);
  }, { feed: { symbolSilenceMs: 500 } });
});

Deno.test("KrakenFeed reports an unknown pair alone and keeps the others", async () => {
  const products = specs(2);
  await scenario(products, async ({ sim, rec, feed, t0, keys }) => {
    assert.deepEqual(rec.unknown, ["kraken:NOPE-USD"]);
    const s = feed.status()[0]!;
    assert.deepEqual(s.unknownProducts, ["kraken:NOPE-USD"]);
    assert.equal(s.state, "subscribed");
    assert.deepEqual(rec.subscriptions[0]!.products, keys);
    await sleep(300);
    sim.dropConnections();
    await until("resubscribed", () => rec.subscriptions.length === 2);
    await sleep(200);
    assert.deepEqual(rec.unknown, ["kraken:NOPE-USD"], "the unknown pair was asked for again");
    assert.deepEqual(sim.ws.subscriptions(), [["BTC/USD", "ETH/USD"]]);
    assertMatchesLog(sim, rec, keys, t0);
  }, { extraKeys: ["kraken:NOPE-USD"], feed: { subscribeBatchSize: 2 } });
});

Deno.test("KrakenFeed closes a connection whose pairs are all unknown", async () => {
  await scenario(specs(1), async ({ feed, rec }) => {
    await sleep(200);
    assert.deepEqual(rec.unknown.sort(), ["kraken:NADA-USD", "kraken:NOPE-USD", "nonsense"]);
    assert.deepEqual(
      feed.status().map((s) => s.state),
      ["subscribed", "closed", "closed", "closed"],
      JSON.stringify(feed.status()),
    );
    assert.ok(rec.countFor("kraken:BTC-USD") > 0);
  }, {
    extraKeys: ["kraken:NOPE-USD", "kraken:NADA-USD", "nonsense"],
    feed: { symbolsPerConnection: 1 },
  });
});

Deno.test("KrakenFeed reports withheld trades as sequence gaps of their own pair", async () => {
  await scenario(specs(3, 40), async ({ sim, rec, feed, t0, keys }) => {
    await sleep(1500);
    const withheld = sim.ws.withheldTrades.filter((t) => t.parsed.timeMs >= t0);
    assert.ok(withheld.length > 20, `${withheld.length} withheld`);
    const seq = rec.gaps.filter((g) => g.reason === "sequence");
    assert.ok(seq.length > 10);
    assert.equal(feed.stats.sequenceGaps, seq.length);
    assert.equal(feed.status()[0]!.sequenceGaps, seq.length);
    for (const g of seq) assert.equal(g.products.length, 1);
    for (const { parsed: t } of withheld) {
      const newest = Math.max(
        ...[...rec.trades.values()].filter((x) => x.product === t.product).map((x) => x.id),
      );
      if (t.id > newest) continue; // its gap shows with the next trade
      const mine = seq.filter((g) => g.products[0] === t.product);
      assert.ok(
        mine.some((g) => t.timeMs >= g.fromMs && t.timeMs <= g.toMs),
        `withheld ${t.product} ${t.id} at ${t.timeMs} outside its pair's gaps`,
      );
      assert.ok(!rec.trades.has(`${t.product}:${t.id}`));
    }
    // A gap's window is short, not the whole run: from the pair's last trade delivered before
    // the jump (less the 50-ms margin) to the trade that showed it, with no trade of the pair
    // delivered in between (how long that is depends on the pair's random trade times).
    for (const g of seq) {
      const times = [...rec.trades.values()].filter((t) => t.product === g.products[0])
        .map((t) => t.timeMs);
      assert.ok(times.includes(g.toMs), `a gap ends at a trade delivered: ${JSON.stringify(g)}`);
      assert.ok(times.includes(g.fromMs + 50), `and starts at one: ${JSON.stringify(g)}`);
      assert.ok(
        !times.some((ms) => ms > g.fromMs + 50 && ms < g.toMs),
        `no trade delivered inside ${JSON.stringify(g)}`,
      );
    }
    assertMatchesLog(sim, rec, keys, t0);
  }, { sim: { withholdShare: 0.17 } });
});

Deno.test("KrakenFeed shows a status other than online as its error", async () => {
  await scenario(specs(1), async ({ sim, feed }) => {
    sim.setSystemStatus("maintenance");
    await until("the status", () => feed.status()[0]!.lastError === "Kraken status: maintenance");
    sim.setSystemStatus("online");
    await until("online again", () => feed.status()[0]!.lastError === undefined);
    assert.equal(feed.status()[0]!.state, "subscribed");
  });
});

Deno.test("KrakenFeed pings a quiet connection so the server keeps it", async () => {
  const products = [{ id: "QUIET/USD", price: 1, tradesPerSecond: 0.01, tick: 0.0001 }];
  await scenario(products, async ({ feed }) => {
    await sleep(1200);
    assert.equal(feed.status()[0]!.reconnects, 0);
    assert.equal(feed.status()[0]!.state, "subscribed");
  }, {
    sim: { ws: { clientIdleCloseMs: 400 } },
    feed: { pingIntervalMs: 150, symbolSilenceMs: 60_000 },
  });
});

Deno.test("KrakenFeed backs off exponentially while the endpoint is down", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const delays: number[] = [];
  const rec = new Recorder();
  const feed = new KrakenFeed({
    url: `ws://127.0.0.1:${port}/v2`,
    products: ["kraken:BTC-USD"],
    clock: systemClock,
    connectIntervalMs: 0,
    backoff: { initialMs: 100, maxMs: 400 },
    random: () => 1,
    sleep: (ms, signal) => {
      delays.push(ms);
      return new Promise((r) => {
        const t = setTimeout(r, 1);
        signal.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
      });
    },
    handlers: rec.handlers,
  });
  feed.start();
  await until("five retries", () => delays.length >= 5);
  await feed.stop();
  assert.deepEqual(delays.slice(0, 5), [100, 200, 400, 400, 400]);
  assert.equal(feed.status()[0]!.state, "closed");
  assert.deepEqual(rec.gaps, []);
});
