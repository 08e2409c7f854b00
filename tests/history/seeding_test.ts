import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { isDeepStrictEqual as isDeepEqual } from "node:util";
import { Aggregator } from "../../lib/candles/aggregator.ts";
import type { Candle } from "../../lib/candles/candle.ts";
import { parseUnits, unitsToNumber } from "../../lib/candles/decimal.ts";
import { GRANULARITIES, ONE_MINUTE } from "../../lib/candles/granularity.ts";
import { RestClient } from "../../lib/coinbase/rest.ts";
import {
  planSeeds,
  runSeeding,
  seedCutoffAt,
  type SeedingOptions,
} from "../../lib/history/seeding.ts";
import type { CandleStore } from "../../lib/store/store.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { NOW_MS, startRestSim } from "../coinbase/_rest_server.ts";

const PRODUCTS = ["BTC-USD", "ETH-USD", "BTC-EUR"];
const CUTOFF = seedCutoffAt(NOW_MS); // 15:09:00, 26 s before the market's "now"
const DAY = Math.floor(CUTOFF / 86400) * 86400;

/** The fold of REST minutes into the bucket of each coarser granularity open at the cutoff. */
function expectedCoarse(minutes: Candle[]): Map<string, Candle> {
  const out = new Map<string, Candle>();
  for (const g of GRANULARITIES.slice(1)) {
    const b = Math.floor(CUTOFF / g.seconds) * g.seconds;
    const inside = minutes.filter((c) => c.start >= b && c.start < CUTOFF);
    if (inside.length === 0) continue;
    let volume = 0n;
    for (const c of inside) volume += BigInt(parseUnits(c.volume.toFixed(8)));
    out.set(g.id, {
      start: b,
      open: inside[0]!.open,
      high: Math.max(...inside.map((c) => c.high)),
      low: Math.min(...inside.map((c) => c.low)),
      close: inside.at(-1)!.close,
      volume: unitsToNumber(volume),
    });
  }
  return out;
}

function candleAt(start: number): Candle {
  return { start, open: 1, high: 1, low: 1, close: 1, volume: 1 };
}

function liveCoarse(agg: Aggregator, product: string): Map<string, Candle> {
  const out = new Map<string, Candle>();
  for (const g of GRANULARITIES.slice(1)) {
    const c = agg.live(product, g);
    if (c) out.set(g.id, c);
  }
  return out;
}

