/**
 * @module
 * Kraken WebSocket v2 frames (kraken-protocol.md "WebSocket v2"): {@linkcode parseKrakenMessage}
 * turns one text frame into a typed {@linkcode KrakenMessage}. Trades become the candle core's
 * {@linkcode Trade} (market key `kraken:BTC-USD`, exact size units, epoch-ms time) plus Kraken's
 * extras (symbol, taker side, the microseconds within the millisecond).
 *
 * Venue quirk: v2 sends `price` and `qty` as JSON numbers, and `JSON.parse` turns `0.1` into a
 * double, so summing parsed sizes would drift. The frame is parsed once with `JSON.parse` for its
 * shape, and each trade's `qty` is read again from the frame's raw text ({@linkcode
 * jsonNumberToUnits}: plain and exponent forms, exact, more than 8 decimals refused). The raw
 * token is found with `indexOf` and checked against the parsed value, so a frame whose text does
 * not line up (a `"qty"` key elsewhere, odd spacing) falls back to a full scan of the frame's
 * structure ({@linkcode rawDataNumbers}). Prices stay doubles: they are compared, never summed.
 *
 * Invalid trades are counted in `rejected`, never thrown and never delivered. Sockets, acks and
 * logging live in `connection.ts`; duplicate trade ids are dropped by the aggregator.
 */
import { parseUnits, type Units, unitsToNumber } from "../candles/decimal.ts";
import type { Trade } from "../candles/trade.ts";
import { parseRfc3339 } from "../coinbase/wire_values.ts";
import { symbolToMarketKey } from "./symbols.ts";

/** One v2 trade, parsed. */
export interface KrakenTrade extends Trade {
  /** The v2 symbol, e.g. `BTC/USD`. */
  symbol: string;
  /** The taker's side. */
  side: "buy" | "sell";
  /** Microseconds within timeMs' ms, 0..999 */
  subMs: number;
}

/** One parsed v2 frame. */
export type KrakenMessage =
  | { kind: "trades"; type: "snapshot" | "update"; trades: KrakenTrade[]; rejected: number }
  | { kind: "heartbeat" }
  | { kind: "status"; system: string; connectionId?: string; version?: string }
  | { kind: "subscribed"; symbol: string; success: true; snapshot: boolean; reqId?: number }
  | { kind: "subscribeFailed"; symbol?: string; error: string; reqId?: number }
  | { kind: "unsubscribed"; symbol?: string; reqId?: number }
  | { kind: "pong"; reqId?: number }
  | { kind: "error"; message: string }
  | { kind: "other"; channel?: string; method?: string };

// deno-lint-ignore no-explicit-any
type Json = any;

/**
 * Parses one WebSocket v2 text frame.
 *
 * - `channel: "trade"` → `trades` (trades oldest first; invalid ones counted in `rejected`);
 *   `heartbeat`; `status` (its first data row; `connectionId` read from the raw text, it exceeds
 *   2^53); any other channel → `other`.
 * - `method` answers: `subscribe` → `subscribed` (trade channel) or, with `success: false`,
 *   `subscribeFailed` (with the symbol when Kraken names it); `unsubscribe` → `unsubscribed`;
 *   `pong`; any other failing answer (`success: false`, or an `error` string as in
 *   `{"error": "Malformed request", "method": "error"}`) → `error` naming the method; else `other`.
 * - `{"Error": "Exceeded msg rate"}` (or a bare `error` string) → `error`.
 *
 * @throws {SyntaxError} naming what was wrong when `text` is not a JSON object
 */
export function parseKrakenMessage(text: string): KrakenMessage {
  let msg: Json;
  try {
    msg = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(
      `Kraken frame is not JSON (${text.length} chars, ${preview(text)}): ${(e as Error).message}`,
    );
  }
  if (msg === null || typeof msg !== "object" || Array.isArray(msg)) {
    throw new SyntaxError(`Kraken frame is not a JSON object: ${preview(text)}`);
  }
  const channel = msg.channel;
  if (typeof channel === "string") {
    switch (channel) {
      case "trade":
        return parseTradeFrame(text, msg);
      case "heartbeat":
        return { kind: "heartbeat" };
      case "status":
        return parseStatus(text, msg);
      default:
        return { kind: "other", channel };
    }
  }
  if (typeof msg.method === "string") return parseMethodAnswer(msg, msg.method);
  const error = typeof msg.Error === "string" ? msg.Error : msg.error;
  if (typeof error === "string") return { kind: "error", message: error };
  return { kind: "other" };
}

