import { deepStrictEqual, ok } from "node:assert/strict";
import fc from "fast-check";
import { Aggregator, seedPlan, type SeedTile } from "../../lib/candles/aggregator.ts";
import type { Candle, CandleUpdate } from "../../lib/candles/candle.ts";
import { GRANULARITIES, parseGranularity } from "../../lib/candles/granularity.ts";
import type { Trade } from "../../lib/candles/trade.ts";
import { referenceCandles, referenceList } from "./reference.ts";

const PRODUCTS = ["BTC-USD", "ETH-USD", "DOGE-USD"];
const EMPTY: Candle = { start: NaN, open: NaN, high: NaN, low: NaN, close: NaN, volume: NaN };

interface Scenario {
  trades: Trade[];
  /** Delivery order: indexes into trades, with repeats for duplicates. */
  delivery: number[];
  /** Clock ticks interleaved: before delivering delivery[i], tick at ticks[i] if defined. */
  ticks: (number | undefined)[];
  endMs: number;
}

/** Random trade streams: bursts and empty minutes, crossing hour and day boundaries. */
const scenario: fc.Arbitrary<Scenario> = fc.record({
  // Start near a day boundary half the time.
  startOffsetS: fc.oneof(fc.integer({ min: -900, max: 300 }), fc.integer({ min: -86400, max: 0 })),
  gapsUs: fc.array(
    fc.oneof(
      fc.integer({ min: 0, max: 2_000_000 }),
      fc.integer({ min: 0, max: 40_000_000 }),
      fc.integer({ min: 60_000_000, max: 900_000_000 }),
    ),
    { minLength: 1, maxLength: 120 },
  ),
  products: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 120, maxLength: 120 }),
  prices: fc.array(fc.integer({ min: 1, max: 2_000_000 }), { minLength: 120, maxLength: 120 }),
  sizes: fc.array(
    fc.oneof(
      fc.integer({ min: 1, max: 100_000_000 }),
      fc.integer({ min: 1, max: 9_000_000_000_000 }),
    ),
    { minLength: 120, maxLength: 120 },
  ),
  swaps: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 4 })), { maxLength: 40 }),
  dups: fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 15 }),
  lates: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 60 })), { maxLength: 8 }),
  tickEvery: fc.integer({ min: 1, max: 10 }),
}).map((r) => {
  const day = Date.UTC(2026, 2, 15) * 1000;
  let us = day + r.startOffsetS * 1_000_000;
  const nextId = [1000, 5000, 90000];
  const trades: Trade[] = r.gapsUs.map((gap, i) => {
    us += gap;
    const p = r.products[i]!;
    return {
      product: PRODUCTS[p]!,
      id: nextId[p]!++,
      price: r.prices[i]! / 100,
      size: r.sizes[i]!,
      timeMs: Math.floor(us / 1000),
    };
  });
  const delivery = trades.map((_, i) => i);
  for (const [at, k] of r.swaps) {
    const i = at % delivery.length;
    const j = Math.min(delivery.length - 1, i + k);
    [delivery[i], delivery[j]] = [delivery[j]!, delivery[i]!];
  }
  for (const [at, len] of r.lates) {
    // Deliver a trade much later than its neighbours (a late trade).
    const i = at % delivery.length;
    const [moved] = delivery.splice(i, 1);
    delivery.splice(Math.min(delivery.length, i + len), 0, moved!);
  }
  for (const [from, to] of r.dups) {
    delivery.splice(to % (delivery.length + 1), 0, delivery[from % delivery.length]!);
  }
  // The clock follows the newest trade delivered so far, plus a little.
  let seen = -Infinity;
  const ticks = delivery.map((i, k) => {
    const t = trades[i]!.timeMs;
    const tick = k % r.tickEvery === 0 && seen > -Infinity
      ? seen + 500 + (k % 7) * 1000
      : undefined;
    seen = Math.max(seen, t);
    return tick;
  });
  return { trades, delivery, ticks, endMs: Math.ceil(us / 1000) + 3 * 86400_000 };
});

/** Final value of every completed candle (corrections overwrite), keyed like the reference. */
function completed(updates: CandleUpdate[]): Map<string, Candle> {
  const out = new Map<string, Candle>();
  for (const u of updates) {
    if (u.complete) out.set(`${u.product}|${u.granularity}|${u.candle.start}`, u.candle);
  }
  return out;
}

