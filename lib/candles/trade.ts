/**
 * @module
 * Parsing a wire {@linkcode Trade} (all strings) into the numbers candles are built from, with
 * the venue's quirks named: RFC 3339 times with a variable-width fraction, sizes exact to 10^-8,
 * trade ids compared as integers. Shared by the feed's validation and the aggregator.
 */
import type { Trade } from "./candle.ts";
import { parseUnits, type Units } from "./decimal.ts";

/** A trade's values, parsed. */
export interface ParsedTrade {
  product: string;
  id: number;
  price: number;
  size: Units;
  /** Epoch milliseconds (sub-millisecond digits dropped; `id` orders trades within a ms). */
  timeMs: number;
}

let cachedPrefix = "";
let cachedPrefixMs = NaN;

/**
 * Parses an RFC 3339 UTC time such as `2026-03-14T15:09:28.201551Z` (0–9 fractional digits)
 * into epoch milliseconds; NaN when malformed. Trades of one frame share their second, so the
 * date part is parsed once and cached.
 */
export function parseTime(s: string): number {
  const n = s.length;
  if (n < 20 || s.charCodeAt(n - 1) !== 90 /* Z */) return n > 0 ? Date.parse(s) : NaN;
  const prefix = s.slice(0, 19);
  let base: number;
  if (prefix === cachedPrefix) base = cachedPrefixMs;
  else {
    base = Date.parse(prefix + "Z");
    if (Number.isNaN(base) || s.charCodeAt(10) !== 84 /* T */) return NaN;
    cachedPrefix = prefix;
    cachedPrefixMs = base;
  }
  if (n === 20) return base;
  if (s.charCodeAt(19) !== 46 /* . */ || n === 21) return NaN;
  let ms = 0;
  for (let i = 20; i < n - 1; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    if (i < 23) ms = ms * 10 + d;
  }
  // Scale the first 1–3 digits to milliseconds (".5" is 500 ms); finer digits only validate.
  const digits = Math.min(n - 21, 3);
  return base + (digits === 1 ? ms * 100 : digits === 2 ? ms * 10 : ms);
}

/** Parses a trade, or returns the reason it cannot be used (naming the field and value). */
export function parseTrade(t: Trade): ParsedTrade | string {
  if (typeof t.product_id !== "string" || t.product_id === "") return "product_id is missing";
  const id = typeof t.trade_id === "string" && t.trade_id !== "" ? Number(t.trade_id) : NaN;
  if (!Number.isSafeInteger(id) || id < 0) return `trade_id "${t.trade_id}" is not an integer`;
  const price = typeof t.price === "string" && t.price !== "" ? Number(t.price) : NaN;
  if (!(price > 0) || !Number.isFinite(price)) return `price "${t.price}" is not a positive number`;
  const size = typeof t.size === "string" ? parseUnits(t.size) : NaN;
  if (typeof size === "number" && !(size > 0)) {
    return `size "${t.size}" is not a positive decimal with at most 8 places`;
  }
  const timeMs = typeof t.time === "string" ? parseTime(t.time) : NaN;
  if (Number.isNaN(timeMs)) return `time "${t.time}" is not an RFC 3339 time`;
  return { product: t.product_id, id, price, size, timeMs };
}
