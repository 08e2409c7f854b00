/**
 * @module
 * Firestore write costs at list price, for the writer's projection, the dashboard and the
 * README: Standard edition, regional (us-central1) **$0.09 per 100,000 document writes**
 * (multi-region locations cost about twice that; the free tier's 20,000 writes/day are
 * ignored). Prices drift: check https://cloud.google.com/firestore/pricing.
 *
 * Live writes follow `FLUSH_INTERVAL_MS`, which may differ per granularity: in the `compat`
 * layout each granularity's live document is written at most once per its own interval; in the
 * `compact` layout a product's one live document is written whenever any of its granularities
 * is due, and the writer takes every due granularity in the cycles of the shortest interval, so
 * at most once per the shortest interval.
 */
import { GRANULARITIES } from "../candles/granularity.ts";
import type { FlushIntervals } from "../config.ts";

/** USD per 100,000 document writes (Standard edition, regional, list price). */
export const FIRESTORE_WRITE_USD_PER_100K = 0.09;

/** Projected USD per day for a sustained rate of document writes per second. */
export function writeCostPerDayUsd(writesPerS: number): number {
  return writesPerS * 86_400 * FIRESTORE_WRITE_USD_PER_100K / 100_000;
}

/** Completed-candle writes per product per day: one per bucket of every granularity (1,913). */
export const HISTORY_WRITES_PER_PRODUCT_DAY: number = GRANULARITIES.reduce(
  (sum, g) => sum + 86_400 / g.seconds,
  0,
);

/** The same interval for every granularity, or the intervals as given. */
export function flushIntervals(intervals: number | FlushIntervals): FlushIntervals {
  if (typeof intervals !== "number") return intervals;
  return Object.freeze(
    Object.fromEntries(GRANULARITIES.map((g) => [g.id, intervals])),
  ) as FlushIntervals;
}

/** A daily write estimate for one product. */
export interface DailyWriteEstimate {
  layout: "compat" | "compact";
  liveWritesPerDay: number;
  historyWritesPerDay: number;
  totalWritesPerDay: number;
  usdPerDay: number;
}

/**
 * Writes per day for one liquid product (every live candle changes every flush interval):
 * `compat` writes each granularity's live document once per that granularity's interval,
 * `compact` one document once per the shortest interval; plus one write per completed candle.
 *
 * @example
 * ```ts
 * estimateDailyWrites("compat", 1000).liveWritesPerDay; // 691,200: 8 documents × 86,400
 * ```
 */
export function estimateDailyWrites(
  layout: "compat" | "compact",
  flushIntervalMs: number | FlushIntervals,
): DailyWriteEstimate {
  const intervals = flushIntervals(flushIntervalMs);
  const ms = GRANULARITIES.map((g) => intervals[g.id]);
  const liveWritesPerDay = layout === "compat"
    ? ms.reduce((sum, m) => sum + 86_400_000 / m, 0)
    : 86_400_000 / Math.min(...ms);
  const totalWritesPerDay = liveWritesPerDay + HISTORY_WRITES_PER_PRODUCT_DAY;
  return {
    layout,
    liveWritesPerDay,
    historyWritesPerDay: HISTORY_WRITES_PER_PRODUCT_DAY,
    totalWritesPerDay,
    usdPerDay: totalWritesPerDay * FIRESTORE_WRITE_USD_PER_100K / 100_000,
  };
}
