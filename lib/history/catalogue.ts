/**
 * @module
 * The one catalogue rule, for the service and ingest alike (DESIGN.md "Stored data"): which
 * Coinbase rows are served, and how a row is written.
 *
 * - Served: an online, enabled SPOT book of its own (aliases such as `BTC-USDC` → `BTC-USD` are
 *   left out: their trades come under the book's id); with `PRODUCTS=all` also quoted in
 *   `QUOTE_CURRENCIES`. An explicit `PRODUCTS` list is checked against Coinbase at start: an id
 *   Coinbase does not know is a `ConfigError` naming `PRODUCTS`; a known row that cannot be
 *   served is logged and left out. Then filtered to this shard.
 * - Written: `trading_pairs/exchanges` rows and product documents with `status` `online` (Coinbase
 *   says online and the product is not disabled) or `delisted` (everything else, `offline`
 *   included).
 */
import { type Config, ConfigError } from "../config.ts";
import { type ExchangeId, marketKey } from "../exchange/market.ts";
import type { Product } from "../exchange/product.ts";
import type { MarketRest } from "../exchange/exchange.ts";
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

/**
 * How a catalogue row's status is written (`trading_pairs/exchanges`, product documents):
 * `online` when Coinbase says `online` and the product is not disabled, else `delisted` (Coinbase's
 * `delisted`, and any other status such as `offline`).
 */
export function catalogueStatus(p: Product): "online" | "delisted" {
  return p.status === "online" && !p.isDisabled ? "online" : "delisted";
}

/**
 * Whether `p` can be served at all: an online, enabled SPOT book of its own. Aliases (`BTC-USDC`
 * → `BTC-USD`) are left out: Coinbase sends their trades under the book's own id.
 */
export function isServable(p: Product): boolean {
  return catalogueStatus(p) === "online" && p.productType === "SPOT" && !p.alias;
}

/** The `PRODUCTS=all` rule: servable and quoted in one of `quoteCurrencies`. */
export function isServedByAll(p: Product, quoteCurrencies: readonly string[]): boolean {
  return isServable(p) && quoteCurrencies.includes(p.quoteCurrency);
}

/** Why a row Coinbase knows is not served, for logs (`undefined` when it is servable). */
export function whyNotServed(p: Product): string | undefined {
  if (p.alias) return `an alias of ${p.alias}`;
  if (p.productType !== "SPOT") return `a ${p.productType || "non-spot"} product`;
  if (catalogueStatus(p) !== "online") {
    return p.isDisabled ? "disabled" : `${p.status || "not online"} at Coinbase`;
  }
  return undefined;
}

/** Lists above this size are checked against the whole catalogue instead of by id. */
const BY_ID_LIMIT = 100;

/** Which products of one exchange the fleet serves, and the variable that said so. */
export interface ExchangeSelection {
  exchange: ExchangeId;
  /** For messages: `Coinbase`, `Kraken`. */
  name: string;
  /** Stored ids (`BTC-USD`), or `all`. */
  products: string[] | "all";
  quoteCurrencies: string[];
  /** The variable naming the list: `PRODUCTS`, `KRAKEN_PRODUCTS`. */
  variable: string;
}

/** Coinbase's selection from `PRODUCTS` / `QUOTE_CURRENCIES`. */
export function coinbaseSelection(
  config: Pick<Config, "products" | "quoteCurrencies">,
): ExchangeSelection {
  return {
    exchange: "coinbase",
    name: "Coinbase",
    products: config.products,
    quoteCurrencies: config.quoteCurrencies,
    variable: "PRODUCTS",
  };
}

/** The selection of every exchange in `EXCHANGES`, in order. */
export function exchangeSelections(
  config: Pick<Config, "exchanges" | "products" | "quoteCurrencies" | "kraken">,
): ExchangeSelection[] {
  return config.exchanges.map((exchange) =>
    exchange === "coinbase" ? coinbaseSelection(config) : {
      exchange,
      name: "Kraken",
      products: config.kraken.products,
      quoteCurrencies: config.kraken.quoteCurrencies,
      variable: "KRAKEN_PRODUCTS",
    }
  );
}

