/**
 * @module
 * {@linkcode KvCandleStore}: the embedded {@linkcode CandleStore} on Deno KV (a SQLite file at
 * `KV_PATH`, default `./data/spot.kv`). Keys are the Firestore path segments of `paths.ts`
 * with the number last, e.g. `["exchanges","coinbase","products","BTC-USD","history",
 * "ONE_MINUTE","candles",1773500700000]`, so range reads are key-ordered list calls. The
 * catalogue's map field becomes one key per product:
 * `["trading_pairs","exchanges","coinbase",product_id]`; a product document is the key
 * `["exchanges","coinbase","products",product_id]`. Values carry the same fields as the
 * Firestore documents (`lastUpdate` and `updated_at` as epoch milliseconds).
 *
 * Live candles (nobody but this process reads the KV file, DESIGN.md "Stored data") are ONE
 * entry per product, `["exchanges","coinbase","products",product_id,"live"]`: one write per
 * product per flush instead of eight. Its value is packed ({@linkcode encodeLiveEntry}): 8 × 7
 * float64 (little-endian), per granularity in `GRANULARITIES` order `timestamp, open, high, low,
 * close, volume, lastUpdate`, a NaN timestamp where that granularity has no candle; Deno KV
 * stores a `Uint8Array` as its bytes, where it runs V8's serialiser on an object (the
 * `{ [granularity]: {timestamp, open, …} }` shape earlier versions wrote, still read): a full
 * shard writes ~1,000 of these a second, 7 µs of CPU each against 32-34 µs as objects
 * (bench/RESULTS.md, 2026-12-07). The store keeps the last value it wrote per product, so a
 * write of some granularities merges with the others without reading the entry back (an entry
 * written by an earlier process is read once, in batches of ten, on the first write).
 *
 * Large writes are committed in chunks of {@linkcode KV_CHUNK} entries (Deno KV caps an atomic
 * operation at 1,000 mutations and 800 KiB; the chunk is smaller so that no task of a flush
 * holds the event loop for more than a few ms), each in a task of its own, a couple in flight
 * (`chunked_write.ts`): each chunk is all-or-nothing, a whole call is not. Every write is
 * idempotent (latest-wins by key), so a caller retrying a failed call converges.
 */
/// <reference lib="deno.unstable" />
import { type FillWatermark, readKvFillWatermark, writeKvFillWatermark } from "./fill_watermark.ts";
import { dirname } from "node:path";
import type { Candle } from "../candles/candle.ts";
import { GRANULARITIES, granularityById, type GranularityId } from "../candles/granularity.ts";
import {
  candleFromCompleted,
  CATALOGUE_PATH,
  catalogueSlot,
  checkpointPath,
  completedCollectionPath,
  type CompletedFields,
  completedFields,
  completedPath,
  EXCHANGE_COLLECTIONS,
  GRANULARITY_COLLECTIONS,
  keyFromStored,
  type LiveFields,
  productPath,
  PRODUCTS_COLLECTION,
  SHARDS_PATH,
  storedId,
} from "./paths.ts";
import { PLURAL_GRANULARITY_IDS } from "../candles/granularity.ts";
import { eachConcurrently } from "./concurrency.ts";
import { type ChunkOptions, writeInChunks } from "./chunked_write.ts";
import {
  byShard,
  type CandleDoc,
  type CandleStore,
  type CatalogueEntry,
  type PluralCleanup,
  type ProductDoc,
  type RangeQuery,
  type ShardDoc,
  shardId,
  type StoredProductDoc,
} from "./store.ts";

/**
 * Entries per atomic commit of a write. Deno KV allows 1,000 mutations and 800 KiB per atomic
 * operation; a live entry holding eight candles is ~1 KB. The bound that matters is the main
 * thread's: building, serialising and committing 100 live entries takes ~2.5 ms (measured on
 * the 2-core test machine), so a chunk of 100 keeps each task of a flush to a few ms.
 */
export const KV_CHUNK = 100;
/** Atomic commits of one write in flight at once (overlaps each chunk's yield to the loop). */
export const KV_CONCURRENCY = 2;

/** Options for {@linkcode openKvCandleStore}. */
export interface KvStoreOptions {
  /** Entries per atomic commit. @default {KV_CHUNK} */
  writeChunk?: number;
  /** Commits of one write in flight at once. @default {KV_CONCURRENCY} */
  writeConcurrency?: number;
}

