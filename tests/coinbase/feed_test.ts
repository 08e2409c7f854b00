import assert from "node:assert/strict";
import { Aggregator } from "../../lib/candles/aggregator.ts";
import type { Trade } from "../../lib/candles/trade.ts";
import { demoProducts, type Simulator, startSimulator } from "../../lib/coinbase/simulator.ts";
import { Feed, type FeedOptions } from "../../lib/coinbase/feed.ts";
import type { ConnectionStatus, FeedGap } from "../../lib/exchange/feed_types.ts";
import type { SimProductSpec } from "../../lib/simulator/market.ts";

const FAST_WS = { heartbeatIntervalMs: 100, flushIntervalMs: 50, candleIntervalMs: 200 };

function specs(n: number, tradesPerSecond = 8): SimProductSpec[] {
  return demoProducts(n, { tradesPerSecond });
}

async function startSim(products: SimProductSpec[], ws = {}): Promise<Simulator> {
  return await startSimulator({
    products,
    historyMs: 120_000,
    historyTradesPerSecond: 5,
    ws: { ...FAST_WS, ...ws },
  });
}

/**
 * Everything a feed delivered, for checking against the simulator's trade log, also passed to
 * an aggregator: the owner of dedupe, which must count each distinct trade once.
 */
class Recorder {
  readonly trades = new Map<string, Trade>();
  readonly aggregator = new Aggregator();
  readonly connectionOf = new Map<string, string>();
  /** Newest trade time delivered per product. */
  readonly maxTimeOf = new Map<string, number>();
  readonly gaps: FeedGap[] = [];
  readonly statuses: ConnectionStatus[] = [];
  readonly unknown: string[] = [];
  deliveredTwice = 0;
  outOfOrder = 0;
  count = 0;

  handlers: FeedOptions["handlers"] = {
    onTrades: (trades, info) => {
      let prev: Trade | undefined;
      for (const t of trades) {
        this.aggregator.add(t);
        const key = `${t.product}:${t.id}`;
        if (this.trades.has(key)) this.deliveredTwice++;
        this.trades.set(key, t);
        this.connectionOf.set(t.product, info.connectionId);
        const max = this.maxTimeOf.get(t.product) ?? 0;
        if (t.timeMs > max) this.maxTimeOf.set(t.product, t.timeMs);
        if (prev && prev.timeMs > t.timeMs) this.outOfOrder++;
        prev = t;
        this.count++;
      }
    },
    onGap: (g) => this.gaps.push(g),
    onStatus: (s) => this.statuses.push(s),
    onUnknownProducts: (p) => this.unknown.push(...p),
  };

  countFor(product: string): number {
    let n = 0;
    for (const t of this.trades.values()) if (t.product === product) n++;
    return n;
  }
}

