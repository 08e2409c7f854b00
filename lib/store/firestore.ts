/**
 * @module
 * {@linkcode FirestoreCandleStore}: the {@linkcode CandleStore} on Cloud Firestore, with the
 * documents of `paths.ts` (DESIGN.md "Stored data"). Two layouts for live candles:
 *
 * - `compat` (default): one document per product and granularity,
 *   `exchanges/coinbase/products/{product}/intervals/{granularity}`, as existing clients read;
 * - `compact`: one document per product, `exchanges/coinbase/products/{product}`, whose map
 *   field `intervals.{granularity}` holds the same fields: all eight granularities in one
 *   write, about an eighth of the writes of `compat` for a liquid product.
 *
 * Completed candles, product documents, the catalogue and checkpoints are the same in both
 * layouts (in `compact` the product document also carries the `intervals` map). Candle writes
 * are committed in commits of at most {@linkcode WRITE_CHUNK} candles, a few in flight,
 * each built in a task of its own so that a flush of thousands of documents never holds the
 * event loop for long (`chunked_write.ts`); each chunk is atomic, a whole call is not (every
 * write is an idempotent set, and a failed call rejects whole, to be retried whole).
 * Range reads order by `first_timestamp` (the bucket start in ms), which keeps its automatic
 * single-field index; see `firestore.indexes.json`. Every call is a plain REST request
 * (`firestore_rest.ts`); the client library (`firestore_client.ts`) is loaded only for the
 * maintenance call `deletePluralDocuments` (listing, counting and recursive deletes).
 */
import {
  type FillWatermark,
  fillWatermarkPath,
  watermarkFields,
  watermarkFromFields,
} from "./fill_watermark.ts";
import type { Candle } from "../candles/candle.ts";
import { GRANULARITIES, type GranularityId } from "../candles/granularity.ts";
import {
  DEFAULT_EMULATOR_PROJECT,
  type DocData,
  type FirestoreClientOptions,
  FirestoreRest,
  type RestFilter,
  type RestWrite,
} from "./firestore_rest.ts";
import {
  candleFromCompleted,
  candleFromLive,
  CATALOGUE_PATH,
  catalogueSlot,
  checkpointPath,
  completedCollectionPath,
  type CompletedFields,
  completedFields,
  completedPath,
  EXCHANGE_COLLECTIONS,
  GRANULARITY_COLLECTIONS,
  joinPath,
  keyFromStored,
  type LiveFields,
  liveFields,
  livePath,
  productPath,
  PRODUCTS_COLLECTION,
  SHARDS_PATH,
  storedId,
} from "./paths.ts";
import { PLURAL_GRANULARITY_IDS } from "../candles/granularity.ts";
import type { DocumentReference, Firestore } from "@google-cloud/firestore";
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

/** Documents per `getAll` (one BatchGetDocuments call). */
const GET_ALL_CHUNK = 500;
/** `getAll` calls in flight at once. */
const GET_ALL_CONCURRENCY = 4;
/** Buckets per product in the first round of a bounded `latestCompletedStarts` (×4 a round). */
const PROBE_FIRST = 4;
/** The widest window `latestCompletedStarts` reads by batched gets (a day of minutes). */
const PROBE_MAX_BUCKETS = 1440;
/** Single-product queries in flight at once (for reads no document id can address). */
const QUERY_CONCURRENCY = 32;
/**
 * Candles per commit of `writeLive`/`writeCompleted` (a compact product document counts its
 * granularities). Not a Firestore limit: since 2023-03-29 a Commit takes any number of writes
 * within its 10 MiB request (release notes), and a candle document is ~0.3 KB (200: ~60 KB).
 * Each commit costs the process about 0.55 ms of CPU besides its documents (`fetch`, the
 * request and its answer): per document written, commits of 50 cost 20.6-31.1 µs, of 200
 * 12.3-14.8, of 500 12.5-13.9 (bench/RESULTS.md, 2026-12-07, the emulator). 200 takes nearly
 * all of that gain while a commit's synchronous part (building its JSON) stays under a
 * millisecond and the commit far from the 10 s call deadline, which one 8,000-document commit
 * to a cold emulator exceeded. At 25 per commit the emulator's own load starved a web client's
 * listen stream in the test suite.
 */
