/**
 * @module
 * A scanner for the hot frame, `market_trades`, that reads the fields straight from the text
 * instead of `JSON.parse` plus a walk of its objects. It recognises one exact spelling, the one
 * Coinbase sends (the recording in `tests/fixtures/coinbase-real/` and the simulator's
 * `tradeJson`), no whitespace anywhere:
 *
 * ```text
 * {"channel":"market_trades",["client_id":"…",]"timestamp":"…","sequence_num":N,
 *  "events":[{"type":"snapshot"|"update","trades":[
 *   {"product_id":"…","trade_id":"…","price":"…","size":"…","time":"…","side":"BUY"|"SELL"},…]},…]}
 * ```
 *
 * and only when every value passes the trade validator's checks (the same functions
 * `messages.ts` uses). Anything else, a space, another key order, an extra key, an escape, a
 * number where a string belongs, a trade that would be rejected, a timestamp that does not
 * parse, an end that is not the end of the text, makes {@linkcode scanMarketTrades} answer
 * `undefined` and the caller parse the frame the reference way: the scanner never gives a
 * different answer, it gives up. Every string it accepts is made of characters the validators
 * allow (digits, `.`, `-`, `:`, upper-case letters), so no accepted string can hold an escape
 * or a quote, and its text is its value. Property-tested against the reference in
 * `tests/coinbase/trade_scan_test.ts`.
 */
import { parseUnitsAt } from "../candles/decimal.ts";
import type { Trade } from "../candles/trade.ts";
import type { ServerFrame } from "./messages.ts";
import { isProductIdFast, parseRfc3339At } from "./wire_values.ts";

/** The frame {@linkcode scanMarketTrades} yields. */
export type MarketTradesFrame = Extract<ServerFrame, { kind: "market_trades" }>;

const HEAD = '{"channel":"market_trades",';
const CLIENT_ID = '"client_id":"';
const TIMESTAMP = '"timestamp":"';
const SEQUENCE_NUM = ',"sequence_num":';
const EVENTS = ',"events":[';
const TYPE = '{"type":"';
const SNAPSHOT = 'snapshot","trades":[';
const UPDATE = 'update","trades":[';
const PRODUCT_ID = '{"product_id":"';
const TRADE_ID = ',"trade_id":"';
const PRICE = ',"price":"';
const SIZE = ',"size":"';
const TIME = ',"time":"';
const SIDE = ',"side":"';
const BUY = 'BUY"}';
const SELL = 'SELL"}';

const QUOTE = 34;
const COMMA = 44;
const CLOSE_ARRAY = 93;
const CLOSE_OBJECT = 125;

/** 10^k for the exact fast path of decimal prices (k ≤ 22: every such power is a double). */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

/** Where `scanTrade` and `scanPrice` stopped (module state: the scanner is synchronous). */
let pos = 0;

/**
 * The frame `text` parses to, if it is a `market_trades` frame in the one spelling above and
 * every trade in it is valid (`rejected` is then empty); `undefined` for anything else. Trades
 * are in the order the reference collects them: each event's trades reversed (the wire has them
 * newest first), events in order. The caller sorts them when that is not oldest first.
 */
export function scanMarketTrades(text: string): MarketTradesFrame | undefined {
  if (!text.startsWith(HEAD, 0)) return undefined;
  let i = HEAD.length;
  let clientId: string | undefined;
  if (text.startsWith(CLIENT_ID, i)) {
    const from = i + CLIENT_ID.length;
    let j = from;
    for (;; j++) {
      const c = text.charCodeAt(j);
      if (c === QUOTE) break;
      // Not an escape, not a control character (JSON refuses those raw), not the text's end.
      if (!(c >= 32 && c !== 92)) return undefined;
    }
    clientId = text.slice(from, j);
    if (text.charCodeAt(j + 1) !== COMMA) return undefined;
    i = j + 2;
  }
  if (!text.startsWith(TIMESTAMP, i)) return undefined;
  i += TIMESTAMP.length;
  const tsEnd = text.indexOf('"', i);
  if (tsEnd < 0) return undefined;
  const timestampMs = parseRfc3339At(text, i, tsEnd);
  if (Number.isNaN(timestampMs)) return undefined;
  i = tsEnd + 1;
  if (!text.startsWith(SEQUENCE_NUM, i)) return undefined;
  i += SEQUENCE_NUM.length;
  // A JSON integer without sign, exponent or leading zero, at most 15 digits (safe).
  const sequenceNum = scanDigits(text, i);
  const seqDigits = pos - i;
  if (seqDigits === 0 || seqDigits > 15 || (seqDigits > 1 && text.charCodeAt(i) === 48)) {
    return undefined;
  }
  i = pos;
  if (!text.startsWith(EVENTS, i)) return undefined;
  i += EVENTS.length;
  const trades: Trade[] = [];
  let snapshot = false;
  if (text.charCodeAt(i) !== CLOSE_ARRAY) {
    for (;;) {
      if (!text.startsWith(TYPE, i)) return undefined;
      i += TYPE.length;
      if (text.startsWith(UPDATE, i)) i += UPDATE.length;
      else if (text.startsWith(SNAPSHOT, i)) {
        i += SNAPSHOT.length;
        snapshot = true;
      } else return undefined;
      const first = trades.length;
      if (text.charCodeAt(i) !== CLOSE_ARRAY) {
        pos = i;
        for (;;) {
          const t = scanTrade(text);
          if (t === undefined) return undefined;
          trades.push(t);
          const c = text.charCodeAt(pos);
          if (c === CLOSE_ARRAY) break;
          if (c !== COMMA) return undefined;
          pos++;
        }
        i = pos;
      }
      // `]}` closes the trades and the event.
      if (text.charCodeAt(i + 1) !== CLOSE_OBJECT) return undefined;
      i += 2;
      reverse(trades, first);
      const c = text.charCodeAt(i);
      if (c === CLOSE_ARRAY) break;
      if (c !== COMMA) return undefined;
      i++;
    }
  }
  // `]}` closes the events and the frame, and nothing follows.
  if (text.charCodeAt(i + 1) !== CLOSE_OBJECT || i + 2 !== text.length) return undefined;
  return clientId === undefined
    ? {
      channel: "market_trades",
      timestampMs,
      sequenceNum,
      kind: "market_trades",
      snapshot,
      trades,
      rejected: [],
    }
    : {
      channel: "market_trades",
      clientId,
      timestampMs,
      sequenceNum,
      kind: "market_trades",
      snapshot,
      trades,
      rejected: [],
    };
}

