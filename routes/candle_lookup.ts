/**
 * @module
 * Which candles a market-data route answers for a product (`/history`, `/api/candles`): the
 * shard's own when it serves the product; with a store the fleet shares (Firestore), any
 * product in the catalogue, read from the store as the owner wrote it (DESIGN.md "Stored
 * data"), so that one `API_BASE_URL` in front of any shard answers for every product; else a
 * message saying which shard to ask, when the registry knows.
 */
import type { Granularity } from "../lib/candles/granularity.ts";
import type { CandleRange, CandleRow, ServiceView } from "../lib/service/view.ts";

/** The candles of a product, or why this instance cannot answer for it. */
export type Lookup =
  | { rows: CandleRow[]; from: "own" | "store" }
  | { notServed: string };

/** Looks up `key`'s candles in `range` (see the module comment). */
export async function lookUpCandles(
  view: Pick<ServiceView, "products" | "candles" | "storedCandles" | "ownerOf">,
  key: string,
  granularity: Granularity,
  range: CandleRange,
  /** How messages name the product (quoted). */
  shown = `"${key}"`,
): Promise<Lookup> {
  if (view.products().some((p) => p.productId === key)) {
    return { rows: await view.candles(key, granularity, range), from: "own" };
  }
  const stored = await view.storedCandles(key, granularity, range);
  if (stored !== undefined) return { rows: stored, from: "store" };
  const owner = await view.ownerOf(key).catch(() => undefined);
  return {
    notServed: owner
      ? `${shown} is served by shard ${owner}, not this one: ask it (this shard's store is its own)`
      : `${shown} is not served by this instance (see /api/products)`,
  };
}
