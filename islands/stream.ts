/**
 * @module
 * Client-side live data for the islands: {@linkcode useCandleStream} keeps an `EventSource` on
 * `/api/stream` open across drops (the browser retries network errors itself; after a refusal
 * such as a 503 during a restart it gives up, so we reopen with backoff), and
 * {@linkcode usePoll} fetches a JSON URL on an interval. Both report their state so a page can
 * show that it is reconnecting.
 */
import type { Candle } from "../lib/candles/candle.ts";
import { useEffect, useRef, useState } from "preact/hooks";
import { isExchangeId, marketKey } from "../lib/exchange/market.ts";

/** One `event: candle` of `/api/stream`. */
export interface CandleEvent extends Candle {
  /** The market key (`BTC-USD`, `kraken:BTC-USD`) once read by {@linkcode readCandleEvent}. */
  product_id: string;
  /** The product's exchange, as the stream sends it (absent from older servers: Coinbase). */
  exchange?: string;
  granularity: string;
  complete: boolean;
}

/**
 * Reads one `candle` event: the stream sends the stored id and the exchange; the islands key
 * rows by market key, as the server does.
 */
export function readCandleEvent(data: string): CandleEvent {
  const e = JSON.parse(data) as CandleEvent;
  if (e.exchange && isExchangeId(e.exchange)) e.product_id = marketKey(e.exchange, e.product_id);
  return e;
}

/** State of a live connection, as shown on the page. */
export type LinkState = "connecting" | "live" | "reconnecting" | "unauthorized";

/**
 * Subscribes to candle events of `products` at `granularity` while mounted (and re-subscribes
 * when they change). `onOpen` runs on every (re)connection, e.g. to refetch what was missed.
 */
export function useCandleStream(
  products: string[],
  granularity: string,
  onCandle: (e: CandleEvent) => void,
  onOpen?: (reconnected: boolean) => void,
): LinkState {
  const [state, setState] = useState<LinkState>("connecting");
  const handlers = useRef({ onCandle, onOpen });
  handlers.current = { onCandle, onOpen };
  const key = products.join(",");

  useEffect(() => {
    if (!key) return;
    const url = `/api/stream?products=${encodeURIComponent(key)}&granularities=${granularity}`;
    let source: EventSource | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let opened = false;
    let stopped = false;
    const open = () => {
      setState(opened ? "reconnecting" : "connecting");
      const es = source = new EventSource(url);
      es.onopen = () => {
        failures = 0;
        setState("live");
        handlers.current.onOpen?.(opened);
        opened = true;
      };
      es.addEventListener("candle", (e) => {
        handlers.current.onCandle(readCandleEvent((e as MessageEvent<string>).data));
      });
      es.onerror = () => {
        if (stopped) return;
        setState("reconnecting");
        if (es.readyState !== EventSource.CLOSED) return; // the browser retries by itself
        es.close();
        const delay = Math.min(30_000, 1000 * 2 ** Math.min(failures++, 5));
        retry = setTimeout(async () => {
          // A refused stream may mean the session ended: say so instead of retrying forever.
          const probe = await fetch("/api/products").catch(() => undefined);
          if (probe?.status === 401) return setState("unauthorized");
          if (!stopped) open();
        }, delay);
      };
    };
    open();
    return () => {
      stopped = true;
      clearTimeout(retry);
      source?.close();
    };
  }, [key, granularity]);
  return state;
}

/** Result of {@linkcode usePoll}. */
export interface Polled<T> {
  data: T;
  state: LinkState;
  /** `Date.now()` of the last successful fetch. */
  updatedAt: number;
}

/** Fetches `url` every `intervalMs` while mounted, starting from `initial`. */
export function usePoll<T>(url: string, intervalMs: number, initial: T): Polled<T> {
  const [polled, setPolled] = useState<Polled<T>>({
    data: initial,
    state: "live",
    updatedAt: Date.now(),
  });
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const tick = async () => {
      try {
        const res = await fetch(url, { headers: { accept: "application/json" } });
        if (res.status === 401) {
          setPolled((p) => ({ ...p, state: "unauthorized" }));
        } else if (!res.ok) {
          await res.body?.cancel();
          setPolled((p) => ({ ...p, state: "reconnecting" }));
        } else {
          const data = await res.json() as T;
          setPolled({ data, state: "live", updatedAt: Date.now() });
        }
      } catch {
        setPolled((p) => ({ ...p, state: "reconnecting" }));
      }
      if (!stopped) timer = setTimeout(tick, intervalMs);
    };
    timer = setTimeout(tick, intervalMs);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [url, intervalMs]);
  return polled;
}

/** Re-renders the calling component every `ms` (for ages that grow between updates). */
export function useTicker(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