/** The first characters of a frame, for error messages. */
function preview(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

function reqIdOf(msg: Json): number | undefined {
  return Number.isSafeInteger(msg.req_id) ? msg.req_id : undefined;
}

function withReqId<T extends object>(m: T, reqId: number | undefined): T & { reqId?: number } {
  return reqId === undefined ? m : { ...m, reqId };
}

function parseMethodAnswer(msg: Json, method: string): KrakenMessage {
  const reqId = reqIdOf(msg);
  const result = msg.result !== null && typeof msg.result === "object" ? msg.result : undefined;
  const symbol = typeof result?.symbol === "string"
    ? result.symbol as string
    : typeof msg.symbol === "string"
    ? msg.symbol as string
    : undefined;
  // A failure says `success: false`, or only carries an `error` (`{"error": "Malformed request",
  // "method": "error"}` answers no request in particular).
  const failed = msg.success === false || typeof msg.error === "string";
  const error = typeof msg.error === "string" ? msg.error : "no error given";
  if (method === "pong") return withReqId({ kind: "pong" as const }, reqId);
  if (method === "subscribe") {
    if (failed) {
      const m = { kind: "subscribeFailed" as const, error };
      return withReqId(symbol === undefined ? m : { ...m, symbol }, reqId);
    }
    const channel = result?.channel;
    if (msg.success === true && symbol !== undefined && (channel ?? "trade") === "trade") {
      const m = {
        kind: "subscribed" as const,
        symbol,
        success: true as const,
        snapshot: result?.snapshot === true,
      };
      return withReqId(m, reqId);
    }
    return typeof channel === "string" ? { kind: "other", channel, method } : {
      kind: "other",
      method,
    };
  }
  if (failed) {
    const about = [symbol, reqId === undefined ? undefined : `req_id ${reqId}`].filter(Boolean);
    const what = method === "error" ? "Request" : method;
    return {
      kind: "error",
      message: `${what}${about.length ? ` (${about.join(", ")})` : ""} failed: ${error}`,
    };
  }
  if (method === "unsubscribe") {
    const m = { kind: "unsubscribed" as const };
    return withReqId(symbol === undefined ? m : { ...m, symbol }, reqId);
  }
  return { kind: "other", method };
}

function parseStatus(text: string, msg: Json): KrakenMessage {
  const row = Array.isArray(msg.data) ? msg.data[0] : undefined;
  if (row === null || typeof row !== "object" || typeof row.system !== "string") {
    return { kind: "other", channel: "status" };
  }
  const out: { kind: "status"; system: string; connectionId?: string; version?: string } = {
    kind: "status",
    system: row.system,
  };
  const id = row.connection_id;
  if (typeof id === "number") {
    // A 64-bit id: the double JSON.parse made is rounded, the frame's digits are not.
    const raw = rawNumberAfterKey(text, '"connection_id"', 0);
    out.connectionId = raw !== undefined && Number(raw.text) === id ? raw.text : String(id);
  } else if (typeof id === "string") out.connectionId = id;
  if (typeof row.version === "string") out.version = row.version;
  return out;
}

/** symbol → market key, so the common case costs one map lookup per trade. */
const productCache = new Map<string, string>();
const PRODUCT_CACHE_MAX = 4096;

function productOf(symbol: string): string | undefined {
  let key = productCache.get(symbol);
  if (key !== undefined) return key;
  try {
    key = symbolToMarketKey(symbol);
  } catch {
    return undefined;
  }
  if (productCache.size >= PRODUCT_CACHE_MAX) productCache.clear();
  productCache.set(symbol, key);
  return key;
}

function parseTradeFrame(text: string, msg: Json): KrakenMessage {
  const type = msg.type;
  const data = msg.data;
  if ((type !== "snapshot" && type !== "update") || !Array.isArray(data)) {
    return { kind: "other", channel: "trade" };
  }
  const trades: KrakenTrade[] = [];
  let rejected = 0;
  // Raw qty tokens by data index, once the fast indexOf walk lost its way.
  let scanned: (string | undefined)[] | undefined;
  let pos = text.indexOf('"data"');
  if (pos < 0) pos = 0;
  for (let i = 0; i < data.length; i++) {
    const d = data[i];
    let size: Units = NaN;
    if (scanned === undefined) {
      size = qtyAfter(text, pos);
      const qty = d?.qty;
      const matches = typeof size === "number" ? size / 1e8 === qty : unitsToNumber(size) === qty;
      if (matches) pos = tokenEnd;
      else scanned = rawDataNumbers(text, "qty");
    }
    if (scanned !== undefined) {
      const raw = scanned[i];
      size = raw === undefined ? NaN : jsonNumberToUnits(raw);
    }
    const t = toTrade(d, size);
    if (t === undefined) rejected++;
    else trades.push(t);
  }
  if (!isOldestFirst(trades)) trades.sort(compareTrades);
  return { kind: "trades", type, trades, rejected };
}

/** A v2 data object and its exact size as a trade, or undefined when any field is invalid. */
function toTrade(d: Json, size: Units): KrakenTrade | undefined {
  if (d === null || typeof d !== "object") return undefined;
  if (!(size > 0) || typeof d.qty !== "number") return undefined;
  const symbol = d.symbol;
  if (typeof symbol !== "string") return undefined;
  const product = productOf(symbol);
  if (product === undefined) return undefined;
  const side = d.side;
  if (side !== "buy" && side !== "sell") return undefined;
  const price = d.price;
  if (typeof price !== "number" || !(price > 0) || price === Infinity) return undefined;
  const id = d.trade_id;
  if (!Number.isSafeInteger(id) || id <= 0) return undefined;
  const ts = d.timestamp;
  if (typeof ts !== "string") return undefined;
  const timeMs = parseRfc3339(ts);
  if (Number.isNaN(timeMs)) return undefined;
  return { product, id, price, size, timeMs, symbol, side, subMs: subMillisecond(ts) };
}

/** Microseconds past the millisecond in an RFC 3339 time: digits 4–6 of the fraction, 0..999. */
export function subMillisecond(ts: string): number {
  if (ts.charCodeAt(19) !== 46 /* . */) return 0;
  let us = 0;
  let k = 0;
  for (; k < 6; k++) {
    const d = ts.charCodeAt(20 + k) - 48;
    if (!(d >= 0 && d <= 9)) break;
    if (k >= 3) us = us * 10 + d;
  }
  if (k <= 3) return 0;
  // Fewer than six digits (`.9255`): what there was, scaled to microseconds.
  for (; k < 6; k++) us *= 10;
  return us;
}

function compareTrades(a: KrakenTrade, b: KrakenTrade): number {
  if (a.timeMs !== b.timeMs) return a.timeMs - b.timeMs;
  if (a.subMs !== b.subMs) return a.subMs - b.subMs;
  if (a.product !== b.product) return a.product < b.product ? -1 : 1;
  return a.id - b.id;
}

function isOldestFirst(trades: KrakenTrade[]): boolean {
  for (let i = 1; i < trades.length; i++) {
    if (compareTrades(trades[i - 1]!, trades[i]!) > 0) return false;
  }
  return true;
}

/** Whether `c` can be part of a JSON number token. */
function isNumberChar(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 46 || c === 45 || c === 43 || c === 101 || c === 69;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/**
 * The raw number token after the next `quotedKey` (`"qty"`) followed by `:` at or after `from`,
 * with the index just past it; undefined when there is none. Not a parser: callers check the
 * token against the parsed value.
 */
function rawNumberAfterKey(
  text: string,
  quotedKey: string,
  from: number,
): { text: string; end: number } | undefined {
  const n = text.length;
  let i = text.indexOf(quotedKey, from);
  while (i >= 0) {
    let j = i + quotedKey.length;
    while (j < n && isSpace(text.charCodeAt(j))) j++;
    if (text.charCodeAt(j) === 58 /* : */) {
      j++;
      while (j < n && isSpace(text.charCodeAt(j))) j++;
      const start = j;
      while (j < n && isNumberChar(text.charCodeAt(j))) j++;
      return j > start ? { text: text.slice(start, j), end: j } : undefined;
    }
    i = text.indexOf(quotedKey, i + quotedKey.length);
  }
  return undefined;
}

/** Where the token {@linkcode qtyAfter} read last ends. */
let tokenEnd = 0;
/** 10^(8-k): scales a fraction of k digits to units. */
const FRACTION_SCALE = [1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10, 1];

/**
 * The units of the number after the next `"qty":` at or after `from` (NaN when there is none or
 * it is no exact amount), read in place: a plain decimal below 10^7 with at most 8 places (every
 * real trade) costs one char loop and no allocation; anything else goes through
 * {@linkcode jsonNumberToUnits}. Sets {@linkcode tokenEnd}. Not a parser: the caller checks the
 * result against the parsed value.
 */
function qtyAfter(text: string, from: number): Units {
  const n = text.length;
  let i = text.indexOf('"qty"', from);
  let j = 0;
  for (; i >= 0; i = text.indexOf('"qty"', i + 5)) {
    j = i + 5;
    while (j < n && isSpace(text.charCodeAt(j))) j++;
    if (text.charCodeAt(j) === 58 /* : */) break;
  }
  if (i < 0) return NaN;
  j++;
  while (j < n && isSpace(text.charCodeAt(j))) j++;
  const start = j;
  let int = 0;
  let intDigits = 0;
  let frac = 0;
  let fracDigits = 0;
  let dot = false;
  let plain = true;
  for (; j < n; j++) {
    const c = text.charCodeAt(j);
    if (c >= 48 && c <= 57) {
      if (!dot) {
        int = int * 10 + (c - 48);
        intDigits++;
      } else if (fracDigits < 8) {
        frac = frac * 10 + (c - 48);
        fracDigits++;
      } else if (c !== 48) plain = false;
    } else if (c === 46 /* . */ && !dot) dot = true;
    else if (isNumberChar(c)) plain = false;
    else break;
  }
  tokenEnd = j;
  if (plain && intDigits >= 1 && intDigits <= 7 && (!dot || fracDigits > 0)) {
    // int < 10^7: int * 1e8 + frac < 2^53, exact in a double.
    return int * 1e8 + frac * FRACTION_SCALE[fracDigits]!;
  }
  return j > start ? jsonNumberToUnits(text.slice(start, j)) : NaN;
}

const SCALED_DIGITS = 30;

/**
 * A JSON number's text (`0.00150000`, `12`, `1e-8`, `2.5E+3`) as exact units of 10^-8, without
 * going through a double. NaN when it is not a non-negative JSON number, has non-zero digits past
 * 8 decimal places, or more than 30 integer digits.
 */
export function jsonNumberToUnits(raw: string): Units {
  const n = raw.length;
  let e = -1;
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c === 101 || c === 69) {
      e = i;
      break;
    }
  }
  if (e < 0) return parseUnits(raw);
  // Exponent form: move the decimal point, then read the plain decimal.
  let exp = 0;
  let k = e + 1;
  let negative = false;
  const sign = raw.charCodeAt(k);
  if (sign === 45 || sign === 43) {
    negative = sign === 45;
    k++;
  }
  if (k === n || n - k > 6) return NaN;
  for (; k < n; k++) {
    const d = raw.charCodeAt(k) - 48;
    if (d < 0 || d > 9) return NaN;
    exp = exp * 10 + d;
  }
  if (negative) exp = -exp;
  const mantissa = raw.slice(0, e);
  const dot = mantissa.indexOf(".");
  const intPart = dot < 0 ? mantissa : mantissa.slice(0, dot);
  const fracPart = dot < 0 ? "" : mantissa.slice(dot + 1);
  if (intPart === "" || (dot >= 0 && fracPart === "")) return NaN;
  let digits = intPart + fracPart;
  for (let i = 0; i < digits.length; i++) {
    const c = digits.charCodeAt(i);
    if (c < 48 || c > 57) return NaN;
  }
  // The value is 0.digits × 10^point.
  let point = intPart.length + exp;
  let lead = 0;
  while (lead < digits.length && digits.charCodeAt(lead) === 48) lead++;
  if (lead === digits.length) return 0;
  let trail = digits.length;
  while (digits.charCodeAt(trail - 1) === 48) trail--;
  digits = digits.slice(lead, trail);
  point -= lead;
  if (point > SCALED_DIGITS || digits.length - point > 8) return NaN;
  const plain = point <= 0
    ? `0.${"0".repeat(-point)}${digits}`
    : point >= digits.length
    ? digits + "0".repeat(point - digits.length)
    : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return parseUnits(plain);
}

