/**
 * @module
 * A Server-Sent Events response fed by the service's candle updates (the hub behind the view): the current live candles first, then every
 * matching update, with a heartbeat comment every 15 s. Each client has a bounded buffer; a
 * client that does not read (its buffer full) is dropped instead of buffered without bound.
 *
 * The wire shape of an update ({@linkcode candleEvent}) names the product by its stored id and
 * its exchange (`"product_id":"BTC-USD","exchange":"kraken"`); the `products=` filter of
 * `/api/stream` takes market keys (`kraken:BTC-USD`) or bare ids, which `exchange=` qualifies
 * (default Coinbase): {@linkcode streamProducts}.
 */
import type { CandleUpdate } from "../lib/candles/candle.ts";
import { type ExchangeId, requestedKey, splitMarketKey } from "../lib/exchange/market.ts";
import type { CandleSource, HubFilter } from "../lib/service/view.ts";
import { getLogger } from "../lib/log.ts";
import { BadRequest } from "./errors.ts";

const log = getLogger(["spot", "sse"]);

/** Events buffered per client before it is dropped. */
export const SSE_BUFFER_EVENTS = 10_000;
const HEARTBEAT_MS = 15_000;

/** The `data:` text of one update's event (one line of JSON). */
export type EventData = (u: CandleUpdate) => string;

/** The wire shape of one candle update (SSE `candle` events). */
export interface CandleEvent {
  /** The stored id (`BTC-USD`), without the exchange. */
  product_id: string;
  exchange: ExchangeId;
  granularity: string;
  start: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  complete: boolean;
}

/** One update as its event object (what {@linkcode candleEventData} serialises). */
export function candleEvent(u: CandleUpdate): CandleEvent {
  const { exchange, product } = splitMarketKey(u.product);
  const c = u.candle;
  return {
    product_id: product,
    exchange,
    granularity: u.granularity,
    start: c.start,
    open: c.open,
    high: c.high,
    low: c.low,
    close: c.close,
    volume: c.volume,
    complete: u.complete,
  };
}

/** `{"product_id":…,"exchange":…,"granularity":…,"start":` of a market key and granularity. */
const eventPrefixes = new Map<string, Map<string, string>>();

function eventPrefix(key: string, granularity: string): string {
  let byGranularity = eventPrefixes.get(key);
  if (!byGranularity) eventPrefixes.set(key, byGranularity = new Map());
  let prefix = byGranularity.get(granularity);
  if (prefix === undefined) {
    const { exchange, product } = splitMarketKey(key);
    prefix = `{"product_id":${JSON.stringify(product)},"exchange":"${exchange}",` +
      `"granularity":${JSON.stringify(granularity)},"start":`;
    byGranularity.set(granularity, prefix);
  }
  return prefix;
}

/** A finite number as JSON writes it (candle values always are; anything else is `null`). */
const num = (n: number): string => Number.isFinite(n) ? `${n}` : "null";

/**
 * `JSON.stringify(candleEvent(u))`, written directly: the product's part of the text is made
 * once per product and granularity, and no event object is built (one event per update per
 * distinct filter, every frame).
 */
export function candleEventData(u: CandleUpdate): string {
  const c = u.candle;
  return `${eventPrefix(u.product, u.granularity)}${num(c.start)},"open":${num(c.open)},"high":${
    num(c.high)
  },"low":${num(c.low)},"close":${num(c.close)},"volume":${num(c.volume)},"complete":${
    u.complete ? "true" : "false"
  }}`;
}

/**
 * The market keys of a `products=` list: `kraken:BTC-USD` as given (the exchange in any case),
 * a bare id on `exchange` (`exchange=`, default Coinbase); ids are upper-cased. Bad input is a
 * {@linkcode BadRequest} naming the parameter.
 */
export function streamProducts(raw: string, exchange?: string): Set<string> {
  const keys = new Set<string>();
  for (const item of raw.split(",")) {
    const s = item.trim();
    if (!s) continue;
    let key: string;
    try {
      key = requestedKey(s, exchange);
    } catch (e) {
      throw new BadRequest(`products: ${(e as Error).message}`);
    }
    if (key.endsWith(":")) throw new BadRequest(`products "${s}" names no product`);
    keys.add(key);
  }
  return keys;
}

/**
 * Each batch the hub hands to a group of clients with equal filters is serialised and encoded
 * once per wire shape: the other clients of the group enqueue the same bytes. (An update that
 * goes to two groups is serialised once per group: a per-update cache costs the garbage
 * collector more than the few distinct filters cost.)
 */
const encodedBatches = new WeakMap<EventData, WeakMap<CandleUpdate[], Uint8Array>>();
/** Events in each encoded chunk (a client's buffer is bounded in events, not chunks). */
const chunkEvents = new WeakMap<Uint8Array, number>();
const encoder = new TextEncoder();

function batchBytes(updates: CandleUpdate[], data: EventData): Uint8Array {
  let cache = encodedBatches.get(data);
  if (!cache) encodedBatches.set(data, cache = new WeakMap());
  let bytes = cache.get(updates);
  if (bytes === undefined) {
    let text = "";
    for (const u of updates) text += `event: candle\ndata: ${data(u)}\n\n`;
    bytes = encoder.encode(text);
    cache.set(updates, bytes);
    chunkEvents.set(bytes, updates.length);
  }
  return bytes;
}

/** Streams updates matching `filter` until the client goes away or the service stops. */
export function sseResponse(
  source: CandleSource,
  filter: HubFilter,
  data: EventData = candleEventData,
  bufferEvents = SSE_BUFFER_EVENTS,
): Response {
  let cleanup = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let closed = false;
      const close = (reason?: string) => {
        if (closed) return;
        closed = true;
        cleanup();
        if (reason) log.warn("Dropped an SSE client: {reason}", { reason });
        try {
          controller.close();
        } catch { /* already closed by the client */ }
      };
      const send = (updates: CandleUpdate[]) => {
        if (closed) return;
        if ((controller.desiredSize ?? 0) <= 0) {
          return close(`buffer of ${bufferEvents} events full (slow client)`);
        }
        // Shared bytes: the stream only reads them.
        controller.enqueue(batchBytes(updates, data));
      };
      const unsubscribe = source.subscribe(filter, send, () => close());
      const heartbeat = setInterval(() => {
        if (!closed) controller.enqueue(encoder.encode(`: ping\n\n`));
      }, HEARTBEAT_MS);
      // A client that goes away cancels the stream (below); no request signal needed.
      cleanup = () => {
        unsubscribe();
        clearInterval(heartbeat);
      };
      controller.enqueue(encoder.encode(`retry: 2000\n\n`));
      send(source.live(filter));
    },
    cancel() {
      cleanup();
    },
  }, { highWaterMark: bufferEvents, size: (chunk) => chunkEvents.get(chunk) ?? 1 });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    },
  });
}
