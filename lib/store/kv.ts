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
 * entry per product, `["exchanges","coinbase","products",product_id,"live"]` →
 * `{ [granularity]: {timestamp, open, high, low, close, volume, lastUpdate} }`: one write per
 * product per flush instead of eight. The store keeps the last value it wrote per product, so a
 * write of some granularities merges with the others without reading the entry back (an entry
 * written by an earlier process is read once, in batches of ten, on the first write).
 *
 * Deno KV caps an atomic operation at 1,000 mutations and 800 KiB, so large writes are committed
 * in chunks of {@linkcode KV_CHUNK}: each chunk is all-or-nothing, a whole call is not. Every
 * write is idempotent (latest-wins by key), so a caller retrying a failed call converges.
 */
/// <reference lib="deno.unstable" />
import { dirname } from "node:path";
import type { Candle } from "../candles/candle.ts";
import { GRANULARITIES, type GranularityId } from "../candles/granularity.ts";
import {
  candleFromCompleted,
  candleFromLive,
  CATALOGUE_FIELD,
  CATALOGUE_PATH,
  checkpointPath,
  completedCollectionPath,
  type CompletedFields,
  completedFields,
  completedPath,
  GRANULARITY_COLLECTIONS,
  type LiveFields,
  liveFields,
  productPath,
  PRODUCTS_COLLECTION,
  SHARDS_PATH,
} from "./paths.ts";
import { PLURAL_GRANULARITY_IDS } from "../candles/granularity.ts";
import { eachConcurrently } from "./concurrency.ts";
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

/** Mutations per atomic commit (Deno KV allows 1,000 and 800 KiB). */
export const KV_CHUNK = 200;

/** Keys per `getMany` (Deno KV's limit). */
const KV_GET_MANY = 10;

/** Live candles of one product, by granularity (the value of its `live` entry). */
type LiveEntry = Partial<Record<GranularityId, LiveFields & { lastUpdate: number }>>;

/** `["exchanges","coinbase","products",product,"live"]`: the product's live entry. */
export function liveEntryKey(product: string): string[] {
  return [...productPath(product), "live"];
}

