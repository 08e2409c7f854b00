/**
 * {@linkcode catchUp} with a pending repair older than its `catchupHours` bound (issue 25 part 4):
 * a shard killed with a repair pending and restarted hours later. The untrusted minutes before
 * the bound are re-fetched and rewritten at every granularity too, back to `untrustedHours`
 * (the service's `max(CATCHUP_HOURS, HISTORY_DAYS × 24)`); what lies before that is given up and
 * named in the summary.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { bucketStart, GRANULARITIES, type Granularity } from "../../lib/candles/granularity.ts";
import { RestClient } from "../../lib/coinbase/rest.ts";
import { catchUp } from "../../lib/history/catch_up.ts";
import { seedCutoffAt } from "../../lib/history/seeding.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import type { CandleStore } from "../../lib/store/store.ts";
import { NOW_MS, startRestSim } from "../coinbase/_rest_server.ts";

const CUTOFF = seedCutoffAt(NOW_MS); // 15:09
const HOUR = 3600;

/** The stored candles of `product` at `g` in `[fromSec, toSec)` equal REST's. */
async function assertTrue(
  store: CandleStore,
  rest: RestClient,
  product: string,
  g: Granularity,
  fromSec: number,
  toSec: number,
): Promise<number> {
  const last = bucketStart(toSec, g) - g.seconds;
  const first = bucketStart(fromSec, g);
  if (last < first) return 0;
  const stored = await store.readCompleted(product, g.id, { start: first, end: last, limit: 5000 });
  const truth = await rest.candles(product, g, first, last);
  deepStrictEqual(stored, truth, `${product} ${g.id} ${first}…${last}`);
  return truth.length;
}

/**
 * What a previous run left: REST's candles of the buckets in `[fromSec, toSec)`, those holding a
 * minute of `[wrongFromSec, wrongToSec)` wrong.
 */
async function previousRun(
  store: CandleStore,
  rest: RestClient,
  product: string,
  [fromSec, toSec]: [number, number],
  [wrongFromSec, wrongToSec]: [number, number] = [0, 0],
): Promise<void> {
  for (const g of GRANULARITIES) {
    const candles = await rest.candles(product, g, bucketStart(fromSec, g), toSec - g.seconds);
    await store.writeCompleted(
      candles.filter((c) => c.start + g.seconds <= toSec).map((c) => ({
        product,
        granularity: g.id,
        // Built from incomplete trades: what the repair would have corrected.
        candle: c.start + g.seconds > wrongFromSec && c.start < wrongToSec
          ? { ...c, volume: c.volume / 2, low: c.low - 1 }
          : c,
      })),
    );
  }
}

