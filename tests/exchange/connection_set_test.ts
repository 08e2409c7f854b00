/**
 * {@linkcode ConnectionSet}'s outage record (`ConnectionStatus.missingFromMs`, issue 25 part 4):
 * while a connection that was subscribed in this run is not receiving (down, reconnecting, or
 * connected again but not yet resubscribed), the time from which its products' trades may be
 * missing, so that a kill -9 before the reconnect reports its gap leaves a pending repair. First
 * with a hand-driven connection, then with the real Coinbase and Kraken feeds behind a proxy that
 * cuts the socket and refuses reconnects.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../lib/clock.ts";
import { demoProducts, startSimulator } from "../../lib/coinbase/simulator.ts";
import { Feed } from "../../lib/coinbase/feed.ts";
import { ConnectionSet, type FeedConnection } from "../../lib/exchange/connection_set.ts";
import type {
  ConnectionState,
  ConnectionStatus,
  FeedGap,
  FeedHandlers,
} from "../../lib/exchange/feed_types.ts";
import type { LiveFeed } from "../../lib/exchange/exchange.ts";
import { KrakenFeed } from "../../lib/kraken/feed.ts";
import {
  krakenDemoProducts,
  simSymbolKey,
  startKrakenSimulator,
} from "../../lib/kraken/simulator.ts";
import { FaultProxy } from "../helpers/fault_proxy.ts";

const MARGIN = 1000;

/** A connection the test drives: it calls the handlers it was given as a real one would. */
class HandConnection implements FeedConnection {
  state: ConnectionState = "connecting";
  connectedSince: number | null = null;
  unknown: string[] = [];
  constructor(readonly id: string, readonly products: string[], readonly h: FeedHandlers) {}
  start(): void {}
  stop(): Promise<void> {
    this.set("closed");
    return Promise.resolve();
  }
  status(): ConnectionStatus {
    return {
      id: this.id,
      products: this.products,
      state: this.state,
      connectedSince: this.connectedSince,
      reconnects: 0,
      lastMessageAgeS: null,
      maxGapS: 0,
      sequenceGaps: 0,
      tradesPerS: 0,
      unknownProducts: this.unknown,
    };
  }
  set(state: ConnectionState, atMs?: number): void {
    if (atMs !== undefined) this.connectedSince = atMs;
    if (state !== "subscribed") this.connectedSince = null;
    this.state = state;
    this.h.onStatus?.(this.status());
  }
  trades(receivedAt: number, sentAt?: number): void {
    const t = { product: this.products[0]!, id: "1", price: 1, size: 1, side: "buy" as const };
    this.h.onTrades([{ ...t, timeMs: receivedAt }] as never, {
      connectionId: this.id,
      receivedAt,
      sentAt,
    });
  }
  gap(fromMs: number, toMs: number, reason: FeedGap["reason"] = "reconnect"): void {
    this.h.onGap?.({
      connectionId: this.id,
      products: this.products,
      replayed: [],
      fromMs,
      toMs,
      reason,
    });
  }
}

class HandFeed extends ConnectionSet<HandConnection> {
  readonly seen = { trades: 0, gaps: 0, statuses: 0 };
  constructor() {
    const seen = { trades: 0, gaps: 0, statuses: 0 };
    super({
      connectIntervalMs: 0,
      gapMarginMs: MARGIN,
      handlers: {
        onTrades: () => seen.trades++,
        onGap: () => seen.gaps++,
        onStatus: () => seen.statuses++,
      },
    });
    this.seen = seen;
    this.connections.push(new HandConnection("c-0", ["A-USD", "B-USD"], this.handlers));
    this.connections.push(new HandConnection("c-1", ["C-USD"], this.handlers));
  }
  get c0(): HandConnection {
    return this.connections[0]!;
  }
  get c1(): HandConnection {
    return this.connections[1]!;
  }
  missing(): (number | undefined)[] {
    return this.status().map((s) => s.missingFromMs);
  }
}

const T = Date.UTC(2026, 2, 14, 12, 0, 0);

