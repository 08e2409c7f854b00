import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { GRANULARITIES, ONE_MINUTE } from "../../lib/candles/granularity.ts";
import { RestClient } from "../../lib/coinbase/rest.ts";
import { catchUp, rollUp } from "../../lib/history/catch_up.ts";
import { seedCutoffAt } from "../../lib/history/seeding.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { NOW_MS, startRestSim } from "../coinbase/_rest_server.ts";

const PRODUCTS = ["BTC-USD", "ETH-USD"];
const CUTOFF = seedCutoffAt(NOW_MS); // 15:09

Deno.test("catchUp: ONE_MINUTE from REST only, every coarser candle rolled up equal to REST's", async (t) => {
  const sim = startRestSim({ publicLimit: { ratePerSecond: 1000, burst: 1000 } });
  const store = await openKvCandleStore(":memory:");
  const rest = new RestClient({ baseUrl: sim.baseUrl, ratePerSecond: 500 });
  try {
    await t.step("an empty store: minutes asked for, coarse candles equal REST's own", async () => {
      const summary = await catchUp({
        rest,
        store,
        products: PRODUCTS,
        cutoffSec: CUTOFF,
        catchupHours: 6,
        clock: () => NOW_MS,
      });
      const asked = new Set(sim.handler.requests.map((r) => r.query.granularity));
      deepStrictEqual([...asked].sort(), ["ONE_MINUTE"], "only ONE_MINUTE (15:09 needs no day)");
      equal(summary.failed.length, 0);
      ok(summary.candles > 0);
      for (const p of PRODUCTS) {
        for (const g of GRANULARITIES.slice(1, -1)) {
          const stored = await store.readCompleted(p, g.id, {
            start: CUTOFF - 12 * 3600, // the 6-hour bucket of the bound begins before it
            end: CUTOFF,
            limit: 500,
          });
          ok(stored.length > 0, `${p} ${g.id} stored`);
          const truth = await rest.candles(p, g, stored[0]!.start, stored.at(-1)!.start);
          deepStrictEqual(stored, truth.filter((c) => stored.some((s) => s.start === c.start)));
          equal(stored.length, truth.length, `${p} ${g.id}: every REST candle of the range`);
        }
      }
    });

    await t.step("a store that holds the history: no REST at all", async () => {
      const before = sim.handler.requests.length;
      const summary = await catchUp({
        rest,
        store,
        products: PRODUCTS,
        cutoffSec: CUTOFF,
        catchupHours: 6,
        clock: () => NOW_MS,
      });
      equal(sim.handler.requests.length, before);
      equal(summary.products, 0);
    });
  } finally {
    await store.close();
    await sim.close();
  }
});

Deno.test("rollUp folds only the buckets wholly inside the range", () => {
  const m = (start: number, price: number, volume: number) => ({
    start,
    open: price,
    high: price + 1,
    low: price - 1,
    close: price,
    volume,
  });
  const base = 1773500400; // a 5-minute boundary
  const minutes = [m(base + 60, 11, 0.1), m(base, 10, 0.2), m(base + 300, 12, 0.3)];
  deepStrictEqual(rollUp(minutes, GRANULARITIES[1]!, base, base + 300), [{
    start: base,
    open: 10,
    high: 12,
    low: 9,
    close: 11,
    volume: 0.3,
  }]);
  deepStrictEqual(rollUp(minutes, ONE_MINUTE, base + 60, base + 120).map((c) => c.start), [
    base + 60,
  ]);
});