const GRANULARITY_IDS = new Set<string>(GRANULARITIES.map((g) => g.id));

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
export async function openKvCandleStore(pathOrKv: string | Deno.Kv): Promise<KvCandleStore> {
  if (typeof pathOrKv !== "string") return new KvCandleStore(pathOrKv, false);
  if (pathOrKv !== ":memory:") await Deno.mkdir(dirname(pathOrKv), { recursive: true });
  try {
    return new KvCandleStore(await Deno.openKv(pathOrKv), true);
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
  readonly #live = new Map<string, LiveEntry>();

  /** Wraps `kv`; `owned` says whether {@linkcode close} closes it. */
  constructor(kv: Deno.Kv, owned: boolean) {
    this.#kv = kv;
    this.#owned = owned;
  }

  async writeLive(docs: CandleDoc[]): Promise<void> {
    if (docs.length === 0) return;
    const now = Date.now();
    const products = [...new Set(docs.map((d) => d.product))];
    await this.#loadLive(products.filter((p) => !this.#live.has(p)));
    const next = new Map<string, LiveEntry>();
    for (const d of docs) {
      let entry = next.get(d.product);
      if (!entry) next.set(d.product, entry = { ...this.#live.get(d.product) });
      entry[d.granularity] = { ...liveFields(d.candle), lastUpdate: now };
    }
    await this.#commit(
      "live candles",
      [...next].map(([product, entry]) => [liveEntryKey(product), entry]),
    );
    // Only what landed becomes the base of the next merge (a failed call is retried whole).
    for (const [product, entry] of next) this.#live.set(product, entry);
  }

  /** Reads the live entries of `products` (written by an earlier process) into the cache. */
  async #loadLive(products: string[]): Promise<void> {
    for (let i = 0; i < products.length; i += KV_GET_MANY) {
      const chunk = products.slice(i, i + KV_GET_MANY);
      const entries = await this.#kv.getMany<LiveEntry[]>(chunk.map(liveEntryKey));
      chunk.forEach((p, k) => this.#live.set(p, entries[k]?.value ?? {}));
    }
  }

  async writeCompleted(docs: CandleDoc[]): Promise<void> {
    await this.#commit(
      "completed candles",
      docs.map((d) => [
        completedPath(d.product, d.granularity, d.candle.start),
        completedFields(d.candle, d.granularity),
      ]),
    );
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
      const entries = await this.#kv.getMany<LiveEntry[]>(chunk.map(liveEntryKey));
      chunk.forEach((product, k) => {
        const docs: CandleDoc[] = [];
        for (const [granularity, fields] of Object.entries(entries[k]?.value ?? {})) {
          if (!GRANULARITY_IDS.has(granularity) || typeof fields?.timestamp !== "number") continue;
          docs.push({
            product,
            granularity: granularity as GranularityId,
            candle: candleFromLive(fields),
          });
        }
        out.set(product, docs.sort((a, b) => order(a.granularity) - order(b.granularity)));
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
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    await eachConcurrently(products, 16, async (product) => {
      const [latest] = await this.readCompleted(product, granularity, { end: endSec, limit: 1 });
      if (latest !== undefined) out.set(product, latest.start);
    });
    return out;
  }

  async readCatalogue(): Promise<CatalogueEntry[]> {
    const entries: CatalogueEntry[] = [];
    const prefix = [...CATALOGUE_PATH, CATALOGUE_FIELD];
    for await (const entry of this.#kv.list<Omit<CatalogueEntry, "product_id">>({ prefix })) {
      entries.push({ ...entry.value, product_id: String(entry.key.at(-1)) });
    }
    return entries;
  }

  async writeCatalogue(entries: CatalogueEntry[]): Promise<void> {
    await this.#commit(
      "catalogue entries",
      entries.map(({ product_id, ...fields }) => [
        [...CATALOGUE_PATH, CATALOGUE_FIELD, product_id],
        fields,
      ]),
    );
  }

  async writeProducts(docs: ProductDoc[]): Promise<void> {
    const now = Date.now();
    await this.#commit(
      "product documents",
      docs.map((d) => [productPath(d.product_id), { ...d, lastUpdate: now }]),
    );
  }

  async readProducts(ids: string[]): Promise<StoredProductDoc[]> {
    const docs: StoredProductDoc[] = [];
    for (let i = 0; i < ids.length; i += 10) { // getMany takes at most 10 keys
      const entries = await this.#kv.getMany<StoredProductDoc[]>(
        ids.slice(i, i + 10).map(productPath),
      );
      for (const e of entries) if (e.value) docs.push(e.value);
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
    await this.#commit("checkpoint", [[checkpointPath(product, granularity), {
      through,
      updated_at: Date.now(),
    }]]);
  }

  async writeShard(doc: ShardDoc): Promise<void> {
    await this.#commit("shard entry", [[[...SHARDS_PATH, shardId(doc)], doc]]);
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

  async #commit(what: string, sets: [Deno.KvKey, unknown][]): Promise<void> {
    for (let i = 0; i < sets.length; i += KV_CHUNK) {
      const chunk = sets.slice(i, i + KV_CHUNK);
      const atomic = this.#kv.atomic();
      for (const [key, value] of chunk) atomic.set(key, value);
      let result: Deno.KvCommitResult | Deno.KvCommitError;
      try {
        result = await atomic.commit();
      } catch (error) {
        throw new Error(
          `Cannot write ${chunk.length} ${what} to Deno KV (first key ${
            JSON.stringify(chunk[0]![0])
          }): ${(error as Error).message}`,
          { cause: error },
        );
      }
      if (!result.ok) {
        throw new Error(`Cannot write ${chunk.length} ${what} to Deno KV: the commit was refused`);
      }
    }
  }
}

function order(id: GranularityId): number {
  return GRANULARITIES.findIndex((g) => g.id === id);
}