/**
 * The exact scan: walks the frame's JSON structure and returns, for each element of the top-level
 * `data` array, the raw text of its `key` member when that is a number (undefined otherwise; the
 * last one when a key repeats, as `JSON.parse` does). Undefined when the frame has no such array.
 * Slower than the `indexOf` walk; used only when that did not line up.
 */
export function rawDataNumbers(text: string, key: string): (string | undefined)[] | undefined {
  const s = new RawScanner(text);
  try {
    s.space();
    s.expect(123 /* { */);
    let out: (string | undefined)[] | undefined;
    s.members((name) => {
      if (name !== "data" || s.peek() !== 91 /* [ */) return s.skipValue();
      out = [];
      const list = out;
      s.elements(() => {
        if (s.peek() !== 123) {
          list.push(undefined);
          return s.skipValue();
        }
        let raw: string | undefined;
        s.i++;
        s.members((member) => {
          if (member === key) {
            const c = s.peek();
            if (c === 45 || (c >= 48 && c <= 57)) {
              raw = s.number();
              return;
            }
            raw = undefined;
          }
          s.skipValue();
        }, 125 /* } */);
        list.push(raw);
      });
    }, 125);
    return out;
  } catch {
    return undefined;
  }
}

/** A cursor over JSON text that skips values and reads raw number tokens (throws on bad JSON). */
class RawScanner {
  i = 0;
  constructor(readonly s: string) {}

