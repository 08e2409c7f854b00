/**
 * @module
 * The Kraken public REST client (kraken-protocol.md "REST") behind the exchange seam
 * ({@linkcode MarketRest}): `Trades` pages, exact candles computed from them (`rest_trades.ts`),
 * and products from `AssetPairs`. Products are market keys (`kraken:BTC-USD`).
 *
 * Every request waits for the client's own {@linkcode RateLimiter} (Kraken's public limit is per
 * IP and unpublished; peers pace at 1/s) and is retried with the process's backoff on network
 * errors, 5xx, 429 and on the `error[]` entries that mean "later" (`EAPI:Rate limit exceeded`,
 * `EService:Unavailable`, `EService:Busy`, …): Kraken answers errors with HTTP 200, so a 200 is
 * not success until `error` is empty. A rate-limit answer (429, `EAPI:Rate limit exceeded`) also
 * cuts the limiter's rate ({@linkcode RateLimiter.throttled}: slower for the next seconds, then
 * back to `ratePerSecond`). Any other error is a final {@linkcode RestError}
 * (`retryable: false`), `EQuery:Unknown asset pair` naming the product.
 */
import { callDeadline } from "../deadline.ts";
import type { Candle } from "../candles/candle.ts";
import type { Granularity } from "../candles/granularity.ts";
import { backoffDelay } from "../backoff.ts";
import { abortableSleep, type Clock, type Sleep, systemClock } from "../clock.ts";
import { KRAKEN_REST_URL } from "../config.ts";
import type { CallOptions, MarketRest, ProductsQuery, RestStats } from "../exchange/exchange.ts";
import { marketKey } from "../exchange/market.ts";
import type { Product } from "../exchange/product.ts";
import { RateLimiter } from "../exchange/rate_limit.ts";
import { describeErrorBody, isRetryableStatus, RestError } from "../exchange/rest_error.ts";
import { getLogger } from "../log.ts";
import { parseTradesResult, TradeCandles, type TradesPage } from "./rest_trades.ts";
import {
  type AssetPairNames,
  KRAKEN,
  PairDirectory,
  restPairName,
  storedIdOfKey,
} from "./symbols.ts";

export type { TradesPage };

const log = getLogger(["spot", "kraken", "rest"]);

/**
 * Buckets one {@linkcode KrakenRest.candlePage} may span: 720 (12 hours of minutes, the cap of
 * Kraken's own OHLC). Each page is computed from as many Trades requests as its trades need.
 */
export const MAX_CANDLES_PER_PAGE = 720;

/** Most trades Kraken returns per Trades request. */
export const MAX_TRADES_PER_REQUEST = 1000;

/**
 * Overlap of consecutive Trades pages: the next `since` is `last` minus this. Whether `since` is
 * exclusive is unconfirmed, and trades can share a timestamp, so pages overlap and repeated
 * trades are dropped by id. Paging progresses as long as a page holds more trades than occur
 * within any one millisecond (1000 a page).
 */
const PAGE_OVERLAP_NS = 1_000_000n;

/** `error[]` entries after which trying again later can help. */
const RATE_LIMITED = ["EAPI:Rate limit exceeded", "EGeneral:Too many requests"];
const LATER = ["EService:Unavailable", "EService:Busy", "EGeneral:Internal error"];
const UNKNOWN_PAIR = "EQuery:Unknown asset pair";

/** Options for {@linkcode KrakenRest}. */
export interface KrakenRestOptions {
  /** API base without `/0/public`. @default "https://api.kraken.com" */
  baseUrl?: string;
  /** Requests started per second. @default 1 */
  ratePerSecond?: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default systemClock */
  clock?: Clock;
  /** @default abortableSleep */
  sleep?: Sleep;
  /** Jitter source in [0, 1). @default Math.random */
  random?: () => number;
  /** Retries of one request on network errors, 5xx, 429 and "later" errors. @default 6 */
  maxRetries?: number;
  /** Cap of the first backoff delay; doubles per retry, full jitter. @default 1000 */
  backoffBaseMs?: number;
  /** @default 30000 */
  backoffMaxMs?: number;
  /** Per-request timeout. @default 30000 */
  timeoutMs?: number;
  /** Trades asked for per request (1–1000). @default 1000 */
  tradesPerRequest?: number;
}

