/**
 * @module
 * Aggregator throughput on generated trades: trades per second on one core through `add()` and
 * `drain()` (every update of all eight granularities), with the clock ticking once a second.
 */
import { Aggregator } from "../lib/candles/aggregator.ts";
import type { Trade } from "../lib/candles/candle.ts";
import { Market } from "../lib/coinbase/simulator/market.ts";

/** Generated trades: `products` products over `minutes` of simulated time, oldest first. */
export function generateTrades(
  products: number,
  tradesPerSecond: number,
  minutes: number,
): Trade[] {
  const startMs = Date.UTC(2026, 2, 14, 23, 30);
  const market = new Market({
    products: Array.from({ length: products }, (_, i) => ({
      id: `X${String(i).padStart(3, "0")}-USD`,
      price: 10 + i,
      tradesPerSecond,
    })),
    startMs,
    historyMs: 0,
  });
  return market.advance(startMs + minutes * 60_000);
}

/** Runs `trades` through a fresh aggregator `rounds` times; returns trades per second. */
export function aggregatorThroughput(
  trades: Trade[],
  rounds = 3,
): { tradesPerS: number; updates: number } {
  let best = 0;
  let updates = 0;
  for (let r = 0; r < rounds; r++) {
    const agg = new Aggregator();
    let nextTick = 0;
    updates = 0;
    const t0 = performance.now();
    for (let i = 0; i < trades.length; i += 10) {
      const batch = trades.slice(i, i + 10);
      for (const t of batch) agg.add(t);
      const ms = Date.parse(batch[0]!.time);
      if (ms >= nextTick) {
        agg.tick(ms);
        nextTick = ms + 1000;
      }
      updates += agg.drain().length;
    }
    const s = (performance.now() - t0) / 1000;
    best = Math.max(best, trades.length / s);
  }
  return { tradesPerS: best, updates };
}
