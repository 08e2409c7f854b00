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
 * layouts (in `compact` the product document also carries the `intervals` map). Each write
 * call is one `WriteBatch` (one atomic Commit; Firestore no longer caps writes per commit).
 * Range reads order by `first_timestamp` (the bucket start in ms), which keeps its automatic
 * single-field index; see `firestore.indexes.json`. The transport lives in `firestore_client.ts`.
 */
import {
  type DocumentReference,
  FieldPath,
  FieldValue,
  type Firestore,
  type Query,
} from "@google-cloud/firestore";
import type { Candle } from "../candles/candle.ts";
import { GRANULARITIES, type GranularityId } from "../candles/granularity.ts";
import { createFirestoreClient, type FirestoreClientOptions } from "./firestore_client.ts";
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
  joinPath,
  liveCollectionPath,
  type LiveFields,
  liveFields,
  livePath,
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

/** Documents per `getAll` (one BatchGetDocuments call). */
const GET_ALL_CHUNK = 500;
/** `getAll` calls in flight at once. */
const GET_ALL_CONCURRENCY = 4;
/** Single-product queries in flight at once (for reads no document id can address). */
const QUERY_CONCURRENCY = 32;

/** How live candles are laid out: see the module comment. */
export type FirestoreLayout = "compat" | "compact";

/** Options for {@linkcode FirestoreCandleStore}. */
export interface FirestoreStoreOptions extends FirestoreClientOptions {
  /** @default {"compat"} */
  layout?: FirestoreLayout;
  /** A client to use instead of creating one (the store then still terminates it on close). */
  firestore?: Firestore;
}

const GRANULARITY_IDS = new Set<string>(GRANULARITIES.map((g) => g.id));

/** A {@linkcode CandleStore} on Cloud Firestore (or its emulator). */
export class FirestoreCandleStore implements CandleStore {
  readonly kind = "firestore" as const;
  /** The live-document layout in use. */
  readonly layout: FirestoreLayout;
  #db: Firestore;

  constructor(options: FirestoreStoreOptions = {}) {
    this.layout = options.layout ?? "compat";
    this.#db = options.firestore ?? createFirestoreClient(options);
  }

