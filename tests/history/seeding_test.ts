import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { Aggregator } from "../../lib/candles/aggregator.ts";
import { type Granularity, ONE_MINUTE } from "../../lib/candles/granularity.ts";
import type { Trade } from "../../lib/candles/trade.ts";
import { RestError } from "../../lib/coinbase/rest_error.ts";
import { HistoryFetchError } from "../../lib/history/fetch_error.ts";
import { fetchSeedTiles, SeedGate } from "../../lib/history/seeding.ts";

const T0 = Date.UTC(2026, 2, 14, 12, 0);
const trade = (i: number): Trade => ({
  product: "BTC-USD",
  id: 1000 + i,
  price: 10,
  size: 100_000_000,
  timeMs: T0 + i * 1000,
});

Deno.test("SeedGate holds trades of products not yet seeded, then releases them in order", () => {
  const gate = new SeedGate(["BTC-USD"]);
  ok(gate.hold(trade(0)));
  ok(gate.hold(trade(1)));
  ok(!gate.hold({ ...trade(2), product: "ETH-USD" }), "a product not waiting is not held");
  const { trades, droppedThroughMs } = gate.release("BTC-USD");
  deepStrictEqual(trades.map((t) => t.id), [1000, 1001]);
  equal(droppedThroughMs, undefined);
  ok(!gate.hold(trade(3)), "after release trades go straight through");
  ok(gate.allReady);
});

Deno.test("SeedGate stays bounded: overflow drops the oldest and says how far to repair", () => {
  const gate = new SeedGate(["BTC-USD"], 10);
  for (let i = 0; i < 25; i++) gate.hold(trade(i));
  const { trades, droppedThroughMs } = gate.release("BTC-USD");
  ok(trades.length <= 10);
  const oldestKept = trades[0]!.timeMs;
  equal(droppedThroughMs, oldestKept - 1000, "dropped up to just before the oldest kept trade");
  equal(gate.dropped, 25 - trades.length);
  // Applying what was kept and repairing the dropped window from REST gives the full minute.
  const agg = new Aggregator();
  agg.seed("BTC-USD", T0 / 1000, []);
  for (const t of trades) agg.add(t);
  agg.tick(T0 + 70_000);
  agg.repair("BTC-USD", T0 / 1000, T0 / 1000 + 60, [{
    start: T0 / 1000,
    open: 10,
    high: 10,
    low: 10,
    close: 10,
    volume: 25,
  }]);
  equal(agg.live("BTC-USD", ONE_MINUTE), undefined);
  const minute = agg.drain().findLast((u) =>
    u.granularity === "ONE_MINUTE" && u.candle.start === T0 / 1000
  );
  equal(minute?.candle.volume, 25);
});

Deno.test("fetchSeedTiles names the product, granularity and window a failure was for", async (t) => {
  // 12:34 on a day: every seed tile is one request; the third one fails.
  const cutoffSec = Date.UTC(2026, 2, 14, 12, 34) / 1000;
  const fail = (status: number, retryable: boolean) => {
    const calls: [string, number, number][] = [];
    const rest = {
      candles(_product: string, g: Granularity, from: number, to: number) {
        calls.push([g.id, from, to]);
        if (calls.length < 3) return Promise.resolve([]);
        return Promise.reject(
          new RestError(`GET /candles failed with ${status}`, {
            method: "GET",
            path: "/market/products/BTC-USD/candles",
            status,
            retryable,
          }),
        );
      },
    };
    return { rest, calls };
  };
  await t.step("a final 404 is a final HistoryFetchError for the failed request", async () => {
    const { rest, calls } = fail(404, false);
    const e = await fetchSeedTiles(rest, "BTC-USD", cutoffSec).then(() => undefined, (e) => e);
    ok(e instanceof HistoryFetchError, String(e));
    equal(calls.length, 3, "no request after the failure");
    const [granularity, fromSec, toSec] = calls[2]!;
    deepStrictEqual(
      [e.product, e.granularity, e.fromSec, e.toSec, e.retryable],
      ["BTC-USD", granularity, fromSec, toSec, false],
    );
    ok(
      /^seeding BTC-USD \S+ \S+…\S+ failed for good: GET \/candles failed with 404$/.test(
        e.message,
      ),
    );
    ok(e.cause instanceof RestError);
  });
  await t.step("a 503 after the client's retries stays retryable", async () => {
    const { rest } = fail(503, true);
    const e = await fetchSeedTiles(rest, "BTC-USD", cutoffSec).then(() => undefined, (e) => e);
    ok(e instanceof HistoryFetchError, String(e));
    equal(e.retryable, true);
    ok(!e.message.includes("for good"), e.message);
  });
});

Deno.test("a snapshot replay held while seeding is dropped by the aggregator on release", () => {
  const gate = new SeedGate(["BTC-USD"]);
  for (const i of [0, 1, 2]) gate.hold(trade(i));
  // A reconnect during seeding: the new subscription's snapshot repeats trades already held.
  for (const i of [1, 2, 3]) gate.hold(trade(i));
  const { trades } = gate.release("BTC-USD");
  equal(trades.length, 6, "the gate holds what the feed delivered");
  const agg = new Aggregator();
  agg.seed("BTC-USD", T0 / 1000, []);
  deepStrictEqual(trades.map((t) => agg.add(t)), [true, true, true, false, false, true]);
  equal(agg.stats.duplicates, 2);
  equal(agg.live("BTC-USD", ONE_MINUTE)?.volume, 4, "four distinct trades of size 1");
});
