/**
 * @module
 * {@linkcode CandleWriter}: between the aggregator and the {@linkcode CandleStore}. It owns
 * coalescing, batching, retries, the memory bound and shutdown flushing; the store owns
 * documents.
 *
 * - Live candles: one pending value per document, latest wins. Each granularity has its own
 *   flush interval (`FLUSH_INTERVAL_MS`, e.g. `ONE_MINUTE=1000,default=5000`); write cycles run
 *   at most once per the shortest one (retries back off no faster; a cycle that took longer than
 *   that is followed by a pause as long as it took), and a cycle takes a granularity's changed
 *   documents only when its own interval has passed since it last took them. So each document is
 *   written at most once per its granularity's interval, and not at all when its value equals
 *   the last one written; coarser granularities are taken in the same cycles as finer ones (one
 *   product document per cycle in the compact layout). All documents of a cycle go in one
 *   `writeLive` call.
 * - Completed candles (and corrections): queued by document id, so a completion is written once
 *   (a correction pending for the same id replaces it: the write is idempotent by id), in every
 *   cycle, in `writeCompleted` calls of at most `maxBatch`, oldest first, before the cycle's live
 *   documents (seeding's watermark relies on that order). A completed candle not older than its
 *   live document's value also updates the live document.
 * - Failures: the whole cycle is retried with the process's backoff (`lib/backoff.ts`). One
 *   cycle is in flight at a time and a failed value goes back only if nothing newer arrived for
 *   its document, so a retry of stale data can never land after fresher data.
 * - Bound (DESIGN.md invariant 5): live values are bounded by the number of documents
 *   (superseded values are discarded). Completed candles queue up to `maxPending` (default
 *   100,000: about 30 MB, over an hour of a full shard's completions); past it the oldest are
 *   dropped *from memory only*: they are handed to the {@linkcode CandleWriter.onDropped}
 *   listeners (the service's REST refill, `lib/history/refill.ts`, writes them again once the
 *   store answers) and logged once per episode.
 */
import { backoffDelay } from "../backoff.ts";
import type { CandleUpdate } from "../candles/candle.ts";
import { GRANULARITIES, granularityById, type GranularityId } from "../candles/granularity.ts";
import { type Clock, systemClock } from "../clock.ts";
import type { FlushIntervals } from "../config.ts";
import { getLogger } from "../log.ts";
import { yieldToEventLoop } from "./chunked_write.ts";
import {
  estimateDailyWrites,
  FIRESTORE_WRITE_USD_PER_100K,
  flushIntervals,
  writeCostPerDayUsd,
} from "./cost.ts";
import type { CandleDoc, CandleStore } from "./store.ts";
import { RateWindow } from "./rate_window.ts";
import { ALL_GRANULARITIES, type LiveSource, WriteQueue } from "./write_queue.ts";

const log = getLogger(["spot", "store", "writer"]);

/** Products whose changed live documents a write cycle takes per event-loop task (~1 ms). */
const TAKE_SLICE = 150;

/** Timer functions, injectable for tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** A completed candle dropped from memory past the cap, to be refilled (`refill.ts`). */
export interface DroppedCandle {
  /** Market key (`BTC-USD`, `kraken:BTC-USD`). */
  product: string;
  granularity: GranularityId;
  /** Bucket start, epoch s. */
  startSec: number;
}

/** Completed candles queued at most by default: about 30 MB, over an hour of a full shard's completions. */
export const DEFAULT_MAX_PENDING = 100_000;