/** Options of {@linkcode KrakenRest.trades}. */
export interface TradesOptions extends CallOptions {
  /** @default the client's `tradesPerRequest` */
  count?: number;
}

/** A rate-limited, retrying Kraken public REST client. One instance per process shares the limit. */
export class KrakenRest implements MarketRest {
  readonly #counts = { requests: 0, retries: 0, rateLimited: 0 };
  readonly #base: string;
  readonly #limiter: RateLimiter;
  readonly #fetch: typeof fetch;
  readonly #sleep: Sleep;
  readonly #random: () => number;
  readonly #maxRetries: number;
  readonly #backoffBase: number;
  readonly #backoffMax: number;
  readonly #timeoutMs: number;
  readonly #count: number;
  /** The last AssetPairs answer's names (REST pair names of stored ids), once fetched. */
  #pairs?: PairDirectory;

  constructor(options: KrakenRestOptions = {}) {
    this.#base = (options.baseUrl ?? KRAKEN_REST_URL).replace(/\/+$/, "");
    this.#sleep = options.sleep ?? abortableSleep;
    this.#limiter = new RateLimiter({
      ratePerSecond: options.ratePerSecond ?? 1,
      clock: options.clock ?? systemClock,
      sleep: this.#sleep,
      name: "Kraken REST",
    });
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#random = options.random ?? Math.random;
    this.#maxRetries = options.maxRetries ?? 6;
    this.#backoffBase = options.backoffBaseMs ?? 1000;
    this.#backoffMax = options.backoffMaxMs ?? 30_000;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    const count = options.tradesPerRequest ?? MAX_TRADES_PER_REQUEST;
    if (!Number.isInteger(count) || count < 1 || count > MAX_TRADES_PER_REQUEST) {
      throw new RangeError(`Kraken tradesPerRequest must be an integer 1–1000, got ${count}`);
    }
    this.#count = count;
  }

  /** Requests per second this client allows itself. */
  get ratePerSecond(): number {
    return this.#limiter.ratePerSecond;
  }

  /** Requests, retries and rate-limit answers so far, the cuts they caused, the rate now. */
  get stats(): RestStats {
    return { ...this.#counts, ...this.#limiter.stats };
  }

  /**
   * Every spot pair of `AssetPairs` as a {@linkcode Product} (market key ids, v2 naming:
   * `kraken:BTC-USD`, `BTC`/`USD`, `BTC/USD`), filtered by `productIds` and `quoteCurrencies`.
   * Rows the service cannot store (dark-pool `.d` pairs, odd names) are left out, and logged.
   */
  async products(query: ProductsQuery = {}): Promise<Product[]> {
    if (query.productType === "FUTURE") return [];
    const result = await this.#get("/0/public/AssetPairs", undefined, query.signal, "asset pairs");
    if (result === null || typeof result !== "object" || Array.isArray(result)) {
      throw new TypeError("Kraken AssetPairs answer has no result object");
    }
    const rows = Object.entries(result as Record<string, AssetPairRow>);
    const directory = new PairDirectory(rows);
    this.#pairs = directory;
    if (directory.skipped.length > 0) {
      log.debug("Kraken AssetPairs: {count} pairs left out ({examples})", {
        count: directory.skipped.length,
        examples: directory.skipped.slice(0, 5).map((s) => s.key).join(", "),
      });
    }
    const wanted = query.productIds ? new Set(query.productIds) : undefined;
    const quotes = query.quoteCurrencies?.map((q) => q.toUpperCase());
    const out: Product[] = [];
    const byKey = new Map(rows);
    for (const names of directory.pairs()) {
      const p = toProduct(names.storedId, byKey.get(names.key)!);
      if (wanted && !wanted.has(p.productId)) continue;
      if (quotes && !quotes.includes(p.quoteCurrency)) continue;
      out.push(p);
    }
    return out;
  }

  /**
   * One page of trades of `product` (a market key) from the `since` cursor (epoch ns), as
   * Kraken lists them (oldest first, at most `count`), with the `last` cursor for the next page.
   *
   * @throws {RestError} final (`retryable: false`) naming the product when Kraken does not know
   *   the pair; retryable after the retries are spent
   */
  async trades(product: string, sinceNs: bigint, options: TradesOptions = {}): Promise<TradesPage> {
    const id = storedIdOfKey(product);
    const count = options.count ?? this.#count;
    const ask = (pair: string) =>
      this.#get(
        "/0/public/Trades",
        new URLSearchParams({ pair, since: String(sinceNs), count: String(count) }),
        options.signal,
        product,
      );
    const pair = this.#listedName(id) ?? restPairName(id);
    let result: unknown;
    try {
      result = await ask(pair);
    } catch (e) {
      // A derived name Kraken does not know: look the pair up once in AssetPairs.
      if (!(e instanceof RestError) || e.code !== UNKNOWN_PAIR || this.#pairs) throw e;
      await this.products({ signal: options.signal });
      const listed = this.#listedName(id);
      if (listed === undefined || listed === pair) throw e;
      result = await ask(listed);
    }
    return parseTradesResult(result, product);
  }

  /** The REST name AssetPairs gave a stored id, when it was fetched and lists the id. */
  #listedName(id: string): string | undefined {
    return this.#pairs?.byStoredId(id)?.altname;
  }

  /**
   * Exact candles of buckets starting in `[startSec, endSec]` (inclusive), oldest first, empty
   * buckets absent, computed from every trade of `[first bucket, last bucket + g)`: Trades pages
   * from the first bucket's start until a trade at or after the window's end, or a short page
   * (the present). The newest candle may still be in progress.
   */
  async candles(
    product: string,
    granularity: Granularity,
    startSec: number,
    endSec: number,
    options: CallOptions = {},
  ): Promise<Candle[]> {
    const [from, to] = bucketRange(product, granularity, startSec, endSec);
    if (from > to) return [];
    const acc = new TradeCandles(granularity, from, to);
    const endMs = acc.endMs;
    const count = this.#count;
    // Ids of the last two pages: overlapping pages repeat only trades near their boundary.
    let seen = new Set<number>();
    let before = new Set<number>();
    // One nanosecond before the first bucket: its first trade counts even if `since` is exclusive.
    let since = BigInt(from) * 1_000_000_000n - 1n;
    for (;;) {
      const page = await this.trades(product, since, { signal: options.signal, count });
      let fresh = 0;
      let reachedEnd = false;
      const ids = new Set<number>();
      for (const t of page.trades) {
        ids.add(t.id);
        if (seen.has(t.id) || before.has(t.id)) continue;
        fresh++;
        if (t.timeMs >= endMs) reachedEnd = true;
        else acc.add(t);
      }
      if (reachedEnd || page.trades.length < count) break;
      before = seen;
      seen = ids;
      const next = page.last - PAGE_OVERLAP_NS;
      if (fresh > 0 && next > since) since = next;
      else {
        // A full page of repeats: more trades within the overlap than a page holds. Narrow the
        // overlap to the last nanosecond, then step past it (trades sharing that nanosecond
        // beyond the page could then be missed if `since` is exclusive: say so).
        const narrowed = page.last - 1n;
        since = narrowed > since ? narrowed : page.last > since ? page.last : since + 1n;
        log.warn(
          "Kraken Trades of {product}: a page of {count} repeated trades; next since {since}",
          { product, count: page.trades.length, since: String(since) },
        );
      }
    }
    return acc.candles();
  }

  /**
   * {@linkcode candles} over at most {@linkcode MAX_CANDLES_PER_PAGE} buckets.
   *
   * @throws {RangeError} naming the product when the window spans more buckets
   */
  candlePage(
    product: string,
    granularity: Granularity,
    startSec: number,
    endSec: number,
    options: CallOptions = {},
  ): Promise<Candle[]> {
    const [from, to] = bucketRange(product, granularity, startSec, endSec);
    const buckets = from > to ? 0 : (to - from) / granularity.seconds + 1;
    if (buckets > MAX_CANDLES_PER_PAGE) {
      return Promise.reject(
        new RangeError(
          `Cannot compute ${buckets} ${granularity.id} candles of ${product} in one page: at most ${MAX_CANDLES_PER_PAGE}`,
        ),
      );
    }
    return this.candles(product, granularity, startSec, endSec, options);
  }

  /**
   * GETs `path` and returns Kraken's `result`, after retries. `context` (the product, or what
   * was asked for) goes into errors and logs.
   */
  async #get(
    path: string,
    params: URLSearchParams | undefined,
    signal: AbortSignal | undefined,
    context: string,
  ): Promise<unknown> {
    const shown = `GET ${path}${params ? `?${params}` : ""}`;
    const url = `${this.#base}${path}${params ? `?${params}` : ""}`;
    for (let retry = 0;; retry++) {
      const sentAt = await this.#limiter.acquire(signal);
      this.#counts.requests++;
      const deadline = callDeadline(this.#timeoutMs, signal);
      let problem: string;
      let status = 0;
      let code: string | undefined;
      try {
        const res = await this.#fetch(url, {
          headers: { accept: "application/json" },
          signal: deadline.signal,
        });
        status = res.status;
        const text = await res.text();
        const body = res.ok ? parseBody(text) : undefined;
        if (body) {
          const errors = body.errors;
          if (errors.length === 0) return body.result;
          code = errors[0];
          problem = `Kraken error ${errors.join(", ")}`;
          if (errors.some((e) => RATE_LIMITED.some((r) => e.startsWith(r)))) {
            this.#counts.rateLimited++;
            this.#limiter.throttled(sentAt);
          } else if (!errors.some((e) => LATER.some((l) => e.startsWith(l)))) {
            const about = errors.includes(UNKNOWN_PAIR)
              ? `Kraken does not know the pair of ${context}`
              : `${shown} failed with ${problem} (${context})`;
            throw new RestError(
              errors.includes(UNKNOWN_PAIR) ? `${about} (${shown}: ${UNKNOWN_PAIR})` : about,
              { method: "GET", path, status, code, retryable: false },
            );
          }
        } else if (res.ok) {
          // A proxy's or an edge's page in place of the answer: worth another try later.
          problem = `${status} with a body that is not Kraken's JSON: ${
            describeErrorBody(text).message
          }`;
        } else {
          problem = `${status}: ${describeErrorBody(text).message}`;
          if (status === 429) {
            this.#counts.rateLimited++;
            this.#limiter.throttled(sentAt);
          }
          if (!isRetryableStatus(status)) {
            throw new RestError(`${shown} failed with ${problem} (${context})`, {
              method: "GET",
              path,
              status,
              retryable: false,
            });
          }
        }
      } catch (e) {
        if (e instanceof RestError) throw e;
        if (signal?.aborted) throw signal.reason;
        problem = `network error: ${e instanceof Error ? e.message : String(e)}`;
      } finally {
        deadline.clear();
      }
      if (retry >= this.#maxRetries) {
        throw new RestError(
          `${shown} failed after ${retry + 1} attempts, last with ${problem} (${context})`,
          { method: "GET", path, status, code, retryable: true },
        );
      }
      const delay = backoffDelay(
        retry + 1,
        { initialMs: this.#backoffBase, maxMs: this.#backoffMax },
        this.#random,
      );
      this.#counts.retries++;
      log.warn("Kraken {request} failed ({problem}); retry {retry} in {delayMs} ms", {
        request: shown,
        problem,
        retry: retry + 1,
        delayMs: Math.round(delay),
        context,
      });
      await this.#sleep(delay, signal);
      signal?.throwIfAborted();
    }
  }
}