/** Keys per `getMany` (Deno KV's limit). */
const KV_GET_MANY = 10;

/** Live candles of one product, by granularity: the `live` entry's value as earlier versions wrote it. */
type ObjectLiveEntry = Partial<Record<GranularityId, LiveFields & { lastUpdate: number }>>;

/** Numbers per granularity in a packed live entry: timestamp, open, high, low, close, volume, lastUpdate. */
const LIVE_SLOT = 7;
/** Numbers in a packed live entry. */
const LIVE_NUMBERS = GRANULARITIES.length * LIVE_SLOT;

/** A product's live values as last written (or read), with its key: what a commit sets. */
interface CachedLive {
  key: Deno.KvKey;
  /** {@linkcode LIVE_NUMBERS} numbers in the packed entry's order (see the module comment). */
  values: Float64Array;
  /** The live write that last listed it. */
  listedBy: number;
}

/**
 * The packed value of a product's live entry (see the module comment): a copy, so that a commit
 * in flight never sees the cache change under it.
 */
export function encodeLiveEntry(values: Float64Array): Uint8Array {
  const bytes = new Uint8Array(LIVE_NUMBERS * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < LIVE_NUMBERS; i++) view.setFloat64(i * 8, values[i]!, true);
  return bytes;
}

/**
 * The live values of a stored live entry: packed, or the object shape earlier versions wrote;
 * anything else (or nothing) holds no candle. Unknown granularities and non-numeric fields are
 * skipped, never guessed.
 */
export function decodeLiveEntry(value: unknown): Float64Array {
  const values = new Float64Array(LIVE_NUMBERS).fill(NaN);
  if (value instanceof Uint8Array) {
    if (value.byteLength !== LIVE_NUMBERS * 8) return values;
    const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
    for (let i = 0; i < LIVE_NUMBERS; i++) values[i] = view.getFloat64(i * 8, true);
    return values;
  }
  if (typeof value !== "object" || value === null) return values;
  for (const g of GRANULARITIES) {
    const f = (value as ObjectLiveEntry)[g.id];
    if (typeof f?.timestamp !== "number") continue;
    setLiveSlot(
      values,
      g.index,
      f.timestamp,
      f,
      typeof f.lastUpdate === "number" ? f.lastUpdate : NaN,
    );
  }
  return values;
}

/** Sets granularity `index`'s slot of packed live values. */
function setLiveSlot(
  values: Float64Array,
  index: number,
  start: number,
  c: { open: number; high: number; low: number; close: number; volume: number },
  lastUpdate: number,
): void {
  const at = index * LIVE_SLOT;
  values[at] = start;
  values[at + 1] = c.open;
  values[at + 2] = c.high;
  values[at + 3] = c.low;
  values[at + 4] = c.close;
  values[at + 5] = c.volume;
  values[at + 6] = lastUpdate;
}

/** The candles a product's live values hold, in granularity order. */
function liveDocs(product: string, values: Float64Array): CandleDoc[] {
  const docs: CandleDoc[] = [];
  for (const g of GRANULARITIES) {
    const at = g.index * LIVE_SLOT;
    const start = values[at]!;
    if (Number.isNaN(start)) continue;
    docs.push({
      product,
      granularity: g.id,
      candle: {
        start,
        open: values[at + 1]!,
        high: values[at + 2]!,
        low: values[at + 3]!,
        close: values[at + 4]!,
        volume: values[at + 5]!,
      },
    });
  }
  return docs;
}

/** `["exchanges","coinbase","products",product,"live"]`: the product's live entry. */
export function liveEntryKey(product: string): string[] {
  return [...productPath(product), "live"];
}

/**
 * Opens a {@linkcode KvCandleStore} on a path (creating its directory) or wraps an open
 * `Deno.Kv`. A store opened from a path closes its database in `close()`; a passed-in
 * `Deno.Kv` stays the caller's to close.
 *
 * @example
 * ```ts ignore
 * const store = await openKvCandleStore(config.kvPath);
 * ```
 */