  async writeLive(docs: CandleDoc[]): Promise<void> {
    if (docs.length === 0) return;
    const batch = this.#db.batch();
    if (this.layout === "compat") {
      for (const d of docs) {
        const ref = this.#db.doc(joinPath(livePath(d.product, d.granularity)));
        batch.set(ref, this.#liveValue(d.candle), { merge: true });
      }
    } else {
      const byProduct = new Map<string, Record<string, unknown>>();
      for (const d of docs) {
        const intervals = byProduct.get(d.product) ?? {};
        intervals[d.granularity] = this.#liveValue(d.candle);
        byProduct.set(d.product, intervals);
      }
      for (const [product, intervals] of byProduct) {
        batch.set(this.#db.doc(joinPath(productPath(product))), { intervals }, { merge: true });
      }
    }
    await this.#run(`write ${docs.length} live candles`, docs, () => batch.commit());
  }

  async writeCompleted(docs: CandleDoc[]): Promise<void> {
    if (docs.length === 0) return;
    const batch = this.#db.batch();
    for (const d of docs) {
      const ref = this.#db.doc(joinPath(completedPath(d.product, d.granularity, d.candle.start)));
      batch.set(ref, completedFields(d.candle, d.granularity));
    }
    await this.#run(`write ${docs.length} completed candles`, docs, () => batch.commit());
  }

  async readCompleted(
    product: string,
    granularity: GranularityId,
    query: RangeQuery,
  ): Promise<Candle[]> {
    if (query.limit <= 0) return [];
    const path = joinPath(completedCollectionPath(product, granularity));
    let q = this.#db.collection(path) as Query;
    if (query.start !== undefined) q = q.where("first_timestamp", ">=", query.start * 1000);
    if (query.end !== undefined) q = q.where("first_timestamp", "<=", query.end * 1000);
    const latest = query.start === undefined;
    q = q.orderBy("first_timestamp", latest ? "desc" : "asc").limit(query.limit);
    const snapshot = await this.#run(`read completed candles of ${path}`, [], () => q.get());
    const candles = snapshot.docs.map((d) =>
      candleFromCompleted(Number(d.id), d.data() as CompletedFields)
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
    const docs: CandleDoc[] = [];
    const add = (granularity: string, fields: LiveFields | undefined) => {
      if (!GRANULARITY_IDS.has(granularity) || typeof fields?.timestamp !== "number") return;
      docs.push({
        product,
        granularity: granularity as GranularityId,
        candle: candleFromLive(fields),
      });
    };
    if (this.layout === "compat") {
      const path = joinPath(liveCollectionPath(product));
      const snapshot = await this.#run(`read ${path}`, [], () => this.#db.collection(path).get());
      for (const d of snapshot.docs) add(d.id, d.data() as LiveFields);
    } else {
      const path = joinPath(productPath(product));
      const snapshot = await this.#run(`read ${path}`, [], () => this.#db.doc(path).get());
      const intervals = (snapshot.get("intervals") ?? {}) as Record<string, LiveFields>;
      for (const [granularity, fields] of Object.entries(intervals)) add(granularity, fields);
    }
    return docs.sort((a, b) => order(a.granularity) - order(b.granularity));
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
    const refs = products.flatMap((product) => {
      const list = [];
      for (let s = first; s <= toSec; s += g.seconds) {
        list.push({ product, start: s, path: joinPath(completedPath(product, granularity, s)) });
      }
      return list;
    });
    await this.#getAll(refs, (ref, data) => {
      out.get(ref.product)!.push(
        candleFromCompleted(ref.start * 1000, data as unknown as CompletedFields),
      );
    });
    for (const list of out.values()) list.sort((a, b) => a.start - b.start);
    return out;
  }

  async latestCompletedStarts(
    products: string[],
    granularity: GranularityId,
    endSec?: number,
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    await eachConcurrently(products, QUERY_CONCURRENCY, async (product) => {
      const [latest] = await this.readCompleted(product, granularity, { end: endSec, limit: 1 });
      if (latest !== undefined) out.set(product, latest.start);
    });
    return out;
  }

  /** Batched `getAll` of `refs`' paths; `found` gets the data of each document that exists. */
  async #getAll<R extends { path: string }>(
    refs: R[],
    found: (ref: R, data: Record<string, unknown>) => void,
  ): Promise<void> {
    const chunks: R[][] = [];
    for (let i = 0; i < refs.length; i += GET_ALL_CHUNK) {
      chunks.push(refs.slice(i, i + GET_ALL_CHUNK));
    }
    await eachConcurrently(chunks, GET_ALL_CONCURRENCY, async (chunk) => {
      const snapshots = await this.#run(
        `read ${chunk.length} documents (first ${chunk[0]!.path})`,
        [],
        () => this.#db.getAll(...chunk.map((r) => this.#db.doc(r.path))),
      );
      snapshots.forEach((snap, k) => {
        if (snap.exists) found(chunk[k]!, snap.data()!);
      });
    });
  }

  async readCatalogue(): Promise<CatalogueEntry[]> {
    const path = joinPath(CATALOGUE_PATH);
    const snapshot = await this.#run(`read ${path}`, [], () => this.#db.doc(path).get());
    const map = (snapshot.get(CATALOGUE_FIELD) ?? {}) as Record<string, Record<string, unknown>>;
    return Object.entries(map).map(([product_id, fields]) => {
      const updated = fields.last_updated as number | { toMillis(): number } | undefined;
      return {
        ...fields,
        product_id,
        last_updated: typeof updated === "object" ? updated.toMillis() : Number(updated ?? 0),
      } as CatalogueEntry;
    });
  }

  async writeCatalogue(entries: CatalogueEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const path = joinPath(CATALOGUE_PATH);
    const map = Object.fromEntries(
      entries.map(({ product_id, ...fields }) => [product_id, fields]),
    );
    await this.#run(
      `merge ${entries.length} catalogue entries into ${path}`,
      [],
      () => this.#db.doc(path).set({ [CATALOGUE_FIELD]: map }, { merge: true }),
    );
  }

  async writeProducts(docs: ProductDoc[]): Promise<void> {
    if (docs.length === 0) return;
    const batch = this.#db.batch();
    for (const d of docs) {
      const ref = this.#db.doc(joinPath(productPath(d.product_id)));
      batch.set(ref, { ...d, lastUpdate: FieldValue.serverTimestamp() }, { merge: true });
    }
    await this.#run(
      `merge ${docs.length} product documents (first ${docs[0]!.product_id})`,
      [],
      () => batch.commit(),
    );
  }

  async readProducts(ids: string[]): Promise<StoredProductDoc[]> {
    if (ids.length === 0) return [];
    const refs = ids.map((id) => this.#db.doc(joinPath(productPath(id))));
    const snapshots = await this.#run(
      `read ${ids.length} product documents (first ${ids[0]})`,
      [],
      () => this.#db.getAll(...refs),
    );
    const docs: StoredProductDoc[] = [];
    for (const s of snapshots) {
      const data = s.data();
      // In the compact layout a product's document may hold only its live candles.
      if (typeof data?.product_id !== "string") continue;
      const { product_id, base_currency, quote_currency, status } = data;
      const lastUpdate = data.lastUpdate as { toMillis(): number } | undefined;
      docs.push({
        product_id,
        base_currency,
        quote_currency,
        status,
        lastUpdate: lastUpdate?.toMillis() ?? 0,
      });
    }
    return docs;
  }

  async deletePluralDocuments({ dryRun }: { dryRun: boolean }): Promise<PluralCleanup> {
    const collection = joinPath(PRODUCTS_COLLECTION);
    // listDocuments() includes products that have sub-collections but no document of their own.
    const productRefs = await this.#run(
      `list ${collection}`,
      [],
      () => this.#db.collection(collection).listDocuments(),
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
              () => this.#db.recursiveDelete(ref),
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
    const snapshot = await this.#run(`read ${path}`, [], () => this.#db.doc(path).get());
    const through = snapshot.get("through");
    return typeof through === "number" ? through : undefined;
  }

  async writeCheckpoint(product: string, granularity: GranularityId, through: number) {
    const path = joinPath(checkpointPath(product, granularity));
    await this.#run(
      `write ${path}`,
      [],
      () => this.#db.doc(path).set({ through, updated_at: FieldValue.serverTimestamp() }),
    );
  }

  async writeShard(doc: ShardDoc): Promise<void> {
    const path = joinPath(SHARDS_PATH);
    const id = shardId(doc);
    // mergeFields replaces this shard's whole field and leaves the other shards' fields alone.
    await this.#run(
      `write shard ${id} into ${path}`,
      [],
      () => this.#db.doc(path).set({ [id]: doc }, { mergeFields: [new FieldPath(id)] }),
    );
  }

  async readShards(): Promise<ShardDoc[]> {
    const path = joinPath(SHARDS_PATH);
    const snapshot = await this.#run(`read ${path}`, [], () => this.#db.doc(path).get());
    const data = (snapshot.data() ?? {}) as Record<string, ShardDoc>;
    return Object.values(data).sort(byShard);
  }

  async ping(): Promise<void> {
    const path = joinPath(CATALOGUE_PATH);
    await this.#run(`ping Firestore by reading ${path}`, [], () => this.#db.doc(path).get());
  }

  async close(): Promise<void> {
    await this.#db.terminate();
  }

  #liveValue(candle: Candle) {
    return { ...liveFields(candle), lastUpdate: FieldValue.serverTimestamp() };
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

function order(id: string): number {
  return GRANULARITIES.findIndex((g) => g.id === id);
}