Deno.test("runSeeding: two REST requests per product cold, none warm, exact coarse candles", async (t) => {
  const sim = startRestSim({ publicLimit: { ratePerSecond: 10, burst: 10, sliding: true } });
  const store = await openKvCandleStore(":memory:");
  // The service's default rate: Coinbase's 10/s at the simulator leaves no margin for arrival skew (a
  // 429 and its retry would count as a request more).
  const rest = new RestClient({ baseUrl: sim.baseUrl, ratePerSecond: 8 });
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 5)));
  /** Seeds PRODUCTS at CUTOFF from `store` and the simulator (the options every step shares). */
  const seed = (
    store: CandleStore,
    aggregator: Aggregator,
    options: Partial<SeedingOptions> = {},
  ) =>
    runSeeding({
      store,
      rest,
      aggregator,
      products: PRODUCTS,
      cutoffSec: CUTOFF,
      clock: () => NOW_MS,
      sleep,
      ...options,
    });
  try {
    const truth = new Map<string, Candle[]>();
    for (const p of PRODUCTS) {
      truth.set(p, await rest.candles(p, ONE_MINUTE, DAY, CUTOFF - 60));
    }
    const before = sim.handler.requests.length;

    await t.step(
      "cold: at most 2 requests per product; coarse candles = fold of minutes",
      async () => {
        const agg = new Aggregator();
        for (const p of PRODUCTS) agg.expectSeed(p, CUTOFF);
        const order: string[] = [];
        const summary = await seed(store, agg, {
          onSeeded: (p) => order.push(p),
        });
        const used = sim.handler.requests.slice(before);
        const stored = await store.readCompleted("BTC-USD", "ONE_MINUTE", { limit: 100 });
        ok(stored.length > 0, "the REST tiles are stored as history");
        ok(used.length <= 2 * PRODUCTS.length, `${used.length} requests`);
        equal(summary.requests, used.length);
        equal(summary.fromStore, 0);
        deepStrictEqual(order.sort(), [...PRODUCTS].sort());
        for (const p of PRODUCTS) {
          ok(agg.isSeeded(p));
          deepStrictEqual(liveCoarse(agg, p), expectedCoarse(truth.get(p)!), p);
        }
      },
    );

    await t.step(
      "with a history sink, a store whose writes never answer does not hold seeding up",
      async () => {
        const stuck = await openKvCandleStore(":memory:");
        const never = new Promise<void>(() => {});
        const slow = new Proxy(stuck, {
          get(target, key) {
            if (key === "writeCompleted") return () => never;
            const value = Reflect.get(target, key);
            return typeof value === "function" ? value.bind(target) : value;
          },
        });
        let release = () => {};
        const storeAfter = new Promise<void>((r) => release = r);
        const agg = new Aggregator();
        for (const p of PRODUCTS) agg.expectSeed(p, CUTOFF);
        const handed: string[] = [];
        const seeding = seed(slow, agg, {
          storeAfter,
          history: (docs) => handed.push(...docs.map((d) => `${d.product} ${d.granularity}`)),
        });
        await seeding;
        for (const p of PRODUCTS) ok(agg.isSeeded(p), p);
        equal(handed.length, 0, "the tiles wait for storeAfter");
        release();
        await storeAfter;
        await new Promise((r) => setTimeout(r, 0));
        for (const p of PRODUCTS) {
          ok(handed.some((h) => h.startsWith(p)), `${p}'s tiles handed over`);
        }
        stuck.close();
      },
    );

    await t.step(
      "warm: the store holds the day's hours and minutes, so no REST at all",
      async () => {
        // What a previous run would have stored: completed hours and minutes up to the cutoff.
        for (const p of PRODUCTS) {
          const hours = await rest.candles(
            p,
            GRANULARITIES[4]!,
            DAY,
            CUTOFF - 3600 - (CUTOFF % 3600),
          );
          await store.writeCompleted([
            ...hours.map((candle) => ({ product: p, granularity: "ONE_HOUR" as const, candle })),
            ...truth.get(p)!.filter((c) => c.start >= CUTOFF - (CUTOFF % 3600)).map((candle) => ({
              product: p,
              granularity: "ONE_MINUTE" as const,
              candle,
            })),
          ]);
        }
        const plans = await planSeeds(store, PRODUCTS, CUTOFF);
        deepStrictEqual(plans.map((p) => p.requests), [[], [], []]);
        const requestsBefore = sim.handler.requests.length;
        const agg = new Aggregator();
        for (const p of PRODUCTS) agg.expectSeed(p, CUTOFF);
        const summary = await seed(store, agg);
        equal(sim.handler.requests.length, requestsBefore, "no REST request");
        equal(summary.fromStore, PRODUCTS.length);
        for (const p of PRODUCTS) {
          deepStrictEqual(liveCoarse(agg, p), expectedCoarse(truth.get(p)!), p);
        }
      },
    );

    await t.step(
      "untrusted from a pending repair: those stored candles come from REST, coarse exact",
      async () => {
        const hour = CUTOFF - (CUTOFF % 3600); // 15:00
        const wrong = await openKvCandleStore(":memory:");
        try {
          // A previous run stored everything, but stopped with a repair of 15:04 pending (and
          // of 13:30 for ETH-USD): from there on its candles lack trades.
          const untrusted = new Map([["BTC-USD", hour + 240], ["ETH-USD", hour - 5400]]);
          for (const p of PRODUCTS) {
            const hours = await rest.candles(p, GRANULARITIES[4]!, DAY, hour - 3600);
            const from = untrusted.get(p) ?? Infinity;
            const spoil = (c: Candle) =>
              c.start >= from - (c.start >= hour ? 0 : 3599)
                ? { ...c, volume: c.volume / 2, high: c.high + 1 }
                : c;
            await wrong.writeCompleted([
              ...hours.map((c) => ({
                product: p,
                granularity: "ONE_HOUR" as const,
                candle: spoil(c),
              })),
              ...truth.get(p)!.filter((c) => c.start >= hour).map((c) => ({
                product: p,
                granularity: "ONE_MINUTE" as const,
                candle: spoil(c),
              })),
            ]);
            // The live watermark says "all stored": the untrusted minute still wins.
            await wrong.writeLive([
              { product: p, granularity: "ONE_MINUTE", candle: candleAt(CUTOFF) },
              { product: p, granularity: "ONE_DAY", candle: candleAt(DAY) },
            ]);
          }
          const plans = await planSeeds(wrong, PRODUCTS, CUTOFF, untrusted);
          const btc = plans[0]!;
          deepStrictEqual(btc.requests, [
            { granularity: "ONE_MINUTE", startSec: hour + 240, endSec: CUTOFF - 60 },
          ]);
          ok(btc.tiles.every((t) => t.candle.start < hour + 240), "no untrusted tile");
          equal(btc.tiles.filter((t) => t.granularity === "ONE_MINUTE").length, 4);
          // 13:30 untrusts the 13:00 hour on: one merged minute request from 13:00.
          deepStrictEqual(plans[1]!.requests, [
            { granularity: "ONE_MINUTE", startSec: hour - 7200, endSec: CUTOFF - 60 },
          ]);
          ok(plans[1]!.tiles.every((t) => t.candle.start < hour - 7200));
          deepStrictEqual(plans[2]!.requests, [], "BTC-EUR had nothing pending: no REST");

          // Without it, the wrong stored candles would be seeded.
          const blind = new Aggregator();
          for (const p of PRODUCTS) blind.expectSeed(p, CUTOFF);
          await seed(wrong, blind, { history: () => {} });
          ok(!isDeepEqual(liveCoarse(blind, "BTC-USD"), expectedCoarse(truth.get("BTC-USD")!)));

          const agg = new Aggregator();
          for (const p of PRODUCTS) agg.expectSeed(p, CUTOFF);
          const before = sim.handler.requests.length;
          const summary = await seed(wrong, agg, { untrustedFrom: untrusted });
          equal(sim.handler.requests.length - before, 2, "one request per untrusted product");
          equal(summary.fromStore, 1);
          for (const p of PRODUCTS) {
            deepStrictEqual(liveCoarse(agg, p), expectedCoarse(truth.get(p)!), p);
          }
          // The fetched tiles are stored too: the store is right again.
          const again = await planSeeds(wrong, PRODUCTS, CUTOFF);
          deepStrictEqual(again.map((p) => p.requests), [[], [], []]);
          const next = new Aggregator();
          for (const p of PRODUCTS) next.expectSeed(p, CUTOFF);
          await seed(wrong, next);
          for (const p of PRODUCTS) {
            deepStrictEqual(liveCoarse(next, p), expectedCoarse(truth.get(p)!), p);
          }
        } finally {
          await wrong.close();
        }
      },
    );

    await t.step(
      "the previous run's live state is a watermark: no REST even without trades",
      async () => {
        const empty = await openKvCandleStore(":memory:");
        try {
          // A seeded previous run (it published today's ONE_DAY) was live in the cutoff minute.
          await empty.writeLive([
            { product: "BTC-USD", granularity: "ONE_MINUTE", candle: candleAt(CUTOFF) },
            { product: "BTC-USD", granularity: "ONE_DAY", candle: candleAt(DAY) },
            // One never seeded (no ONE_DAY published): no watermark.
            { product: "ETH-USD", granularity: "ONE_MINUTE", candle: candleAt(CUTOFF) },
          ]);
          const plans = await planSeeds(empty, ["BTC-USD", "ETH-USD"], CUTOFF);
          deepStrictEqual(plans[0]!.requests, []);
          deepStrictEqual(plans[1]!.requests.map((r) => r.granularity), ["ONE_HOUR", "ONE_MINUTE"]);
        } finally {
          await empty.close();
        }
      },
    );

    await t.step(
      "a store a few minutes behind needs one ONE_MINUTE request from there",
      async () => {
        const plans = await planSeeds(store, PRODUCTS, CUTOFF + 300);
        for (const plan of plans) {
          deepStrictEqual(plan.requests.map((r) => r.granularity), ["ONE_MINUTE"], plan.product);
          ok(plan.requests[0]!.startSec > CUTOFF - 600, "only the minutes after the newest stored");
        }
      },
    );

    await t.step(
      "hours still needed and the hour's minutes fit one page: one ONE_MINUTE request, its " +
        "earlier minutes rolled up into the hours REST itself answers",
      async () => {
        const partial = await openKvCandleStore(":memory:");
        const noon = DAY + 12 * 3600;
        const hour = Math.floor(CUTOFF / 3600) * 3600;
        const restHours = new Map<string, Candle[]>();
        try {
          for (const p of PRODUCTS) {
            const hours = await rest.candles(p, GRANULARITIES[4]!, DAY, hour - 3600);
            restHours.set(p, hours);
            await partial.writeCompleted(
              hours.filter((c) => c.start < noon).map((candle) => ({
                product: p,
                granularity: "ONE_HOUR" as const,
                candle,
              })),
            );
          }
          const plans = await planSeeds(partial, PRODUCTS, CUTOFF);
          for (const plan of plans) {
            deepStrictEqual(plan.requests, [{
              granularity: "ONE_MINUTE",
              startSec: noon,
              endSec: CUTOFF - 60,
            }], plan.product);
          }
          const agg = new Aggregator();
          for (const p of PRODUCTS) agg.expectSeed(p, CUTOFF);
          const handed: { product: string; granularity: string; candle: Candle }[] = [];
          const requestsBefore = sim.handler.requests.length;
          await seed(partial, agg, {
            history: (docs) => handed.push(...docs),
          });
          equal(sim.handler.requests.length - requestsBefore, PRODUCTS.length);
          for (const p of PRODUCTS) {
            deepStrictEqual(liveCoarse(agg, p), expectedCoarse(truth.get(p)!), p);
            const rolled = handed.filter((d) => d.product === p && d.granularity === "ONE_HOUR");
            deepStrictEqual(
              rolled.map((d) => d.candle),
              restHours.get(p)!.filter((c) => c.start >= noon),
              `${p}: the hours stored are REST's`,
            );
            ok(
              handed.every((d) => d.granularity === "ONE_HOUR" || d.candle.start >= hour),
              "only the current hour's minutes are stored as minutes",
            );
          }
        } finally {
          await partial.close();
        }
      },
    );

    await t.step(
      "the plan is read a slice at a time: REST starts before the last slice is read",
      async () => {
        const empty = await openKvCandleStore(":memory:");
        const last = PRODUCTS.at(-1)!;
        const gate = Promise.withResolvers<void>();
        let restBeforeLastRead = -1;
        const requestsBefore = sim.handler.requests.length;
        // The last slice's reads wait until REST has answered for the first product.
        const held = new Proxy(empty, {
          get(target, key) {
            const value = Reflect.get(target, key);
            if (typeof value !== "function") return value;
            return async (...args: unknown[]) => {
              if (String(key).startsWith("read") && (args[0] as string[]).includes(last)) {
                await gate.promise;
                restBeforeLastRead = sim.handler.requests.length - requestsBefore;
              }
              return value.apply(target, args);
            };
          },
        });
        const agg = new Aggregator();
        for (const p of PRODUCTS) agg.expectSeed(p, CUTOFF);
        const seeded: string[] = [];
        // Were the reads not sliced (REST waiting for the whole plan), open after 3 s: fail, not hang.
        const timer = setTimeout(gate.resolve, 3000);
        try {
          const run = seed(held, agg, {
            planSlice: 1,
            onSeeded: (product) => {
              seeded.push(product);
              if (product === PRODUCTS[0]) gate.resolve();
            },
          });
          const summary = await run;
          ok(
            restBeforeLastRead >= 2,
            `REST requests before the last slice was read: ${restBeforeLastRead}`,
          );
          deepStrictEqual(seeded.sort(), [...PRODUCTS].sort());
          equal(summary.requests, 2 * PRODUCTS.length);
          for (const p of PRODUCTS) ok(liveCoarse(agg, p).size > 0, `${p} seeded`);
        } finally {
          clearTimeout(timer);
          gate.resolve();
          await empty.close();
        }
      },
    );

    await t.step("a store that cannot be read fails seeding with its error", async () => {
      const empty = await openKvCandleStore(":memory:");
      const failing = new Proxy(empty, {
        get(target, key) {
          const value = Reflect.get(target, key);
          if (typeof value !== "function") return value;
          return (...args: unknown[]) => {
            if (String(key).startsWith("read") && (args[0] as string[]).includes(PRODUCTS[1]!)) {
              return Promise.reject(new Error("Cannot read the test store: gone"));
            }
            return value.apply(target, args);
          };
        },
      });
      const agg = new Aggregator();
      for (const p of PRODUCTS) agg.expectSeed(p, CUTOFF);
      try {
        let error: unknown;
        await seed(failing, agg, { planSlice: 1 }).catch((e) => error = e);
        ok(
          error instanceof Error && /Cannot read the test store/.test(error.message),
          String(error),
        );
      } finally {
        await empty.close();
      }
    });

    await t.step("onPlanned: once, after the store reads, before any REST request", async () => {
      const empty = await openKvCandleStore(":memory:");
      const events: string[] = [];
      const reads = new Proxy(empty, {
        get(target, key) {
          const value = Reflect.get(target, key);
          if (typeof value !== "function") return value;
          return (...args: unknown[]) => {
            if (String(key).startsWith("read")) events.push(`store ${String(key)}`);
            return value.apply(target, args);
          };
        },
      });
      const requestsBefore = sim.handler.requests.length;
      const agg = new Aggregator();
      for (const p of PRODUCTS) agg.expectSeed(p, CUTOFF);
      try {
        await seed(reads, agg, {
          onPlanned: () =>
            events.push(`planned after ${sim.handler.requests.length - requestsBefore} requests`),
        });
        const planned = events.filter((e) => e.startsWith("planned"));
        deepStrictEqual(planned, ["planned after 0 requests"]);
        ok(
          events.indexOf(planned[0]!) > 0 && events[0]!.startsWith("store read"),
          events.join(", "),
        );
        ok(sim.handler.requests.length > requestsBefore, "REST was asked after the plan");
      } finally {
        await empty.close();
      }
    });
  } finally {
    await store.close();
    await sim.close();
  }
});

Deno.test("seedCutoffAt: the start's minute, or the minute before when the previous run was last alive in it", () => {
  const start = Date.UTC(2026, 10, 30, 10, 51, 8); // 10:51:08
  const minute = Date.UTC(2026, 10, 30, 10, 51) / 1000;
  equal(seedCutoffAt(start), minute, "no previous run");
  equal(seedCutoffAt(start, Date.UTC(2026, 10, 30, 10, 51, 2)), minute, "stopped this minute");
  equal(
    seedCutoffAt(start, Date.UTC(2026, 10, 30, 10, 50, 57)),
    minute - 60,
    "stopped in the minute before: its minute, so the store alone seeds up to it",
  );
  equal(seedCutoffAt(start, Date.UTC(2026, 10, 30, 10, 49, 59)), minute, "two minutes before");
  equal(seedCutoffAt(start, Date.UTC(2026, 10, 30, 10, 52, 1)), minute, "a clock ahead");
});
