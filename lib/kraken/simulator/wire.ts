/**
 * @module
 * How the Kraken simulator writes a market trade on each surface (kraken-protocol.md): the v2
 * WebSocket trade object (`price`/`qty` JSON numbers written from the exact decimal text,
 * RFC 3339 microsecond `timestamp`, taker `side`, `ord_type`, integer `trade_id`) and the REST
 * `Trades` row (`[price, volume, time, "b"|"s", "m"|"l", "", trade_id]`, strings with the
 * pair's decimals, time a float of seconds), plus the nanosecond cursor REST pages by. Which
 * trades are sent is `ws.ts`'s business and `rest.ts`'s.
 */
import type { SimTrade } from "../../simulator/market.ts";

/** RFC 3339 with exactly six fraction digits, as Kraken v2 writes `timestamp`. */
export function rfc3339Us(us: number): string {
  const ms = Math.floor(us / 1000);
  const base = new Date(ms - (((ms % 1000) + 1000) % 1000)).toISOString().slice(0, 19);
  return `${base}.${String(us % 1_000_000).padStart(6, "0")}Z`;
}

/**
 * Kraken's `side` is the taker's; the market's `side` is the maker's (Coinbase's convention), so
 * a maker SELL is a taker `buy`.
 */
export function takerSide(t: SimTrade): "buy" | "sell" {
  return t.side === "SELL" ? "buy" : "sell";
}

/**
 * The taker order's type: about one order in four is a market order, decided by the order's
 * first trade id so that every fill of one order has the same type on every surface.
 */
export function ordType(t: SimTrade): "market" | "limit" {
  const first = t.parsed.id - (t.fill ?? 0);
  return (Math.imul(first, 0x9e3779b1) >>> 0) % 4 === 0 ? "market" : "limit";
}

/** `text` (a trimmed decimal) with exactly `dp` fraction digits (longer ones kept as they are). */
export function padDecimal(text: string, dp: number): string {
  if (dp <= 0) return text;
  const dot = text.indexOf(".");
  const frac = dot < 0 ? 0 : text.length - dot - 1;
  if (frac >= dp) return text;
  return (dot < 0 ? `${text}.` : text) + "0".repeat(dp - frac);
}

/** One v2 trade object, fields in the documented order. */
export function wsTradeJson(t: SimTrade, symbol: string): string {
  return `{"symbol":"${symbol}","side":"${takerSide(t)}","price":${t.price},"qty":${t.size},` +
    `"ord_type":"${ordType(t)}","trade_id":${t.parsed.id},"timestamp":"${rfc3339Us(t.timeUs)}"}`;
}

/** Seconds with six decimals, as a JSON number text (`1688669597.827736`). */
export function floatSeconds(us: number): string {
  return `${Math.floor(us / 1_000_000)}.${String(us % 1_000_000).padStart(6, "0")}`;
}

/** One REST `Trades` row as JSON text. */
export function restTradeRow(t: SimTrade, priceDecimals: number, lotDecimals: number): string {
  const side = takerSide(t) === "buy" ? "b" : "s";
  const type = ordType(t) === "market" ? "m" : "l";
  return `["${padDecimal(t.price, priceDecimals)}","${padDecimal(t.size, lotDecimals)}",` +
    `${floatSeconds(t.timeUs)},"${side}","${type}","",${t.parsed.id}]`;
}

/**
 * A trade's position in REST's nanosecond cursor: its microsecond time × 1000 plus its fill
 * index, so the fills of one taker order (same microsecond) have distinct, rising cursors (the
 * real `last` values carry sub-microsecond digits too). As a decimal string: the value passes
 * 2^53.
 */
export function tradeNs(t: SimTrade): string {
  return `${t.timeUs}${String(t.fill ?? 0).padStart(3, "0")}`;
}

/** Compares two non-negative integer decimal strings. */
export function compareDecimalInts(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, "");
  const y = b.replace(/^0+(?=\d)/, "");
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}
