/**
 * @module
 * Where candles live and what their stored fields are, shared by both stores. Firestore uses
 * these segments as a document path; Deno KV uses the same segments as key parts (numbers last,
 * so keys sort by time). The layout is fixed by DESIGN.md ("Stored data"):
 *
 * - live: `exchanges/coinbase/products/{product}/intervals/{granularity}`
 *   `{timestamp (epoch s), open, high, low, close, volume, lastUpdate}`
 * - completed: `exchanges/coinbase/products/{product}/history/{granularity}/candles/{start_ms}`
 *   `{open, high, low, close, volume, first_timestamp, last_timestamp}` in epoch ms, where
 *   `first_timestamp` is the bucket start and `last_timestamp` the bucket's last millisecond
 *   (start + length − 1), so `[first, last]` covers the bucket exactly
 * - product: `exchanges/coinbase/products/{product}`
 *   `{product_id, base_currency, quote_currency, status, lastUpdate}` (merged)
 * - catalogue: `trading_pairs/exchanges`, map field `coinbase.{product_id}`
 * - shard registry: `spot_server/shards`, one map field per shard `{index}-of-{count}` (a
 *   Firestore document path needs an even number of segments, so, like the catalogue, the id is a
 *   field of the `spot_server/shards` document; in Deno KV it is the third key part)
 * - ingest checkpoint (this service's own): `exchanges/coinbase/products/{product}/ingest/{granularity}`
 *   `{through (epoch s bucket start), updated_at}`
 *
 * `coinbase` stands for the product's exchange: products are market keys (`lib/exchange/market.ts`),
 * `kraken:BTC-USD` is stored under `exchanges/kraken/products/BTC-USD/…` and in the catalogue's
 * `kraken` field; documents hold the bare id (`product_id: "BTC-USD"`), as the apps read them.
 *
 * Reading and writing the documents is left to `kv.ts` and `firestore.ts`.
 */
import type { Candle } from "../candles/candle.ts";
import { granularityById, type GranularityId } from "../candles/granularity.ts";
import {
  DEFAULT_EXCHANGE,
  EXCHANGE_IDS,
  type ExchangeId,
  marketKey,
  splitMarketKey,
} from "../exchange/market.ts";

/** The fields of a live candle document (`lastUpdate` is added by the store). */
export interface LiveFields {
  timestamp: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

/** The fields of a completed candle document. */
export interface CompletedFields {
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  first_timestamp: number;
  last_timestamp: number;
}

/** The sub-collections of a product document that are keyed by granularity id. */
export const GRANULARITY_COLLECTIONS: readonly string[] = [
  "intervals",
  "history",
  "ingest",
  "filled",
];

/** The collection of an exchange's product documents, `exchanges/{exchange}/products`. */
export function productsCollection(exchange: ExchangeId = DEFAULT_EXCHANGE): string[] {
  return ["exchanges", exchange, "products"];
}

/** Coinbase's product documents, `exchanges/coinbase/products`. */
export const PRODUCTS_COLLECTION: readonly string[] = productsCollection();

/** Every exchange's collection of product documents, with the exchange. */
export const EXCHANGE_COLLECTIONS: readonly { exchange: ExchangeId; path: readonly string[] }[] =
  EXCHANGE_IDS.map((exchange) => ({ exchange, path: productsCollection(exchange) }));

/** The catalogue document `trading_pairs/exchanges`. */
export const CATALOGUE_PATH: readonly string[] = ["trading_pairs", "exchanges"];
/** The map field of the catalogue document holding Coinbase products. */
export const CATALOGUE_FIELD = "coinbase";

/** The catalogue field of the exchange of a market key, and the stored id. */
export function catalogueSlot(key: string): { field: ExchangeId; id: string } {
  const { exchange, product } = splitMarketKey(key);
  return { field: exchange, id: product };
}

/** The market key of a catalogue entry or product document read from `exchange`'s part. */
export function keyFromStored(exchange: ExchangeId, storedId: string): string {
  return marketKey(exchange, storedId);
}

/** The stored (bare) id of a market key: what documents carry as `product_id`. */
export function storedId(key: string): string {
  return splitMarketKey(key).product;
}
/** The shard registry document `spot_server/shards`; each shard is a field `{index}-of-{count}`. */
export const SHARDS_PATH: readonly string[] = ["spot_server", "shards"];

/**
 * Checks that a product id can be used as one path segment.
 *
 * @throws {RangeError} when it is empty or contains `/`
 */
export function checkSegment(product: string): string {
  if (product === "" || product.includes("/") || product === "." || product === "..") {
    throw new RangeError(`Cannot use product "${product}" as a document path segment`);
  }
  return product;
}

/**
 * `exchanges/coinbase/products/{product}`: the product document (in the compact Firestore layout
 * also the live document).
 */
export function productPath(product: string): string[] {
  const { exchange, product: id } = splitMarketKey(product);
  return [...productsCollection(exchange), checkSegment(id)];
}

/** `exchanges/coinbase/products/{product}/intervals/{granularity}`. */
export function livePath(product: string, granularity: GranularityId): string[] {
  return [...productPath(product), "intervals", granularity];
}

/** `exchanges/coinbase/products/{product}/history/{granularity}/candles`. */
export function completedCollectionPath(product: string, granularity: GranularityId): string[] {
  return [...productPath(product), "history", granularity, "candles"];
}

/** `…/history/{granularity}/candles/{start_ms}` as segments; the last one is a number. */
export function completedPath(
  product: string,
  granularity: GranularityId,
  startSec: number,
): [...string[], number] {
  return [...completedCollectionPath(product, granularity), startSec * 1000];
}

/** `exchanges/coinbase/products/{product}/ingest/{granularity}`. */
export function checkpointPath(product: string, granularity: GranularityId): string[] {
  return [...productPath(product), "ingest", granularity];
}

/** Joins segments into a Firestore document path. */
export function joinPath(segments: readonly (string | number)[]): string {
  return segments.join("/");
}

/** The live fields of a candle. */
export function liveFields(candle: Candle): LiveFields {
  const fields = { timestamp: NaN, open: NaN, high: NaN, low: NaN, close: NaN, volume: NaN };
  return fillLiveFields(fields, candle);
}

/**
 * Overwrites `fields` (returned) with the live fields of `candle`: for a store that keeps its
 * live values and updates them in place instead of copying them on every write.
 */
export function fillLiveFields<F extends LiveFields>(fields: F, candle: Candle): F {
  fields.timestamp = candle.start;
  fields.open = candle.open;
  fields.high = candle.high;
  fields.low = candle.low;
  fields.close = candle.close;
  fields.volume = candle.volume;
  return fields;
}

/** A candle from live fields. */
export function candleFromLive(fields: LiveFields): Candle {
  const { timestamp, open, high, low, close, volume } = fields;
  return { start: timestamp, open, high, low, close, volume };
}

/** The completed fields of a candle of `granularity`. */
export function completedFields(candle: Candle, granularity: GranularityId): CompletedFields {
  const startMs = candle.start * 1000;
  const { open, high, low, close, volume } = candle;
  return {
    open,
    high,
    low,
    close,
    volume,
    first_timestamp: startMs,
    last_timestamp: startMs + granularityById(granularity).seconds * 1000 - 1,
  };
}

/** A candle from a completed document's id (start ms) and fields. */
export function candleFromCompleted(startMs: number, fields: CompletedFields): Candle {
  const { open, high, low, close, volume } = fields;
  return { start: Math.floor(startMs / 1000), open, high, low, close, volume };
}
