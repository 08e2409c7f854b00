/**
 * @module
 * An in-memory CandleStore for ingest tests that count writes (the contract suite of the real
 * stores lives with them).
 */
import type { Candle } from "../../lib/candles/candle.ts";
import type { GranularityId } from "../../lib/candles/granularity.ts";
import type { CandleDoc, CandleStore, CatalogueEntry, RangeQuery } from "../../lib/store/store.ts";

export class MemoryStore implements CandleStore {
  readonly kind = "kv" as const;
  readonly completed = new Map<string, Map<number, Candle>>();
  readonly checkpoints = new Map<string, number>();
  readonly catalogue = new Map<string, CatalogueEntry>();
  writes = 0;

  #series(product: string, g: GranularityId) {
    const key = `${product}/${g}`;
    let m = this.completed.get(key);
    if (!m) this.completed.set(key, m = new Map());
    return m;
  }
  writeLive(_docs: CandleDoc[]): Promise<void> {
    return Promise.resolve();
  }
  writeCompleted(docs: CandleDoc[]): Promise<void> {
    this.writes++;
    for (const d of docs) {
      this.#series(d.product, d.granularity).set(d.candle.start, { ...d.candle });
    }
    return Promise.resolve();
  }
  readCompleted(product: string, g: GranularityId, q: RangeQuery): Promise<Candle[]> {
    const all = [...this.#series(product, g).values()]
      .filter((c) =>
        (q.start === undefined || c.start >= q.start) && (q.end === undefined || c.start <= q.end)
      )
      .sort((a, b) => a.start - b.start);
    return Promise.resolve(q.start === undefined ? all.slice(-q.limit) : all.slice(0, q.limit));
  }
  latestCompletedStart(product: string, g: GranularityId): Promise<number | undefined> {
    return Promise.resolve(Math.max(...this.#series(product, g).keys()) || undefined);
  }
  readLive(_product: string): Promise<CandleDoc[]> {
    return Promise.resolve([]);
  }
  readCatalogue(): Promise<CatalogueEntry[]> {
    return Promise.resolve([...this.catalogue.values()]);
  }
  writeCatalogue(entries: CatalogueEntry[]): Promise<void> {
    for (const e of entries) this.catalogue.set(e.product_id, e);
    return Promise.resolve();
  }
  readCheckpoint(product: string, g: GranularityId): Promise<number | undefined> {
    return Promise.resolve(this.checkpoints.get(`${product}/${g}`));
  }
  writeCheckpoint(product: string, g: GranularityId, through: number): Promise<void> {
    this.checkpoints.set(`${product}/${g}`, through);
    return Promise.resolve();
  }
  ping(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
