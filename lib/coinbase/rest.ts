/**
 * @module
 * The Coinbase Advanced Trade REST client (coinbase-protocol.md §6): products, candles, `/time`.
 * Public `/market/*` endpoints are used without a key; with a key (or an `authorize` function)
 * the authenticated equivalents are called with a fresh JWT per request. Every call goes through
 * one shared {@linkcode RateLimiter}; 429 (whose body may be HTML), 5xx and network errors are
 * retried with exponential backoff and jitter, a 401 once with a fresh JWT, and any other 4xx is
 * a {@linkcode RestError} naming the method, path, status and Coinbase's message (never the JWT).
 * Candle pages and their response parsing live in `rest_candles.ts`.
 */
import type { Candle } from "../candles/candle.ts";
import type { Granularity } from "../candles/granularity.ts";
import { type Clock, systemClock } from "../clock.ts";
import { getLogger } from "../log.ts";
import { type CdpKey, createJwtSigner } from "./auth.ts";
import { parseProduct, type Product } from "./product.ts";
import { RateLimiter, realSleep, type Sleep } from "./rate_limit.ts";
import {
  candlePath,
  candleWindows,
  MAX_CANDLES_PER_REQUEST,
  parseCandles,
} from "./rest_candles.ts";
import { describeErrorBody, RestError } from "./rest_error.ts";

export { MAX_CANDLES_PER_REQUEST, RestError };

const log = getLogger(["spot", "rest"]);

/** Makes the value of `Authorization: Bearer …` for one request (a fresh JWT each call). */
export type Authorize = (method: string, url: string) => Promise<string>;

/** Options for {@linkcode RestClient}. */
export interface RestClientOptions {
  /** API base including `/api/v3/brokerage`, e.g. `config.coinbaseRestUrl`. */
  baseUrl: string;
  /** CDP key: authenticated endpoints with a JWT per request. */
  key?: CdpKey;
  /** Overrides how JWTs are made (takes precedence over `key`). */
  authorize?: Authorize;
  /** Requests started per second, across all concurrent calls. @default 8 */
  ratePerSecond?: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default systemClock */
  clock?: Clock;
  /** @default realSleep */
  sleep?: Sleep;
  /** Retries of one request on 429, 5xx and network errors. @default 6 */
  maxRetries?: number;
  /** First backoff delay; doubles per retry, with jitter. @default 1000 */
  backoffBaseMs?: number;
  /** @default 30000 */
  backoffMaxMs?: number;
  /** Per-request timeout. @default 30000 */
  timeoutMs?: number;
  /** Jitter source in [0, 1). @default Math.random */
  random?: () => number;
}

/** Counters since the client was made. */
export interface RestStats {
  /** HTTP requests sent (retries included). */
  requests: number;
  /** Requests repeated after a 429, 5xx, network error or 401. */
  retries: number;
  /** 429 answers received. */
  rateLimited: number;
}

/** Options of one call. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Options for {@linkcode RestClient.products}. */
export interface ProductsQuery extends CallOptions {
  /** Keep only these quote currencies (`USD`, `USDC`). */
  quoteCurrencies?: string[];
  /** @default "SPOT" */
  productType?: "SPOT" | "FUTURE";
  /** Ask only for these ids (unknown ones are simply absent). */
  productIds?: string[];
  /** Page size. @default 250 */
  pageSize?: number;
}

/** The server's time from `/time`. */
export interface ServerTime {
  epochMs: number;
  iso: string;
}

/** A rate-limited, retrying Coinbase REST client. One instance per process shares the limit. */
export class RestClient {
  readonly stats: RestStats = { requests: 0, retries: 0, rateLimited: 0 };
  readonly #base: string;
  readonly #authorize?: Authorize;
  readonly #limiter: RateLimiter;
  readonly #fetch: typeof fetch;
  readonly #sleep: Sleep;
  readonly #maxRetries: number;
  readonly #backoffBase: number;
  readonly #backoffMax: number;
  readonly #timeoutMs: number;
  readonly #random: () => number;

