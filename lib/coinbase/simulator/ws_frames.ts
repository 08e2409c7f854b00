/**
 * @module
 * Event payloads the WebSocket simulator sends: trade objects as Coinbase writes them
 * (all-string fields, maker `side`, coinbase-protocol.md §3.2), 5-minute cumulative candles
 * (§3.3), and a catalogue of garbage frames for the fault injector.
 */
import type { Market, SimTrade } from "./market.ts";
import { granularityById } from "../../candles/granularity.ts";

/** One trade as a JSON object text with the wire's field order. */
export function tradeJson(t: SimTrade): string {
  return `{"trade_id":"${t.trade_id}","product_id":"${t.product_id}","price":"${t.price}",` +
    `"size":"${t.size}","side":"${t.side}","time":"${t.time}"}`;
}

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
    if (!c) continue;
    items.push(
      `{"start":"${c.start}","high":"${c.high}","low":"${c.low}","open":"${c.open}",` +
        `"close":"${c.close}","volume":"${c.volume.toFixed(8)}","product_id":"${p}"}`,
    );
  }
  return items.length ? `[{"type":"${type}","candles":[${items.join(",")}]}]` : undefined;
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