/** Reverses `a` from `from` to the end, in place (the wire has each event newest first). */
function reverse(a: Trade[], from: number): void {
  for (let lo = from, hi = a.length - 1; lo < hi; lo++, hi--) {
    const t = a[lo]!;
    a[lo] = a[hi]!;
    a[hi] = t;
  }
}

/**
 * One trade object at `pos`, leaving `pos` after its `}`; undefined when it is not in the one
 * spelling or the trade validator (`parseTrade` in `messages.ts`) would not accept it as is.
 */
function scanTrade(text: string): Trade | undefined {
  let i = pos;
  if (!text.startsWith(PRODUCT_ID, i)) return undefined;
  i += PRODUCT_ID.length;
  let end = text.indexOf('"', i);
  if (end < 0) return undefined;
  const product = text.slice(i, end);
  if (!isProductIdFast(product)) return undefined;
  i = end + 1;
  if (!text.startsWith(TRADE_ID, i)) return undefined;
  i += TRADE_ID.length;
  // 1–15 decimal digits: exact as a double, the value `Number` reads from the same text.
  const id = scanDigits(text, i);
  if (pos === i || pos - i > 15 || text.charCodeAt(pos) !== QUOTE) return undefined;
  i = pos + 1;
  if (!text.startsWith(PRICE, i)) return undefined;
  i += PRICE.length;
  const price = scanPrice(text, i);
  if (Number.isNaN(price)) return undefined;
  i = pos + 1;
  if (!text.startsWith(SIZE, i)) return undefined;
  i += SIZE.length;
  end = text.indexOf('"', i);
  if (end < 0) return undefined;
  const size = parseUnitsAt(text, i, end);
  if (!(size > 0)) return undefined;
  i = end + 1;
  if (!text.startsWith(TIME, i)) return undefined;
  i += TIME.length;
  end = text.indexOf('"', i);
  if (end < 0) return undefined;
  const timeMs = parseRfc3339At(text, i, end);
  if (Number.isNaN(timeMs)) return undefined;
  i = end + 1;
  if (!text.startsWith(SIDE, i)) return undefined;
  i += SIDE.length;
  if (text.startsWith(BUY, i)) i += BUY.length;
  else if (text.startsWith(SELL, i)) i += SELL.length;
  else return undefined;
  pos = i;
  return { product, id, price, size, timeMs };
}

/** The decimal digits at `from` read as an integer (0 when none), leaving their end in `pos`. */
function scanDigits(text: string, from: number): number {
  let n = 0;
  let i = from;
  for (;; i++) {
    const d = text.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) break;
    n = n * 10 + d;
  }
  pos = i;
  return n;
}

/**
 * The price string at `from` (up to its closing quote, whose index is left in `pos`) as
 * `Number` reads it, when `isPositiveDecimal` accepts it; NaN otherwise. A decimal of at most 15
 * significant digits and 22 places is its digits read as an integer, divided by 10^places: both
 * exact doubles, so the one division is correctly rounded, as `Number` is. Longer ones go to
 * `Number`.
 */
function scanPrice(text: string, from: number): number {
  let dot = -1;
  let mantissa = 0;
  let significant = 0;
  let i = from;
  for (;; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (dot !== -1 || i === from) return NaN;
      dot = i;
      continue;
    }
    const d = c - 48;
    if (!(d >= 0 && d <= 9)) break;
    if (significant > 0 || d !== 0) {
      mantissa = mantissa * 10 + d;
      significant++;
    }
  }
  const n = i - from;
  if (text.charCodeAt(i) !== QUOTE || n > 40 || mantissa === 0 || dot === i - 1) return NaN;
  pos = i;
  const places = dot === -1 ? 0 : i - dot - 1;
  if (significant <= 15 && places <= 22) return places === 0 ? mantissa : mantissa / POW10[places]!;
  return Number(text.slice(from, i));
}