/** Kraken's envelope `{error: string[], result}`, or undefined when `text` is not that. */
function parseBody(text: string): { errors: string[]; result: unknown } | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (body === null || typeof body !== "object") return undefined;
  const { error, result } = body as { error?: unknown; result?: unknown };
  if (error !== undefined && !Array.isArray(error)) return undefined;
  const errors = (error ?? []).map(String);
  if (errors.length === 0 && result === undefined) return undefined;
  return { errors, result };
}

/**
 * The first and last bucket start of `[startSec, endSec]`: buckets starting inside it.
 *
 * @throws {RangeError} naming the product when the range is not integer seconds in order
 */
function bucketRange(
  product: string,
  g: Granularity,
  startSec: number,
  endSec: number,
): [number, number] {
  if (!Number.isInteger(startSec) || !Number.isInteger(endSec) || endSec < startSec) {
    throw new RangeError(
      `Cannot compute ${g.id} candles of ${product}: bad range ${startSec}..${endSec}`,
    );
  }
  return [Math.ceil(startSec / g.seconds) * g.seconds, Math.floor(endSec / g.seconds) * g.seconds];
}

/** The fields of an AssetPairs row the client reads. */
interface AssetPairRow extends AssetPairNames {
  status?: unknown;
  ordermin?: unknown;
  costmin?: unknown;
  lot_decimals?: unknown;
  pair_decimals?: unknown;
  tick_size?: unknown;
}