  peek(): number {
    this.space();
    return this.s.charCodeAt(this.i);
  }

  space(): void {
    while (this.i < this.s.length && isSpace(this.s.charCodeAt(this.i))) this.i++;
  }

  expect(c: number): void {
    if (this.peek() !== c) throw new SyntaxError(`Expected ${String.fromCharCode(c)} at ${this.i}`);
    this.i++;
  }

  /** The members of an object whose `{` was consumed, up to and including `close`. */
  members(onMember: (name: string) => void, close: number): void {
    if (this.peek() === close) {
      this.i++;
      return;
    }
    for (;;) {
      const name = this.string();
      this.expect(58 /* : */);
      this.space();
      onMember(name);
      const c = this.peek();
      this.i++;
      if (c === close) return;
      if (c !== 44 /* , */) throw new SyntaxError(`Expected , at ${this.i - 1}`);
    }
  }

  /** The elements of the array starting here. */
  elements(onElement: () => void): void {
    this.expect(91);
    if (this.peek() === 93 /* ] */) {
      this.i++;
      return;
    }
    for (;;) {
      this.space();
      onElement();
      const c = this.peek();
      this.i++;
      if (c === 93) return;
      if (c !== 44) throw new SyntaxError(`Expected , at ${this.i - 1}`);
    }
  }

