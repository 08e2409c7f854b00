/**
 * @module
 * A Server-Sent Events response fed by the service's candle updates (the hub behind the view): the current live candles first, then every
 * matching update, with a heartbeat comment every 15 s. Each client has a bounded buffer; a
 * client that does not read (its buffer full) is dropped instead of buffered without bound.
 */
import type { CandleUpdate } from "../lib/candles/candle.ts";
import type { CandleSource, HubFilter } from "../lib/service/view.ts";
import { getLogger } from "../lib/log.ts";

const log = getLogger(["spot", "sse"]);

/** Events buffered per client before it is dropped. */
export const SSE_BUFFER_EVENTS = 10_000;
const HEARTBEAT_MS = 15_000;

type ToJson = (u: CandleUpdate) => unknown;

/**
 * Each batch the hub hands to a group of clients with equal filters is serialised and encoded
 * once per wire shape: the other clients of the group enqueue the same bytes. (An update that
 * goes to two groups is serialised once per group: a per-update cache costs the garbage
 * collector more than the few distinct filters cost.)
 */
const encodedBatches = new WeakMap<ToJson, WeakMap<CandleUpdate[], Uint8Array>>();
const encoder = new TextEncoder();

function batchBytes(updates: CandleUpdate[], toJson: ToJson): Uint8Array {
  let cache = encodedBatches.get(toJson);
  if (!cache) encodedBatches.set(toJson, cache = new WeakMap());
  let bytes = cache.get(updates);
  if (bytes === undefined) {
    let text = "";
    for (const u of updates) text += `event: candle\ndata: ${JSON.stringify(toJson(u))}\n\n`;
    bytes = encoder.encode(text);
    cache.set(updates, bytes);
  }
  return bytes;
}

/** Streams updates matching `filter` until the client goes away or the service stops. */
export function sseResponse(
  source: CandleSource,
  filter: HubFilter,
  toJson: ToJson,
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
        controller.enqueue(batchBytes(updates, toJson));
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
  }, { highWaterMark: bufferEvents, size: () => 1 });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    },
  });
}