/** `10^-decimals` as a decimal string (`8` → `0.00000001`, `0` → `1`), or "" when unknown. */
export function incrementOfDecimals(decimals: unknown): string {
  if (!Number.isInteger(decimals) || (decimals as number) < 0 || (decimals as number) > 30) {
    return "";
  }
  const d = decimals as number;
  return d === 0 ? "1" : `0.${"0".repeat(d - 1)}1`;
}

function text(v: unknown): string {
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : "";
}

/**
 * Kraken's pair status as the service's: `online`, and the restricted modes in which trades
 * still print (`post_only`, `limit_only`, `reduce_only`), are `online`; `cancel_only` is
 * `online` with trading disabled (a halt: nothing trades, the book stays); anything else
 * (`delisted`, `maintenance`, …) is kept verbatim, which the catalogue treats as not online.
 */
export function productStatus(status: unknown): { status: string; tradingDisabled: boolean } {
  const s = typeof status === "string" && status !== "" ? status : "online";
  switch (s) {
    case "online":
    case "post_only":
    case "limit_only":
    case "reduce_only":
      return { status: "online", tradingDisabled: false };
    case "cancel_only":
      return { status: "online", tradingDisabled: true };
    default:
      return { status: s, tradingDisabled: true };
  }
}

/** One AssetPairs row as a Product of stored id `id`. */
function toProduct(id: string, row: AssetPairRow): Product {
  const dash = id.indexOf("-");
  const base = id.slice(0, dash);
  const quote = id.slice(dash + 1);
  const { status, tradingDisabled } = productStatus(row.status);
  return {
    productId: marketKey(KRAKEN, id),
    baseCurrency: base,
    quoteCurrency: quote,
    status,
    productType: "SPOT",
    baseMinSize: text(row.ordermin),
    baseMaxSize: "",
    baseIncrement: incrementOfDecimals(row.lot_decimals),
    quoteIncrement: text(row.tick_size) || incrementOfDecimals(row.pair_decimals),
    quoteMinSize: text(row.costmin),
    quoteMaxSize: "",
    displayName: `${base}/${quote}`,
    baseName: "",
    quoteName: "",
    price: "",
    tradingDisabled,
    isDisabled: false,
    alias: "",
  };
}
