/**
 * @module
 * Kraken REST Trades (kraken-protocol.md "REST"): reading one page
 * (`result: {<pair>: [[price, volume, time, side, ordType, misc, trade_id], …], last: "<ns>"}`,
 * price and volume as decimal strings, exact via {@linkcode parseUnits}) into the candle core's
 * {@linkcode Trade}s, and folding trades into exact candles with the core's own accumulator
 * ({@linkcode TradeCandles}): Kraken's OHLC endpoint is capped at 720 rows and differs between
 * calls, its Trades are the official record. Requests and paging live in `rest.ts`.
 */
import { type Acc, accFromTrade, addTrade, toCandle } from "../candles/accumulator.ts";
import type { Candle } from "../candles/candle.ts";
import { parseUnits } from "../candles/decimal.ts";
import type { Granularity } from "../candles/granularity.ts";
import type { Trade } from "../candles/trade.ts";

/** One page of REST trades. */
export interface TradesPage {
  /** The page's trades as Kraken listed them (oldest first). */
  trades: Trade[];
  /** Kraken's cursor (`last`, epoch ns): the `since` of the next page. */
  last: bigint;
  /** The pair name Kraken answered under (`XXBTZUSD`). */
  pair: string;
}

/** One Trades row as a {@linkcode Trade}, or the reason it cannot be read exactly. */
function readRow(raw: unknown, product: string): Trade | string {
  if (!Array.isArray(raw) || raw.length < 7) return "not an array of 7 fields";
  const [priceText, volumeText, time, , , , id] = raw;
  const price = typeof priceText === "string" && priceText !== "" ? Number(priceText) : NaN;
  if (!(price > 0) || price === Infinity) {
    return `price ${JSON.stringify(priceText)} is not positive`;
  }
  const size = typeof volumeText === "string" ? parseUnits(volumeText) : NaN;
  if (!(size > 0)) {
    return `volume ${
      JSON.stringify(volumeText)
    } is not a positive decimal string with at most 8 places`;
  }
  const seconds = typeof time === "number" ? time : typeof time === "string" ? Number(time) : NaN;
  if (!(seconds > 0) || !Number.isFinite(seconds)) {
    return `time ${JSON.stringify(time)} is not epoch seconds`;
  }
  if (!Number.isSafeInteger(id) || (id as number) <= 0) {
    return `trade_id ${JSON.stringify(id)} is not a positive integer`;
  }
  // Float seconds with up to 6 decimals: round to whole microseconds first, so that
  // 1712345699.124 (…123.9999 ms as a double) lands in millisecond 124, not 123.
  const timeMs = Math.floor(Math.round(seconds * 1e6) / 1000);
  return { product, id: id as number, price, size, timeMs };
}

/**
 * Parses a Trades answer's `result` for `product` (a market key).
 *
 * @throws {TypeError} naming the product when the shape is not Kraken's (no pair array, no
 *   `last`), or a row cannot be read exactly (the row and the reason)
 */
export function parseTradesResult(result: unknown, product: string): TradesPage {
  if (result === null || typeof result !== "object" || Array.isArray(result)) {
    throw new TypeError(`Kraken Trades answer for ${product} has no result object`);
  }
  let pair: string | undefined;
  let rows: unknown[] | undefined;
  for (const [key, value] of Object.entries(result)) {
    if (key !== "last" && Array.isArray(value)) {
      pair = key;
      rows = value;
      break;
    }
  }
  if (pair === undefined || rows === undefined) {
    throw new TypeError(`Kraken Trades answer for ${product} has no array of trades`);
  }
  const lastRaw = (result as Record<string, unknown>).last;
  let last: bigint;
  if (typeof lastRaw === "string" && /^\d{1,30}$/.test(lastRaw)) last = BigInt(lastRaw);
  else if (Number.isSafeInteger(lastRaw)) last = BigInt(lastRaw as number);
  else if (typeof lastRaw === "number" && Number.isFinite(lastRaw) && lastRaw > 0) {
    // A double past 2^53 lost its last digits: round down to stay on the safe side of `since`.
    last = BigInt(Math.floor(lastRaw)) - 1024n;
  } else {
    throw new TypeError(
      `Kraken Trades answer for ${product} has no "last" cursor (got ${JSON.stringify(lastRaw)})`,
    );
  }
  const trades: Trade[] = [];
  for (const raw of rows) {
    const t = readRow(raw, product);
    if (typeof t === "string") {
      throw new TypeError(
        `Cannot read Kraken trade ${JSON.stringify(raw)?.slice(0, 200)} of ${product}: ${t}`,
      );
    }
    trades.push(t);
  }
  return { trades, last, pair };
}

/**
 * Exact candles of one granularity from trades (each counted once: the caller dedupes by id),
 * built with the candle core's accumulator (open and close by time, then trade id; volume in
 * exact units). Only buckets starting in `[fromSec, toSec]` are kept.
 */
export class TradeCandles {
  readonly #g: Granularity;
  readonly #fromSec: number;
  readonly #toSec: number;
  readonly #bucketMs: number;
  readonly #accs = new Map<number, Acc>();

  constructor(g: Granularity, fromSec: number, toSec: number) {
    this.#g = g;
    this.#fromSec = fromSec;
    this.#toSec = toSec;
    this.#bucketMs = g.seconds * 1000;
  }

  /** The window's end, epoch ms (exclusive): the end of the last bucket. */
  get endMs(): number {
    return (this.#toSec + this.#g.seconds) * 1000;
  }

  /** Folds one trade in; trades outside the window are ignored. Returns whether it was inside. */
  add(t: Trade): boolean {
    const start = Math.floor(t.timeMs / this.#bucketMs) * this.#g.seconds;
    if (start < this.#fromSec || start > this.#toSec) return false;
    const a = this.#accs.get(start);
    if (a) addTrade(a, t.price, t.size, t.timeMs, t.id);
    else this.#accs.set(start, accFromTrade(start, t.price, t.size, t.timeMs, t.id));
    return true;
  }

  /** The candles so far, oldest first (buckets without trades absent). */
  candles(): Candle[] {
    return [...this.#accs.values()].sort((a, b) => a.start - b.start).map((a) => toCandle(a));
  }
}
