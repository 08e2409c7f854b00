/**
 * @module
 * Which exchange a product belongs to, inside the service. Every part above the exchange
 * adapters (aggregator, dedupe, seeding, repair, writer, hub, routes) keys a product by one
 * string, its **market key**: Coinbase's bare id (`BTC-USD`, unchanged from the single-exchange
 * service, so its shard assignment, logs and URLs stay as they were) or `{exchange}:{id}` for
 * any other exchange (`kraken:BTC-USD`). The stored id is always the bare one, under
 * `exchanges/{exchange}/…` (DESIGN.md "Stored data"); `:` never occurs in a stored id, so the
 * split is unambiguous.
 */

/** The exchanges the service speaks. */
export const EXCHANGE_IDS = ["coinbase", "kraken"] as const;

/** One of {@linkcode EXCHANGE_IDS}. */
export type ExchangeId = typeof EXCHANGE_IDS[number];

/** The exchange whose products keep their bare id as market key. */
export const DEFAULT_EXCHANGE: ExchangeId = "coinbase";

/** Whether `s` names an exchange the service speaks. */
export function isExchangeId(s: string): s is ExchangeId {
  return (EXCHANGE_IDS as readonly string[]).includes(s);
}

/** A product of an exchange, as stored: `exchanges/{exchange}/products/{product}`. */
export interface Market {
  exchange: ExchangeId;
  /** The stored id, e.g. `BTC-USD` (Kraken's `BTC/USD` with `/` → `-`). */
  product: string;
}

/** The market key of `product` on `exchange`: `BTC-USD` on Coinbase, `kraken:BTC-USD` else. */
export function marketKey(exchange: ExchangeId, product: string): string {
  return exchange === DEFAULT_EXCHANGE ? product : `${exchange}:${product}`;
}

/**
 * The exchange and stored id of a market key.
 *
 * @throws {RangeError} when the prefix names no exchange the service speaks
 */
export function splitMarketKey(key: string): Market {
  const colon = key.indexOf(":");
  if (colon < 0) return { exchange: DEFAULT_EXCHANGE, product: key };
  const exchange = key.slice(0, colon);
  if (!isExchangeId(exchange)) {
    throw new RangeError(
      `Unknown exchange "${exchange}" in product "${key}": expected one of ${
        EXCHANGE_IDS.join(", ")
      }`,
    );
  }
  return { exchange, product: key.slice(colon + 1) };
}

/** The exchange of a market key (no validation beyond {@linkcode splitMarketKey}'s). */
export function exchangeOf(key: string): ExchangeId {
  return splitMarketKey(key).exchange;
}

/** The stored id of a market key (`kraken:BTC-USD` → `BTC-USD`). */
export function productOf(key: string): string {
  return splitMarketKey(key).product;
}

/**
 * The market key a request names: `exchange` (default Coinbase; a 400-worthy RangeError naming
 * `exchange` for one the service does not speak) and a stored id (upper-cased), or a key with its
 * prefix (`kraken:BTC-USD`) in `product` itself.
 *
 * @throws {RangeError} naming `exchange` when it is not an exchange the service speaks
 */
export function requestedKey(product: string, exchange: string | undefined): string {
  if (product.includes(":")) {
    const [prefix = ""] = product.split(":", 1);
    if (!isExchangeId(prefix.toLowerCase())) {
      throw new RangeError(
        `exchange "${prefix}" is not one of ${EXCHANGE_IDS.join(", ")} (in "${product}")`,
      );
    }
    const id = product.slice(prefix.length + 1).toUpperCase();
    return marketKey(prefix.toLowerCase() as ExchangeId, id);
  }
  product = product.toUpperCase();
  if (exchange === undefined || exchange === "") return product;
  const id = exchange.trim().toLowerCase();
  if (!isExchangeId(id)) {
    throw new RangeError(`exchange "${exchange}" is not one of ${EXCHANGE_IDS.join(", ")}`);
  }
  return marketKey(id, product);
}

/** The dashboard page of a product: `/products/BTC-USD` (Coinbase), `/products/kraken/BTC-USD`. */
export function productPagePath(key: string): string {
  const { exchange, product } = splitMarketKey(key);
  return exchange === DEFAULT_EXCHANGE
    ? `/products/${encodeURIComponent(product)}`
    : `/products/${exchange}/${encodeURIComponent(product)}`;
}
