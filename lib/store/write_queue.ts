/**
 * @module
 * {@linkcode WriteQueue}: the writer's pending writes. Live candles coalesce to one value per
 * document (latest wins, never back to an older bucket); completed candles queue by document
 * id, oldest first, and leave only when taken or when the writer drops the oldest past its cap
 * ({@linkcode WriteQueue.dropOldestCompleted}). It remembers the last value written per live
 * document so an unchanged value is not written again. A take may be limited to some
 * granularities (a bit mask): the others' documents stay queued. Timing, retries, the cap and
 * the store are the writer's (`writer.ts`).
 *
 * `push` runs for every candle update the service emits (thousands a second at a full shard),
 * and anything the queue holds until the next write (up to a flush interval) outlives the
 * garbage collector's young generation: promoted, it costs full collections that stall the
 * event loop. So with a `liveSource` (the aggregator's current candles) a live update only
 * marks its document dirty, and the value is read from the source when a cycle takes it, into
 * a document object the queue keeps per live document and refills on every take (a new candle
 * per read, held until the store's commit, would be promoted: thousands a second); the last
 * written values are kept as numbers in one array per product. Completed candles (about one per
 * product-minute) are held as they are.
 */
import type { Candle, CandleUpdate } from "../candles/candle.ts";
import { GRANULARITIES, granularityById } from "../candles/granularity.ts";
import type { CandleDoc } from "./store.ts";

/**
 * What one write cycle takes out of the queue. Live documents read from the source are the
 * queue's own objects, refilled by a later take: use (write) them before taking again.
 */
export interface QueueBatch {
  completed: CandleDoc[];
  live: CandleDoc[];
}

/**
 * Writes the current live candle of a product and granularity index into `into`; false (and
 * `into` untouched) when it has none to write.
 */
export type LiveSource = (product: string, granularity: number, into: Candle) => boolean;

const N = GRANULARITIES.length;
/** A take's mask naming every granularity. */
export const ALL_GRANULARITIES: number = (1 << N) - 1;
/** Numbers kept per written live value: start, open, high, low, close, volume. */
const W = 6;
/** A live document whose value is to be read from the live source. */
const DIRTY = 1;

/** One product's live documents, by granularity index. */
interface LiveSlots {
  /** `DIRTY`, a value to write as it is (a completion, or without a source), or nothing. */
  pending: (CandleDoc | typeof DIRTY | undefined)[];
  /** Bucket start of each pending value (epoch s), NaN when none. */
  pendingStart: Float64Array;
  /** The last written values, `W` numbers per granularity; start NaN when none. */
  written: Float64Array;
  /** The document each granularity's source reads are filled into (created on first read). */
  docs: (CandleDoc | undefined)[];
}

const completedKey = (d: CandleDoc) => `${d.product}|${d.granularity}|${d.candle.start}`;

/** The stored fields of an update (an update is a document plus flags the stores ignore). */
function docOf(u: CandleUpdate): CandleDoc {
  return { product: u.product, granularity: u.granularity, candle: u.candle };
}

/** Pending live and completed candle writes; see the module comment. */
export class WriteQueue {
  readonly #source?: LiveSource;
  readonly #live = new Map<string, LiveSlots>();
  #livePending = 0;
  #completed = new Map<string, CandleDoc>();
  /** Live values replaced by a newer one before being written. */
  superseded = 0;
  /** Live values not written because equal to the last written one. */
  unchanged = 0;

  /** With `liveSource`, live values are read from it when taken (see the module comment). */
  constructor(liveSource?: LiveSource) {
    this.#source = liveSource;
  }

  /** Queued live documents. */
  get liveSize(): number {
    return this.#livePending;
  }

  /** Products with live documents (queued or written). */
  get liveProducts(): number {
    return this.#live.size;
  }

  /** Queued completed candles. */
  get completedSize(): number {
    return this.#completed.size;
  }

