/**
 * @module
 * Coinbase Advanced Trade WebSocket frames: the wire shapes and their validation
 * (coinbase-protocol.md §2.3–3.3). {@linkcode parseFrame} turns one frame's text into a typed
 * {@linkcode ServerFrame} and never throws: the hot `market_trades` frames by a scanner of the
 * text (`trade_scan.ts`), everything else, and whatever the scanner does not recognise, with one
 * `JSON.parse` ({@linkcode parseFrameReference}). It is lenient where Coinbase is inconsistent
 * (`client_id` absent, `heartbeat_counter` as string or number, fraction widths) and strict where
 * bad data would corrupt candles: {@linkcode parseTrade}, the one trade validator, turns each
 * wire trade (all strings) into the candle core's {@linkcode Trade} (numbers, exact size units,
 * epoch-ms time) or a reason, returned in `rejected`, never in `trades`. Sockets and logging live
 * in `connection.ts`; duplicate trade ids are dropped by the aggregator
 * (`lib/candles/aggregator.ts` says why there).
 */
import type { Candle } from "../candles/candle.ts";
import { parseUnits } from "../candles/decimal.ts";
import type { Trade } from "../candles/trade.ts";
import { scanMarketTrades } from "./trade_scan.ts";
import { isDigits, isPositiveDecimal, isProductIdFast, parseRfc3339 } from "./wire_values.ts";

/** A trade the validator refused, with the reason (for logs and counters). */
export interface RejectedTrade {
  reason: string;
  product_id?: string;
  trade_id?: string;
}

/** A 5-minute candle from the `candles` channel, restated cumulatively (§3.3). */
export interface WsCandle extends Candle {
  product_id: string;
}

/** Fields every channel frame has (§2.3). */
export interface FrameEnvelope {
  channel: string;
  /** Absent on the market endpoint since 2026 (§2.3 CONFLICT). */
  clientId?: string;
  /** Envelope `timestamp` as epoch ms, or undefined when missing or unparsable. */
  timestampMs?: number;
  /** Per-connection counter (§2.5), or undefined when missing. */
  sequenceNum?: number;
}

/** One parsed server frame. */
export type ServerFrame =
  | FrameEnvelope & { kind: "subscriptions"; subscriptions: Record<string, string[]> }
  | FrameEnvelope & { kind: "heartbeats"; heartbeatCounter?: number }
  | FrameEnvelope & {
    kind: "market_trades";
    /** True when any event is a `snapshot` (the replay after each subscribe). */
    snapshot: boolean;
    /** Valid trades, parsed, oldest first (the wire has them newest first). */
    trades: Trade[];
    rejected: RejectedTrade[];
  }
  | FrameEnvelope & { kind: "candles"; candles: WsCandle[]; rejected: number }
  | FrameEnvelope & { kind: "other" }
  | { kind: "error"; message: string; reason?: string }
  | { kind: "garbage"; reason: string; sequenceNum?: number; timestampMs?: number };

// deno-lint-ignore no-explicit-any
type Json = any;

/**
 * Parses one frame's text. Never throws: anything unusable is `{kind: "garbage", reason}`
 * (keeping `sequenceNum` when the envelope had one, so sequence tracking stays right).
 * `market_trades` frames in Coinbase's own spelling with only valid trades are read by the
 * scanner of `trade_scan.ts`, everything else by {@linkcode parseFrameReference}; both give the
 * same frame for the same text.
 */
export function parseFrame(text: string): ServerFrame {
  const scanned = scanMarketTrades(text);
  if (scanned === undefined) return parseFrameReference(text);
  if (!isSortedOldestFirst(scanned.trades)) scanned.trades.sort(compareTrades);
  return scanned;
}

/**
 * {@linkcode parseFrame} the reference way, one `JSON.parse` and a walk of its objects: what
 * every frame the scanner does not recognise goes through, and what the scanner is tested
 * against.
 */
export function parseFrameReference(text: string): ServerFrame {
  let msg: Json;
  try {
    msg = JSON.parse(text);
  } catch {
    return { kind: "garbage", reason: `not JSON (${text.length} chars)` };
  }
  if (msg === null || typeof msg !== "object" || Array.isArray(msg)) {
    return { kind: "garbage", reason: "not a JSON object" };
  }
  const channel = msg.channel;
  if (typeof channel !== "string") {
    if (msg.type === "error") {
      const frame: ServerFrame = { kind: "error", message: String(msg.message ?? "") };
      if (typeof msg.reason === "string") frame.reason = msg.reason;
      return frame;
    }
    return { kind: "garbage", reason: "no channel" };
  }
  const env = envelope(msg, channel);
  const events = msg.events;
  if (!Array.isArray(events)) {
    return {
      kind: "garbage",
      reason: `${channel} frame without an events array`,
      sequenceNum: env.sequenceNum,
      timestampMs: env.timestampMs,
    };
  }
  switch (channel) {
    case "market_trades":
      return parseTradeEvents(env, events);
    case "heartbeats":
      return { ...env, kind: "heartbeats", heartbeatCounter: heartbeatCounter(events[0]) };
    case "subscriptions":
      return { ...env, kind: "subscriptions", subscriptions: subscriptionMap(events) };
    case "candles":
      return parseCandleEvents(env, events);
    default:
      return { ...env, kind: "other" };
  }
}

