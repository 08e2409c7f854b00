/**
 * @module
 * The live trade feed: splits the products across Coinbase WebSocket connections
 * (`productsPerConnection`, default 20), opens them at most one per `connectIntervalMs`
 * (reconnects too, coinbase-protocol.md §4), and exposes per-connection status and counters.
 * Trades go out parsed, as Coinbase sent them, replays included: dropping repeated ids is the
 * aggregator's job. Each connection's life is `connection.ts`; frame parsing is `messages.ts`.
 */
import { type Clock, systemClock } from "../clock.ts";
import { ConnectionSet } from "../exchange/connection_set.ts";
import type { LiveFeed } from "../exchange/exchange.ts";
import type { FeedHandlers } from "../exchange/feed_types.ts";
import { type CdpKey, createJwtSigner, type JwtSigner } from "./auth.ts";
import { Connection } from "./connection.ts";

/** Options for {@linkcode Feed}. */
export interface FeedOptions {
  /** Coinbase market-data endpoint (or the simulator's `wsUrl`). */
  url: string;
  products: string[];
  /** @default 20 */
  productsPerConnection?: number;
  /** CDP key: subscribe messages then carry a fresh JWT each. A ready signer is accepted too. */
  key?: CdpKey | JwtSigner;
  /** Epoch-ms clock for `receivedAt` and `connectedSince`. @default systemClock */
  clock?: Clock;
  /**
   * Minimum real time between two socket opens. @default 500: two opens a second, four subscribe
   * frames (trades + heartbeats each), half of Coinbase's 8/s per IP for both (protocol §4), so
   * a 1,000-product shard (50 connections) is subscribed in 25 s.
   */
  connectIntervalMs?: number;
  /** A socket silent this long (real ms) is declared stale and reconnected. @default 5000 */
  staleAfterMs?: number;
  /** Reconnect backoff: `initialMs · 2^n`, capped at `maxMs`, with equal jitter. @default {initialMs: 500, maxMs: 30000} */
  backoff?: { initialMs: number; maxMs: number };
  /**
   * Subtracted from every gap's start: a frame may carry trades older than the frame before it
   * (Coinbase batches each product's trades, 100 ms recorded, 250 ms documented). @default 1000
   */
  gapMarginMs?: number;
  /** Jitter source. @default Math.random */
  random?: () => number;
  /** Waits `ms` or until `signal` aborts (must resolve, not reject, on abort). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  handlers: FeedHandlers;
}

/**
 * Streams the validated, parsed trades of many products.
 *
 * @example
 * ```ts ignore
 * const feed = new Feed({ url: COINBASE_WS_URL, products: ["BTC-USD"], handlers: {
 *   onTrades: (trades) => { for (const t of trades) aggregator.add(t); },
 *   onGap: (gap) => repair(gap.products, gap.fromMs, gap.toMs),
 * } });
 * feed.start();
 * await feed.stop();
 * ```
 */
export class Feed extends ConnectionSet<Connection> implements LiveFeed {
  constructor(options: FeedOptions) {
    const per = options.productsPerConnection ?? 20;
    if (!(Number.isInteger(per) && per > 0)) {
      throw new RangeError(`productsPerConnection must be a positive integer, got ${per}`);
    }
    const products = [...new Set(options.products)];
    const gapMarginMs = options.gapMarginMs ?? 1000;
    super({
      connectIntervalMs: options.connectIntervalMs ?? 500,
      sleep: options.sleep,
      handlers: options.handlers,
      gapMarginMs,
    });
    const signer = options.key === undefined
      ? undefined
      : "forWebSocket" in options.key
      ? options.key
      : createJwtSigner(options.key, { clock: systemClock });
    for (let i = 0; i * per < products.length; i++) {
      this.connections.push(
        new Connection({
          id: `ws-${i}`,
          url: options.url,
          products: products.slice(i * per, (i + 1) * per),
          signer,
          clock: options.clock ?? systemClock,
          staleAfterMs: options.staleAfterMs ?? 5000,
          backoff: options.backoff ?? { initialMs: 500, maxMs: 30_000 },
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
