/**
 * @module
 * Historical candles from Coinbase REST into the store: `deno task ingest` and the service's
 * startup catch-up both call {@linkcode runBackfill}. It plans pages of ≤ 300 buckets per
 * (product, granularity), skips what the store's checkpoints say is complete, keeps several
 * pages in flight (the REST client's limiter bounds the rate), writes each page's completed
 * candles in one idempotent batch, and advances the checkpoint over the contiguous prefix of
 * finished pages, so an interrupted run resumes where it stopped. Flag parsing, the progress bar
 * and the summary table live in `lib/ingest/`.
 */
import type { Candle } from "../candles/candle.ts";
import { bucketStart, type Granularity, type GranularityId } from "../candles/granularity.ts";
import { type Clock, systemClock } from "../clock.ts";
import type { MarketRest } from "../exchange/exchange.ts";
import { candleWindows } from "../coinbase/rest_candles.ts";
import { getLogger } from "../log.ts";
import type { CandleStore } from "../store/store.ts";
import { HistoryFetchError } from "./fetch_error.ts";

const log = getLogger(["spot", "backfill"]);

/**
 * Requests per second `deno task ingest` runs at. Coinbase's public limit is 10 per second per
 * IP and backfill is bound by it, so ingest runs close to it; the client's limiter keeps every
 * one-second window at or under this rate, and the half request of headroom absorbs the skew
 * between our windows and the server's.
 */
export const INGEST_RATE_PER_SECOND = 9.5;

/** What {@linkcode runBackfill} needs from the REST client. */
export type BackfillRest = Pick<MarketRest, "candlePage" | "stats">;

/** Options for {@linkcode runBackfill}. */
export interface BackfillOptions {
  rest: BackfillRest;
  store: CandleStore;
  products: readonly string[];
  granularities: readonly Granularity[];
  /** First bucket wanted (epoch s; aligned down to each granularity). */
  fromSec: number;
  /** Last bucket start wanted (epoch s); capped at the last completed bucket. */
  toSec: number;
  /** @default systemClock */
  clock?: Clock;
  /** Seconds after a bucket ends before REST is trusted to have it complete. @default 5 */
  settleSeconds?: number;
  /** Pages in flight at once (the client's rate limiter still bounds requests). @default 6 */
  concurrency?: number;
  /**
   * Skip what the checkpoint says is stored (false refetches the whole range; the checkpoint is
   * still kept up to date). @default true
   */
  resume?: boolean;
  /** Stops the run between (and inside) requests; the summary then has `aborted: true`. */
  signal?: AbortSignal;
  /** Called once planned and after every page. */
  onProgress?: (progress: BackfillProgress) => void;
}

/** Where a run stands. */
export interface BackfillProgress {
  pagesTotal: number;
  pagesDone: number;
  candles: number;
  requests: number;
  retries: number;
  rateLimited: number;
  elapsedMs: number;
}

/** One (product, granularity) of a run. */
export interface BackfillRow {
  product: string;
  granularity: GranularityId;
  /** Completed candles written. */
  candles: number;
  /** Pages fetched. */
  pages: number;
  /** Pages the checkpoint let the run skip. */
  skippedPages: number;
  /** Range asked for (bucket starts, inclusive); `fromSec > toSec` when nothing is complete. */
  fromSec: number;
  toSec: number;
}

/** The outcome of a run. */
export interface BackfillSummary extends BackfillProgress {
  rows: BackfillRow[];
  /** True when the signal stopped the run before every page was done. */
  aborted: boolean;
}

interface Task {
  row: BackfillRow;
  g: Granularity;
  pages: [number, number][];
  done: boolean[];
  /** Pages from `checkpointFrom` on advance the checkpoint; those in `[checkpointFrom, next)` are done. */
  next: number;
  checkpointFrom: number;
  written: number;
  chain: Promise<void>;
}

/**
 * Fetches and stores completed candles for every product × granularity in the range. The first
 * failed page stops the run (the checkpoints keep what was done).
 * @throws {HistoryFetchError} for a page that failed after the REST client's retries, naming the
 * product, granularity and window; `retryable: false` when no retry can help
 */