export const WRITE_CHUNK = 200;
/** Commits of one candle write in flight at once (their answers may be decoded in one task). */
export const WRITE_CONCURRENCY = 4;

/** How live candles are laid out: see the module comment. */
export type FirestoreLayout = "compat" | "compact";

/** Options for {@linkcode FirestoreCandleStore}. */
export interface FirestoreStoreOptions extends FirestoreClientOptions {
  /** @default {"compat"} */
  layout?: FirestoreLayout;
  /** The transport of the REST calls (tests wrap it). @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Candles per commit of a candle write. @default {WRITE_CHUNK} */
  writeChunk?: number;
  /** Commits of one candle write in flight at once. @default {WRITE_CONCURRENCY} */
  writeConcurrency?: number;
}

const GRANULARITY_IDS = new Set<string>(GRANULARITIES.map((g) => g.id));

/** A {@linkcode CandleStore} on Cloud Firestore (or its emulator). */
export class FirestoreCandleStore implements CandleStore {
  readonly kind = "firestore" as const;
  /** The live-document layout in use. */
  readonly layout: FirestoreLayout;
  #rest: FirestoreRest;
  #options: FirestoreStoreOptions;
  #chunks: ChunkOptions;

  constructor(options: FirestoreStoreOptions = {}) {
    this.layout = options.layout ?? "compat";
    this.#options = options;
    const emulatorHost = options.emulatorHost ?? envVar("FIRESTORE_EMULATOR_HOST");
    // Against an emulator a demo project; in production the given one or the credentials'.
    const projectId = options.projectId ?? (emulatorHost ? DEFAULT_EMULATOR_PROJECT : undefined);
    this.#rest = new FirestoreRest({ projectId, emulatorHost, fetch: options.fetch });
    this.#chunks = {
      size: options.writeChunk ?? WRITE_CHUNK,
      concurrency: options.writeConcurrency ?? WRITE_CONCURRENCY,
    };
  }

  async writeLive(docs: CandleDoc[]): Promise<void> {
    if (docs.length === 0) return;
    if (this.layout === "compat") {
      const latest = lastPerKey(docs, (d) => `${d.product}/${d.granularity}`);
      await this.#writeChunks("live candles", latest, (d) => ({
        path: joinPath(livePath(d.product, d.granularity)),
        data: { ...liveFields(d.candle) },
        merge: true,
        serverTimestamps: [["lastUpdate"]],
      }));
      return;
    }
    // One document per product; a chunk weighs the candles its documents carry.
    const byProduct = new Map<string, CandleDoc[]>();
    for (const d of docs) {
      const list = byProduct.get(d.product);
      if (list) list.push(d);
      else byProduct.set(d.product, [d]);
    }
    await this.#writeChunks("live product documents", [...byProduct.values()], (list) => {
      const intervals: DocData = {};
      for (const d of list) intervals[d.granularity] = { ...liveFields(d.candle) };
      return {
        path: joinPath(productPath(list[0]!.product)),
        data: { intervals },
        merge: true,
        serverTimestamps: list.map((d) => ["intervals", d.granularity, "lastUpdate"]),
      };
    });
  }

  async writeCompleted(docs: CandleDoc[]): Promise<void> {
    if (docs.length === 0) return;
    const latest = lastPerKey(docs, (d) => `${d.product}/${d.granularity}/${d.candle.start}`);
    await this.#writeChunks("completed candles", latest, (d) => ({
      path: joinPath(completedPath(d.product, d.granularity, d.candle.start)),
      data: { ...completedFields(d.candle, d.granularity) },
    }));
  }

  /**
   * Writes `items` (one document each: a candle, or a product's live candles) in commits of at
   * most {@linkcode WRITE_CHUNK} candles, each built and committed in a task of its own
   * (`chunked_write.ts`). A failed chunk rejects the call naming its documents and first candle.
   */
  async #writeChunks<T extends CandleDoc | CandleDoc[]>(
    what: string,
    items: T[],
    write: (item: T) => RestWrite,
  ): Promise<void> {
    const weight = (item: T) => Array.isArray(item) ? item.length : 1;
    await writeInChunks(items, this.#chunks, async (chunk, at) => {
      const writes = chunk.map(write);
      const range = at.count === 1
        ? ""
        : ` (${at.offset + 1}-${at.offset + chunk.length} of ${at.total}, chunk ${
          at.index + 1
        } of ${at.count})`;
      const first = chunk[0]!;
      await this.#run(
        `write ${chunk.length} ${what}${range}`,
        Array.isArray(first) ? first : [first as CandleDoc],
        () => this.#rest.commit(writes),
      );
    }, weight);
  }

  async readCompleted(
    product: string,
    granularity: GranularityId,
    query: RangeQuery,
  ): Promise<Candle[]> {
    if (query.limit <= 0) return [];
    const path = joinPath(completedCollectionPath(product, granularity));
    const where: RestFilter[] = [];
    if (query.start !== undefined) where.push(["first_timestamp", ">=", query.start * 1000]);
    if (query.end !== undefined) where.push(["first_timestamp", "<=", query.end * 1000]);
    const latest = query.start === undefined;
    const docs = await this.#run(
      `read completed candles of ${path}`,
      [],
      () =>
        this.#rest.runQuery({
          collection: path,
          where,
          orderBy: { field: "first_timestamp", direction: latest ? "desc" : "asc" },
          limit: query.limit,
        }),
    );
    const candles = docs.map((d) =>
      candleFromCompleted(Number(d.id), d.data as unknown as CompletedFields)
    );
    return latest ? candles.reverse() : candles;
  }

  async latestCompletedStart(
    product: string,
    granularity: GranularityId,
  ): Promise<number | undefined> {
    const [last] = await this.readCompleted(product, granularity, { limit: 1 });
    return last?.start;
  }

  async readLive(product: string): Promise<CandleDoc[]> {
    // The documents are known by id (one per granularity, or the product's): a batched get.
    return (await this.readLiveMany([product])).get(product) ?? [];
  }

  async readLiveMany(products: string[]): Promise<Map<string, CandleDoc[]>> {
    const out = new Map<string, CandleDoc[]>(products.map((p) => [p, []]));
    const refs: { product: string; granularity?: string; path: string }[] = this.layout === "compat"
      ? products.flatMap((product) =>
        GRANULARITIES.map((g) => ({
          product,
          granularity: g.id,
          path: joinPath(livePath(product, g.id)),
        }))
      )
      : products.map((product) => ({ product, path: joinPath(productPath(product)) }));
    await this.#getAll(refs, (ref, data) => {
      const list = out.get(ref.product)!;
      const add = (granularity: string, fields: LiveFields | undefined) => {
        if (!GRANULARITY_IDS.has(granularity) || typeof fields?.timestamp !== "number") return;
        list.push({
          product: ref.product,
          granularity: granularity as GranularityId,
          candle: candleFromLive(fields),
        });
      };
      if (ref.granularity) add(ref.granularity, data as unknown as LiveFields);
      else {
        const intervals = (data.intervals ?? {}) as Record<string, LiveFields>;
        for (const [granularity, fields] of Object.entries(intervals)) add(granularity, fields);
      }
    });
    for (const list of out.values()) {
      list.sort((a, b) => order(a.granularity) - order(b.granularity));
    }
    return out;
  }

  async readCompletedMany(
    products: string[],
    granularity: GranularityId,
    fromSec: number,
    toSec: number,
  ): Promise<Map<string, Candle[]>> {
    const out = new Map<string, Candle[]>(products.map((p) => [p, []]));
    const g = GRANULARITIES.find((x) => x.id === granularity)!;
    const first = Math.ceil(fromSec / g.seconds) * g.seconds;
    // The ids are known (bucket starts): one batched get instead of one query per product.
    await this.#getAll(bucketRefs(products, granularity, first, toSec, g.seconds), (ref, data) => {
      out.get(ref.product)!.push(
        candleFromCompleted(ref.start * 1000, data as unknown as CompletedFields),
      );
    });
    for (const list of out.values()) list.sort((a, b) => a.start - b.start);
    return out;
  }

  /**
   * With a window of at most {@linkcode PROBE_MAX_BUCKETS} buckets, batched gets of the
   * window's documents (their ids are the bucket starts), newest first in widening rounds, each
   * round only for the products not yet found: a restart after a short stop finds most in the
   * first round. Without one, one query per product. (On the emulator a query costs time in
   * proportion to the whole database: 1,600 of them took 28 s with 7,400 documents stored and
   * 140 s with 32,800, against 2.6 s for getting 12,000 documents.)
   */
  async latestCompletedStarts(
    products: string[],
    granularity: GranularityId,
    endSec?: number,
    fromSec?: number,
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const g = GRANULARITIES.find((x) => x.id === granularity)!;
    if (endSec !== undefined && fromSec !== undefined) {
      const first = Math.ceil(fromSec / g.seconds) * g.seconds;
      let hi = Math.floor(endSec / g.seconds) * g.seconds;
      if ((hi - first) / g.seconds < PROBE_MAX_BUCKETS) {
        let pending = products;
        for (let width = PROBE_FIRST; pending.length > 0 && hi >= first; width *= 4) {
          const lo = Math.max(first, hi - (width - 1) * g.seconds);
          const refs = bucketRefs(pending, granularity, lo, hi, g.seconds);
          await this.#getAll(refs, (ref) => {
            if (ref.start > (out.get(ref.product) ?? -Infinity)) out.set(ref.product, ref.start);
          });
          pending = pending.filter((p) => !out.has(p));
          hi = lo - g.seconds;
        }
        return out;
      }
    }
    await eachConcurrently(products, QUERY_CONCURRENCY, async (product) => {
      const [latest] = await this.readCompleted(product, granularity, { end: endSec, limit: 1 });
      if (latest !== undefined) out.set(product, latest.start);
    });
    return out;
  }

  /**
   * Batched gets of `refs`' paths, {@linkcode GET_ALL_CHUNK} a call, a few in flight; `found`
   * gets the data of each document that exists. `refs` is pulled a chunk at a time, so a
   * generator never holds more than the chunks in flight (a catch-up window of a day's minutes
   * for 1,000 products names 1.4 million documents).
   */
  async #getAll<R extends { path: string }>(
    refs: Iterable<R>,
    found: (ref: R, data: Record<string, unknown>) => void,
  ): Promise<void> {
    const it = refs[Symbol.iterator]();
    const next = (): R[] => {
      const chunk: R[] = [];
      for (let r = it.next(); !r.done; r = it.next()) {
        chunk.push(r.value);
        if (chunk.length === GET_ALL_CHUNK) break;
      }
      return chunk;
    };
    await Promise.all(Array.from({ length: GET_ALL_CONCURRENCY }, async () => {
      for (let chunk = next(); chunk.length > 0; chunk = next()) {
        const docs = await this.#run(
          `read ${chunk.length} documents (first ${chunk[0]!.path})`,
          [],
          () => this.#rest.batchGet(chunk.map((r) => r.path)),
        );
        docs.forEach((data, k) => {
          if (data) found(chunk[k]!, data);
        });
      }
    }));
  }

  async readFillWatermark(
    product: string,
    granularity: GranularityId,
  ): Promise<FillWatermark | undefined> {
    const path = joinPath(fillWatermarkPath(product, granularity));
    return watermarkFromFields(await this.#run(`read ${path}`, [], () => this.#rest.get(path)));
  }

  async writeFillWatermark(
    product: string,
    granularity: GranularityId,
    mark: FillWatermark,
  ): Promise<void> {
    const path = joinPath(fillWatermarkPath(product, granularity));
    const write: RestWrite = {
      path,
      data: { ...watermarkFields(mark) },
      serverTimestamps: [["updated_at"]],
    };
    await this.#run(`write ${path}`, [], () => this.#rest.commit([write]));
  }

  async readCatalogue(): Promise<CatalogueEntry[]> {
    const path = joinPath(CATALOGUE_PATH);
    const data = await this.#run(`read ${path}`, [], () => this.#rest.get(path));
    const entries: CatalogueEntry[] = [];
    for (const { exchange } of EXCHANGE_COLLECTIONS) {
      const map = (data?.[exchange] ?? {}) as Record<string, Record<string, unknown>>;
      for (const [id, fields] of Object.entries(map)) {
        const updated = fields.last_updated as number | Date | undefined;
        entries.push({
          ...fields,
          product_id: keyFromStored(exchange, id),
          last_updated: updated instanceof Date ? updated.getTime() : Number(updated ?? 0),
        } as CatalogueEntry);
      }
    }
    return entries;
  }

  async writeCatalogue(entries: CatalogueEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const path = joinPath(CATALOGUE_PATH);
    const data: Record<string, Record<string, Omit<CatalogueEntry, "product_id">>> = {};
    for (const { product_id, ...fields } of entries) {
      const { field, id } = catalogueSlot(product_id);
      (data[field] ??= {})[id] = fields;
    }
    await this.#run(
      `merge ${entries.length} catalogue entries into ${path}`,
      [],
      () => this.#rest.commit([{ path, data, merge: true }]),
    );
  }

  async writeProducts(docs: ProductDoc[]): Promise<void> {
    if (docs.length === 0) return;
    const writes: RestWrite[] = docs.map((d) => ({
      path: joinPath(productPath(d.product_id)),
      data: { ...d, product_id: storedId(d.product_id) },
      merge: true,
      serverTimestamps: [["lastUpdate"]],
    }));
    await this.#run(
      `merge ${docs.length} product documents (first ${docs[0]!.product_id})`,
      [],
      () => this.#rest.commit(writes),
    );
  }

  async readProducts(ids: string[]): Promise<StoredProductDoc[]> {
    if (ids.length === 0) return [];
    const found = await this.#run(
      `read ${ids.length} product documents (first ${ids[0]})`,
      [],
      () => this.#rest.batchGet(ids.map((id) => joinPath(productPath(id)))),
    );
    const docs: StoredProductDoc[] = [];
    for (const [i, data] of found.entries()) {
      // In the compact layout a product's document may hold only its live candles.
      if (typeof data?.product_id !== "string") continue;
      const { base_currency, quote_currency, status, lastUpdate } = data as
        & Omit<StoredProductDoc, "lastUpdate">
        & { lastUpdate?: unknown };
      docs.push({
        product_id: ids[i]!,
        base_currency,
        quote_currency,
        status,
        lastUpdate: lastUpdate instanceof Date ? lastUpdate.getTime() : 0,
      });
    }
    return docs;
  }

  /** The official client, for the maintenance calls below only (loaded on first use). */
  #library?: Firestore;

  async deletePluralDocuments({ dryRun }: { dryRun: boolean }): Promise<PluralCleanup> {
    // Loaded here only: the library costs ~50 MB of memory and is not needed otherwise.
    const { createFirestoreClient } = await import("./firestore_client.ts");
    const db = this.#library ??= createFirestoreClient({
      ...this.#options,
      projectId: await this.#rest.projectId(),
    });
    const collection = joinPath(PRODUCTS_COLLECTION);
    // listDocuments() includes products that have sub-collections but no document of their own.
    const productRefs = await this.#run(
      `list ${collection}`,
      [],
      () => db.collection(collection).listDocuments(),
    );
    let documents = 0;
    const products = new Set<string>();
    const examples: string[] = [];
    const visit = async (product: DocumentReference) => {
      for (const name of GRANULARITY_COLLECTIONS) {
        for (const id of PLURAL_GRANULARITY_IDS) {
          const ref = product.collection(name).doc(id);
          const [own, candles] = await this.#run(
            `count documents under ${ref.path}`,
            [],
            () =>
              Promise.all([
                ref.get().then((s) => (s.exists ? 1 : 0)),
                name === "history"
                  ? ref.collection("candles").count().get().then((s) => s.data().count)
                  : Promise.resolve(0),
              ]),
          );
          if (own + candles === 0) continue;
          documents += own + candles;
          products.add(product.id);
          if (examples.length < 20) {
            examples.push(candles > 0 ? `${ref.path}/candles (${candles})` : ref.path);
          }
          if (!dryRun) {
            await this.#run(
              `delete ${ref.path} recursively`,
              [],
              () => db.recursiveDelete(ref),
            );
          }
        }
      }
    };
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(8, productRefs.length) }, async () => {
      while (next < productRefs.length) await visit(productRefs[next++]!);
    }));
    return { products: products.size, documents, examples };
  }

  async readCheckpoint(product: string, granularity: GranularityId): Promise<number | undefined> {
    const path = joinPath(checkpointPath(product, granularity));
    const data = await this.#run(`read ${path}`, [], () => this.#rest.get(path));
    const through = data?.through;
    return typeof through === "number" ? through : undefined;
  }

  async writeCheckpoint(product: string, granularity: GranularityId, through: number) {
    const path = joinPath(checkpointPath(product, granularity));
    await this.#run(
      `write ${path}`,
      [],
      () => this.#rest.commit([{ path, data: { through }, serverTimestamps: [["updated_at"]] }]),
    );
  }

  async writeShard(doc: ShardDoc): Promise<void> {
    const path = joinPath(SHARDS_PATH);
    const id = shardId(doc);
    // Masked to this shard's field: replaced whole, the other shards' fields left alone.
    await this.#run(
      `write shard ${id} into ${path}`,
      [],
      () => this.#rest.commit([{ path, data: { [id]: { ...doc } }, merge: [[id]] }]),
    );
  }

  async readShards(): Promise<ShardDoc[]> {
    const path = joinPath(SHARDS_PATH);
    const data = (await this.#run(`read ${path}`, [], () => this.#rest.get(path)) ?? {}) as Record<
      string,
      ShardDoc
    >;
    return Object.values(data).sort(byShard);
  }

  async ping(): Promise<void> {
    const path = joinPath(CATALOGUE_PATH);
    await this.#run(`ping Firestore by reading ${path}`, [], () => this.#rest.get(path));
  }

  async close(): Promise<void> {
    await this.#library?.terminate();
  }

  /** Runs one Firestore call; a failure names the call, the first document and the code. */
  async #run<T>(what: string, docs: CandleDoc[], call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      const e = error as { message?: string; code?: unknown };
      const first = docs[0];
      const where = first
        ? ` (first ${first.product} ${first.granularity} ${first.candle.start})`
        : "";
      const code = e.code === undefined ? "" : ` [code ${String(e.code)}]`;
      throw new Error(`Cannot ${what} in Firestore${where}${code}: ${e.message ?? error}`, {
        cause: error,
      });
    }
  }
}

/**
 * `docs` with one document per key, the last one given (chunks commit concurrently, so two
 * writes of one document must not be left to race; the writer never sends two anyway).
 */
function lastPerKey(docs: CandleDoc[], key: (d: CandleDoc) => string): CandleDoc[] {
  const byKey = new Map<string, CandleDoc>();
  for (const d of docs) byKey.set(key(d), d);
  return byKey.size === docs.length ? docs : [...byKey.values()];
}

/** The completed documents of `products` at bucket starts `from`..`to` (step `seconds`). */
function* bucketRefs(
  products: readonly string[],
  granularity: GranularityId,
  from: number,
  to: number,
  seconds: number,
): Generator<{ product: string; start: number; path: string }> {
  for (const product of products) {
    for (let start = from; start <= to; start += seconds) {
      yield { product, start, path: joinPath(completedPath(product, granularity, start)) };
    }
  }
}

function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

function order(id: string): number {
  return GRANULARITIES.findIndex((g) => g.id === id);
}