  string(): string {
    this.expect(34 /* " */);
    const start = this.i;
    let escaped = false;
    for (; this.i < this.s.length; this.i++) {
      const c = this.s.charCodeAt(this.i);
      if (c === 92 /* \ */) {
        escaped = true;
        this.i++;
      } else if (c === 34) {
        const body = this.s.slice(start, this.i++);
        return escaped ? JSON.parse(`"${body}"`) : body;
      }
    }
    throw new SyntaxError("Unterminated string");
  }

  number(): string {
    this.space();
    const start = this.i;
    while (this.i < this.s.length && isNumberChar(this.s.charCodeAt(this.i))) this.i++;
    if (this.i === start) throw new SyntaxError(`Expected a number at ${start}`);
    return this.s.slice(start, this.i);
  }

  skipValue(): void {
    const c = this.peek();
    if (c === 34) this.string();
    else if (c === 123) {
      this.i++;
      this.members(() => this.skipValue(), 125);
    } else if (c === 91) this.elements(() => this.skipValue());
    else if (c === 45 || (c >= 48 && c <= 57)) this.number();
    else {
      for (const word of ["true", "false", "null"]) {
        if (this.s.startsWith(word, this.i)) {
          this.i += word.length;
          return;
        }
      }
      throw new SyntaxError(`Unexpected character at ${this.i}`);
    }
  }
}
