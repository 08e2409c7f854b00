/**
 * A naive reference for the aggregator: folds every trade of each bucket from scratch, with
 * exact BigInt volume. Slow and obviously right; the property tests compare against it.
 */
import type { Candle, Trade } from "../../lib/candles/candle.ts";
import { parseUnits, unitsToNumber } from "../../lib/candles/decimal.ts";
import { GRANULARITIES, type GranularityId } from "../../lib/candles/granularity.ts";
import { parseTrade } from "../../lib/candles/trade.ts";

/** `product|granularity|start` → candle, for every bucket holding at least one trade. */
export function referenceCandles(trades: Trade[]): Map<string, Candle> {
  const unique = new Map<string, Trade>();
  for (const t of trades) unique.set(`${t.product_id}|${t.trade_id}`, t);
  const buckets = new Map<string, Trade[]>();
  for (const t of unique.values()) {
    const p = parseTrade(t);
    if (typeof p === "string") continue;
    for (const g of GRANULARITIES) {
      const start = Math.floor(p.timeMs / 1000 / g.seconds) * g.seconds;
      const key = `${t.product_id}|${g.id}|${start}`;
      const list = buckets.get(key) ?? [];
      list.push(t);
      buckets.set(key, list);
    }
  }
  const out = new Map<string, Candle>();
  for (const [key, list] of buckets) {
    const parsed = list.map((t) => parseTrade(t)).filter((p) => typeof p !== "string");
    parsed.sort((a, b) => a.timeMs - b.timeMs || a.id - b.id);
    const prices = parsed.map((p) => p.price);
    let volume = 0n;
    for (const t of list) volume += BigInt(parseUnits(t.size));
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