/** Options for {@linkcode CandleWriter}. */
export interface CandleWriterOptions {
  /**
   * At most one write per live document per interval: one number for every granularity, or
   * one per granularity id (`Config.flushIntervalMs`). @default {1000}
   */
  flushIntervalMs?: number | FlushIntervals;
  /**
   * Completed candles queued at most; past it the oldest are dropped from memory and handed to
   * `onDropped` (see the module comment). @default {100000}
   */
  maxPending?: number;
  /** Called with completed candles dropped past `maxPending` (also: {@linkcode CandleWriter.onDropped}). */
  onDropped?: (docs: DroppedCandle[]) => void;
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
  /** The cap of queued completed candles (`maxPending`). */
  maxPendingCompleted: number;
  /** Completed candles dropped from memory past the cap since start (handed to the refill). */
  droppedTotal: number;
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
  /**
   * How long the store has been failing (`failingSinceMs` to now), in the writer's own clock
   * (the wall clock): what `/health` compares with its limit, whatever clock the service runs.
   */
  failingForMs: number | null;
  /** Live values not written because equal to the last written one. */
  skippedUnchanged: number;
  /** Live values replaced by a newer one before being written. */
  superseded: number;
  /** The cap was reached and completed candles were dropped since the store last recovered. */
  overCapacity: boolean;
  /** `writesPerS` over a day at Firestore list price, $0.09 per 100k writes (regional). */
  projectedCostPerDayUsd: number;
  /** The live flush interval of each granularity, ms. */
  flushIntervalsMs: FlushIntervals;
  /** Products with live documents. */
  liveProducts: number;
  /**
   * What the flush intervals allow at most per day for these products: every live document
   * changing every interval, plus every completed candle (`estimateDailyWrites`), at list price.
   */
  costCeilingPerDayUsd: number;
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
  #intervals: FlushIntervals;
  /** Flush interval per granularity index. */
  #intervalOf: number[];
  /** The shortest flush interval: the cycle period. */
  #interval: number;
  /** Per granularity index: when its live documents may be taken again (epoch ms). */
  #dueAt: number[];
  #maxPending: number;
  #dropListeners: ((docs: DroppedCandle[]) => void)[] = [];
  #dropped: DroppedCandle[] = [];
  #dropScheduled = false;
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
  #s = { live: 0, completed: 0, failures: 0, dropped: 0 };
  #lastError: WriterStats["lastError"] = null;
  #warnedCapacity = false;

