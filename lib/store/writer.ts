/**
 * @module
 * {@linkcode CandleWriter}: between the aggregator and the {@linkcode CandleStore}. It owns
 * coalescing, batching, retries and shutdown flushing; the store owns documents.
 *
 * - Live candles: one pending value per document, latest wins; a write cycle runs at most once
 *   per `flushIntervalMs` (retries back off no faster; a cycle that took longer than that is
 *   followed by a pause as long as it took), so each document is written at most once per
 *   interval, and not at all when its value equals the last one written. All changed
 *   documents of a cycle go in one `writeLive` call.
 * - Completed candles (and corrections): queued by document id, so a completion is written once
 *   (a correction pending for the same id replaces it: the write is idempotent by id); never
 *   dropped, in `writeCompleted` calls of at most `maxBatch`, oldest first. A completed candle
 *   not older than its live document's value also updates the live document.
 * - Failures: the whole cycle is retried with the process's backoff (`lib/backoff.ts`). One
 *   cycle is in flight at a time and a failed value goes back only if nothing newer arrived for
 *   its document, so a retry of stale data can never land after fresher data.
 * - Bound: live values are bounded by the number of documents (superseded values are
 *   discarded); completed candles are never discarded, so past `maxPending` the writer reports
 *   `overCapacity` (a restart refills history from REST) instead of dropping any.
 */
import { backoffDelay } from "../backoff.ts";
import type { CandleUpdate } from "../candles/candle.ts";
import { type Clock, systemClock } from "../clock.ts";
import { getLogger } from "../log.ts";
import { yieldToEventLoop } from "./chunked_write.ts";
import { writeCostPerDayUsd } from "./cost.ts";
import type { CandleDoc, CandleStore } from "./store.ts";
import { RateWindow } from "./rate_window.ts";
import { type LiveSource, WriteQueue } from "./write_queue.ts";

const log = getLogger(["spot", "store", "writer"]);

/** Products whose changed live documents a write cycle takes per event-loop task (~1 ms). */
const TAKE_SLICE = 150;

/** Timer functions, injectable for tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** Options for {@linkcode CandleWriter}. */
export interface CandleWriterOptions {
  /** At most one write per live document per interval. @default {1000} */
  flushIntervalMs?: number;
  /** Pending completed candles beyond which `overCapacity` is reported. @default {100000} */
  maxPending?: number;
  /** Documents per store call. @default {5000} */
  maxBatch?: number;
  /** Cap of the first retry delay (`backoffDelay`), never below the flush interval. @default {1000} */
  backoffInitialMs?: number;
  /** @default {30000} */
  backoffMaxMs?: number;
  /** A call in flight longer than this counts as failing (the client retries inside it). @default {30000} */
  stallMs?: number;
  /** Jitter source of the retry backoff, in [0, 1]. @default {Math.random} */
  random?: () => number;
  /** Time for rate limiting, rates and `failingSinceMs`. @default {systemClock} */
  clock?: Clock;
  /** Timers for the write loop, flush deadlines and shutdown retries. @default {globalThis} */
  timers?: Timers;
  /**
   * Called at the start of every write cycle, before it takes its batch: where a caller pushes
   * what it holds back until a write is due (the pipeline's live candles nobody subscribes to).
   */
  beforeCycle?: () => void;
  /**
   * The current live candle of a product and granularity index: with it, the writer holds no
   * live value between cycles, only marks (see `write_queue.ts`).
   */
  liveSource?: LiveSource;
}

/** What the writer reports (for /health, /api/status and /metrics). */
export interface WriterStats {
  /** Document writes queued or in flight (live + completed). */
  pending: number;
  /** Queued live documents. */
  pendingLive: number;
  /** Queued completed candles. */
  pendingCompleted: number;
  /** Documents in the store call under way. */
  inFlight: number;
  /** Billed document writes per second over the last minute. */
  writesPerS: number;
  /** Documents written since start (a compact product document counts once). */
  writesTotal: number;
  /** Live documents written (billed writes: in the compact layout one per product). */
  liveWritesTotal: number;
  /** Completed candle documents written. */
  completedWritesTotal: number;
  /** Failed store calls since start. */
  failures: number;
  lastError: { message: string; atMs: number } | null;
  /** Start of the first failed (or stalled) attempt not yet followed by a success. */
  failingSinceMs: number | null;
  /** Live values not written because equal to the last written one. */
  skippedUnchanged: number;
  /** Live values replaced by a newer one before being written. */
  superseded: number;
  overCapacity: boolean;
  /** `writesPerS` over a day at Firestore list price, $0.09 per 100k writes (regional). */
  projectedCostPerDayUsd: number;
}

