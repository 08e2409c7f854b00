/**
 * @module
 * {@linkcode WriteQueue}: the writer's pending writes. Live candles coalesce to one value per
 * document (latest wins, never back to an older bucket); completed candles queue by document
 * id, oldest first, and are never dropped. It remembers the last value written per live
 * document so an unchanged value is not written again. Timing, retries and the store are the
 * writer's (`writer.ts`).
 */
import type { CandleUpdate } from "../candles/candle.ts";
import type { CandleDoc } from "./store.ts";

/** One pending write. */
export interface QueueEntry {
  key: string;
  doc: CandleDoc;
  fingerprint: string;
}

/** What one write cycle takes out of the queue. */
export interface QueueBatch {
  completed: QueueEntry[];
  live: QueueEntry[];
}

const liveKey = (d: CandleDoc) => `${d.product}|${d.granularity}`;
const completedKey = (d: CandleDoc) => `${d.product}|${d.granularity}|${d.candle.start}`;
const fingerprintOf = ({ candle: c }: CandleDoc) =>
  `${c.start}|${c.open}|${c.high}|${c.low}|${c.close}|${c.volume}`;

/** Pending live and completed candle writes; see the module comment. */
export class WriteQueue {
  #live = new Map<string, QueueEntry>();
  #completed = new Map<string, QueueEntry>();
  #written = new Map<string, { fingerprint: string; start: number }>();
  /** Live values replaced by a newer one before being written. */
  superseded = 0;
  /** Live values not written because equal to the last written one. */
  unchanged = 0;

  /** Queued live documents. */
  get liveSize(): number {
    return this.#live.size;
  }

  /** Queued completed candles. */
  get completedSize(): number {
    return this.#completed.size;
  }

  /**
   * Queues an update: a completed one by id; any update not older than its live document's
   * current value (pending or written) as that document's new value.
   */
  push(update: CandleUpdate): void {
    const doc: CandleDoc = {
      product: update.product,
      granularity: update.granularity,
      candle: { ...update.candle },
    };
    const fingerprint = fingerprintOf(doc);
    if (update.complete) {
      const key = completedKey(doc);
      this.#completed.set(key, { key, doc, fingerprint });
    }
    const key = liveKey(doc);
    const current = this.#live.get(key)?.doc.candle.start ?? this.#written.get(key)?.start;
    if (current !== undefined && doc.candle.start < current) return; // never regress live
    if (this.#live.has(key)) this.superseded++;
    this.#live.set(key, { key, doc, fingerprint });
  }

  /** Takes up to `max` completed (oldest first) and `max` changed live documents. */
  take(max: number): QueueBatch {
    const completed = [...this.#completed.values()].slice(0, max);
    for (const e of completed) this.#completed.delete(e.key);
    const live: QueueEntry[] = [];
    for (const [key, entry] of this.#live) {
      if (this.#written.get(key)?.fingerprint === entry.fingerprint) {
        this.unchanged++;
      } else if (live.length < max) {
        live.push(entry);
      } else continue;
      this.#live.delete(key);
    }
    return { completed, live };
  }

  /** Records live values as stored. */
  markWritten(live: QueueEntry[]): void {
    for (const e of live) {
      this.#written.set(e.key, { fingerprint: e.fingerprint, start: e.doc.candle.start });
    }
  }

  /**
   * Puts back what a failed cycle took, unless something newer arrived for the same document
   * meanwhile (then the failed value is superseded, and dropping it keeps a stale retry from
   * landing after fresher data). Completed candles go back to the front.
   */
  requeue(batch: QueueBatch): void {
    if (batch.completed.length > 0) {
      const back = batch.completed.filter((e) => !this.#completed.has(e.key));
      this.#completed = new Map([...back.map((e) => [e.key, e] as const), ...this.#completed]);
    }
    for (const e of batch.live) {
      if (!this.#live.has(e.key)) this.#live.set(e.key, e);
    }
  }
}
