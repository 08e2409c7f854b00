/**
 * @module
 * The Coinbase Advanced Trade REST client (coinbase-protocol.md §6): products, candles, `/time`.
 * Public `/market/*` endpoints are used without a key; with a key (or an `authorize` function)
 * the authenticated equivalents are called with a fresh JWT per request. Rate limiting, retries
 * and errors ({@linkcode RestError}) live in `rest_transport.ts`; candle windows and response
 * parsing in `rest_candles.ts`.
 */
import type { Candle } from "../candles/candle.ts";
import type { Granularity } from "../candles/granularity.ts";
import { type CdpKey, createJwtSigner } from "./auth.ts";
import { parseProduct, type Product } from "./product.ts";
import {
  candlePath,
  candleWindows,
  MAX_CANDLES_PER_REQUEST,
  parseCandles,
} from "./rest_candles.ts";
import type { CallOptions, MarketRest, ProductsQuery } from "../exchange/exchange.ts";
import { RestError } from "../exchange/rest_error.ts";
import {
  type Authorize,
  type RestStats,
  RestTransport,
  type TransportOptions,
} from "./rest_transport.ts";

export {
  type Authorize,
  type CallOptions,
  MAX_CANDLES_PER_REQUEST,
  type ProductsQuery,
  RestError,
  type RestStats,
};

/** Options for {@linkcode RestClient}. */
export interface RestClientOptions extends TransportOptions {
  /** CDP key: authenticated endpoints with a JWT per request. */
  key?: CdpKey;
  /** Overrides how JWTs are made (takes precedence over `key`). */
  authorize?: Authorize;
}

/** The server's time from `/time`. */
export interface ServerTime {
  epochMs: number;
  iso: string;
}

/** A rate-limited, retrying Coinbase REST client. One instance per process shares the limit. */
export class RestClient implements MarketRest {
  readonly #http: RestTransport;

  constructor(options: RestClientOptions) {
    let authorize = options.authorize;
    if (!authorize && options.key) {
      const signer = createJwtSigner(options.key, { clock: options.clock });
      authorize = (method, url) => signer.forRest(method, url);
    }
    this.#http = new RestTransport(options, authorize);
  }

  /** Requests, retries and 429s so far. */
  get stats(): RestStats {
    return this.#http.stats;
  }

  /** Whether requests carry a JWT (and go to the authenticated endpoints). */
  get authenticated(): boolean {
    return this.#http.authenticated;
  }

  /** Requests per second this client allows itself. */
  get ratePerSecond(): number {
    return this.#http.ratePerSecond;
  }

  /** `GET /time`. */
  async time(options: CallOptions = {}): Promise<ServerTime> {
    const body = await this.#http.get("/time", undefined, false, options.signal, "server time");
    const r = body as Record<string, unknown>;
    const epochMs = Number(r["epochMillis"] ?? Number(r["epochSeconds"]) * 1000);
    if (!Number.isFinite(epochMs)) {
      throw new TypeError(`Cannot parse Coinbase /time response ${JSON.stringify(body)}`);
    }
    return { epochMs, iso: String(r["iso"] ?? new Date(epochMs).toISOString()) };
  }

  /**
   * Every product of a type (default SPOT), paged with `limit`/`offset` until a short page or
   * one that brings no new product, optionally filtered by quote currency.
   */
  async products(query: ProductsQuery = {}): Promise<Product[]> {
    const pageSize = query.pageSize ?? 250;
    const out: Product[] = [];
    const seen = new Set<string>();
    for (let offset = 0;; offset += pageSize) {
      const params = new URLSearchParams({
        product_type: query.productType ?? "SPOT",
        limit: String(pageSize),
        offset: String(offset),
      });
      for (const id of query.productIds ?? []) params.append("product_ids", id);
      const body = await this.#http.get(
        this.#path("/products"),
        params,
        true,
        query.signal,
        "products",
      );
      const rows = (body as { products?: unknown }).products;
      if (!Array.isArray(rows)) {
        throw new TypeError(`Coinbase product list has no "products" array (offset ${offset})`);
      }
      let added = 0;
      for (const row of rows) {
        const p = parseProduct(row);
        if (seen.has(p.productId)) continue;
        seen.add(p.productId);
        out.push(p);
        added++;
      }
      // A short page ends the list; so does a page with nothing new (the real endpoint may
      // answer every product at once whatever `limit` asked, and again for the next offset).
      if (rows.length < pageSize || added === 0) break;
    }
    const quotes = query.quoteCurrencies?.map((q) => q.toUpperCase());
    return quotes ? out.filter((p) => quotes.includes(p.quoteCurrency)) : out;
  }

  /** One product. @throws {RestError} with status 404 for an unknown one */
  async product(productId: string, options: CallOptions = {}): Promise<Product> {
    const path = this.#path(`/products/${encodeURIComponent(productId)}`);
    return parseProduct(await this.#http.get(path, undefined, true, options.signal, productId));
  }

  /**
   * One request's worth of candles: buckets starting in `[startSec, endSec]` (inclusive, at most
   * {@linkcode MAX_CANDLES_PER_REQUEST} of them), oldest first, empty buckets absent. The newest
   * may still be in progress.
   */
  async candlePage(
    productId: string,
    granularity: Granularity,
    startSec: number,
    endSec: number,
    options: CallOptions = {},
  ): Promise<Candle[]> {
    const { path, params } = candlePath(productId, granularity, startSec, endSec);
    const context = `product ${productId}, granularity ${granularity.id}`;
    const body = await this.#http.get(this.#path(path), params, true, options.signal, context);
    return parseCandles(body, startSec, endSec, context);
  }

  /** Candles over any range, paged in windows of ≤ 300 buckets, oldest first. */
  async candles(
    productId: string,
    granularity: Granularity,
    startSec: number,
    endSec: number,
    options: CallOptions = {},
  ): Promise<Candle[]> {
    const out: Candle[] = [];
    for (const [from, to] of candleWindows(granularity, startSec, endSec)) {
      out.push(...await this.candlePage(productId, granularity, from, to, options));
    }
    return out;
  }

  /** `/market/products…` without a key, `/products…` with one. */
  #path(path: string): string {
    return this.#http.authenticated ? path : `/market${path}`;
  }
}