/** The outcome of {@linkcode CandleWriter.flush}. */
export interface FlushResult {
  /** Document writes still pending (0 when everything landed). */
  pending: number;
  /** True when the deadline passed first. */
  timedOut: boolean;
}

/** Coalesces, batches and retries candle writes; see the module comment. */
export class CandleWriter {
  #store: CandleStore;
  #interval: number;
  #maxPending: number;
  #maxBatch: number;
  #backoffInitial: number;
  #backoffMax: number;
  #random: () => number;
  #stallMs: number;
  #clock: Clock;
  #timers: Timers;
  #beforeCycle: () => void;
  #compact: boolean;
  #queue: WriteQueue;
  #cycle: Promise<void> | undefined;
  #cycleStartedAt: number | null = null;
  #inFlight = 0;
  #nextAt = 0;
  #streak = 0;
  #failingSince: number | null = null;
  #timer: unknown;
  #running = false;
  #rate: RateWindow;
  #s = { live: 0, completed: 0, failures: 0 };
  #lastError: WriterStats["lastError"] = null;
  #warnedCapacity = false;

  constructor(store: CandleStore, options: CandleWriterOptions = {}) {
    this.#store = store;
    this.#interval = options.flushIntervalMs ?? 1000;
    this.#maxPending = options.maxPending ?? 100_000;
    this.#maxBatch = options.maxBatch ?? 5000;
    this.#backoffInitial = options.backoffInitialMs ?? 1000;
    this.#backoffMax = options.backoffMaxMs ?? 30_000;
    this.#random = options.random ?? Math.random;
    this.#stallMs = options.stallMs ?? 30_000;
    this.#clock = options.clock ?? systemClock;
    this.#timers = options.timers ?? globalThis;
    this.#beforeCycle = options.beforeCycle ?? (() => {});
    this.#queue = new WriteQueue(options.liveSource);
    this.#rate = new RateWindow(60_000, this.#clock);
    this.#compact = (store as { layout?: string }).layout === "compact";
  }

  /** Queues an update from the aggregator (never blocks, never throws). */
  push(update: CandleUpdate): void {
    this.#queue.push(update);
    this.#checkCapacity();
  }

  /**
   * Marks a live document changed (product, granularity index, open bucket start) without its
   * value, which is read from `liveSource` when written.
   */
  markLive(product: string, g: number, start: number): void {
    this.#queue.markLive(product, g, start);
  }

  /**
   * Queues completed candles of the past (e.g. seed tiles fetched from REST) to be written like
   * completions, never dropped; live documents are not touched.
   */
  pushHistory(docs: CandleDoc[]): void {
    for (const d of docs) this.#queue.pushHistory(d);
    this.#checkCapacity();
  }