Deno.test("catchUp: an untrusted start before the catchupHours bound is re-fetched back to untrustedHours", async (t) => {
  const sim = startRestSim({ publicLimit: { ratePerSecond: 1000, burst: 1000 } });
  const rest = new RestClient({ baseUrl: sim.baseUrl, ratePerSecond: 500 });
  try {
    await t.step("5 h back, a bound of 2 h, untrustedHours 24: all of it rewritten", async () => {
      const store = await openKvCandleStore(":memory:");
      try {
        const untrusted = CUTOFF - 5 * HOUR; // 10:09
        await previousRun(store, rest, "BTC-USD", [CUTOFF - 8 * HOUR, CUTOFF], [untrusted, CUTOFF]);
        await previousRun(store, rest, "ETH-USD", [CUTOFF - 8 * HOUR, CUTOFF]);
        const before = sim.handler.requests.length;
        const summary = await catchUp({
          rest,
          store,
          products: ["BTC-USD", "ETH-USD"],
          cutoffSec: CUTOFF,
          catchupHours: 2,
          untrustedHours: 24,
          clock: () => NOW_MS,
          untrustedFrom: new Map([["BTC-USD", untrusted]]),
        });
        equal(summary.products, 1, "ETH-USD held its history: nothing to do");
        deepStrictEqual(summary.untrustedGivenUp, []);
        const requests = sim.handler.requests.slice(before);
        ok(requests.every((r) => r.query.granularity === "ONE_MINUTE"), "minutes only");
        let compared = 0;
        for (const g of GRANULARITIES) {
          compared += await assertTrue(store, rest, "BTC-USD", g, untrusted, CUTOFF);
        }
        ok(compared > 300, `compared ${compared}`);
      } finally {
        store.close();
      }
    });

    await t.step(
      "a day back and no history kept after it (the shard was down): fetched",
      async () => {
        const store = await openKvCandleStore(":memory:");
        try {
          // The previous run stored up to 26 h back and died 24 h back, 20 minutes after a gap.
          const died = CUTOFF - 24 * HOUR;
          const untrusted = died - 20 * 60;
          await previousRun(store, rest, "BTC-USD", [CUTOFF - 26 * HOUR, died], [untrusted, died]);
          const summary = await catchUp({
            rest,
            store,
            products: ["BTC-USD"],
            cutoffSec: CUTOFF,
            catchupHours: 6,
            untrustedHours: 48,
            clock: () => NOW_MS,
            untrustedFrom: new Map([["BTC-USD", untrusted]]),
          });
          equal(summary.products, 1);
          for (const g of GRANULARITIES) {
            await assertTrue(store, rest, "BTC-USD", g, untrusted, CUTOFF);
          }
        } finally {
          store.close();
        }
      },
    );

    await t.step(
      "older than untrustedHours: re-fetched from its bound, the rest given up",
      async () => {
        const store = await openKvCandleStore(":memory:");
        try {
          const untrusted = CUTOFF - 5 * HOUR;
          await previousRun(store, rest, "BTC-USD", [CUTOFF - 8 * HOUR, CUTOFF], [
            untrusted,
            CUTOFF,
          ]);
          const summary = await catchUp({
            rest,
            store,
            products: ["BTC-USD"],
            cutoffSec: CUTOFF,
            catchupHours: 1,
            untrustedHours: 3,
            clock: () => NOW_MS,
            untrustedFrom: new Map([["BTC-USD", untrusted]]),
          });
          deepStrictEqual(summary.untrustedGivenUp, ["BTC-USD"]);
          for (const g of GRANULARITIES) {
            // Buckets wholly after the bound are right again.
            const bound = CUTOFF - 3 * HOUR;
            await assertTrue(store, rest, "BTC-USD", g, bucketStart(bound, g) + g.seconds, CUTOFF);
          }
          const [kept] = await store.readCompleted("BTC-USD", "ONE_MINUTE", {
            start: untrusted,
            end: untrusted,
            limit: 1,
          });
          const [truth] = await rest.candles("BTC-USD", GRANULARITIES[0]!, untrusted, untrusted);
          ok(kept && truth && kept.volume !== truth.volume, "before the bound: left as stored");
        } finally {
          store.close();
        }
      },
    );

    await t.step(
      "catchupHours 0 skips the catch-up, not the re-fetch of untrusted minutes",
      async () => {
        const store = await openKvCandleStore(":memory:");
        try {
          const untrusted = CUTOFF - 40 * 60;
          await previousRun(store, rest, "BTC-USD", [CUTOFF - 3 * HOUR, CUTOFF], [
            untrusted,
            CUTOFF,
          ]);
          await previousRun(store, rest, "ETH-USD", [CUTOFF - 3 * HOUR, CUTOFF]);
          const summary = await catchUp({
            rest,
            store,
            products: ["BTC-USD", "ETH-USD"],
            cutoffSec: CUTOFF,
            catchupHours: 0,
            untrustedHours: 24,
            clock: () => NOW_MS,
            untrustedFrom: new Map([["BTC-USD", untrusted]]),
          });
          equal(summary.products, 1);
          for (const g of GRANULARITIES) {
            await assertTrue(store, rest, "BTC-USD", g, untrusted, CUTOFF);
          }
        } finally {
          store.close();
        }
      },
    );
  } finally {
    await sim.close();
  }
});