function feedFor(
  sim: Simulator,
  rec: Recorder,
  products: string[],
  extra: Partial<FeedOptions> = {},
) {
  return new Feed({
    url: sim.wsUrl,
    products,
    connectIntervalMs: 10,
    staleAfterMs: 300,
    backoff: { initialMs: 20, maxMs: 200 },
    // A frame may carry trades up to one flush interval older than the frame before it (each
    // product flushes on its own phase): the margin the service's default (1 s) also covers.
    gapMarginMs: FAST_WS.flushIntervalMs,
    handlers: rec.handlers,
    ...extra,
  });
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
 * The invariant: per product, from `t0` up to its newest trade delivered (a product's frames
 * come in order and each carries the trades since its previous one; another product's frames
 * on the connection may be newer while this one's next frame is still due), the
 * distinct delivered trades equal the simulator's log (same ids and values, parsed) outside
 * the reported gaps, and the aggregator counted each of them once, dropping every repeat.
 * Returns how many trades were compared.
 */
function assertMatchesLog(sim: Simulator, rec: Recorder, products: string[], t0: number): number {
  assert.equal(rec.outOfOrder, 0, "trades of a frame were not oldest first");
  assert.equal(rec.aggregator.stats.trades, rec.trades.size, "distinct trades counted once");
  assert.equal(rec.aggregator.stats.duplicates, rec.deliveredTwice, "every repeat dropped");
  let compared = 0;
  for (const p of products) {
    assert.ok(rec.connectionOf.has(p), `no trade delivered for ${p}`);
    const until = rec.maxTimeOf.get(p)!;
    const windows = rec.gaps.filter((g) => g.products.includes(p));
    const inGap = (ms: number) => windows.some((g) => ms >= g.fromMs && ms <= g.toMs);
    const expected = sim.market.trades(p, t0, until + 1).map((t) => t.parsed)
      .filter((t) => t.timeMs >= t0 && t.timeMs <= until && !inGap(t.timeMs));
    const got = [...rec.trades.values()]
      .filter((t) => t.product === p && t.timeMs >= t0 && t.timeMs <= until && !inGap(t.timeMs))
      .sort((a, b) => a.id - b.id);
    assert.deepEqual(got, expected, `trades of ${p} differ from the simulator's log`);
    compared += got.length;
  }
  return compared;
}

/** Runs `fn` with a fresh simulator and feed, always closing both. */
async function scenario(
  products: SimProductSpec[],
  feedProducts: string[],
  fn: (ctx: { sim: Simulator; rec: Recorder; feed: Feed; t0: number }) => Promise<void>,
  options: { ws?: Record<string, unknown>; feed?: Partial<FeedOptions> } = {},
): Promise<void> {
  const sim = await startSim(products, options.ws);
  const rec = new Recorder();
  const feed = feedFor(sim, rec, feedProducts, options.feed);
  try {
    const t0 = Date.now();
    feed.start();
    await until(
      "all connections subscribed",
      () => feed.status().every((s) => s.state === "subscribed" || s.state === "closed"),
    );
    await fn({ sim, rec, feed, t0 });
  } finally {
    await feed.stop();
    await sim.close();
  }
}

Deno.test("Feed streams trades equal to the simulator's log", async (t) => {
  const products = specs(5);
  const ids = products.map((p) => p.id);
  await scenario(products, ids, async ({ sim, rec, feed, t0 }) => {
    await sleep(1000);
    await t.step("a normal stream delivers every trade, oldest first, counted once", () => {
      assert.ok(assertMatchesLog(sim, rec, ids, t0) > 20);
      assert.deepEqual(rec.gaps, []);
    });
    await t.step("status and counters describe the connection", () => {
      const [s] = feed.status();
      assert.equal(s!.state, "subscribed");
      assert.deepEqual(s!.products, ids);
      assert.equal(typeof s!.connectedSince, "number");
      assert.equal(s!.reconnects, 0);
      assert.ok(s!.lastMessageAgeS! < 0.3);
      assert.ok(s!.tradesPerS > 0);
      assert.equal(feed.stats.sequenceGaps, 0);
      assert.equal(feed.stats.trades, rec.count);
      assert.ok(feed.stats.frames > 20);
    });
  });
});

Deno.test("Feed recovers from a dropped connection and reports the gap", async () => {
  const products = specs(4);
  const ids = products.map((p) => p.id);
  await scenario(products, ids, async ({ sim, rec, feed, t0 }) => {
    await sleep(400);
    assert.equal(sim.dropConnections(), 1);
    await until("a reconnect gap", () => rec.gaps.length > 0);
    await sleep(500);
    const [gap] = rec.gaps;
    assert.equal(gap!.reason, "reconnect");
    // Each product's snapshot (its 100 latest trades, ~12 s at 8 a second) reaches back before
    // the gap: nothing to repair. The log check below holds the feed to that claim: it excludes
    // only the windows of `products`, so every trade of the gap must have been delivered.
    assert.deepEqual(gap!.replayed, ids);
    assert.deepEqual(gap!.products, []);
    assert.ok(gap!.fromMs < gap!.toMs);
    assert.equal(feed.status()[0]!.reconnects, 1);
    assert.equal(feed.status()[0]!.state, "subscribed");
    assert.ok(rec.deliveredTwice > 0, "the snapshot after the reconnect replayed no trade");
    assert.ok(assertMatchesLog(sim, rec, ids, t0) > 10);
  });
});

Deno.test("Feed leaves a gap its snapshot does not reach back over to REST repair", async () => {
  const products = specs(4);
  const ids = products.map((p) => p.id);
  // Snapshots of 2 trades (~250 ms at 8 a second) against a 1.5 s stall: they cannot vouch for
  // the window. The log check fails if the feed claims them replayed (their gap trades are lost).
  await scenario(products, ids, async ({ sim, rec, feed, t0 }) => {
    await sleep(300);
    assert.equal(sim.stall(1500, { product: ids[0] }), 1);
    await until(
      "a reconnect",
      () => feed.status()[0]!.state === "subscribed" && rec.gaps.length > 0,
    );
    await sleep(300);
    const [gap] = rec.gaps;
    assert.equal(gap!.reason, "reconnect");
    assert.deepEqual(gap!.products, ids.slice(0, 2));
    assert.deepEqual(gap!.replayed, []);
    assertMatchesLog(sim, rec, ids, t0);
  }, { ws: { snapshotSize: 2 }, feed: { productsPerConnection: 2 } });
});

Deno.test("Feed reconnects a stalled socket while other connections keep streaming", async () => {
  const products = specs(4);
  const ids = products.map((p) => p.id);
  await scenario(products, ids, async ({ sim, rec, feed, t0 }) => {
    await sleep(300);
    assert.equal(sim.stall(1500, { product: ids[0] }), 1);
    // ws-1 carries ids[2] and ids[3]; trades are random, so wait for some rather than assume.
    const other = () => rec.countFor(ids[2]!) + rec.countFor(ids[3]!);
    const otherBefore = other();
    await until(
      "the stalled connection to go stale",
      () => rec.statuses.some((s) => s.id === "ws-0" && s.state === "stale"),
    );
    await until("the healthy connection to stream on", () => other() > otherBefore);
    await until(
      "a reconnect",
      () => feed.status()[0]!.state === "subscribed" && rec.gaps.length > 0,
    );
    await sleep(300);
    assert.equal(feed.status()[1]!.reconnects, 0);
    assert.deepEqual(rec.gaps.map((g) => [g.connectionId, g.reason]), [["ws-0", "reconnect"]]);
    // ~2 s away at 8 trades a second: the snapshots replayed the whole window.
    assert.deepEqual(rec.gaps[0]!.replayed, ids.slice(0, 2));
    assert.match(feed.status()[0]!.lastError!, /No message for/);
    assertMatchesLog(sim, rec, ids, t0);
  }, { feed: { productsPerConnection: 2 } });
});

Deno.test("Feed survives a burst of garbage and rejects invalid trades", async () => {
  const products = specs(4);
  const ids = products.map((p) => p.id);
  await scenario(products, ids, async ({ sim, rec, feed, t0 }) => {
    await sleep(300);
    sim.sendGarbage(21, { product: ids[0] });
    await sleep(500);
    assert.ok(feed.stats.garbageFrames >= 12, `garbage frames ${feed.stats.garbageFrames}`);
    assert.equal(feed.stats.rejectedTrades, 18);
    assert.ok(feed.status().every((s) => s.state === "subscribed" && s.reconnects === 0));
    assert.ok(
      ![...rec.trades.values()].some((t) => t.id < 10),
      "a bad trade got through",
    );
    assertMatchesLog(sim, rec, ids, t0);
  }, { feed: { productsPerConnection: 2 } });
});

Deno.test("Feed reports withheld frames as a sequence gap covering their trades", async () => {
  const products = specs(3, 20);
  const ids = products.map((p) => p.id);
  await scenario(products, ids, async ({ sim, rec, feed, t0 }) => {
    await sleep(300);
    sim.withholdFrames(2);
    await until("a sequence gap", () => rec.gaps.length > 0);
    await sleep(300);
    // Two withheld updates give one gap, or two when a heartbeat came in between.
    assert.ok(feed.stats.sequenceGaps >= 1 && feed.stats.sequenceGaps <= 2);
    assert.equal(feed.status()[0]!.sequenceGaps, feed.stats.sequenceGaps);
    assert.ok(rec.gaps.every((g) => g.reason === "sequence" && g.fromMs < g.toMs));
    const lost = sim.ws.withheldTrades;
    assert.ok(lost.length > 0);
    for (const { parsed: t } of lost) {
      const ms = t.timeMs;
      assert.ok(
        rec.gaps.some((g) => ms >= g.fromMs && ms <= g.toMs),
        `withheld trade at ${ms} outside every gap`,
      );
      assert.ok(!rec.trades.has(`${t.product}:${t.id}`));
    }
    assertMatchesLog(sim, rec, ids, t0);
  });
});

Deno.test("Feed passes duplicate and replayed trades on for the aggregator to drop, and tolerates error frames", async () => {
  const products = specs(3);
  const ids = products.map((p) => p.id);
  await scenario(products, ids, async ({ sim, rec, feed, t0 }) => {
    await sleep(300);
    const dupBefore = rec.deliveredTwice;
    assert.equal(sim.duplicateLastFrame(), 1);
    sim.replayTrades(5);
    sim.sendError("Failed to subscribe");
    await sleep(300);
    assert.ok(rec.deliveredTwice >= dupBefore + 15, `repeats ${rec.deliveredTwice}`);
    assert.equal(feed.stats.errors, 1);
    assert.match(feed.status()[0]!.lastError!, /Failed to subscribe/);
    assert.deepEqual(rec.gaps, [], "a repeated sequence number is not a gap");
    assert.equal(feed.status()[0]!.state, "subscribed");
    assertMatchesLog(sim, rec, ids, t0);
  });
});

Deno.test("Feed splits 100 products over 5 connections", async () => {
  const products = specs(100, 2);
  const ids = products.map((p) => p.id);
  await scenario(products, ids, async ({ sim, rec, feed, t0 }) => {
    assert.equal(sim.connections(), 5);
    const status = feed.status();
    assert.deepEqual(status.map((s) => s.products.length), [20, 20, 20, 20, 20]);
    assert.deepEqual(status.flatMap((s) => s.products), ids);
    await sleep(1000);
    const streamed = ids.filter((p) => rec.connectionOf.has(p));
    assert.equal(streamed.length, 100);
    assert.ok(assertMatchesLog(sim, rec, ids, t0) > 50);
  }, { feed: { productsPerConnection: 20 } });
});

Deno.test("Feed reports products Coinbase left out and keeps streaming the rest", async () => {
  const products = specs(2);
  await scenario(products, ["BTC-USD", "NOPE-USD", "ETH-USD"], async ({ sim, rec, feed, t0 }) => {
    assert.deepEqual(rec.unknown, ["NOPE-USD"]);
    assert.deepEqual(feed.status()[0]!.unknownProducts, ["NOPE-USD"]);
    sim.dropConnections();
    await until("resubscribed", () => feed.status()[0]!.reconnects === 1 && rec.gaps.length === 1);
    await sleep(300);
    assert.deepEqual(rec.unknown, ["NOPE-USD"], "the unknown product was asked for again");
    const gap = rec.gaps[0]!;
    assert.deepEqual([...gap.products, ...gap.replayed].sort(), ["BTC-USD", "ETH-USD"]);
    assertMatchesLog(sim, rec, ["BTC-USD", "ETH-USD"], t0);
  });
});

Deno.test("Feed closes a connection whose products are all unknown", async () => {
  await scenario(specs(1), ["BTC-USD", "NOPE-USD", "NADA-USD"], async ({ feed, rec }) => {
    await sleep(200);
    assert.deepEqual(rec.unknown.sort(), ["NADA-USD", "NOPE-USD"]);
    assert.deepEqual(feed.status().map((s) => s.state), ["subscribed", "closed", "closed"]);
    assert.ok(rec.countFor("BTC-USD") > 0);
  }, { feed: { productsPerConnection: 1 } });
});

Deno.test("Feed subscribes with a fresh JWT per message when a key is set", async () => {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
  ]) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  const seed = atob(jwk.d!.replace(/-/g, "+").replace(/_/g, "/"));
  const key = { name: "organizations/o/apiKeys/k", privateKey: btoa(seed) };
  const products = specs(2);
  const ids = products.map((p) => p.id);
  await scenario(products, ids, async ({ sim, rec, feed, t0 }) => {
    await sleep(300);
    assert.equal(feed.stats.errors, 0, "the simulator refused the JWT");
    assert.ok(assertMatchesLog(sim, rec, ids, t0) > 0);
  }, { feed: { key } });
});

Deno.test("Feed backs off exponentially with jitter while the endpoint is down", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // nothing listens there now: every connect fails
  const delays: number[] = [];
  const rec = new Recorder();
  const feed = new Feed({
    url: `ws://127.0.0.1:${port}`,
    products: ["BTC-USD"],
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
  assert.ok(feed.status()[0]!.reconnects >= 5);
  assert.deepEqual(rec.gaps, [], "a connection that never subscribed has no gap to report");
});

Deno.test("Feed does not call a connection stale for silence its own held event loop caused", async () => {
  const products = specs(2);
  const ids = products.map((p) => p.id);
  await scenario(products, ids, async ({ sim, rec, feed, t0 }) => {
    await sleep(300);
    // Hold this process's event loop (the simulator's too) for over three stale periods: on
    // waking, the watchdog's tick is late and the server's messages are still unread.
    const until = performance.now() + 1000;
    while (performance.now() < until) { /* a long task */ }
    await sleep(700);
    assert.deepEqual(rec.statuses.filter((s) => s.state === "stale").map((s) => s.id), []);
    assert.equal(feed.status()[0]!.reconnects, 0);
    assert.deepEqual(rec.gaps, []);
    assertMatchesLog(sim, rec, ids, t0);
  });
});
