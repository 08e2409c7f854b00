/**
 * @module
 * The seam between an exchange and the pipeline. An {@linkcode Exchange} turns the exchange's
 * wire (WebSocket frames, REST pages) into what the exchange-agnostic parts take: parsed
 * {@linkcode Trade}s keyed by market key (`market.ts`), exact 1-minute (and coarser) candles
 * over a window, product rows, and errors that say whether a retry can help
 * ({@linkcode RestError}). `lib/coinbase/` and `lib/kraken/` implement it; `lib/history/` and
 * `lib/service/` see only this file's types.
 */
import type { Candle } from "../candles/candle.ts";
import type { Granularity } from "../candles/granularity.ts";
import type { Clock } from "../clock.ts";
import type { ConnectionStatus, FeedHandlers, FeedStats } from "./feed_types.ts";
import type { ExchangeId } from "./market.ts";
import type { Product } from "./product.ts";

/** Requests, retries and rate-limit answers of one exchange's REST client since it was made. */
export interface RestStats {
  /** HTTP requests sent (retries included). */
  requests: number;
  /** Requests repeated after a 429, 5xx, network error or 401. */
  retries: number;
  /** Rate-limit answers received (429, Kraken's `EAPI:Rate limit exceeded`). */
  rateLimited: number;
  /**
   * Cuts of the client's pacing those answers caused (`RateLimiter.throttled`: one per episode,
   * not one per answer); absent where a client does not adapt its rate (or in a sum).
   */
  rateCuts?: number;
  /**
   * Requests per second the client paces at now: its `ratePerSecond`, less after a cut until it
   * has recovered; absent where a client does not adapt its rate (or in a sum).
   */
  effectiveRatePerSecond?: number;
}

/** Options of one REST call. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Options for {@linkcode MarketRest.products}. */
export interface ProductsQuery extends CallOptions {
  /** Keep only these quote currencies (`USD`, `USDC`). */
  quoteCurrencies?: string[];
  /** @default "SPOT" */
  productType?: "SPOT" | "FUTURE";
  /** Ask only for these market keys (unknown ones are simply absent). */
  productIds?: string[];
  /** Page size, where the exchange pages. */
  pageSize?: number;
}

/**
 * What history (seeding, catch-up, repair, backfill, the catalogue) needs of an exchange's REST
 * API. Products are market keys. Candles are exact: Coinbase's are its own candles, Kraken's
 * are computed from its REST trades (its OHLC is capped and differs between calls).
 */
export interface MarketRest {
  readonly stats: RestStats;
  /** Requests per second the client allows itself. */
  readonly ratePerSecond: number;
  /** Every product of the exchange (filtered as `query` says), with market keys as ids. */
  products(query?: ProductsQuery): Promise<Product[]>;
  /**
   * Candles of buckets starting in `[startSec, endSec]` (inclusive), oldest first, empty
   * buckets absent; the newest may still be in progress.
   */
  candles(
    product: string,
    granularity: Granularity,
    startSec: number,
    endSec: number,
    options?: CallOptions,
  ): Promise<Candle[]>;
  /** One request's worth of {@linkcode candles} (at most {@linkcode Exchange.maxCandlesPerPage}). */
  candlePage(
    product: string,
    granularity: Granularity,
    startSec: number,
    endSec: number,
    options?: CallOptions,
  ): Promise<Candle[]>;
}

/** The live side of an exchange: its connections and their counters. */
export interface LiveFeed {
  /** Counters over every connection. */
  readonly stats: FeedStats;
  /** Opens the connections (paced; returns at once). */
  start(): void;
  /** Closes every connection; resolves when all sockets and timers are gone. */
  stop(): Promise<void>;
  /** Status of every connection, in id order (ids carry the exchange: `kraken-ws-0`). */
  status(): ConnectionStatus[];
}

/** What {@linkcode Exchange.createFeed} takes. */
export interface LiveFeedOptions {
  /** Market keys to stream. */
  products: string[];
  clock: Clock;
  handlers: FeedHandlers;
  /** Overrides of the exchange's own feed settings (tests shorten intervals). */
  tuning?: FeedTuning;
}

/** Feed settings tests and the bench shorten; each exchange applies those it has. */
export interface FeedTuning {
  connectIntervalMs?: number;
  staleAfterMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  gapMarginMs?: number;
  random?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** A subscribed symbol silent this long (real ms) is resubscribed (Kraken). */
  symbolSilenceMs?: number;
}

/** One exchange behind the seam. */
export interface Exchange {
  readonly id: ExchangeId;
  /** For people: `Coinbase`, `Kraken`. */
  readonly name: string;
  readonly rest: MarketRest;
  /** Most candles one {@linkcode MarketRest.candlePage} request may ask for. */
  readonly maxCandlesPerPage: number;
  /** Seconds after a minute ends before its REST data is final (trades still arriving). */
  readonly restSettleS: number;
  /** A feed of `products` (market keys); not started. */
  createFeed(options: LiveFeedOptions): LiveFeed;
}
