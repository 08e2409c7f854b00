/**
 * @module
 * The exchanges one process serves, as one {@linkcode MarketRest}: each call goes to the
 * exchange its market key names (`kraken:BTC-USD` → Kraken, `BTC-USD` → Coinbase), so the
 * history code (seeding, catch-up, repair, backfill, catalogue) stays exchange-agnostic while
 * every exchange keeps its own REST limiter and retries.
 */
import type { Candle } from "../candles/candle.ts";
import type { Granularity } from "../candles/granularity.ts";
import type { CallOptions, Exchange, MarketRest, ProductsQuery, RestStats } from "./exchange.ts";
import { type ExchangeId, exchangeOf } from "./market.ts";
import type { Product } from "./product.ts";

/** The exchanges served, routed by market key. */
export class Markets implements MarketRest {
  readonly exchanges: readonly Exchange[];
  readonly #byId: Map<ExchangeId, Exchange>;

  constructor(exchanges: readonly Exchange[]) {
    if (exchanges.length === 0) throw new RangeError("Markets needs at least one exchange");
    this.exchanges = exchanges;
    this.#byId = new Map(exchanges.map((e) => [e.id, e]));
    if (this.#byId.size !== exchanges.length) {
      throw new RangeError(`Markets got an exchange twice: ${exchanges.map((e) => e.id)}`);
    }
  }

  /** The exchange of `id`, if served. */
  get(id: ExchangeId): Exchange | undefined {
    return this.#byId.get(id);
  }

  /** Whether `id` is served. */
  has(id: string): boolean {
    return this.#byId.has(id as ExchangeId);
  }

  /**
   * The exchange that serves `key`.
   *
   * @throws {RangeError} naming the product when its exchange is not served
   */
  of(key: string): Exchange {
    const id = exchangeOf(key);
    const exchange = this.#byId.get(id);
    if (!exchange) {
      throw new RangeError(`Product "${key}" is on ${id}, which this service does not serve`);
    }
    return exchange;
  }

  /** Requests, retries and rate-limit answers summed over the exchanges. */
  get stats(): RestStats {
    const sum = { requests: 0, retries: 0, rateLimited: 0 };
    for (const e of this.exchanges) {
      sum.requests += e.rest.stats.requests;
      sum.retries += e.rest.stats.retries;
      sum.rateLimited += e.rest.stats.rateLimited;
    }
    return sum;
  }

  /** The sum of the exchanges' own rates (each exchange is bound by its own). */
  get ratePerSecond(): number {
    return this.exchanges.reduce((s, e) => s + e.rest.ratePerSecond, 0);
  }

  /** Every exchange's products (`productIds` split by exchange), concatenated in order. */
  async products(query: ProductsQuery = {}): Promise<Product[]> {
    const out: Product[] = [];
    for (const e of this.exchanges) {
      const ids = query.productIds?.filter((k) => exchangeOf(k) === e.id);
      if (ids !== undefined && ids.length === 0) continue;
      out.push(...await e.rest.products({ ...query, productIds: ids }));
    }
    return out;
  }

  candles(
    product: string,
    granularity: Granularity,
    startSec: number,
    endSec: number,
    options?: CallOptions,
  ): Promise<Candle[]> {
    return this.of(product).rest.candles(product, granularity, startSec, endSec, options);
  }

  candlePage(
    product: string,
    granularity: Granularity,
    startSec: number,
    endSec: number,
    options?: CallOptions,
  ): Promise<Candle[]> {
    return this.of(product).rest.candlePage(product, granularity, startSec, endSec, options);
  }
}
