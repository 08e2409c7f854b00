/**
 * @module
 * Coinbase REST candles (coinbase-protocol.md §6.2): the request path and query, windows of at
 * most {@linkcode MAX_CANDLES_PER_REQUEST} buckets counted inclusively, and parsing the
 * newest-first all-string response into {@linkcode Candle}s, oldest first.
 */
import type { Candle } from "../candles/candle.ts";
import type { Granularity } from "../candles/granularity.ts";

/**
 * Buckets asked for per request. Coinbase allows 350 counted inclusively, and some clients saw
 * 350-wide windows fail; 300 is what the protocol notes recommend.
 */
export const MAX_CANDLES_PER_REQUEST = 300;

/** Path (under `/market` or not) and query of one candles request. */
export function candlePath(
  productId: string,
  g: Granularity,
  startSec: number,
  endSec: number,
): { path: string; params: URLSearchParams } {
  if (!Number.isInteger(startSec) || !Number.isInteger(endSec) || endSec < startSec) {
    throw new RangeError(
      `Cannot request ${g.id} candles of ${productId}: bad range ${startSec}..${endSec}`,
    );
  }
  const buckets = bucketCount(g, startSec, endSec);
  if (buckets > MAX_CANDLES_PER_REQUEST) {
    throw new RangeError(
      `Cannot request ${buckets} ${g.id} candles of ${productId} at once: at most ${MAX_CANDLES_PER_REQUEST}`,
    );
  }
  return {
    path: `/products/${encodeURIComponent(productId)}/candles`,
    params: new URLSearchParams({
      start: String(startSec),
      end: String(endSec),
      granularity: g.rest,
    }),
  };
}

/** Buckets Coinbase counts in `[startSec, endSec]`: `floor((end - start) / g) + 1`. */
export function bucketCount(g: Granularity, startSec: number, endSec: number): number {
  return Math.floor((endSec - startSec) / g.seconds) + 1;
}

/**
 * Splits `[startSec, endSec]` into request windows `[from, to]` of at most `perRequest` buckets,
 * aligned to bucket starts, oldest first.
 */
export function candleWindows(
  g: Granularity,
  startSec: number,
  endSec: number,
  perRequest = MAX_CANDLES_PER_REQUEST,
): [number, number][] {
  const out: [number, number][] = [];
  const first = Math.floor(startSec / g.seconds) * g.seconds;
  const last = Math.floor(endSec / g.seconds) * g.seconds;
  for (let from = first; from <= last; from += perRequest * g.seconds) {
    out.push([from, Math.min(last, from + (perRequest - 1) * g.seconds)]);
  }
  return out;
}

function num(row: Record<string, unknown>, key: string, context: string): number {
  const v = row[key];
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : typeof v === "number" ? v : NaN;
  if (!Number.isFinite(n)) {
    throw new TypeError(
      `Cannot parse Coinbase candle ${JSON.stringify(row)} (${context}): ${key} is not a number`,
    );
  }
  return n;
}

/**
 * Parses a candles response (`{candles:[…]}`, newest first, strings) into candles inside
 * `[startSec, endSec]`, oldest first, one per start.
 */
export function parseCandles(
  body: unknown,
  startSec: number,
  endSec: number,
  context: string,
): Candle[] {
  const rows = (body as { candles?: unknown } | null)?.candles;
  if (!Array.isArray(rows)) {
    throw new TypeError(`Coinbase candles response has no "candles" array (${context})`);
  }
  const byStart = new Map<number, Candle>();
  for (const row of rows) {
    if (typeof row !== "object" || row === null) {
      throw new TypeError(`Cannot parse Coinbase candle ${JSON.stringify(row)} (${context})`);
    }
    const r = row as Record<string, unknown>;
    const c: Candle = {
      start: num(r, "start", context),
      open: num(r, "open", context),
      high: num(r, "high", context),
      low: num(r, "low", context),
      close: num(r, "close", context),
      volume: num(r, "volume", context),
    };
    if (c.start >= startSec && c.start <= endSec) byStart.set(c.start, c);
  }
  return [...byStart.values()].sort((a, b) => a.start - b.start);
}
