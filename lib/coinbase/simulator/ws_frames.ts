/**
 * @module
 * Event payloads the WebSocket simulator sends: trade objects as Coinbase writes them
 * (all-string fields, maker `side`, coinbase-protocol.md §3.2, in the recorded field order),
 * 5-minute cumulative candles (§3.3: a subscribe's snapshot holds the latest 100 non-empty
 * buckets, oldest first, ending with the open one, as recorded on 2026-08-09; updates carry the
 * open bucket), and a catalogue of garbage frames for the fault injector.
 */
import type { Candle } from "../../candles/candle.ts";
import { addUnits, parseUnits, type Units, unitsToNumber } from "../../candles/decimal.ts";
import { type Market, type SimTrade, trimDecimal } from "../../simulator/market.ts";
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
const FIVE_MINUTE_SECONDS = FIVE.seconds;

/**
 * The open 5-minute candle of a product as the `candles` channel states it at `nowMs`: the bucket
 * of `nowMs`, folded from its trades up to `nowMs - lagMs` only (Coinbase's recorded candles
 * trail the trades they cover by 2–18 s); undefined when none of its trades is that old yet.
 */
export function openCandle(
  market: Market,
  product: string,
  nowMs: number,
  lagMs: number,
): Candle | undefined {
  const start = Math.floor(nowMs / 1000 / FIVE_MINUTE_SECONDS) * FIVE_MINUTE_SECONDS;
  if (lagMs <= 0) return market.candles(product, FIVE, start, start)[0];
  const trades = market.trades(product, start * 1000, nowMs - lagMs + 1);
  if (trades.length === 0) return undefined;
  const c: Candle = { start, open: 0, high: -Infinity, low: Infinity, close: 0, volume: 0 };
  let volume: Units = 0;
  for (const [i, t] of trades.entries()) {
    const price = Number(t.price);
    if (i === 0) c.open = price;
    if (price > c.high) c.high = price;
    if (price < c.low) c.low = price;
    c.close = price;
    volume = addUnits(volume, parseUnits(t.size));
  }
  c.volume = unitsToNumber(volume);
  return c;
}

/**
 * The `events` array text for the open 5-minute bucket of each product that has a candle
 * ({@linkcode openCandle}), or undefined when none has.
 */
export function candleEvents(
  market: Market,
  products: Iterable<string>,
  nowMs: number,
  type: "snapshot" | "update",
  lagMs = 0,
): string | undefined {
  const items: string[] = [];
  for (const p of products) {
    const c = openCandle(market, p, nowMs, lagMs);
    if (c) items.push(candleJson(c, p));
  }
  return items.length ? `[{"type":"${type}","candles":[${items.join(",")}]}]` : undefined;
}

/**
 * The `events` text of one product's `candles` snapshot: its latest
 * {@linkcode CANDLE_SNAPSHOT_SIZE} non-empty 5-minute buckets within the last day, oldest
 * first, the open one (as {@linkcode openCandle} states it) last; undefined when it has none.
 */
export function candleSnapshotEvents(
  market: Market,
  product: string,
  nowMs: number,
  lagMs = 0,
): string | undefined {
  const start = Math.floor(nowMs / 1000 / FIVE_MINUTE_SECONDS) * FIVE_MINUTE_SECONDS;
  const list = market.candles(product, FIVE, start - 86_400, start - FIVE_MINUTE_SECONDS);
  const open = openCandle(market, product, nowMs, lagMs);
  if (open) list.push(open);
  if (list.length === 0) return undefined;
  const items = list.slice(-CANDLE_SNAPSHOT_SIZE).map((c) => candleJson(c, product));
  return `[{"type":"snapshot","candles":[${items.join(",")}]}]`;
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
