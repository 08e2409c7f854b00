/**
 * @module
 * Firestore write costs at list price, for the writer's projection and the README: Standard
 * edition, regional (us-central1) **$0.09 per 100,000 document writes** (multi-region
 * locations cost about twice that; the free tier's 20,000 writes/day are ignored). Prices
 * drift: check https://cloud.google.com/firestore/pricing.
 */
import { GRANULARITIES } from "../candles/granularity.ts";

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
 * `compat` writes eight live documents per interval, `compact` one.
 */
export function estimateDailyWrites(
  layout: "compat" | "compact",
  flushIntervalMs: number,
): DailyWriteEstimate {
  const flushesPerDay = 86_400_000 / flushIntervalMs;
  const liveWritesPerDay = flushesPerDay * (layout === "compat" ? GRANULARITIES.length : 1);
  const totalWritesPerDay = liveWritesPerDay + HISTORY_WRITES_PER_PRODUCT_DAY;
  return {
    layout,
    liveWritesPerDay,
    historyWritesPerDay: HISTORY_WRITES_PER_PRODUCT_DAY,
    totalWritesPerDay,
    usdPerDay: totalWritesPerDay * FIRESTORE_WRITE_USD_PER_100K / 100_000,
  };
}