  #checkCapacity(): void {
    if (this.#queue.completedSize > this.#maxPending && !this.#warnedCapacity) {
      this.#warnedCapacity = true;
      log.error("Writer over capacity: {pending} completed candles pending; none dropped", {
        pending: this.#queue.completedSize,
      });
    }
  }

  /** Starts the write loop (one cycle per flush interval). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const loop = () => {
      this.#timer = this.#timers.setTimeout(() => {
        this.tick().finally(() => this.#running && loop());
      }, this.#interval);
    };
    loop();
  }

  /** Stops the write loop and flushes what is pending within `deadlineMs`. */
  async stop(deadlineMs = 8000): Promise<FlushResult> {
    this.#running = false;
    this.#timers.clearTimeout(this.#timer);
    return await this.flush(deadlineMs);
  }

  /** Runs one write cycle if one is due (not in flight, interval or backoff elapsed). */
  async tick(): Promise<void> {
    if (this.#cycle || this.#clock() < this.#nextAt) return;
    await this.#runCycle();
  }

  /**
   * Writes everything pending, ignoring the flush interval, retrying failures every 250 ms,
   * until done or `deadlineMs` passes (Cloud Run's grace is 10 s: aim for 8 s).
   */
  async flush(deadlineMs = 8000): Promise<FlushResult> {
    let timedOut = false;
    let wake = () => {};
    const deadline = new Promise<void>((resolve) => wake = resolve);
    const timer = this.#timers.setTimeout(() => {
      timedOut = true;
      wake();
    }, deadlineMs);
    try {
      while (!timedOut && (this.#cycle || this.#queue.liveSize + this.#queue.completedSize > 0)) {
        const failuresBefore = this.#s.failures;
        await Promise.race([this.#cycle ?? this.#runCycle(), deadline]);
        if (this.#s.failures > failuresBefore && !timedOut) await this.#wait(250, deadline);
      }
    } finally {
      this.#timers.clearTimeout(timer);
    }
    return { pending: this.#pendingCount(), timedOut };
  }

  /** Current counters; see {@linkcode WriterStats}. */
  stats(): WriterStats {
    const now = this.#clock();
    const stalled = this.#cycleStartedAt !== null && now - this.#cycleStartedAt > this.#stallMs;
    const writesPerS = this.#rate.perSecond();
    return {
      pending: this.#pendingCount(),
      pendingLive: this.#queue.liveSize,
      pendingCompleted: this.#queue.completedSize,
      inFlight: this.#inFlight,
      writesPerS,
      writesTotal: this.#s.live + this.#s.completed,
      liveWritesTotal: this.#s.live,
      completedWritesTotal: this.#s.completed,
      failures: this.#s.failures,
      lastError: this.#lastError,
      failingSinceMs: this.#failingSince ?? (stalled ? this.#cycleStartedAt : null),
      skippedUnchanged: this.#queue.unchanged,
      superseded: this.#queue.superseded,
      overCapacity: this.#queue.completedSize > this.#maxPending,
      projectedCostPerDayUsd: writeCostPerDayUsd(writesPerS),
    };
  }

  /** Queued plus in-flight document writes. */
  #pendingCount(): number {
    return this.#queue.liveSize + this.#queue.completedSize + this.#inFlight;
  }

  async #wait(ms: number, deadline: Promise<void>): Promise<void> {
    let timer: unknown;
    await Promise.race([
      new Promise((r) => timer = this.#timers.setTimeout(() => r(0), ms)),
      deadline,
    ]);
    this.#timers.clearTimeout(timer);
  }

  #runCycle(): Promise<void> {
    this.#cycle = this.#write().finally(() => {
      this.#cycle = undefined;
      this.#cycleStartedAt = null;
      this.#inFlight = 0;
    });
    return this.#cycle;
  }

  async #write(): Promise<void> {
    const startedAt = this.#clock();
    this.#beforeCycle();
    // Reading a full shard's live values (thousands of candles) is cut into slices with the
    // event loop's turn in between, so frames waiting behind the cycle wait a slice, not it all.
    const batch = await this.#queue.takeInSlices(this.#maxBatch, TAKE_SLICE, yieldToEventLoop);
    const { completed, live } = batch;
    if (completed.length === 0 && live.length === 0) return;
    this.#cycleStartedAt = startedAt;
    this.#inFlight = completed.length + live.length;
    this.#nextAt = startedAt + this.#interval;
    let operation = "writeCompleted";
    try {
      if (completed.length > 0) {
        await this.#store.writeCompleted(completed);
        this.#s.completed += completed.length;
        this.#rate.add(completed.length);
        this.#inFlight -= completed.length;
        completed.length = 0;
      }
      operation = "writeLive";
      if (live.length > 0) {
        await this.#store.writeLive(live);
        this.#queue.markWritten(live);
        const billed = this.#compact ? new Set(live.map((d) => d.product)).size : live.length;
        this.#s.live += billed;
        this.#rate.add(billed);
      }
      this.#streak = 0;
      this.#failingSince = null;
      if (this.#queue.completedSize <= this.#maxPending) this.#warnedCapacity = false;
      // A cycle that took longer than the interval is followed by a pause as long as it took:
      // the store's client (Firestore's costs main-thread CPU per commit) gets at most half of
      // the event loop, and the live path and startup the rest; values coalesce meanwhile.
      const took = this.#clock() - startedAt;
      if (took > this.#interval) this.#nextAt = Math.max(this.#nextAt, startedAt + 2 * took);
    } catch (error) {
      this.#inFlight = 0;
      this.#queue.requeue(batch);
      this.#streak++;
      this.#s.failures++;
      this.#failingSince ??= startedAt;
      // Never sooner than the flush interval: a retry is a write cycle like any other.
      const delay = Math.max(
        this.#interval,
        backoffDelay(
          this.#streak,
          { initialMs: this.#backoffInitial, maxMs: this.#backoffMax },
          this.#random,
        ),
      );
      this.#nextAt = this.#clock() + delay;
      const message = (error as Error).message ?? String(error);
      this.#lastError = { message: `${operation}: ${message}`, atMs: this.#clock() };
      log.warn("Store {operation} failed (attempt {attempt}), retrying in {delayMs} ms: {error}", {
        operation,
        attempt: this.#streak,
        delayMs: delay,
        pending: this.#pendingCount(),
        error: message,
      });
    }
  }
}
