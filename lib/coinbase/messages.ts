/**
 * @module
 * Coinbase Advanced Trade WebSocket frames: the wire shapes and their validation
 * (coinbase-protocol.md §2.3–3.3). {@linkcode parseFrame} turns one frame's text into a typed
 * {@linkcode ServerFrame} with one `JSON.parse` and never throws. It is lenient where Coinbase is
 * inconsistent (`client_id` absent, `heartbeat_counter` as string or number, fraction widths)
 * and strict where bad data would corrupt candles: a trade with a bad id, product, price, size
 * or time is returned in `rejected`, never in `trades`. Sockets, logging and dedupe live in
 * `connection.ts`.
 */
import type { Candle, Trade } from "../candles/candle.ts";
import { parseUnits } from "../candles/decimal.ts";
import {
  isDigits,
  isPositiveDecimal,
  isPositiveUnits,
  isProductIdFast,
  parseRfc3339,
} from "./wire_values.ts";

export { parseRfc3339 };

/** A validated trade with its parsed time and id (still all-string on the {@linkcode Trade} fields). */
export interface WireTrade extends Trade {
  /** Maker side; see coinbase-protocol.md §3.2 (`BUY` means a resting bid was hit). */
  side: string;
  /** `time` as epoch milliseconds (with a fraction for sub-millisecond digits). */
  timeMs: number;
  /** `trade_id` as an integer (ids fit in 2^53). */
  id: number;
}

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
    /** Valid trades, oldest first (the wire has them newest first). */
    trades: WireTrade[];
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
 */
export function parseFrame(text: string): ServerFrame {
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
  const trades: WireTrade[] = [];
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
      const timeMs = typeof raw?.time === "string" ? parseRfc3339(raw.time) : NaN;
      const problem = tradeProblem(raw, timeMs);
      if (problem) {
        rejected.push({
          reason: problem,
          product_id: typeof raw?.product_id === "string" ? raw.product_id : undefined,
          trade_id: typeof raw?.trade_id === "string" ? raw.trade_id : undefined,
        });
        continue;
      }
      trades.push({
        product_id: raw.product_id,
        trade_id: raw.trade_id,
        price: raw.price,
        size: raw.size,
        side: typeof raw.side === "string" ? raw.side : "",
        time: raw.time,
        timeMs,
        id: Number(raw.trade_id),
      });
    }
  }
  if (!isSortedOldestFirst(trades)) trades.sort(compareTrades);
  return { ...env, kind: "market_trades", snapshot, trades, rejected };
}

/** Orders trades oldest first: by time, then product, then trade id. */
export function compareTrades(a: WireTrade, b: WireTrade): number {
  if (a.timeMs !== b.timeMs) return a.timeMs - b.timeMs;
  if (a.product_id !== b.product_id) return a.product_id < b.product_id ? -1 : 1;
  return a.id - b.id;
}

function isSortedOldestFirst(trades: WireTrade[]): boolean {
  for (let i = 1; i < trades.length; i++) {
    if (compareTrades(trades[i - 1]!, trades[i]!) > 0) return false;
  }
  return true;
}

/**
 * Why a raw trade object is unusable for candles, or undefined when it is valid. `timeMs` is
 * `parseRfc3339(t.time)` when the caller already has it.
 */
export function tradeProblem(t: Json, timeMs?: number): string | undefined {
  if (t === null || typeof t !== "object") return "trade is not an object";
  if (typeof t.trade_id !== "string" || !isDigits(t.trade_id) || t.trade_id.length > 15) {
    return `trade_id ${JSON.stringify(t.trade_id)} is not a decimal integer`;
  }
  if (typeof t.product_id !== "string" || !isProductIdFast(t.product_id)) {
    return `product_id ${JSON.stringify(t.product_id)} is not a product id`;
  }
  if (typeof t.price !== "string" || !isPositiveDecimal(t.price)) {
    return `price ${JSON.stringify(t.price)} is not a positive decimal`;
  }
  if (typeof t.size !== "string") return `size ${JSON.stringify(t.size)} is not a string`;
  if (!isPositiveUnits(t.size)) {
    return `size "${t.size}" is not a positive decimal with at most 8 places`;
  }
  if (typeof t.time !== "string" || Number.isNaN(timeMs ?? parseRfc3339(t.time))) {
    return `time ${JSON.stringify(t.time)} is not an RFC 3339 timestamp`;
  }
  return undefined;
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
