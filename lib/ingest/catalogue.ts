/**
 * @module
 * Syncing the `trading_pairs/exchanges` catalogue (DESIGN.md "Stored data") from Coinbase's
 * spot product list: online and delisted products with their currencies and order size limits.
 */
import type { Clock } from "../clock.ts";
import type { RestClient } from "../coinbase/rest.ts";
import type { Product } from "../coinbase/product.ts";
import type { CandleStore, CatalogueEntry } from "../store/store.ts";

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
