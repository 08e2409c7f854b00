/**
 * @module
 * The mutable, exact state of one candle while it is built: prices as numbers (only compared,
 * never summed), volume as exact {@linkcode Units}, and the (time, trade id) of the trades that
 * set open and close so out-of-order input still yields the right open and close. Pure helpers
 * for folding trades and candles into it.
 */
import type { Candle } from "./candle.ts";
import { addUnits, numberToUnits, type Units, unitsToNumber } from "./decimal.ts";

/** One candle under construction. */
export interface Acc {
  /** Bucket start, epoch seconds. */
  start: number;
  open: number;
  /** Time (epoch ms) and trade id of the trade that set `open`. */
  openT: number;
  openId: number;
  high: number;
  low: number;
  close: number;
  closeT: number;
  closeId: number;
  volume: Units;
  /** Set on a minute replaced from REST: it already holds every trade of its interval. */
  fromRest?: boolean;
}

/** A new accumulator holding one trade. */
export function accFromTrade(
  start: number,
  price: number,
  size: Units,
  t: number,
  id: number,
): Acc {
  return {
    start,
    open: price,
    openT: t,
    openId: id,
    high: price,
    low: price,
    close: price,
    closeT: t,
    closeId: id,
    volume: size,
  };
}

/** Folds one trade into `a`. */
export function addTrade(a: Acc, price: number, size: Units, t: number, id: number): void {
  if (price > a.high) a.high = price;
  if (price < a.low) a.low = price;
  if (t > a.closeT || (t === a.closeT && id > a.closeId)) {
    a.close = price;
    a.closeT = t;
    a.closeId = id;
  }
  if (t < a.openT || (t === a.openT && id < a.openId)) {
    a.open = price;
    a.openT = t;
    a.openId = id;
  }
  a.volume = addUnits(a.volume, size);
}

/**
 * An accumulator for a candle known only by its values (from REST or a finer granularity):
 * its open is placed at the bucket's first millisecond and its close at the last, so any trade
 * inside the bucket orders correctly against it.
 */
export function accFromCandle(c: Candle, seconds: number, start = c.start): Acc {
  const volume = numberToUnits(c.volume);
  if (typeof volume === "number" && Number.isNaN(volume)) {
    throw new RangeError(`Candle at ${c.start} has a volume that is not a decimal: ${c.volume}`);
  }
  return {
    start,
    open: c.open,
    openT: c.start * 1000,
    openId: -1,
    high: c.high,
    low: c.low,
    close: c.close,
    closeT: (c.start + seconds) * 1000 - 1,
    closeId: Number.MAX_SAFE_INTEGER,
    volume,
  };
}

/** Folds accumulator `b` (a disjoint set of trades) into `a`. */
export function mergeAcc(a: Acc, b: Acc): void {
  if (b.high > a.high) a.high = b.high;
  if (b.low < a.low) a.low = b.low;
  if (b.closeT > a.closeT || (b.closeT === a.closeT && b.closeId > a.closeId)) {
    a.close = b.close;
    a.closeT = b.closeT;
    a.closeId = b.closeId;
  }
  if (b.openT < a.openT || (b.openT === a.openT && b.openId < a.openId)) {
    a.open = b.open;
    a.openT = b.openT;
    a.openId = b.openId;
  }
  a.volume = addUnits(a.volume, b.volume);
}

/** A copy of `a` re-based to another bucket start (for rolling a minute up). */
export function cloneAcc(a: Acc, start = a.start): Acc {
  return { ...a, start };
}

/** The output candle of an accumulator, optionally with `extra` (a disjoint part) folded in. */
export function toCandle(a: Acc, extra?: Acc): Candle {
  return fillCandle(emptyCandle(), a, extra);
}

/** A candle to fill (its fields doubles from the start, as filled). */
export function emptyCandle(): Candle {
  return { start: NaN, open: NaN, high: NaN, low: NaN, close: NaN, volume: NaN };
}

/**
 * {@linkcode toCandle} into an existing candle (`target`, returned), for a caller that keeps
 * one candle object per document instead of a new one per read (the store writer: what it holds
 * until its commit would otherwise outlive the young generation).
 */
export function fillCandle(target: Candle, a: Acc, extra?: Acc): Candle {
  target.start = a.start;
  if (!extra) {
    target.open = a.open;
    target.high = a.high;
    target.low = a.low;
    target.close = a.close;
    target.volume = unitsToNumber(a.volume);
    return target;
  }
  // Fold without allocating an intermediate accumulator (this runs for every live update).
  const extraOpens = extra.openT < a.openT || (extra.openT === a.openT && extra.openId < a.openId);
  const extraCloses = extra.closeT > a.closeT ||
    (extra.closeT === a.closeT && extra.closeId > a.closeId);
  target.open = extraOpens ? extra.open : a.open;
  target.high = extra.high > a.high ? extra.high : a.high;
  target.low = extra.low < a.low ? extra.low : a.low;
  target.close = extraCloses ? extra.close : a.close;
  target.volume = unitsToNumber(addUnits(a.volume, extra.volume));
  return target;
}