  #slots(product: string): LiveSlots {
    let slots = this.#live.get(product);
    if (!slots) {
      const written = new Float64Array(N * W);
      for (let g = 0; g < N; g++) written[g * W] = NaN;
      slots = {
        pending: new Array(N).fill(undefined),
        pendingStart: new Float64Array(N).fill(NaN),
        written,
        docs: new Array(N).fill(undefined),
      };
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
    // A completion is the document's value until a later bucket opens; the open candle is the
    // source's, read when taken.
    this.#queueLive(
      update.product,
      granularityById(update.granularity).index,
      update.candle.start,
      update.complete || !this.#source ? update : DIRTY,
    );
  }

  /**
   * Marks the live document of `product` at granularity index `g` changed, its open bucket
   * starting at `start`: its value is read from the live source when taken (requires one).
   */
  markLive(product: string, g: number, start: number): void {
    if (!this.#source) throw new Error("WriteQueue.markLive needs a live source");
    this.#queueLive(product, g, start, DIRTY);
  }

  #queueLive(product: string, g: number, start: number, value: CandleUpdate | typeof DIRTY): void {
    const slots = this.#slots(product);
    const pending = slots.pending[g];
    const current = pending !== undefined ? slots.pendingStart[g]! : slots.written[g * W]!;
    if (start < current) return; // never regress live (NaN: nothing yet)
    if (pending !== undefined) this.superseded++;
    else this.#livePending++;
    slots.pending[g] = value;
    slots.pendingStart[g] = start;
  }

  /** Queues completed candles of the past (seed tiles): written by id, the live documents untouched. */
  pushHistory(doc: CandleDoc): void {
    this.#completed.set(completedKey(doc), doc);
  }

  /**
   * Takes up to `max` completed (oldest first) and `max` changed live documents of the
   * granularities in `mask` (bit `1 << index`; the others stay queued).
   */
  take(max: number, mask: number = ALL_GRANULARITIES): QueueBatch {
    const completed = this.#takeCompleted(max);
    const live: CandleDoc[] = [];
    for (const _ of this.#takeLive(max, live, mask)) { /* one product at a time */ }
    return { completed, live };
  }

  /**
   * Removes the `n` oldest queued completed candles (the first queued) and returns them: what
   * the writer drops from memory past its cap, to be refilled from REST.
   */
  dropOldestCompleted(n: number): CandleDoc[] {
    const dropped: CandleDoc[] = [];
    for (const [key, doc] of this.#completed) {
      if (dropped.length >= n) break;
      dropped.push(doc);
      this.#completed.delete(key);
    }
    return dropped;
  }

  /**
   * {@linkcode take}, awaiting `pause` after every `perSlice` products with changed live
   * documents, so that reading a full shard's live values from the source (thousands of
   * candles) does not hold the event loop in one task. A product is taken once per call even if
   * it changes during a pause (its newer value stays queued for the next call).
   */
  async takeInSlices(
    max: number,
    perSlice: number,
    pause: () => Promise<void>,
    mask: number = ALL_GRANULARITIES,
  ): Promise<QueueBatch> {
    const completed = this.#takeCompleted(max);
    const live: CandleDoc[] = [];
    let n = 0;
    for (const _ of this.#takeLive(max, live, mask)) {
      if (++n % perSlice === 0) await pause();
    }
    return { completed, live };
  }

  #takeCompleted(max: number): CandleDoc[] {
    const completed: CandleDoc[] = [];
    for (const [key, doc] of this.#completed) {
      if (completed.length >= max) break;
      completed.push(doc);
      this.#completed.delete(key);
    }
    return completed;
  }

  /**
   * Moves changed live documents of the granularities in `mask` into `live` (up to `max`), one
   * product per step. The Map's iterator visits each product once, products added meanwhile
   * included.
   */
  *#takeLive(max: number, live: CandleDoc[], mask: number): Generator<void> {
    if (this.#livePending === 0 || mask === 0) return;
    for (const [product, slots] of this.#live) {
      let took = false;
      for (let g = 0; g < N; g++) {
        const pending = slots.pending[g];
        if (pending === undefined || (mask & (1 << g)) === 0) continue;
        if (live.length >= max) continue;
        took = true;
        const doc: CandleDoc | undefined = pending === DIRTY
          ? this.#fromSource(product, g, slots)
          : pending;
        if (doc === undefined) {
          // The source has nothing to write now (its candle is withheld until seeded, or the
          // product was dropped): a later update marks it again.
        } else if (sameAsWritten(slots.written, g, doc.candle)) {
          this.unchanged++;
        } else {
          live.push(doc);
        }
        slots.pending[g] = undefined;
        slots.pendingStart[g] = NaN;
        this.#livePending--;
      }
      if (took) yield;
    }
  }

  #fromSource(product: string, g: number, slots: LiveSlots): CandleDoc | undefined {
    let doc = slots.docs[g];
    if (!doc) {
      // Its own object literal, not the aggregator's: these live for the process, and V8 would
      // otherwise learn from them to allocate every (short-lived) drained candle in old space.
      const candle = { start: NaN, open: NaN, high: NaN, low: NaN, close: NaN, volume: NaN };
      slots.docs[g] = doc = { product, granularity: GRANULARITIES[g]!.id, candle };
    }
    return this.#source!(product, g, doc.candle) ? doc : undefined;
  }

  /** Records live values as stored. */
  markWritten(live: CandleDoc[]): void {
    for (const d of live) {
      const w = this.#slots(d.product).written;
      const i = granularityById(d.granularity).index * W;
      const c = d.candle;
      w[i] = c.start;
      w[i + 1] = c.open;
      w[i + 2] = c.high;
      w[i + 3] = c.low;
      w[i + 4] = c.close;
      w[i + 5] = c.volume;
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
      if (slots.pending[g] !== undefined) continue;
      slots.pending[g] = d;
      slots.pendingStart[g] = d.candle.start;
      this.#livePending++;
    }
  }
}

function sameAsWritten(w: Float64Array, g: number, c: Candle): boolean {
  const i = g * W;
  return w[i] === c.start && w[i + 1] === c.open && w[i + 2] === c.high && w[i + 3] === c.low &&
    w[i + 4] === c.close && w[i + 5] === c.volume;
}
