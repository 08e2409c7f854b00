/**
 * @module
 * The live Kraken trade feed: splits the pairs (market keys, `kraken:BTC-USD`) across
 * WebSocket v2 connections (`symbolsPerConnection`, default 50), opens them at most one per
 * `connectIntervalMs` feed-wide (reconnects too: Kraken's connection limits are unpublished, so
 * connections open gradually), and exposes per-connection status and counters. Trades go out
 * parsed, as Kraken sent them, snapshot replays included: dropping repeated ids is the
 * aggregator's job. Each connection's life is `connection.ts`; frame parsing is `messages.ts`.
 */
import type { Clock } from "../clock.ts";
import { ConnectionSet } from "../exchange/connection_set.ts";
import type { FeedTuning, LiveFeed } from "../exchange/exchange.ts";
import type { FeedHandlers } from "../exchange/feed_types.ts";
import { KrakenConnection } from "./connection.ts";

/** Kraken's public WebSocket v2 endpoint. */
export const KRAKEN_WS_URL = "wss://ws.kraken.com/v2";

/** Options for {@linkcode KrakenFeed}; intervals are real milliseconds. */
export interface KrakenFeedOptions extends FeedTuning {
  /** Kraken's v2 endpoint (or the simulator's `wsUrl`). */
  url: string;
  /** Market keys (`kraken:BTC-USD`). */
  products: string[];
  /** Epoch-ms clock for `receivedAt`, `connectedSince` and gap windows. */
  clock: Clock;
  handlers: FeedHandlers;
  /** @default 50 */
  symbolsPerConnection?: number;
  /** Minimum time between two socket opens, feed-wide. @default 1000 */
  connectIntervalMs?: number;
  /** A socket with no frame at all (heartbeats come every second) this long is stale. @default 10000 */
  staleAfterMs?: number;
  /** Reconnect backoff (full jitter). @default {initialMs: 1000, maxMs: 60000} */
  backoff?: { initialMs: number; maxMs: number };
  /** Subtracted from every gap's start (clock skew, trades in flight). @default 1000 */
  gapMarginMs?: number;
  /** Jitter source. @default Math.random */
  random?: () => number;
  /** Waits `ms` or until `signal` aborts (must resolve, not reject, on abort). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** An acknowledged pair without a trade this long is resubscribed. @default 300000 (5 min) */
  symbolSilenceMs?: number;
  /** Ping after this long without sending anything. @default 10000 */
  pingIntervalMs?: number;
  /** Symbols per subscribe message. @default 10 */
  subscribeBatchSize?: number;
  /** Acks (and snapshots) not in this long: the socket is given up and reopened. @default 15000 */
  ackTimeoutMs?: number;
}

/**
 * Streams the parsed trades of many Kraken pairs.
 *
 * @example
 * ```ts ignore
 * const feed = new KrakenFeed({
 *   url: KRAKEN_WS_URL,
 *   products: ["kraken:BTC-USD"],
 *   clock: systemClock,
 *   handlers: { onTrades: (trades) => trades.forEach((t) => aggregator.add(t)) },
 * });
 * feed.start();
 * await feed.stop();
 * ```
 */
export class KrakenFeed extends ConnectionSet<KrakenConnection> implements LiveFeed {
  constructor(options: KrakenFeedOptions) {
    const per = options.symbolsPerConnection ?? 50;
    if (!(Number.isInteger(per) && per > 0)) {
      throw new RangeError(`symbolsPerConnection must be a positive integer, got ${per}`);
    }
    const batch = options.subscribeBatchSize ?? 10;
    if (!(Number.isInteger(batch) && batch > 0)) {
      throw new RangeError(`subscribeBatchSize must be a positive integer, got ${batch}`);
    }
    const products = [...new Set(options.products)];
    const gapMarginMs = options.gapMarginMs ?? 1000;
    super({
      connectIntervalMs: options.connectIntervalMs ?? 1000,
      sleep: options.sleep,
      handlers: options.handlers,
      gapMarginMs,
    });
    for (let i = 0; i * per < products.length; i++) {
      this.connections.push(
        new KrakenConnection({
          id: `kraken-ws-${i}`,
          url: options.url,
          products: products.slice(i * per, (i + 1) * per),
          clock: options.clock,
          staleAfterMs: options.staleAfterMs ?? 10_000,
          pingIntervalMs: options.pingIntervalMs ?? 10_000,
          symbolSilenceMs: options.symbolSilenceMs ?? 300_000,
          batchSize: batch,
          ackTimeoutMs: options.ackTimeoutMs ?? 15_000,
          backoff: options.backoff ?? { initialMs: 1000, maxMs: 60_000 },
          gapMarginMs,
          random: options.random ?? Math.random,
          sleep: this.sleep,
          gate: this.gate,
          stats: this.stats,
          handlers: this.handlers,
        }),
      );
    }
  }
}