export async function runBackfill(options: BackfillOptions): Promise<BackfillSummary> {
  const clock = options.clock ?? systemClock;
  const started = clock();
  const stats0 = { ...options.rest.stats };
  const nowSec = Math.floor(started / 1000);
  const tasks: Task[] = [];
  for (const product of options.products) {
    for (const g of options.granularities) {
      tasks.push(await plan(options, product, g, nowSec));
    }
  }
  const queue = interleave(tasks);
  const progress = (): BackfillProgress => ({
    pagesTotal: queue.length,
    pagesDone: tasks.reduce((n, t) => n + t.done.filter(Boolean).length, 0),
    candles: tasks.reduce((n, t) => n + t.row.candles, 0),
    requests: options.rest.stats.requests - stats0.requests,
    retries: options.rest.stats.retries - stats0.retries,
    rateLimited: options.rest.stats.rateLimited - stats0.rateLimited,
    elapsedMs: clock() - started,
  });
  options.onProgress?.(progress());

  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  let failure: unknown;
  let cursor = 0;
  const worker = async () => {
    while (cursor < queue.length && !signal.aborted) {
      const [task, index] = queue[cursor++]!;
      try {
        await fetchPage(options, task, index, signal);
      } catch (e) {
        if (signal.aborted) return;
        failure ??= e;
        stop.abort(e);
        return;
      }
      options.onProgress?.(progress());
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency ?? 6, queue.length));
  await Promise.all(Array.from({ length: workers }, worker));
  await Promise.all(tasks.map((t) => t.chain));
  if (failure !== undefined) throw failure;
  const end = progress();
  const aborted = end.pagesDone < end.pagesTotal;
  log.info(
    `Backfill ${aborted ? "interrupted" : "done"}: {candles} candles in {pages} pages, ` +
      "{requests} requests, {retries} retries, {elapsedMs} ms",
    { ...end, pages: end.pagesDone },
  );
  return { ...end, rows: tasks.map((t) => t.row), aborted };
}

/** Works out the pages of one (product, granularity), minus what the checkpoint covers. */
async function plan(
  options: BackfillOptions,
  product: string,
  g: Granularity,
  nowSec: number,
): Promise<Task> {
  const settle = options.settleSeconds ?? 5;
  const lastComplete = bucketStart(nowSec - settle, g) - g.seconds;
  const start = bucketStart(options.fromSec, g);
  const end = Math.min(bucketStart(options.toSec, g), lastComplete);
  const row: BackfillRow = {
    product,
    granularity: g.id,
    candles: 0,
    pages: 0,
    skippedPages: 0,
    fromSec: start,
    toSec: end,
  };
  const task: Task = {
    row,
    g,
    pages: [],
    done: [],
    next: 0,
    checkpointFrom: 0,
    written: -Infinity,
    chain: Promise.resolve(),
  };
  if (end < start) return task;
  const all = candleWindows(g, start, end).length;
  // Invariant kept by every run: every bucket from the oldest stored candle through the
  // checkpoint is stored (or has no trades). So a checkpoint is trusted only from the oldest
  // stored candle on, and only a run contiguous with it (or with nothing stored before it) may
  // move it: a bounded catch-up after an outage must not paper over the hole behind it.
  const checkpoint = await options.store.readCheckpoint(product, g.id);
  let tailStart = start;
  if (options.resume !== false && checkpoint !== undefined && checkpoint >= start) {
    const [oldest] = await options.store.readCompleted(product, g.id, {
      start,
      end: checkpoint,
      limit: 1,
    });
    const headEnd = Math.min(end, oldest === undefined ? checkpoint : oldest.start - g.seconds);
    if (headEnd >= start) task.pages.push(...candleWindows(g, start, headEnd));
    tailStart = checkpoint + g.seconds;
  }
  const contiguous = checkpoint !== undefined
    ? tailStart <= checkpoint + g.seconds
    : (await options.store.readCompleted(product, g.id, { end: start - g.seconds, limit: 1 }))
      .length === 0;
  task.checkpointFrom = task.next = task.pages.length;
  if (!contiguous) task.checkpointFrom = Infinity;
  task.written = checkpoint ?? -Infinity;
  if (tailStart <= end) task.pages.push(...candleWindows(g, tailStart, end));
  task.done = task.pages.map(() => false);
  row.skippedPages = Math.max(0, all - task.pages.length);
  return task;
}

/** Page jobs, round-robin across tasks so every product and granularity moves together. */
function interleave(tasks: Task[]): [Task, number][] {
  const out: [Task, number][] = [];
  const longest = Math.max(0, ...tasks.map((t) => t.pages.length));
  for (let i = 0; i < longest; i++) {
    for (const t of tasks) if (i < t.pages.length) out.push([t, i]);
  }
  return out;
}

async function fetchPage(
  options: BackfillOptions,
  task: Task,
  index: number,
  signal: AbortSignal,
): Promise<void> {
  const [from, to] = task.pages[index]!;
  const { product, granularity } = task.row;
  let candles: Candle[];
  try {
    candles = await options.rest.candlePage(product, task.g, from, to, { signal });
  } catch (e) {
    if (signal.aborted) throw e;
    throw new HistoryFetchError(
      "backfilling",
      { product, granularity, fromSec: from, toSec: to },
      e,
    );
  }
  if (candles.length > 0) {
    await options.store.writeCompleted(candles.map((candle) => ({ product, granularity, candle })));
  }
  task.row.candles += candles.length;
  task.row.pages++;
  task.done[index] = true;
  while (task.next < task.pages.length && task.done[task.next]) task.next++;
  if (task.next > task.checkpointFrom) {
    const through = task.pages[task.next - 1]![1];
    // Serialised per task, so checkpoints only move forward.
    task.chain = task.chain.then(async () => {
      if (through <= task.written) return;
      await options.store.writeCheckpoint(product, granularity, through);
      task.written = through;
    });
    await task.chain;
  }
}
