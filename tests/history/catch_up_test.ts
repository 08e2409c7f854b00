import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { GRANULARITIES, ONE_MINUTE } from "../../lib/candles/granularity.ts";
import { RestClient } from "../../lib/coinbase/rest.ts";
import { catchUp, rollUp, untrustLatest } from "../../lib/history/catch_up.ts";
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

    await t.step(
      "untrusted from a pending repair: re-fetched and rewritten at every granularity",
      async () => {
        // A previous run stored 14:32's minute (and every bucket holding it) from incomplete
        // trades, and stopped before the repair.
        const untrustedSec = CUTOFF - 37 * 60; // 14:32
        for (const g of GRANULARITIES.slice(0, -1)) {
          const b = Math.floor(untrustedSec / g.seconds) * g.seconds;
          const [c] = await store.readCompleted("BTC-USD", g.id, { start: b, end: b, limit: 1 });
          if (!c) continue; // a bucket not complete before the cutoff
          await store.writeCompleted([{
            product: "BTC-USD",
            granularity: g.id,
            candle: { ...c, volume: c.volume / 2, low: c.low - 1 },
          }]);
        }
        const before = sim.handler.requests.length;
        const summary = await catchUp({
          rest,
          store,
          products: PRODUCTS,
          cutoffSec: CUTOFF,
          catchupHours: 6,
          clock: () => NOW_MS,
          untrustedFrom: new Map([["BTC-USD", untrustedSec]]),
        });
        equal(summary.products, 1, "ETH-USD had nothing pending: no REST");
        equal(sim.handler.requests.length - before, 1, "one ONE_MINUTE request");
        for (const g of GRANULARITIES.slice(0, -1)) {
          const stored = await store.readCompleted("BTC-USD", g.id, {
            start: CUTOFF - 12 * 3600,
            end: CUTOFF,
            limit: 1000,
          });
          const truth = await rest.candles("BTC-USD", g, stored[0]!.start, stored.at(-1)!.start);
          deepStrictEqual(stored, truth, `BTC-USD ${g.id}`);
        }
      },
    );

    await t.step("untrustLatest moves only the newest stored starts at or after the bucket", () => {
      const latest = GRANULARITIES.map((g) =>
        new Map([["A", CUTOFF - g.seconds - (CUTOFF % g.seconds)], ["B", CUTOFF - 60]])
      );
      const moved = untrustLatest(latest, new Map([["A", CUTOFF - 600]]));
      for (const g of GRANULARITIES) {
        const bucket = Math.floor((CUTOFF - 600) / g.seconds) * g.seconds;
        const l = latest[g.index]!.get("A")!;
        equal(moved[g.index]!.get("A"), l >= bucket ? bucket - g.seconds : l, g.id);
        equal(moved[g.index]!.get("B"), CUTOFF - 60);
      }
      equal(untrustLatest(latest, new Map()), latest);
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