Deno.test("ConnectionSet: missingFromMs from the last trade frame of a subscribed connection that dropped, until it is subscribed again", async (t) => {
  const feed = new HandFeed();
  await t.step("never subscribed: nothing missing, however it fails (seeding covers it)", () => {
    feed.c0.set("reconnecting");
    feed.c0.set("connecting");
    assert.deepEqual(feed.missing(), [undefined, undefined]);
  });
  await t.step("subscribed, receiving: nothing missing; the handlers still get everything", () => {
    feed.c0.set("subscribed", T);
    feed.c1.set("subscribed", T);
    feed.c0.trades(T + 5000, T + 4990);
    feed.c0.trades(T + 7000, T + 7020); // Coinbase's clock ahead: our receipt counts
    assert.deepEqual(feed.missing(), [undefined, undefined]);
    assert.deepEqual(feed.seen, { trades: 2, gaps: 0, statuses: 4 });
  });
  await t.step("dropped: missing from its last trade frame, less the margin", () => {
    feed.c0.set("stale");
    assert.deepEqual(feed.missing(), [T + 7000 - MARGIN, undefined]);
    feed.c0.set("reconnecting");
    feed.c0.set("reconnecting");
    assert.deepEqual(feed.missing(), [T + 7000 - MARGIN, undefined], "the first drop's start");
  });
  await t.step("gaps change nothing; subscribed again (its reconnect gap reported) ends it", () => {
    feed.c0.gap(T, T + 1, "sequence");
    feed.c0.gap(T + 6000, T + 80_000);
    assert.equal(feed.missing()[0], T + 7000 - MARGIN);
    assert.equal(feed.seen.gaps, 2);
    feed.c0.set("subscribed", T + 90_000);
    assert.deepEqual(feed.missing(), [undefined, undefined]);
  });
  await t.step("a later drop: from the socket's open when no trade came since", () => {
    feed.c0.set("reconnecting");
    assert.equal(feed.missing()[0], T + 90_000 - MARGIN);
    feed.c0.set("subscribed", T + 120_000);
    assert.deepEqual(feed.missing(), [undefined, undefined]);
  });
  await t.step("closed (stopped, or no product known) is not an outage", async () => {
    feed.c1.set("reconnecting");
    assert.deepEqual(feed.missing(), [undefined, T - MARGIN]);
    await feed.stop();
    assert.deepEqual(feed.missing(), [undefined, undefined]);
  });
});

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Drops every socket of `feed` through `proxy` and refuses reconnects for a while: while down,
 * every connection says what is missing, from no later than the gap the reconnect then reports.
 */
async function dropAndReturn(
  feed: LiveFeed,
  proxy: FaultProxy,
  gaps: FeedGap[],
): Promise<void> {
  await until("subscribed", () => feed.status().every((s) => s.state === "subscribed"));
  await sleep(300);
  assert.ok(feed.status().every((s) => s.missingFromMs === undefined), "receiving");
  const droppedAt = Date.now();
  await proxy.setMode("refuse");
  await until("down", () => feed.status().every((s) => s.state !== "subscribed"));
  await sleep(500);
  const down = feed.status();
  for (const s of down) {
    assert.ok(s.missingFromMs !== undefined, `${s.id} says what is missing`);
    assert.ok(s.missingFromMs <= droppedAt, `${s.id}: ${s.missingFromMs} ≤ ${droppedAt}`);
    assert.ok(s.missingFromMs > droppedAt - 5000, `${s.id}: from its last frames`);
  }
  const before = gaps.length;
  await proxy.setMode("pass");
  await until(
    "back and its gaps reported",
    () =>
      feed.status().every((s) => s.state === "subscribed") &&
      gaps.filter((g) => g.reason === "reconnect").length >= before + down.length,
  );
  for (const s of down) {
    const gap = gaps.slice(before).find((g) =>
      g.connectionId === s.id && g.reason === "reconnect"
    )!;
    assert.ok(
      s.missingFromMs! <= gap.fromMs,
      `${s.id}: missing from ${s.missingFromMs}, the reconnect gap from ${gap.fromMs}`,
    );
  }
  assert.ok(feed.status().every((s) => s.missingFromMs === undefined), "receiving again");
}

Deno.test("Coinbase Feed: missingFromMs while its sockets are down, no later than the gap reported", async () => {
  const sim = await startSimulator({
    products: demoProducts(4),
    ws: { heartbeatIntervalMs: 100, flushIntervalMs: 50 },
  });
  const proxy = new FaultProxy(Number(new URL(sim.wsUrl).port));
  const gaps: FeedGap[] = [];
  const feed = new Feed({
    url: `ws://${proxy.host}`,
    products: sim.market.products.map((p) => p.id),
    productsPerConnection: 2,
    connectIntervalMs: 10,
    staleAfterMs: 300,
    backoff: { initialMs: 20, maxMs: 100 },
    handlers: { onTrades: () => {}, onGap: (g) => gaps.push(g) },
  });
  try {
    feed.start();
    await dropAndReturn(feed, proxy, gaps);
  } finally {
    await feed.stop();
    await proxy.close();
    await sim.close();
  }
});

Deno.test("KrakenFeed: missingFromMs while its sockets are down, no later than the gap reported", async () => {
  const sim = await startKrakenSimulator({
    products: krakenDemoProducts(3),
    historyMs: 120_000,
    historyTradesPerSecond: 5,
    ws: { heartbeatIntervalMs: 100, flushIntervalMs: 25 },
  });
  const url = new URL(sim.wsUrl);
  const proxy = new FaultProxy(Number(url.port));
  const gaps: FeedGap[] = [];
  const feed = new KrakenFeed({
    url: `ws://${proxy.host}${url.pathname}`,
    products: sim.market.products.map((p) => simSymbolKey(p.id)),
    symbolsPerConnection: 2,
    clock: systemClock,
    connectIntervalMs: 10,
    staleAfterMs: 400,
    backoff: { initialMs: 20, maxMs: 100 },
    ackTimeoutMs: 2000,
    handlers: { onTrades: () => {}, onGap: (g) => gaps.push(g) },
  });
  try {
    feed.start();
    await dropAndReturn(feed, proxy, gaps);
  } finally {
    await feed.stop();
    await proxy.close();
    await sim.close();
  }
});