/**
 * The exchange's rows for `ids` (market keys; absent: ids it does not know). Errors propagate as the REST client
 * classified them (`retryable`).
 */
async function lookUp(
  rest: Pick<MarketRest, "products">,
  ids: readonly string[],
  signal?: AbortSignal,
): Promise<Map<string, Product>> {
  const rows = ids.length <= BY_ID_LIMIT
    ? await rest.products({ productIds: [...ids], productType: "SPOT", signal })
    : await rest.products({ productType: "SPOT", signal });
  const wanted = new Set(ids);
  return new Map(rows.filter((p) => wanted.has(p.productId)).map((p) => [p.productId, p]));
}

/**
 * Checks an explicit product list against Coinbase: every id must be known (else a
 * {@linkcode ConfigError} naming `variable` and the unknown ids); the rows Coinbase knows but
 * that cannot be served (delisted, disabled, aliases) are logged and left out.
 *
 * @throws {ConfigError} naming `variable` when Coinbase does not know some ids
 */
export async function checkProductList(
  rest: Pick<MarketRest, "products">,
  ids: readonly string[],
  variable = "PRODUCTS",
  signal?: AbortSignal,
  exchangeName = "Coinbase",
): Promise<Product[]> {
  const found = await lookUp(rest, ids, signal);
  const unknown = ids.filter((id) => !found.has(id));
  if (unknown.length > 0) {
    throw new ConfigError(
      variable,
      `${variable} lists ${
        unknown.length === 1 ? "a product" : "products"
      } ${exchangeName} does not know: ${unknown.join(", ")}`,
    );
  }
  const served: Product[] = [];
  for (const id of ids) {
    const p = found.get(id)!;
    const why = whyNotServed(p);
    if (why === undefined) served.push(p);
    else {log.warn("{variable} lists {product}, which is not served: {reason}", {
        variable,
        product: id,
        reason: why,
      });}
  }
  return served;
}

/**
 * The products of this shard, with their catalogue fields. An explicit list is checked against
 * Coinbase first ({@linkcode checkProductList}: unknown ids are a {@linkcode ConfigError} naming
 * `PRODUCTS`); `all` is every row {@linkcode isServedByAll} accepts. REST errors propagate (the
 * caller retries the retryable ones).
 */
export async function resolveProducts(
  config: Pick<Config, "products" | "quoteCurrencies" | "shardCount" | "shardIndex">,
  rest: Pick<MarketRest, "products">,
  signal?: AbortSignal,
  selection: ExchangeSelection = coinbaseSelection(config),
): Promise<Product[]> {
  const { exchange, quoteCurrencies } = selection;
  const servable = selection.products === "all"
    ? (await rest.products({ quoteCurrencies, productType: "SPOT", signal }))
      .filter((p) => isServedByAll(p, quoteCurrencies))
    : await checkProductList(
      rest,
      selection.products.map((id) => marketKey(exchange, id)),
      selection.variable,
      signal,
      selection.name,
    );
  const mine = new Set(
    productsForShard(servable.map((p) => p.productId), config.shardCount, config.shardIndex),
  );
  return servable.filter((p) => mine.has(p.productId));
}

/** A product as a catalogue entry written at `nowMs`. */
export function catalogueEntry(p: Product, nowMs: number): CatalogueEntry {
  return {
    product_id: p.productId,
    base_currency: p.baseCurrency,
    quote_currency: p.quoteCurrency,
    status: catalogueStatus(p),
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
  deps: { rest: Pick<MarketRest, "products">; store: CandleStore; clock?: Clock },
  signal?: AbortSignal,
): Promise<CatalogueSummary> {
  const products = await deps.rest.products({ productType: "SPOT", signal });
  const now = (deps.clock ?? Date.now)();
  const entries = products.map((p) => catalogueEntry(p, now));
  await deps.store.writeCatalogue(entries);
  const online = entries.filter((e) => e.status === "online").length;
  return { online, delisted: entries.length - online };
}
