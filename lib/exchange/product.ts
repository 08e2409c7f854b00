/**
 * @module
 * The product row every exchange adapter produces: the catalogue fields the service needs,
 * whatever the exchange's own shape (Coinbase's `/market/products`, Kraken's `AssetPairs`).
 */

/**
 * One product of an exchange, camel-cased, as the service uses it (catalogue, sharding,
 * selection). `productId` is the service's market key (`lib/exchange/market.ts`): the bare id for
 * Coinbase (`BTC-USD`), `kraken:BTC-USD` for Kraken. Sizes and increments are exact decimal strings.
 */
export interface Product {
  productId: string;
  baseCurrency: string;
  quoteCurrency: string;
  /** `online` or `delisted` (Coinbase may add others; kept verbatim). */
  status: string;
  productType: string;
  baseMinSize: string;
  baseMaxSize: string;
  baseIncrement: string;
  quoteIncrement: string;
  quoteMinSize: string;
  quoteMaxSize: string;
  displayName: string;
  baseName: string;
  quoteName: string;
  /** Last price, or `""` when Coinbase has none. */
  price: string;
  tradingDisabled: boolean;
  isDisabled: boolean;
  /** The product this one is an alias of (`BTC-USDC` → `BTC-USD`), or `""`. */
  alias: string;
}
