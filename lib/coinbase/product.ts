/**
 * @module
 * Coinbase's product object (`/market/products` rows, coinbase-protocol.md §6.3) as the service
 * uses it: the fields the catalogue, sharding and `PRODUCTS=all` need, typed, with decimals kept
 * as the exact strings Coinbase sends. Unknown fields are ignored; a row without an id is an
 * error naming what was missing.
 */
import type { Product } from "../exchange/product.ts";

export type { Product };

function str(row: Record<string, unknown>, key: string): string {
  const v = row[key];
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : "";
}

/**
 * Parses one product row.
 *
 * @throws {TypeError} when the row is not an object or has no `product_id`
 */
export function parseProduct(row: unknown): Product {
  if (typeof row !== "object" || row === null) {
    throw new TypeError(`Cannot parse Coinbase product ${JSON.stringify(row)}: not an object`);
  }
  const r = row as Record<string, unknown>;
  const productId = str(r, "product_id");
  if (!productId) {
    throw new TypeError(
      `Cannot parse Coinbase product ${JSON.stringify(row).slice(0, 200)}: product_id is missing`,
    );
  }
  const [base = "", quote = ""] = productId.split("-");
  return {
    productId,
    baseCurrency: str(r, "base_currency_id") || base,
    quoteCurrency: str(r, "quote_currency_id") || quote,
    status: str(r, "status") || "online",
    productType: str(r, "product_type"),
    baseMinSize: str(r, "base_min_size"),
    baseMaxSize: str(r, "base_max_size"),
    baseIncrement: str(r, "base_increment"),
    quoteIncrement: str(r, "quote_increment"),
    quoteMinSize: str(r, "quote_min_size"),
    quoteMaxSize: str(r, "quote_max_size"),
    displayName: str(r, "display_name") || productId,
    baseName: str(r, "base_name"),
    quoteName: str(r, "quote_name"),
    price: str(r, "price"),
    tradingDisabled: r["trading_disabled"] === true,
    isDisabled: r["is_disabled"] === true,
    alias: str(r, "alias"),
  };
}
