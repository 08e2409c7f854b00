/**
 * @module
 * The {@linkcode CandleStore} interface: what the writer, the routes, seeding and ingest need
 * from storage, implemented by `KvCandleStore` (Deno KV) and `FirestoreCandleStore`. Paths and
 * field names are fixed by DESIGN.md ("Stored data"); implementations own the mapping.
 */
import type { Candle } from "../candles/candle.ts";
import type { GranularityId } from "../candles/granularity.ts";
import type { FillWatermarks } from "./fill_watermark.ts";

/** A candle addressed to its document. */
export interface CandleDoc {
  product: string;
  granularity: GranularityId;
  candle: Candle;
}

/** One product's entry in the `trading_pairs/exchanges` catalogue (`coinbase.{product_id}`). */
export interface CatalogueEntry {
  product_id: string;
  base_currency: string;
  quote_currency: string;
  status: "online" | "delisted";
  min_size: string;
  max_size: string;
  /** Epoch milliseconds of the sync that wrote it. */
  last_updated: number;
}

/**
 * A product document `exchanges/coinbase/products/{product_id}` as written (the store adds
 * `lastUpdate`: a server timestamp in Firestore, epoch ms in KV). sc-app lists these documents.
 */
export interface ProductDoc {
  product_id: string;
  base_currency: string;
  quote_currency: string;
  status: "online" | "delisted";
}

/** A product document as read back, `lastUpdate` in epoch milliseconds. */
export interface StoredProductDoc extends ProductDoc {
  lastUpdate: number;
}

/** What a clean-up of the seed service's plural-granularity documents found (or deleted). */
export interface PluralCleanup {
  /** Products that had any. */
  products: number;
  /** Documents (KV entries) found, and deleted unless it was a dry run. */
  documents: number;
  /** Up to 20 of their paths, for the operator. */
  examples: string[];
}

/** What a shard reports of its Coinbase connections (`/api/status` in brief). */
export interface ShardConnections {
  connected: number;
  total: number;
  /** Reconnects over the process lifetime, all connections. */
  reconnects: number;
}

/** What a shard reports of gaps in its feed and their repair. */
export interface ShardGaps {
  /** Sequence gaps over the process lifetime, all connections. */
  sequenceGaps: number;
  /** Largest interval between two frames on any connection, seconds. */
  maxGapS: number;
}

/**
 * One shard's entry in the registry `spot_server/shards/{index}-of-{count}` (DESIGN.md "Stored
 * data"): written by the shard itself every ~15 s, marked `stopped` on shutdown.
 */
export interface ShardDoc {
  index: number;
  count: number;
  /** The build or Cloud Run revision running. */
  version: string;
  /** Epoch milliseconds. */
  startedAt: number;
  /** Epoch milliseconds of the last write. */
  heartbeatAt: number;
  status: "starting" | "healthy" | "degraded" | "stopped";
  /** The products this shard serves: market keys (`BTC-USD` on Coinbase, `kraken:BTC-USD`). */
  products: string[];
  /** What the fleet as a whole is configured to serve of Coinbase: `PRODUCTS` (a list, or `all`). */
  selection: { products: string[] | "all"; quoteCurrencies: string[] };
  /**
   * Per exchange served (`EXCHANGES`), what the fleet is configured to serve of it: stored ids
   * (`BTC-USD`) or `all`. Absent in entries of shards from before Kraken: Coinbase alone.
   */
  exchanges?: Record<string, { products: string[] | "all"; quoteCurrencies: string[] }>;
  connections: ShardConnections;
  gaps: ShardGaps;
  /**
   * Per product (market key), the oldest minute start (epoch s) from which the stored candles
   * of that product may be wrong: a gap-repair window this run had not repaired yet (or whose
   * corrections the writer had not stored yet), the outage of a connection down whose reconnect
   * had not reported its gap yet, or a start the previous run left that this run had not
   * fetched again yet. The next run takes them from REST again (seeding and catch-up, back to
   * `max(CATCHUP_HOURS, HISTORY_DAYS)`). At most `PENDING_REPAIRS_CAP` products (registry.ts);
   * beyond that one key `*` holds the oldest start for every product (a product with its own
   * key too counts from the earlier of the two). Absent when none.
   */
  pendingRepairs?: Record<string, number>;
}