function envelope(msg: Json, channel: string): FrameEnvelope {
  const env: FrameEnvelope = { channel };
  if (typeof msg.client_id === "string") env.clientId = msg.client_id;
  if (typeof msg.timestamp === "string") {
    const ms = parseRfc3339(msg.timestamp);
    if (!Number.isNaN(ms)) env.timestampMs = ms;
  }
  if (Number.isSafeInteger(msg.sequence_num) && msg.sequence_num >= 0) {
    env.sequenceNum = msg.sequence_num;
  }
  return env;
}

/** `heartbeat_counter` is a string in the docs and an integer live (§3.1): accept both. */
function heartbeatCounter(event: Json): number | undefined {
  const c = event?.heartbeat_counter;
  const n = typeof c === "number" ? c : typeof c === "string" && c !== "" ? Number(c) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

function subscriptionMap(events: Json[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of events) {
    const subs = e?.subscriptions;
    if (!subs || typeof subs !== "object") continue;
    for (const [ch, ids] of Object.entries(subs)) {
      if (Array.isArray(ids)) out[ch] = ids.filter((x): x is string => typeof x === "string");
    }
  }
  return out;
}

function parseTradeEvents(env: FrameEnvelope, events: Json[]): ServerFrame {
  const trades: Trade[] = [];
  const rejected: RejectedTrade[] = [];
  let snapshot = false;
  for (const e of events) {
    if (e?.type === "snapshot") snapshot = true;
    const list = e?.trades;
    if (!Array.isArray(list)) {
      rejected.push({ reason: "event without a trades array" });
      continue;
    }
    // Wire order is newest first (§3.2): walk backwards so the common case is already sorted.
    for (let i = list.length - 1; i >= 0; i--) {
      const raw = list[i];
      const t = parseTrade(raw);
      if (typeof t !== "string") {
        trades.push(t);
        continue;
      }
      rejected.push({
        reason: t,
        product_id: typeof raw?.product_id === "string" ? raw.product_id : undefined,
        trade_id: typeof raw?.trade_id === "string" ? raw.trade_id : undefined,
      });
    }
  }
  if (!isSortedOldestFirst(trades)) trades.sort(compareTrades);
  return { ...env, kind: "market_trades", snapshot, trades, rejected };
}

/** Orders trades oldest first: by time, then product, then trade id. */
function compareTrades(a: Trade, b: Trade): number {
  if (a.timeMs !== b.timeMs) return a.timeMs - b.timeMs;
  if (a.product !== b.product) return a.product < b.product ? -1 : 1;
  return a.id - b.id;
}

function isSortedOldestFirst(trades: Trade[]): boolean {
  for (let i = 1; i < trades.length; i++) {
    const a = trades[i - 1]!;
    const b = trades[i]!;
    // Times decide nearly always; only a tie (same millisecond) compares products and ids.
    if (a.timeMs < b.timeMs) continue;
    if (a.timeMs > b.timeMs || compareTrades(a, b) > 0) return false;
  }
  return true;
}

/**
 * The trade validator: a wire trade object (coinbase-protocol.md §3.2, every field a string)
 * parsed into a {@linkcode Trade}, or the reason it would corrupt candles, naming the field and
 * its value. `side` is not needed and not read.
 */
export function parseTrade(raw: Json): Trade | string {
  if (raw === null || typeof raw !== "object") return "trade is not an object";
  const tradeId = raw.trade_id;
  if (typeof tradeId !== "string" || tradeId.length > 15 || !isDigits(tradeId)) {
    return `trade_id ${JSON.stringify(tradeId)} is not a decimal integer`;
  }
  const product = raw.product_id;
  if (typeof product !== "string" || !isProductIdFast(product)) {
    return `product_id ${JSON.stringify(product)} is not a product id`;
  }
  const price = raw.price;
  if (typeof price !== "string" || !isPositiveDecimal(price)) {
    return `price ${JSON.stringify(price)} is not a positive decimal`;
  }
  const sizeText = raw.size;
  if (typeof sizeText !== "string") return `size ${JSON.stringify(sizeText)} is not a string`;
  const size = parseUnits(sizeText);
  if (!(size > 0)) return `size "${sizeText}" is not a positive decimal with at most 8 places`;
  const time = raw.time;
  const timeMs = typeof time === "string" ? parseRfc3339(time) : NaN;
  if (Number.isNaN(timeMs)) return `time ${JSON.stringify(time)} is not an RFC 3339 timestamp`;
  return { product, id: Number(tradeId), price: Number(price), size, timeMs };
}

function parseCandleEvents(env: FrameEnvelope, events: Json[]): ServerFrame {
  const candles: WsCandle[] = [];
  let rejected = 0;
  for (const e of events) {
    const list = e?.candles;
    if (!Array.isArray(list)) continue;
    for (const c of list) {
      const candle = wsCandle(c);
      if (candle) candles.push(candle);
      else rejected++;
    }
  }
  return { ...env, kind: "candles", candles, rejected };
}

function wsCandle(c: Json): WsCandle | undefined {
  if (c === null || typeof c !== "object") return undefined;
  if (typeof c.product_id !== "string" || !isProductIdFast(c.product_id)) return undefined;
  if (typeof c.start !== "string" || !isDigits(c.start)) return undefined;
  const out: WsCandle = {
    product_id: c.product_id,
    start: Number(c.start),
    open: 0,
    high: 0,
    low: 0,
    close: 0,
    volume: 0,
  };
  for (const k of ["open", "high", "low", "close", "volume"] as const) {
    const v = c[k];
    if (
      typeof v !== "string" ||
      !(k === "volume" ? !Number.isNaN(parseUnits(v)) : isPositiveDecimal(v))
    ) {
      return undefined;
    }
    out[k] = Number(v);
  }
  return out;
}
