/**
 * @module
 * Event payloads the WebSocket simulator sends: trade objects as Coinbase writes them
 * (all-string fields, maker `side`, coinbase-protocol.md §3.2, in the recorded field order),
 * 5-minute cumulative candles (§3.3: a subscribe's snapshot holds the latest 100 non-empty
 * buckets, oldest first, ending with the open one, as recorded on 2026-08-09; updates carry the
 * open bucket), and a catalogue of garbage frames for the fault injector.
 */
import type { Candle } from "../../candles/candle.ts";
import { type Market, type SimTrade, trimDecimal } from "./market.ts";
import { granularityById } from "../../candles/granularity.ts";

/** One trade as a JSON object text with the wire's field order (as recorded). */
export function tradeJson(t: SimTrade): string {
  return `{"product_id":"${t.product_id}","trade_id":"${t.trade_id}","price":"${t.price}",` +
    `"size":"${t.size}","time":"${t.time}","side":"${t.side}"}`;
}

function candleJson(c: Candle, product: string): string {
  return `{"start":"${c.start}","high":"${c.high}","low":"${c.low}","open":"${c.open}",` +
    `"close":"${c.close}","volume":"${
      trimDecimal(c.volume.toFixed(8))
    }","product_id":"${product}"}`;
}

/** Buckets in a `candles` snapshot (empty buckets are absent, not counted). */
export const CANDLE_SNAPSHOT_SIZE = 100;

const FIVE = granularityById("FIVE_MINUTE");
const FIVE_MINUTES_SECONDS = FIVE.seconds;

/**
 * The `events` array text for the current 5-minute bucket of each product that has traded in
 * it, or undefined when none has.
 */
export function candleEvents(
  market: Market,
  products: Iterable<string>,
  nowMs: number,
  type: "snapshot" | "update",
): string | undefined {
  const start = Math.floor(nowMs / 1000 / FIVE_MINUTES_SECONDS) * FIVE_MINUTES_SECONDS;
  const items: string[] = [];
  for (const p of products) {
    const c = market.candles(p, FIVE, start, start)[0];
    if (c) items.push(candleJson(c, p));
  }
  return items.length ? `[{"type":"${type}","candles":[${items.join(",")}]}]` : undefined;
}

/**
 * The `events` text of one product's `candles` snapshot: its latest
 * {@linkcode CANDLE_SNAPSHOT_SIZE} non-empty 5-minute buckets within the last day, oldest
 * first, the open one last; undefined when it has none.
 */
export function candleSnapshotEvents(
  market: Market,
  product: string,
  nowMs: number,
): string | undefined {
  const start = Math.floor(nowMs / 1000 / FIVE_MINUTES_SECONDS) * FIVE_MINUTES_SECONDS;
  const list = market.candles(product, FIVE, start - 86_400, start).slice(-CANDLE_SNAPSHOT_SIZE);
  if (list.length === 0) return undefined;
  return `[{"type":"snapshot","candles":[${list.map((c) => candleJson(c, product)).join(",")}]}]`;
}

/** A garbage frame: raw text, or a channel frame (with a sequence number) carrying bad data. */
export interface GarbageFrame {
  raw?: string;
  channel?: string;
  events?: string;
}

/** The garbage the fault injector cycles through. */
export const GARBAGE: readonly GarbageFrame[] = [
  { raw: "not json at all" },
  { raw: '{"channel":"market_trades","events":[{"type":"update","trades":[' },
  { raw: "[1,2,3]" },
  { raw: "null" },
  {
    channel: "market_trades",
    events: '[{"type":"update","trades":[' +
      '{"trade_id":"1","product_id":"BTC-USD","price":"abc","size":"1","side":"BUY","time":"2026-03-14T15:09:28Z"},' +
      '{"trade_id":"2","product_id":"BTC-USD","price":"1","size":"","side":"BUY","time":"2026-03-14T15:09:28Z"},' +
      '{"trade_id":"3","product_id":"BTC-USD","price":"1","size":"1","side":"BUY","time":"yesterday"},' +
      '{"trade_id":"x4","product_id":"BTC-USD","price":"1","size":"1","side":"BUY","time":"2026-03-14T15:09:28Z"},' +
      '{"trade_id":"5","product_id":"btc usd","price":"1","size":"1","side":"BUY","time":"2026-03-14T15:09:28Z"},' +
      '{"trade_id":"6","product_id":"BTC-USD","price":"1","size":"-1","side":"BUY","time":"2026-03-14T15:09:28Z"}]}]',
  },
  { channel: "market_trades", events: '{"not":"an array"}' },
  { channel: "heartbeats", events: '[{"heartbeat_counter":{"nested":true}}]' },
];