  constructor(store: CandleStore, options: CandleWriterOptions = {}) {
    this.#store = store;
    this.#intervals = flushIntervals(options.flushIntervalMs ?? 1000);
    this.#intervalOf = GRANULARITIES.map((g) => this.#intervals[g.id]);
    this.#interval = Math.min(...this.#intervalOf);
    this.#dueAt = GRANULARITIES.map(() => 0);
    this.#maxPending = Math.max(1, options.maxPending ?? DEFAULT_MAX_PENDING);
    if (options.onDropped) this.#dropListeners.push(options.onDropped);
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
   * completions, counted in `maxPending` like them (past it the oldest are dropped and refilled);
   * live documents are not touched.
   */
  pushHistory(docs: CandleDoc[]): void {
    for (const d of docs) this.#queue.pushHistory(d);
    this.#checkCapacity();
  }

  /**
   * Adds a listener for completed candles dropped from memory past the cap (called once per
   * batch of drops, after the push that caused them). Returns the function that removes it.
   */
  onDropped(listener: (docs: DroppedCandle[]) => void): () => void {
    this.#dropListeners.push(listener);
    return () => {
      this.#dropListeners = this.#dropListeners.filter((l) => l !== listener);
    };
  }

  #checkCapacity(): void {
    const over = this.#queue.completedSize - this.#maxPending;
    if (over <= 0) return;
    const dropped = this.#queue.dropOldestCompleted(over);
    this.#s.dropped += dropped.length;
    if (!this.#warnedCapacity) {
      this.#warnedCapacity = true;
      log.error(
        "Writer over capacity: {cap} completed candles pending; dropping the oldest from memory (refilled from REST once the store answers)",
        {
          cap: this.#maxPending,
          pending: this.#pendingCount(),
          lastError: this.#lastError?.message,
        },
      );
    }
    for (const d of dropped) {
      this.#dropped.push({
        product: d.product,
        granularity: d.granularity,
        startSec: d.candle.start,
      });
    }
    if (this.#dropScheduled) return;
    this.#dropScheduled = true;
    queueMicrotask(() => {
      this.#dropScheduled = false;
      const docs = this.#dropped;
      this.#dropped = [];
      for (const listener of this.#dropListeners) {
        try {
          listener(docs);
        } catch (e) {
          log.error("A dropped-candles listener failed: {error}", { error: String(e) });
        }
      }
    });
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
        await Promise.race([this.#cycle ?? this.#runCycle(true), deadline]);
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
    const failingSinceMs = this.#failingSince ?? (stalled ? this.#cycleStartedAt : null);
    const liveProducts = this.#queue.liveProducts;
    const layout = this.#compact ? "compact" : "compat";
    const perProduct = estimateDailyWrites(layout, this.#intervals).totalWritesPerDay;
    return {
      pending: this.#pendingCount(),
      pendingLive: this.#queue.liveSize,
      pendingCompleted: this.#queue.completedSize,
      inFlight: this.#inFlight,
      maxPendingCompleted: this.#maxPending,
      droppedTotal: this.#s.dropped,
      writesPerS,
      writesTotal: this.#s.live + this.#s.completed,
      liveWritesTotal: this.#s.live,
      completedWritesTotal: this.#s.completed,
      failures: this.#s.failures,
      lastError: this.#lastError,
      failingSinceMs,
      failingForMs: failingSinceMs === null ? null : Math.max(0, now - failingSinceMs),
      skippedUnchanged: this.#queue.unchanged,
      superseded: this.#queue.superseded,
      overCapacity: this.#warnedCapacity,
      projectedCostPerDayUsd: writeCostPerDayUsd(writesPerS),
      flushIntervalsMs: this.#intervals,
      liveProducts,
      costCeilingPerDayUsd: liveProducts * perProduct * FIRESTORE_WRITE_USD_PER_100K / 100_000,
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

  #runCycle(all = false): Promise<void> {
    this.#cycle = this.#write(all).finally(() => {
      this.#cycle = undefined;
      this.#cycleStartedAt = null;
      this.#inFlight = 0;
    });
    return this.#cycle;
  }

  /** The granularities (bit mask) whose live documents may be taken at `now`. */
  #dueMask(now: number): number {
    let mask = 0;
    for (let g = 0; g < this.#dueAt.length; g++) if (now >= this.#dueAt[g]!) mask |= 1 << g;
    return mask;
  }

  /** `all`: every granularity's live documents, due or not (flush). */
  async #write(all: boolean): Promise<void> {
    const startedAt = this.#clock();
    this.#beforeCycle();
    // Reading a full shard's live values (thousands of candles) is cut into slices with the
    // event loop's turn in between, so frames waiting behind the cycle wait a slice, not it all.
    const mask = all ? ALL_GRANULARITIES : this.#dueMask(startedAt);
    const batch = await this.#queue.takeInSlices(
      this.#maxBatch,
      TAKE_SLICE,
      yieldToEventLoop,
      mask,
    );
    const { completed, live } = batch;
    if (completed.length === 0 && live.length === 0) return;
    this.#cycleStartedAt = startedAt;
    this.#inFlight = completed.length + live.length;
    this.#nextAt = startedAt + this.#interval;
    // A granularity whose documents this cycle took waits its own interval before the next take.
    let taken = 0;
    for (const d of live) taken |= 1 << granularityById(d.granularity).index;
    for (let g = 0; g < this.#dueAt.length; g++) {
      if (taken & (1 << g)) this.#dueAt[g] = startedAt + this.#intervalOf[g]!;
    }
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
      if (this.#warnedCapacity && this.#queue.completedSize < this.#maxPending) {
        this.#warnedCapacity = false;
        log.info("Writer back under capacity: {dropped} completed candles dropped since start", {
          dropped: this.#s.dropped,
        });
      }
      if (this.#streak > 0) {
        log.info("Store writes recovered after {attempts} failed attempts", {
          attempts: this.#streak,
          pending: this.#pendingCount(),
        });
      }
      this.#streak = 0;
      this.#failingSince = null;
      // A cycle that took longer than the interval is followed by a pause as long as it took:
      // the store's client (Firestore's costs main-thread CPU per commit) gets at most half of
      // the event loop, and the live path and startup the rest; values coalesce meanwhile.
      const took = this.#clock() - startedAt;
      if (took > this.#interval) this.#nextAt = Math.max(this.#nextAt, startedAt + 2 * took);
    } catch (error) {
      this.#inFlight = 0;
      this.#queue.requeue(batch);
      this.#checkCapacity();
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
