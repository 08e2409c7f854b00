/**
 * @module
 * {@linkcode WriteQueue}: the writer's pending writes. Live candles coalesce to one value per
 * document (latest wins, never back to an older bucket); completed candles queue by document
 * id, oldest first, and are never dropped. It remembers the last value written per live
 * document so an unchanged value is not written again. Timing, retries and the store are the
 * writer's (`writer.ts`).
 *
 * `push` runs for every candle update the service emits (thousands a second at a full shard), so
 * it allocates nothing for a live value: the update itself is kept (updates are never mutated
 * once emitted), in a per-product array indexed by granularity, and "unchanged" is a comparison
 * of numbers when the cycle takes it.
 */
import type { Candle, CandleUpdate } from "../candles/candle.ts";
import { GRANULARITIES, granularityById } from "../candles/granularity.ts";
import type { CandleDoc } from "./store.ts";

/** What one write cycle takes out of the queue. */
export interface QueueBatch {
  completed: CandleDoc[];
  live: CandleDoc[];
}

const N = GRANULARITIES.length;

/** One product's live documents: the value pending and the value last written, by granularity. */
interface LiveSlots {
  pending: (CandleDoc | undefined)[];
  written: (Candle | undefined)[];
}

const completedKey = (d: CandleDoc) => `${d.product}|${d.granularity}|${d.candle.start}`;

function sameCandle(a: Candle, b: Candle): boolean {
  return a.start === b.start && a.open === b.open && a.high === b.high && a.low === b.low &&
    a.close === b.close && a.volume === b.volume;
}

/** The stored fields of an update (an update is a document plus flags the stores ignore). */
function docOf(u: CandleUpdate): CandleDoc {
  return { product: u.product, granularity: u.granularity, candle: u.candle };
}

/** Pending live and completed candle writes; see the module comment. */
export class WriteQueue {
  readonly #live = new Map<string, LiveSlots>();
  #livePending = 0;
  #completed = new Map<string, CandleDoc>();
  /** Live values replaced by a newer one before being written. */
  superseded = 0;
  /** Live values not written because equal to the last written one. */
  unchanged = 0;

  /** Queued live documents. */
  get liveSize(): number {
    return this.#livePending;
  }

  /** Queued completed candles. */
  get completedSize(): number {
    return this.#completed.size;
  }

  #slots(product: string): LiveSlots {
    let slots = this.#live.get(product);
    if (!slots) {
      slots = { pending: new Array(N).fill(undefined), written: new Array(N).fill(undefined) };
      this.#live.set(product, slots);
    }
    return slots;
  }

  /**
   * Queues an update: a completed one by id; any update not older than its live document's
   * current value (pending or written) as that document's new value.
   */
  push(update: CandleUpdate): void {
    if (update.complete) {
      const doc = docOf(update);
      this.#completed.set(completedKey(doc), doc);
    }
    const slots = this.#slots(update.product);
    const g = granularityById(update.granularity).index;
    const pending = slots.pending[g];
    const current = pending?.candle.start ?? slots.written[g]?.start;
    if (current !== undefined && update.candle.start < current) return; // never regress live
    if (pending) this.superseded++;
    else this.#livePending++;
    // A live update is stored as it is: its extra fields (`complete`, …) are not read.
    slots.pending[g] = update;
  }

  /** Takes up to `max` completed (oldest first) and `max` changed live documents. */
  take(max: number): QueueBatch {
    const completed: CandleDoc[] = [];
    for (const [key, doc] of this.#completed) {
      if (completed.length >= max) break;
      completed.push(doc);
      this.#completed.delete(key);
    }
    const live: CandleDoc[] = [];
    if (this.#livePending === 0) return { completed, live };
    for (const slots of this.#live.values()) {
      for (let g = 0; g < N; g++) {
        const doc = slots.pending[g];
        if (!doc) continue;
        const written = slots.written[g];
        if (written && sameCandle(written, doc.candle)) {
          this.unchanged++;
        } else if (live.length < max) {
          live.push(doc);
        } else continue;
        slots.pending[g] = undefined;
        this.#livePending--;
      }
    }
    return { completed, live };
  }

  /** Records live values as stored. */
  markWritten(live: CandleDoc[]): void {
    for (const d of live) {
      this.#slots(d.product).written[granularityById(d.granularity).index] = d.candle;
    }
  }

  /**
   * Puts back what a failed cycle took, unless something newer arrived for the same document
   * meanwhile (then the failed value is superseded, and dropping it keeps a stale retry from
   * landing after fresher data). Completed candles go back to the front.
   */
  requeue(batch: QueueBatch): void {
    if (batch.completed.length > 0) {
      const back = batch.completed
        .map((d) => [completedKey(d), d] as const)
        .filter(([key]) => !this.#completed.has(key));
      this.#completed = new Map([...back, ...this.#completed]);
    }
    for (const d of batch.live) {
      const slots = this.#slots(d.product);
      const g = granularityById(d.granularity).index;
      if (slots.pending[g]) continue;
      slots.pending[g] = d;
      this.#livePending++;
    }
  }
}