function sorted(m: Map<string, Candle>): [string, Candle][] {
  return [...m.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

Deno.test("Aggregator equals a naive fold of every trade on random shuffled, duplicated, late streams", () => {
  fc.assert(
    fc.property(scenario, (s) => {
      const agg = new Aggregator({ retentionMs: 7 * 86400_000 });
      const updates: CandleUpdate[] = [];
      s.delivery.forEach((i, k) => {
        const tick = s.ticks[k];
        if (tick !== undefined) agg.tick(tick);
        agg.add(s.trades[i]!);
        updates.push(...agg.drain());
      });
      agg.tick(s.endMs);
      updates.push(...agg.drain());
      deepStrictEqual(sorted(completed(updates)), sorted(referenceCandles(s.trades)));
      deepStrictEqual(agg.stats.trades, s.trades.length);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("Aggregator drains with any granularity masks lose nothing: a wider drain emits or names what a narrower one left", () => {
  // The service drains the subscribed granularities after every frame and everything once a
  // flush interval, naming (not building) the open candles nobody subscribes to: a drain of a
  // subset may skip products, never an update.
  const masks = fc.array(
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })),
    {
      minLength: 120,
      maxLength: 120,
    },
  );
  fc.assert(
    fc.property(scenario, masks, (s, mask) => {
      const agg = new Aggregator({ retentionMs: 7 * 86400_000 });
      const last = new Map<string, Candle>();
      const delivered: Trade[] = [];
      // As the store writer reads a named candle: into its own object per document, refilled.
      const docs = new Map<string, Candle>();
      const mark = (product: string, g: number, start: number) => {
        const key = `${product}|${GRANULARITIES[g]!.id}`;
        let into = docs.get(key);
        if (!into) docs.set(key, into = { ...EMPTY });
        ok(agg.liveInto(product, g, into), `${product} ${g}: named, so it has a live candle`);
        deepStrictEqual(into.start, start, `${product} ${g}: named start`);
        last.set(key, into);
      };
      const take = (us: CandleUpdate[]) => {
        for (const u of us) if (!u.complete) last.set(`${u.product}|${u.granularity}`, u.candle);
      };
      const check = (bits: number) => {
        // Each granularity drained: its latest emitted or named live candle is the aggregator's.
        for (const product of new Set(delivered.map((t) => t.product))) {
          for (const g of GRANULARITIES) {
            if (!(bits & (1 << g.index))) continue;
            const live = agg.live(product, g);
            if (live) deepStrictEqual(last.get(`${product}|${g.id}`), live, `${product} ${g.id}`);
          }
        }
      };
      s.delivery.forEach((i, k) => {
        agg.add(s.trades[i]!);
        delivered.push(s.trades[i]!);
        const [live, named] = mask[k % mask.length]!;
        take(agg.drain(live, { bits: named, mark }));
        check(live | named);
      });
      take(agg.drain());
      check(255);
    }),
    { numRuns: 500 },
  );
});

Deno.test("Aggregator's live candles always equal the fold of the trades delivered so far", () => {
  fc.assert(
    fc.property(scenario, (s) => {
      const agg = new Aggregator({ retentionMs: 7 * 86400_000 });
      const live = new Map<string, Candle>();
      const delivered: Trade[] = [];
      for (const i of s.delivery) {
        agg.add(s.trades[i]!);
        delivered.push(s.trades[i]!);
        for (const u of agg.drain()) {
          live.set(`${u.product}|${u.granularity}|${u.candle.start}`, u.candle);
        }
      }
      // Every emitted value (live or complete) is the latest fold of its bucket.
      const ref = referenceCandles(delivered);
      for (const [key, candle] of live) deepStrictEqual(candle, ref.get(key), key);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("seed() + live trades after the cutoff equal the fold of all trades, hour and day included", () => {
  fc.assert(
    fc.property(scenario, fc.integer({ min: 0, max: 119 }), (s, at) => {
      const times = s.trades.map((t) => t.timeMs);
      const cutoffSec = Math.floor(times[at % times.length]! / 60_000) * 60;
      const before = s.trades.filter((_, i) => times[i]! < cutoffSec * 1000);
      const ref = referenceCandles(before);
      const agg = new Aggregator({ retentionMs: 7 * 86400_000 });
      for (const product of PRODUCTS) {
        const tiles: SeedTile[] = seedPlan(cutoffSec).flatMap(({ granularity, startSec, endSec }) =>
          referenceList(ref, product, granularity.id)
            .filter((c) => c.start >= startSec && c.start <= endSec)
            .map((candle) => ({ granularity: granularity.id, candle }))
        );
        agg.seed(product, cutoffSec, tiles);
      }
      const updates: CandleUpdate[] = [];
      // The feed replays trades from before the cutoff too: they must be ignored.
      for (const i of s.delivery) {
        agg.add(s.trades[i]!);
        updates.push(...agg.drain());
      }
      agg.tick(s.endMs);
      updates.push(...agg.drain());
      const all = referenceCandles(s.trades);
      const got = completed(updates);
      // Every bucket still open at the cutoff is emitted on completion and equals the fold of all
      // its trades (seed + live); buckets that ended before the cutoff belong to history.
      for (const [key, candle] of all) {
        const [, g, start] = key.split("|");
        if (Number(start) + parseGranularity(g!).seconds > cutoffSec) {
          deepStrictEqual(got.get(key), candle, key);
        }
      }
      for (const key of got.keys()) {
        const [, g, start] = key.split("|");
        if (Number(start) + parseGranularity(g!).seconds <= cutoffSec) {
          throw new Error(`${key} ended before the cutoff but was emitted`);
        }
      }
    }),
    { numRuns: 1000 },
  );
});

Deno.test("expectSeed() + live trades + seeds arriving later give exact candles, never a partial one", () => {
  fc.assert(
    fc.property(
      scenario,
      fc.integer({ min: 0, max: 119 }),
      fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
      (s, at, seedAt) => {
        const times = s.trades.map((t) => t.timeMs);
        const cutoffSec = Math.floor(times[at % times.length]! / 60_000) * 60;
        const before = s.trades.filter((_, i) => times[i]! < cutoffSec * 1000);
        const ref = referenceCandles(before);
        const agg = new Aggregator({ retentionMs: 7 * 86400_000 });
        for (const product of PRODUCTS) agg.expectSeed(product, cutoffSec);
        // Each product's seed arrives at its own point of the delivery (possibly after all of it).
        const seedPoint = PRODUCTS.map((_, k) => seedAt[k]! % (s.delivery.length + 1));
        const seeded = new Set<string>();
        const updates: CandleUpdate[] = [];
        const seed = (k: number) => {
          const product = PRODUCTS[k]!;
          const tiles: SeedTile[] = seedPlan(cutoffSec).flatMap((
            { granularity, startSec, endSec },
          ) =>
            referenceList(ref, product, granularity.id)
              .filter((c) => c.start >= startSec && c.start <= endSec)
              .map((candle) => ({ granularity: granularity.id, candle }))
          );
          agg.seed(product, cutoffSec, tiles);
          seeded.add(product);
        };
        const collect = () => {
          for (const u of agg.drain()) {
            const g = parseGranularity(u.granularity);
            if (
              !seeded.has(u.product) && g.seconds > 60 && u.candle.start < cutoffSec
            ) {
              throw new Error(
                `${u.product} ${u.granularity} ${u.candle.start} published before its seed`,
              );
            }
            updates.push(u);
          }
        };
        s.delivery.forEach((i, k) => {
          PRODUCTS.forEach((_, p) => {
            if (seedPoint[p] === k) seed(p);
          });
          const tick = s.ticks[k];
          if (tick !== undefined) agg.tick(tick);
          agg.add(s.trades[i]!);
          collect();
        });
        PRODUCTS.forEach((_, p) => {
          if (!seeded.has(PRODUCTS[p]!)) seed(p);
        });
        collect();
        agg.tick(s.endMs);
        collect();
        const all = referenceCandles(s.trades);
        const got = completed(updates);
        for (const [key, candle] of all) {
          const [, g, start] = key.split("|");
          if (Number(start) + parseGranularity(g!).seconds > cutoffSec) {
            deepStrictEqual(got.get(key), candle, key);
          }
        }
        for (const key of got.keys()) {
          const [, g, start] = key.split("|");
          if (Number(start) + parseGranularity(g!).seconds <= cutoffSec) {
            throw new Error(`${key} ended before the cutoff but was emitted`);
          }
        }
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("repair() with REST minutes restores trades the feed never delivered", () => {
  fc.assert(
    fc.property(
      scenario,
      fc.integer({ min: 0, max: 119 }),
      fc.integer({ min: 1, max: 30 }),
      (s, from, len) => {
        const inOrder = [...s.trades].sort((a, b) => a.timeMs - b.timeMs);
        const lostFrom = from % inOrder.length;
        const lost = new Set(inOrder.slice(lostFrom, lostFrom + len));
        const agg = new Aggregator({ retentionMs: 7 * 86400_000 });
        const updates: CandleUpdate[] = [];
        for (const t of inOrder) {
          if (!lost.has(t)) agg.add(t);
          updates.push(...agg.drain());
        }
        const lostTimes = [...lost].map((t) => t.timeMs);
        const gapFrom = Math.floor(Math.min(...lostTimes) / 60_000) * 60;
        const gapTo = Math.floor(Math.max(...lostTimes) / 60_000) * 60 + 60;
        agg.tick(s.endMs);
        updates.push(...agg.drain());
        const ref = referenceCandles(s.trades);
        for (const product of PRODUCTS) {
          const minutes = referenceList(ref, product, "ONE_MINUTE").filter((c) =>
            c.start >= gapFrom && c.start < gapTo
          );
          agg.repair(product, gapFrom, gapTo, minutes);
        }
        // A later reconnect's snapshot replays trades of the repaired gap, plus ones seen live:
        // REST already counted the first, dedupe drops the second.
        for (const t of [...lost, ...inOrder.slice(0, 5)]) agg.add(t);
        updates.push(...agg.drain());
        deepStrictEqual(sorted(completed(updates)), sorted(ref));
      },
    ),
    { numRuns: 1000 },
  );
});