/** The registry id of a shard: `{index}-of-{count}`. */
export function shardId(doc: Pick<ShardDoc, "index" | "count">): string {
  return `${doc.index}-of-${doc.count}`;
}

/** Orders shard entries by count, then index. */
export function byShard(a: ShardDoc, b: ShardDoc): number {
  return a.count - b.count || a.index - b.index;
}

/** A range query over completed candles; bounds are bucket starts in epoch seconds, inclusive. */
export interface RangeQuery {
  start?: number;
  end?: number;
  /** At most this many, from `start` (oldest first) or, without `start`, the latest ones. */
  limit: number;
}

/**
 * Storage for live candles, completed candles, the catalogue, ingest checkpoints and the history
 * filler's watermarks (`fill_watermark.ts`; optional: a store without them makes the filler keep
 * its progress in memory).
 */
export interface CandleStore extends Partial<FillWatermarks> {
  /** `kv` or `firestore`, for status pages. */
  readonly kind: "kv" | "firestore";
  /**
   * Writes live candles (merge; latest wins). One batch; all or nothing per call. The documents
   * are the writer's and refilled after the call: a store copies what it keeps.
   */
  writeLive(docs: CandleDoc[]): Promise<void>;
  /** Writes completed candles, idempotent by document id. One batch per call. */
  writeCompleted(docs: CandleDoc[]): Promise<void>;
  /** Completed candles of one product and granularity in a range, oldest first. */
  readCompleted(product: string, granularity: GranularityId, query: RangeQuery): Promise<Candle[]>;
  /** Start (epoch s) of the newest completed candle stored, if any. */
  latestCompletedStart(product: string, granularity: GranularityId): Promise<number | undefined>;
  /** The live candles of a product (every granularity stored). */
  readLive(product: string): Promise<CandleDoc[]>;
  /** The live candles of many products, in batched reads (products with none map to `[]`). */
  readLiveMany(products: string[]): Promise<Map<string, CandleDoc[]>>;
  /**
   * Completed candles of many products at one granularity with starts in `[fromSec, toSec]`
   * (epoch s, inclusive), oldest first, in batched reads; a product with none maps to `[]` or is
   * absent.
   */
  readCompletedMany(
    products: string[],
    granularity: GranularityId,
    fromSec: number,
    toSec: number,
  ): Promise<Map<string, Candle[]>>;
  /**
   * Start (epoch s) of the newest completed candle stored per product (absent: none), only
   * among those starting at or before `endSec` and at or after `fromSec` when given. A bounded
   * window lets a store answer with batched reads of the documents it can name (Firestore)
   * instead of one query per product.
   */
  latestCompletedStarts(
    products: string[],
    granularity: GranularityId,
    endSec?: number,
    fromSec?: number,
  ): Promise<Map<string, number>>;
  /** The catalogue entries stored for Coinbase. */
  readCatalogue(): Promise<CatalogueEntry[]>;
  /** Merges entries into the catalogue (other products' entries are kept). */
  writeCatalogue(entries: CatalogueEntry[]): Promise<void>;
  /** Merges product documents (other fields of the documents are kept), `lastUpdate` = now. */
  writeProducts(docs: ProductDoc[]): Promise<void>;
  /** The product documents of `ids` that exist, in the order of `ids`. */
  readProducts(ids: string[]): Promise<StoredProductDoc[]>;
  /**
   * Finds, and unless `dryRun` deletes, every document under a plural granularity id of the seed
   * service (`…/intervals/FIVE_MINUTES`, `…/history/TWO_HOURS/candles/*`, `…/ingest/SIX_HOURS`).
   */
  deletePluralDocuments(options: { dryRun: boolean }): Promise<PluralCleanup>;
  /** Ingest progress: history of (product, granularity) is complete through this bucket start. */
  readCheckpoint(product: string, granularity: GranularityId): Promise<number | undefined>;
  writeCheckpoint(product: string, granularity: GranularityId, through: number): Promise<void>;
  /** Writes this shard's registry entry (replacing the previous one of the same id). */
  writeShard(doc: ShardDoc): Promise<void>;
  /** Every shard entry in the registry, ordered by count then index. */
  readShards(): Promise<ShardDoc[]>;
  /** A cheap round trip, for health checks; throws when the store is unreachable. */
  ping(): Promise<void>;
  /** Releases connections and files. */
  close(): Promise<void>;
}
