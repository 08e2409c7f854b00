/**
 * A shard killed with a repair pending and started again a day later (issue 25 part 4): the
 * pending start lies far before the startup catch-up's bound (`CATCHUP_HOURS`). The restart takes
 * the product's minutes from that start on from REST all the same (back to `HISTORY_DAYS`), so
 * the candles the previous run stored from incomplete trades are rewritten at every granularity.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { bucketStart, GRANULARITIES } from "../../lib/candles/granularity.ts";
import { acceleratedClock } from "../../lib/clock.ts";
import { demoProducts, startSimulator } from "../../lib/coinbase/simulator.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { startHarness, until } from "../helpers/service.ts";

const START = Date.UTC(2026, 2, 14, 12, 30, 10);

Deno.test("Service restarted a day after a kill with a repair pending: the minutes from its start are fetched again", async () => {
  const clock = acceleratedClock(1, START);
  const sim = await startSimulator({
    products: demoProducts(3),
    clock,
    historyMs: 30 * 3600_000,
    historyTradesPerSecond: 0.2,
    rest: { publicLimit: { ratePerSecond: 1000, burst: 1000 } },
    ws: { heartbeatIntervalMs: 100, flushIntervalMs: 50 },
  });
  const store = await openKvCandleStore(":memory:");
  const [product, ...others] = sim.market.products.map((p) => p.id);
  const ids = [product!, ...others];
  // The previous run died a day ago, 20 minutes after a gap whose repair never ran: it stored
  // every candle until then, those holding a minute from the gap on built without some trades.
  const diedSec = bucketStart(START / 1000 - 86_400, GRANULARITIES[0]!);
  const gapSec = diedSec - 20 * 60;
  for (const g of GRANULARITIES) {
    const from = bucketStart(diedSec - 3 * 3600, g);
    const truth = sim.market.candles(product!, g, from, diedSec - g.seconds)
      .filter((c) => c.start + g.seconds <= diedSec);
    await store.writeCompleted(truth.map((c) => ({
      product: product!,
      granularity: g.id,
      candle: c.start + g.seconds > gapSec ? { ...c, volume: c.volume / 2, low: c.low - 1 } : c,
    })));
  }
  await store.writeShard({
    index: 0,
    count: 1,
    version: "test",
    startedAt: (diedSec - 3 * 3600) * 1000,
    heartbeatAt: diedSec * 1000,
    status: "healthy",
    selection: { products: ids, quoteCurrencies: ["USD"] },
    products: ids,
    connections: { connected: 1, total: 1, reconnects: 0 },
    gaps: { sequenceGaps: 1, maxGapS: 0 },
    pendingRepairs: { [product!]: gapSec },
  });
  const h = await startHarness({
    clock,
    store,
    sim,
    products: 3,
    env: { CATCHUP_HOURS: "2", HISTORY_DAYS: "2" },
  });
  try {
    await until(
      () => h.service.phase === "running" && h.service.startupNote === "",
      30_000,
      "startup (seeding and catch-up) to finish",
    );
    const cutoffSec = bucketStart(START / 1000, GRANULARITIES[0]!);
    let compared = 0;
    for (const g of GRANULARITIES) {
      const first = bucketStart(gapSec, g);
      const last = bucketStart(cutoffSec, g) - g.seconds;
      const stored = await store.readCompleted(product!, g.id, {
        start: first,
        end: last,
        limit: 5000,
      });
      const truth = sim.market.candles(product!, g, first, last);
      const bad = truth.find((c, i) => JSON.stringify(c) !== JSON.stringify(stored[i]));
      deepStrictEqual(
        stored,
        truth,
        `${product} ${g.id}: first difference at ${bad?.start} of ${truth.length}`,
      );
      compared += truth.length;
    }
    ok(compared > 1500, `compared ${compared} candles`);
  } finally {
    await h.close(); // closes the store too
    await sim.close();
  }
});
