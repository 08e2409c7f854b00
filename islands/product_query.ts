/**
 * @module
 * Filtering and sorting of the overview's products table, shared by the server (which renders
 * `/?q=eth&sort=change&dir=desc` without any script, so a view can be linked) and the island
 * (which filters as the operator types). Pure: rows in, rows out; the query string is the state.
 */
import { EXCHANGE_IDS, exchangeOf, isExchangeId } from "../lib/exchange/market.ts";

/** Columns the table sorts by. */
export const SORT_KEYS = ["product", "close", "change", "volume", "trade"] as const;

/** A sortable column. */
export type SortKey = typeof SORT_KEYS[number];

/** Sort direction. */
export type SortDir = "asc" | "desc";

/** The table's view state, as in the query string (`q`, `sort`, `dir`, `exchange`). */
export interface TableQuery {
  /** Only this exchange's products (`coinbase`, `kraken`); empty shows every exchange. */
  exchange?: string;
  /** Case-insensitive part of a product id, base or quote currency; empty shows everything. */
  q: string;
  sort: SortKey;
  dir: SortDir;
}

/** The default view: every product by id, ascending. */
export const DEFAULT_QUERY: TableQuery = { q: "", sort: "product", dir: "asc" };

/** What filtering and sorting look at in a row. */
export interface QueryRow {
  product: string;
  base: string;
  quote: string;
  /** Last known price (the live close, or the last close before it). */
  close?: number;
  /** Change since the open of the current interval, percent. */
  change?: number;
  volume?: number;
  /** Seconds since the last trade. */
  tradeAgeS?: number;
}

/** The direction a column sorts in when first clicked: numbers largest first, names A–Z. */
export function defaultDir(key: SortKey): SortDir {
  return key === "product" || key === "trade" ? "asc" : "desc";
}

/**
 * Reads a {@linkcode TableQuery} from a query string; unknown `sort`/`dir` values fall back to
 * the defaults (a notice names them).
 */
export function parseTableQuery(
  params: URLSearchParams,
): { query: TableQuery; notice?: string } {
  const q = (params.get("q") ?? "").trim().slice(0, 40);
  const rawSort = params.get("sort");
  const rawDir = params.get("dir");
  const sort = (SORT_KEYS as readonly string[]).includes(rawSort ?? "")
    ? rawSort as SortKey
    : DEFAULT_QUERY.sort;
  const dir = rawDir === "asc" || rawDir === "desc" ? rawDir : defaultDir(sort);
  const rawExchange = (params.get("exchange") ?? "").trim().toLowerCase();
  const exchange = isExchangeId(rawExchange) ? rawExchange : "";
  const bad = [
    rawExchange && !exchange ? `exchange "${rawExchange}" (one of ${EXCHANGE_IDS.join(", ")})` : "",
    rawSort && sort !== rawSort ? `sort "${rawSort}" (one of ${SORT_KEYS.join(", ")})` : "",
    rawDir && dir !== rawDir ? `dir "${rawDir}" (asc or desc)` : "",
  ].filter(Boolean);
  return {
    query: exchange ? { q, sort, dir, exchange } : { q, sort, dir },
    notice: bad.length ? `Unknown ${bad.join(" and ")}: showing the default view` : undefined,
  };
}

/** The query string of a view (defaults left out), with a leading `?` when not empty. */
export function tableSearch(query: TableQuery, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams(extra);
  if (query.q) params.set("q", query.q);
  if (query.exchange) params.set("exchange", query.exchange);
  if (query.sort !== DEFAULT_QUERY.sort || query.dir !== defaultDir(query.sort)) {
    params.set("sort", query.sort);
    params.set("dir", query.dir);
  }
  const s = params.toString();
  return s ? `?${s}` : "";
}

/** Whether a row matches the filter text (part of its id, base or quote, any case). */
export function matches(row: Pick<QueryRow, "product" | "base" | "quote">, q: string): boolean {
  if (!q) return true;
  const needle = q.toUpperCase();
  return row.product.includes(needle) || row.base.includes(needle) || row.quote.includes(needle);
}

/** The rows matching `query.q`, sorted; rows without a value for the column go last. */
export function applyQuery<R extends QueryRow>(rows: R[], query: TableQuery): R[] {
  const out = rows.filter((r) =>
    matches(r, query.q) && (!query.exchange || exchangeOf(r.product) === query.exchange)
  );
  const sign = query.dir === "asc" ? 1 : -1;
  const value = (r: R): number | string | undefined =>
    query.sort === "product" ? r.product : query.sort === "trade" ? r.tradeAgeS : r[query.sort];
  return out.sort((a, b) => {
    const x = value(a);
    const y = value(b);
    if (x === undefined || y === undefined || Number.isNaN(x) || Number.isNaN(y)) {
      const missing = Number(x === undefined || Number.isNaN(x)) -
        Number(y === undefined || Number.isNaN(y));
      return missing || a.product.localeCompare(b.product);
    }
    const c = x < y ? -1 : x > y ? 1 : 0;
    return c * sign || a.product.localeCompare(b.product);
  });
}