export async function openKvCandleStore(
  pathOrKv: string | Deno.Kv,
  options: KvStoreOptions = {},
): Promise<KvCandleStore> {
  if (typeof pathOrKv !== "string") return new KvCandleStore(pathOrKv, false, options);
  if (pathOrKv !== ":memory:") await Deno.mkdir(dirname(pathOrKv), { recursive: true });
  try {
    return new KvCandleStore(await Deno.openKv(pathOrKv), true, options);
  } catch (error) {
    throw new Error(`Cannot open Deno KV at "${pathOrKv}": ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** A {@linkcode CandleStore} on Deno KV. Use {@linkcode openKvCandleStore} to create one. */
export class KvCandleStore implements CandleStore {
  readonly kind = "kv" as const;
  /** One live entry per product (see the module comment): writer stats count one per product. */
  readonly layout = "compact" as const;
  #kv: Deno.Kv;
  #owned: boolean;
  /** The live entry last written (or read) per product. */
  readonly #live = new Map<string, CachedLive>();
  /** Live writes so far: numbers each write, so it lists a product once without a set. */
  #liveWrites = 0;
  #chunks: ChunkOptions;

  /** Wraps `kv`; `owned` says whether {@linkcode close} closes it. */
  constructor(kv: Deno.Kv, owned: boolean, options: KvStoreOptions = {}) {
    this.#kv = kv;
    this.#owned = owned;
    this.#chunks = {
      size: Math.min(options.writeChunk ?? KV_CHUNK, 1000),
      concurrency: options.writeConcurrency ?? KV_CONCURRENCY,
    };
  }

  async writeLive(docs: CandleDoc[]): Promise<void> {
    if (docs.length === 0) return;
    let missing: Set<string> | undefined;
    for (const d of docs) if (!this.#live.has(d.product)) (missing ??= new Set()).add(d.product);
    if (missing) await this.#loadLive([...missing]);
    // The cached entries are updated in place, and each chunk's commit serialises them as they
    // are: a full shard writes ~1,000 entries a second, held until their commits, and new
    // copies (or a grouping of the documents per product) would be promoted as garbage. A
    // failed commit leaves the cache ahead of the store, which is harmless: the writer writes
    // those values (or newer ones) again.
    const now = Date.now();
    const write = ++this.#liveWrites;
    const listed: CachedLive[] = [];
    for (const d of docs) {
      const cached = this.#live.get(d.product)!;
      if (cached.listedBy !== write) {
        cached.listedBy = write;
        listed.push(cached);
      }
      const c = d.candle;
      setLiveSlot(cached.values, granularityById(d.granularity).index, c.start, c, now);
    }
    await this.#commit("live entries", listed, (cached) => [
      cached.key,
      encodeLiveEntry(cached.values),
    ]);
  }

  /** Reads the live entries of `products` (written by an earlier process) into the cache. */
  async #loadLive(products: string[]): Promise<void> {
    for (let i = 0; i < products.length; i += KV_GET_MANY) {
      const chunk = products.slice(i, i + KV_GET_MANY);
      const keys = chunk.map(liveEntryKey);
      const entries = await this.#kv.getMany<unknown[]>(keys);
      chunk.forEach((p, k) =>
        this.#live.set(p, {
          key: keys[k]!,
          values: decodeLiveEntry(entries[k]?.value),
          listedBy: 0,
        })
      );
    }
  }

  async writeCompleted(docs: CandleDoc[]): Promise<void> {
    await this.#commit("completed candles", docs, (d) => [
      completedPath(d.product, d.granularity, d.candle.start),
      completedFields(d.candle, d.granularity),
    ]);
  }

  async readCompleted(
    product: string,
    granularity: GranularityId,
    query: RangeQuery,
  ): Promise<Candle[]> {
    const prefix = completedCollectionPath(product, granularity);
    const endKey = query.end === undefined ? undefined : [...prefix, query.end * 1000 + 1];
    const reverse = query.start === undefined;
    const selector: Deno.KvListSelector = query.start === undefined
      ? (endKey ? { prefix, end: endKey } : { prefix })
      : endKey
      ? { start: [...prefix, query.start * 1000], end: endKey }
      : { prefix, start: [...prefix, query.start * 1000] };
    if (query.limit <= 0) return [];
    const candles: Candle[] = [];
    const iter = this.#kv.list<CompletedFields>(selector, {
      limit: query.limit,
      reverse,
      batchSize: Math.min(query.limit, 500),
    });
    for await (const entry of iter) {
      candles.push(candleFromCompleted(entry.key.at(-1) as number, entry.value));
    }
    return reverse ? candles.reverse() : candles;
  }

  async latestCompletedStart(
    product: string,
    granularity: GranularityId,
  ): Promise<number | undefined> {
    const [last] = await this.readCompleted(product, granularity, { limit: 1 });
    return last?.start;
  }

  async readLive(product: string): Promise<CandleDoc[]> {
    return (await this.readLiveMany([product])).get(product) ?? [];
  }

  async readLiveMany(products: string[]): Promise<Map<string, CandleDoc[]>> {
    const out = new Map<string, CandleDoc[]>();
    for (let i = 0; i < products.length; i += KV_GET_MANY) {
      const chunk = products.slice(i, i + KV_GET_MANY);
      const entries = await this.#kv.getMany<unknown[]>(chunk.map(liveEntryKey));
      chunk.forEach((product, k) => {
        out.set(product, liveDocs(product, decodeLiveEntry(entries[k]?.value)));
      });
    }
    return out;
  }

  async readCompletedMany(
    products: string[],
    granularity: GranularityId,
    fromSec: number,
    toSec: number,
  ): Promise<Map<string, Candle[]>> {
    const out = new Map<string, Candle[]>();
    if (toSec < fromSec) return out;
    const g = GRANULARITIES.find((x) => x.id === granularity)!;
    const limit = Math.floor((toSec - fromSec) / g.seconds) + 1;
    await eachConcurrently(products, 16, async (product) => {
      out.set(
        product,
        await this.readCompleted(product, granularity, {
          start: fromSec,
          end: toSec,
          limit,
        }),
      );
    });
    return out;
  }

  async latestCompletedStarts(
    products: string[],
    granularity: GranularityId,
    endSec?: number,
    fromSec?: number,
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    await eachConcurrently(products, 16, async (product) => {
      const [latest] = await this.readCompleted(product, granularity, { end: endSec, limit: 1 });
      if (latest !== undefined && fromSec !== undefined && latest.start < fromSec) return;
      if (latest !== undefined) out.set(product, latest.start);
    });
    return out;
  }

  readFillWatermark(
    product: string,
    granularity: GranularityId,
  ): Promise<FillWatermark | undefined> {
    return readKvFillWatermark(this.#kv, product, granularity);
  }

  writeFillWatermark(
    product: string,
    granularity: GranularityId,
    mark: FillWatermark,
  ): Promise<void> {
    return writeKvFillWatermark(this.#kv, product, granularity, mark);
  }

  async readCatalogue(): Promise<CatalogueEntry[]> {
    const entries: CatalogueEntry[] = [];
    for (const { exchange } of EXCHANGE_COLLECTIONS) {
      const prefix = [...CATALOGUE_PATH, exchange];
      for await (const entry of this.#kv.list<Omit<CatalogueEntry, "product_id">>({ prefix })) {
        entries.push({
          ...entry.value,
          product_id: keyFromStored(exchange, String(entry.key.at(-1))),
        });
      }
    }
    return entries;
  }

  async writeCatalogue(entries: CatalogueEntry[]): Promise<void> {
    await this.#commit("catalogue entries", entries, ({ product_id, ...fields }) => {
      const { field, id } = catalogueSlot(product_id);
      return [[...CATALOGUE_PATH, field, id], fields];
    });
  }

  async writeProducts(docs: ProductDoc[]): Promise<void> {
    const now = Date.now();
    await this.#commit("product documents", docs, (d) => [
      productPath(d.product_id),
      { ...d, product_id: storedId(d.product_id), lastUpdate: now },
    ]);
  }

  async readProducts(ids: string[]): Promise<StoredProductDoc[]> {
    const docs: StoredProductDoc[] = [];
    for (let i = 0; i < ids.length; i += 10) { // getMany takes at most 10 keys
      const slice = ids.slice(i, i + 10);
      const entries = await this.#kv.getMany<StoredProductDoc[]>(slice.map(productPath));
      entries.forEach((e, j) => {
        if (e.value) docs.push({ ...e.value, product_id: slice[j]! });
      });
    }
    return docs;
  }

  async deletePluralDocuments({ dryRun }: { dryRun: boolean }): Promise<PluralCleanup> {
    const keys: Deno.KvKey[] = [];
    const products = new Set<string>();
    // Visit one product at a time: jump past each product's keys instead of scanning its history.
    let start: Deno.KvKey = [...PRODUCTS_COLLECTION, ""];
    for (;;) {
      const [first] = await Array.fromAsync(
        this.#kv.list({ prefix: [...PRODUCTS_COLLECTION], start }, { limit: 1 }),
      );
      if (!first) break;
      const product = first.key[PRODUCTS_COLLECTION.length] as string;
      const before = keys.length;
      for (const collection of GRANULARITY_COLLECTIONS) {
        for (const id of PLURAL_GRANULARITY_IDS) {
          const prefix = [...PRODUCTS_COLLECTION, product, collection, id];
          const exact = await this.#kv.get(prefix);
          if (exact.versionstamp !== null) keys.push(prefix);
          for await (const entry of this.#kv.list({ prefix })) keys.push(entry.key);
        }
      }
      if (keys.length > before) products.add(product);
      start = [...PRODUCTS_COLLECTION, `${product}\0`];
    }
    if (!dryRun) {
      for (let i = 0; i < keys.length; i += KV_CHUNK) {
        const atomic = this.#kv.atomic();
        for (const key of keys.slice(i, i + KV_CHUNK)) atomic.delete(key);
        const result = await atomic.commit();
        if (!result.ok) {
          throw new Error(`Cannot delete plural-granularity entries from Deno KV: refused`);
        }
      }
    }
    return {
      products: products.size,
      documents: keys.length,
      examples: keys.slice(0, 20).map((k) => k.join("/")),
    };
  }

  async readCheckpoint(product: string, granularity: GranularityId): Promise<number | undefined> {
    const entry = await this.#kv.get<{ through: number }>(checkpointPath(product, granularity));
    return entry.value?.through;
  }

  async writeCheckpoint(product: string, granularity: GranularityId, through: number) {
    const entry = { through, updated_at: Date.now() };
    await this.#commit("checkpoint", [entry], (e) => [checkpointPath(product, granularity), e]);
  }

  async writeShard(doc: ShardDoc): Promise<void> {
    await this.#commit("shard entry", [doc], (d) => [[...SHARDS_PATH, shardId(d)], d]);
  }

  async readShards(): Promise<ShardDoc[]> {
    const shards: ShardDoc[] = [];
    for await (const entry of this.#kv.list<ShardDoc>({ prefix: [...SHARDS_PATH] })) {
      shards.push(entry.value);
    }
    return shards.sort(byShard);
  }

  async ping(): Promise<void> {
    await this.#kv.get(CATALOGUE_PATH);
  }

  close(): Promise<void> {
    if (this.#owned) this.#kv.close();
    return Promise.resolve();
  }

  /**
   * Sets `toSet(item)` of every item in atomic commits of at most `writeChunk` entries, one per
   * task, a couple in flight (`chunked_write.ts`); entries are built chunk by chunk, so that no
   * task builds them all. A failed chunk rejects the call with its size, range and first key.
   */
  async #commit<T>(
    what: string,
    items: T[],
    toSet: (item: T) => [Deno.KvKey, unknown],
  ): Promise<void> {
    await writeInChunks(items, this.#chunks, async (chunk, at) => {
      const sets = chunk.map(toSet);
      const range = at.count === 1
        ? ""
        : ` (${at.offset + 1}-${at.offset + chunk.length} of ${at.total}, chunk ${
          at.index + 1
        } of ${at.count})`;
      const context = `${chunk.length} ${what}${range} to Deno KV (first key ${
        JSON.stringify(sets[0]![0])
      })`;
      const atomic = this.#kv.atomic();
      for (const [key, value] of sets) atomic.set(key, value);
      let result: Deno.KvCommitResult | Deno.KvCommitError;
      try {
        result = await atomic.commit();
      } catch (error) {
        throw new Error(`Cannot write ${context}: ${(error as Error).message}`, { cause: error });
      }
      if (!result.ok) throw new Error(`Cannot write ${context}: the commit was refused`);
    });
  }
}
