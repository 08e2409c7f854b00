/**
 * A naive reference for the aggregator: folds every trade of each bucket from scratch, with
 * exact BigInt volume. Slow and obviously right; the property tests compare against it.
 */
import type { Candle } from "../../lib/candles/candle.ts";
import { unitsToNumber } from "../../lib/candles/decimal.ts";
import { GRANULARITIES, type GranularityId } from "../../lib/candles/granularity.ts";
import type { Trade } from "../../lib/candles/trade.ts";

/** `product|granularity|start` → candle, for every bucket holding at least one trade. */
export function referenceCandles(trades: Trade[]): Map<string, Candle> {
  const unique = new Map<string, Trade>();
  for (const t of trades) unique.set(`${t.product}|${t.id}`, t);
  const buckets = new Map<string, Trade[]>();
  for (const t of unique.values()) {
    for (const g of GRANULARITIES) {
      const start = Math.floor(t.timeMs / 1000 / g.seconds) * g.seconds;
      const key = `${t.product}|${g.id}|${start}`;
      const list = buckets.get(key) ?? [];
      list.push(t);
      buckets.set(key, list);
    }
  }
  const out = new Map<string, Candle>();
  for (const [key, list] of buckets) {
    const ordered = [...list].sort((a, b) => a.timeMs - b.timeMs || a.id - b.id);
    const prices = ordered.map((t) => t.price);
    let volume = 0n;
    for (const t of list) volume += BigInt(t.size);
    out.set(key, {
      start: Number(key.split("|")[2]),
      open: prices[0]!,
      high: Math.max(...prices),
      low: Math.min(...prices),
      close: prices.at(-1)!,
      volume: unitsToNumber(volume),
    });
  }
  return out;
}

/** The reference candles of one product and granularity, as a list sorted by start. */
export function referenceList(
  ref: Map<string, Candle>,
  product: string,
  g: GranularityId,
): Candle[] {
  return [...ref.entries()].filter(([k]) => k.startsWith(`${product}|${g}|`)).map(([, c]) => c)
    .sort((a, b) => a.start - b.start);
}
