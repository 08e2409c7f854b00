/**
 * @module
 * Which products this instance serves: `PRODUCTS` as a list, or `all` (every online spot product
 * in `QUOTE_CURRENCIES`, from REST, aliases such as `BTC-USDC` left out because their frames
 * are the USD book's), filtered to this shard. With a list the feed can start before REST
 * answers; catalogue fields are filled in once it does. Also the `trading_pairs/exchanges`
 * catalogue rows (DESIGN.md "Stored data"), for the service and ingest alike.
 */
import type { Config } from "../config.ts";
import type { Product } from "../coinbase/product.ts";
import type { RestClient } from "../coinbase/rest.ts";
import { getLogger } from "../log.ts";
import type { Clock } from "../clock.ts";
import type { CandleStore, CatalogueEntry } from "../store/store.ts";
import { productsForShard } from "./shard.ts";

const log = getLogger(["spot", "products"]);

/** A product known only by its id (catalogue fields not fetched yet). */
export function productFromId(id: string): Product {
  const [base = "", quote = ""] = id.split("-");
  return {
    productId: id,
    baseCurrency: base,
    quoteCurrency: quote,
    status: "",
    productType: "SPOT",
    baseMinSize: "",
    baseMaxSize: "",
    baseIncrement: "",
    quoteIncrement: "",
    quoteMinSize: "",
    quoteMaxSize: "",
    displayName: id,
    baseName: "",
    quoteName: "",
    price: "",
    tradingDisabled: false,
    isDisabled: false,
    alias: "",
  };
}

/** Whether `p` is a tradable spot product of its own book (not an alias, not delisted). */
export function isServable(p: Product): boolean {
  return p.status === "online" && p.productType === "SPOT" && !p.alias && !p.isDisabled;
}

/**
 * The products of this shard. With an explicit list it answers at once (ids only); with `all`
 * it asks REST once (the caller retries while Coinbase is unreachable).
 */
export async function resolveProducts(
  config: Pick<Config, "products" | "quoteCurrencies" | "shardCount" | "shardIndex">,
  rest: Pick<RestClient, "products">,
  signal?: AbortSignal,
): Promise<Product[]> {
  if (config.products !== "all") {
    return productsForShard(config.products, config.shardCount, config.shardIndex).map(
      productFromId,
    );
  }
  const all = await rest.products({
    quoteCurrencies: config.quoteCurrencies,
    productType: "SPOT",
    signal,
  });
  const servable = all.filter(isServable);
  const mine = new Set(
    productsForShard(servable.map((p) => p.productId), config.shardCount, config.shardIndex),
  );
  return servable.filter((p) => mine.has(p.productId));
}

/**
 * Fills in catalogue fields for products known only by id. Products REST does not return stay
 * as they are (the feed reports them unknown).
 */
export async function describeProducts(
  rest: Pick<RestClient, "products">,
  products: Product[],
  signal?: AbortSignal,
): Promise<Product[]> {
  const ids = products.filter((p) => p.status === "").map((p) => p.productId);
  if (ids.length === 0) return products;
  const found = new Map<string, Product>();
  for (let i = 0; i < ids.length; i += 100) {
    for (const p of await rest.products({ productIds: ids.slice(i, i + 100), signal })) {
      found.set(p.productId, p);
    }
  }
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length > 0) log.warn("Coinbase lists no product {missing}", { missing });
  return products.map((p) => found.get(p.productId) ?? p);
}

/** A product as a catalogue entry written at `nowMs`. */
export function catalogueEntry(p: Product, nowMs: number): CatalogueEntry {
  return {
    product_id: p.productId,
    base_currency: p.baseCurrency,
    quote_currency: p.quoteCurrency,
    status: p.status === "online" ? "online" : "delisted",
    min_size: p.baseMinSize,
    max_size: p.baseMaxSize,
    last_updated: nowMs,
  };
}

/** What a catalogue sync wrote. */
export interface CatalogueSummary {
  online: number;
  delisted: number;
}

/** Fetches every spot product and merges them into the store's catalogue. */
export async function syncCatalogue(
  deps: { rest: Pick<RestClient, "products">; store: CandleStore; clock?: Clock },
  signal?: AbortSignal,
): Promise<CatalogueSummary> {
  const products = await deps.rest.products({ productType: "SPOT", signal });
  const now = (deps.clock ?? Date.now)();
  const entries = products.map((p) => catalogueEntry(p, now));
  await deps.store.writeCatalogue(entries);
  const online = entries.filter((e) => e.status === "online").length;
  return { online, delisted: entries.length - online };
}