  constructor(options: RestClientOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, "");
    if (options.authorize) this.#authorize = options.authorize;
    else if (options.key) {
      const signer = createJwtSigner(options.key, { clock: options.clock });
      this.#authorize = (method, url) => signer.forRest(method, url);
    }
    this.#sleep = options.sleep ?? realSleep;
    this.#limiter = new RateLimiter({
      ratePerSecond: options.ratePerSecond ?? 8,
      clock: options.clock ?? systemClock,
      sleep: this.#sleep,
    });
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#maxRetries = options.maxRetries ?? 6;
    this.#backoffBase = options.backoffBaseMs ?? 1000;
    this.#backoffMax = options.backoffMaxMs ?? 30_000;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#random = options.random ?? Math.random;
  }

  /** Whether requests carry a JWT (and go to the authenticated endpoints). */
  get authenticated(): boolean {
    return this.#authorize !== undefined;
  }

  /** Requests per second this client allows itself. */
  get ratePerSecond(): number {
    return this.#limiter.ratePerSecond;
  }

  /** `GET /time`. */
  async time(options: CallOptions = {}): Promise<ServerTime> {
    const body = await this.#get("/time", undefined, false, options.signal, "server time");
    const r = body as Record<string, unknown>;
    const epochMs = Number(r["epochMillis"] ?? Number(r["epochSeconds"]) * 1000);
    if (!Number.isFinite(epochMs)) {
      throw new TypeError(`Cannot parse Coinbase /time response ${JSON.stringify(body)}`);
    }
    return { epochMs, iso: String(r["iso"] ?? new Date(epochMs).toISOString()) };
  }

  /**
   * Every product of a type (default SPOT), paged with `limit`/`offset` until a short page,
   * optionally filtered by quote currency.
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
      const body = await this.#get(this.#path("/products"), params, true, query.signal, "products");
      const rows = (body as { products?: unknown }).products;
      if (!Array.isArray(rows)) {
        throw new TypeError(`Coinbase product list has no "products" array (offset ${offset})`);
      }
      for (const row of rows) {
        const p = parseProduct(row);
        if (seen.has(p.productId)) continue;
        seen.add(p.productId);
        out.push(p);
      }
      if (rows.length < pageSize) break;
    }
    const quotes = query.quoteCurrencies?.map((q) => q.toUpperCase());
    return quotes ? out.filter((p) => quotes.includes(p.quoteCurrency)) : out;
  }

  /** One product. @throws {RestError} with status 404 for an unknown one */
  async product(productId: string, options: CallOptions = {}): Promise<Product> {
    const path = this.#path(`/products/${encodeURIComponent(productId)}`);
    return parseProduct(await this.#get(path, undefined, true, options.signal, productId));
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
    const body = await this.#get(this.#path(path), params, true, options.signal, context);
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
    return this.#authorize ? path : `/market${path}`;
  }

  async #get(
    path: string,
    params: URLSearchParams | undefined,
    authenticatable: boolean,
    signal: AbortSignal | undefined,
    context: string,
  ): Promise<unknown> {
    const url = `${this.#base}${path}`;
    const full = params ? `${url}?${params}` : url;
    const shown = `GET ${path}${params ? `?${params}` : ""}`;
    const auth = authenticatable && this.#authorize !== undefined;
    let retry = 0;
    let reauthorized = false;
    for (;;) {
      const release = await this.#limiter.acquire(signal);
      this.stats.requests++;
      const headers: Record<string, string> = { accept: "application/json" };
      if (auth) {
        try {
          headers.authorization = `Bearer ${await this.#authorize!("GET", url)}`;
        } catch (e) {
          release();
          throw e;
        }
      }
      const timeout = AbortSignal.timeout(this.#timeoutMs);
      let problem: string;
      let status = 0;
      try {
        const res = await this.#fetch(full, {
          headers,
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        status = res.status;
        const text = await res.text();
        if (res.ok) {
          try {
            return JSON.parse(text);
          } catch {
            throw new RestError(
              `${shown} returned ${status} with a body that is not JSON (${context}): ` +
                describeErrorBody(text).message,
              { method: "GET", path, status },
            );
          }
        }
        const { code, message } = describeErrorBody(text);
        problem = `${status}${code ? ` ${code}` : ""}: ${message}`;
        if (status === 401 && auth && !reauthorized) {
          reauthorized = true;
          this.stats.retries++;
          log.warn("Coinbase answered 401 to {request}; retrying once with a fresh JWT", {
            request: shown,
          });
          continue;
        }
        if (status === 429) this.stats.rateLimited++;
        if (status !== 429 && status < 500) {
          throw new RestError(`${shown} failed with ${problem} (${context})`, {
            method: "GET",
            path,
            status,
            code,
            coinbaseMessage: message,
          });
        }
      } catch (e) {
        if (e instanceof RestError) throw e;
        if (signal?.aborted) throw signal.reason;
        problem = `network error: ${e instanceof Error ? e.message : String(e)}`;
      } finally {
        release();
      }
      if (retry >= this.#maxRetries) {
        throw new RestError(
          `${shown} failed after ${retry + 1} attempts, last with ${problem} (${context})`,
          { method: "GET", path, status },
        );
      }
      const delay = Math.min(this.#backoffMax, this.#backoffBase * 2 ** retry) *
        (0.5 + this.#random() / 2);
      retry++;
      this.stats.retries++;
      log.warn("Coinbase {request} failed ({problem}); retry {retry} in {delayMs} ms", {
        request: shown,
        problem,
        retry,
        delayMs: Math.round(delay),
        context,
      });
      await this.#sleep(delay, signal);
    }
  }
}
