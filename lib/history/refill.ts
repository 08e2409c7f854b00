/**
 * @module
 * The REST refill of completed candles the writer dropped from memory past its cap (a long
 * store outage; `lib/store/writer.ts`, DESIGN.md invariant 5): {@linkcode refillCandles} waits
 * until the store answers again, fetches the candles of the dropped buckets from REST (exactly
 * as the catch-up does: `ONE_MINUTE` candles, every coarser bucket rolled up from them, a
 * `ONE_DAY` at its own granularity) and writes them, idempotent by id. {@linkcode Refiller} is
 * what the service keeps: it takes the writer's drops (`writer.onDropped`) as runs of buckets
 * per product and granularity — memory stays bounded by products × granularities, not by the
 * outage's length — and runs one refill at a time in the background.
 *
 * A run is refetched whole (the buckets between two dropped ones too, at most
 * {@linkcode RUN_SLACK} buckets apart): REST's candles are the truth, so writing one that was
 * stored already changes nothing. What it leaves to others: a drop still owed when the process
 * dies (kill -9) is not remembered; the history filler (`HISTORY_DAYS`) finds such holes.
 */
import type { Candle } from "../candles/candle.ts";
import {
  GRANULARITIES,
  type Granularity,
  granularityById,
  type GranularityId,
  ONE_MINUTE,
} from "../candles/granularity.ts";
import { backoffDelay, type BackoffPolicy, isFinalError } from "../backoff.ts";
import { abortableSleep, type Clock, type Sleep, systemClock } from "../clock.ts";
import type { MarketRest } from "../exchange/exchange.ts";
import { getLogger } from "../log.ts";
import type { CandleDoc, CandleStore } from "../store/store.ts";
import type { DroppedCandle } from "../store/writer.ts";
import { rollUp } from "./catch_up.ts";
import { HistoryFetchError } from "./fetch_error.ts";

const log = getLogger(["spot", "refill"]);

const ONE_DAY = GRANULARITIES.at(-1)!;

/** Dropped buckets this many buckets apart or closer are refetched as one run. */
export const RUN_SLACK = 60;

/** Candles per store call of a refill. */
const WRITE_CHUNK = 500;

/** Retries of REST and store calls: up to 1 s after the first failure, doubling to 30 s. */
export const REFILL_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 30_000 };

/** Buckets `fromSec` … `toSec` (starts, inclusive) of one product and granularity. */
export interface DroppedRun {
  product: string;
  granularity: GranularityId;
  fromSec: number;
  toSec: number;
}

/** Options of {@linkcode refillCandles} and {@linkcode Refiller}. */
export interface RefillOptions {
  /** REST, by market key (the service's `Markets`). */
  rest: Pick<MarketRest, "candles">;
  store: Pick<CandleStore, "writeCompleted" | "ping">;
  /** The service's clock (bucket times). @default systemClock */
  clock?: Clock;
  /** Waits (real ms), ending early when `signal` aborts. @default abortableSleep */
  sleep?: Sleep;
  signal?: AbortSignal;
  /** Between failed attempts (REST, the store). @default REFILL_BACKOFF */
  backoff?: BackoffPolicy;
  /** Jitter of the backoff, in [0, 1]. @default Math.random */
  random?: () => number;
  /**
   * Seconds after a bucket ends before REST's candle of it is trusted final (the exchange's
   * `restSettleS`). @default 10
   */
  settleS?: number;
}

/** What a refill did. */
export interface RefillSummary {
  /** Candles written. */
  candles: number;
  /** Runs given up on (a final REST answer), as `product granularity from…to`. */
  failed: string[];
}

/** Dropped candles as runs of buckets per product and granularity (see the module comment). */
export class DroppedRuns {
  readonly #runs = new Map<string, DroppedRun[]>();
  #size = 0;

  /** Runs held. */
  get size(): number {
    return this.#size;
  }

  /** Adds dropped candles, merging each into the run it extends. */
  add(docs: readonly DroppedCandle[]): void {
    for (const d of docs) {
      const key = `${d.product}\0${d.granularity}`;
      const g = granularityById(d.granularity);
      let runs = this.#runs.get(key);
      if (!runs) this.#runs.set(key, runs = []);
      const near = runs.find((r) =>
        d.startSec >= r.fromSec - RUN_SLACK * g.seconds &&
        d.startSec <= r.toSec + RUN_SLACK * g.seconds
      );
      if (near) {
        near.fromSec = Math.min(near.fromSec, d.startSec);
        near.toSec = Math.max(near.toSec, d.startSec);
      } else {
        runs.push({
          product: d.product,
          granularity: d.granularity,
          fromSec: d.startSec,
          toSec: d.startSec,
        });
        this.#size++;
      }
    }
  }

  /** Puts a run back as it is (a refill that could not finish). */
  addRun(run: DroppedRun): void {
    const key = `${run.product}\0${run.granularity}`;
    let runs = this.#runs.get(key);
    if (!runs) this.#runs.set(key, runs = []);
    runs.push({ ...run });
    this.#size++;
  }

  /** Takes every run held (grouped by product), leaving none. */
  take(): DroppedRun[] {
    const all = [...this.#runs.values()].flat();
    this.#runs.clear();
    this.#size = 0;
    return all.sort((a, b) =>
      a.product < b.product ? -1 : a.product > b.product ? 1 : a.fromSec - b.fromSec
    );
  }
}

/** Disjoint, sorted `[from, to)` second spans covering `spans`. */
function union(spans: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [from, to] of [...spans].sort((a, b) => a[0] - b[0])) {
    const last = out.at(-1);
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

/**
 * Refills `runs`: waits until the store answers (`ping`), then per product fetches the minutes
 * covering its runs below `ONE_DAY` (rolled up into the coarser buckets) and its days, and
 * writes the candles of the runs, retrying REST and the store with backoff until done or
 * `signal` aborts. A product whose REST answer is final is given up on, and named.
 */
export async function refillCandles(
  runs: readonly DroppedRun[],
  options: RefillOptions,
): Promise<RefillSummary> {
  const o = withDefaults(options);
  const summary: RefillSummary = { candles: 0, failed: [] };
  if (runs.length === 0) return summary;
  await retry(o, "reaching the store", () => o.store.ping());
  const byProduct = Map.groupBy(runs, (r) => r.product);
  for (const [product, own] of byProduct) {
    if (o.signal?.aborted) break;
    // REST's newest buckets are final only some seconds after they end.
    const endSec = Math.max(...own.map((r) => r.toSec + granularityById(r.granularity).seconds));
    await waitUntil(o, (endSec + o.settleS) * 1000);
    let docs: CandleDoc[];
    try {
      docs = await retry(o, `refilling ${product}`, () => fetchRuns(product, own, o));
    } catch (e) {
      if (o.signal?.aborted) break;
      if (!isFinalError(e)) throw e;
      summary.failed.push(...own.map(describe));
      log.warn("Refill of {product} given up: {error}", { product, error: String(e) });
      continue;
    }
    for (let i = 0; i < docs.length; i += WRITE_CHUNK) {
      const chunk = docs.slice(i, i + WRITE_CHUNK);
      await retry(o, `storing refilled ${product} candles`, () => o.store.writeCompleted(chunk));
      summary.candles += chunk.length;
    }
  }
  return summary;
}

/** The candles of one product's runs, from REST. */
async function fetchRuns(
  product: string,
  runs: readonly DroppedRun[],
  o: Required<RefillOptions>,
): Promise<CandleDoc[]> {
  const out: CandleDoc[] = [];
  const get = (g: Granularity, fromSec: number, toSec: number) =>
    o.rest.candles(product, g, fromSec, toSec, { signal: o.signal }).catch((e) => {
      if (o.signal.aborted) throw e;
      throw new HistoryFetchError("refilling", { product, granularity: g.id, fromSec, toSec }, e);
    });
  const belowDay = runs.filter((r) => r.granularity !== ONE_DAY.id);
  const spans = union(
    belowDay.map((r) => [r.fromSec, r.toSec + granularityById(r.granularity).seconds]),
  );
  const minutes: Candle[] = [];
  for (const [from, to] of spans) {
    const got = await get(ONE_MINUTE, from, to - 60);
    minutes.push(...got.filter((c) => c.start >= from && c.start < to));
  }
  for (const r of belowDay) {
    const g = granularityById(r.granularity);
    const candles = g === ONE_MINUTE
      ? minutes.filter((c) => c.start >= r.fromSec && c.start <= r.toSec)
      : rollUp(minutes, g, r.fromSec, r.toSec + g.seconds);
    for (const candle of candles) out.push({ product, granularity: g.id, candle });
  }
  for (const r of runs.filter((r) => r.granularity === ONE_DAY.id)) {
    const days = await get(ONE_DAY, r.fromSec, r.toSec);
    for (const candle of days) {
      if (candle.start >= r.fromSec && candle.start <= r.toSec) {
        out.push({ product, granularity: ONE_DAY.id, candle });
      }
    }
  }
  return out;
}

function describe(r: DroppedRun): string {
  const iso = (s: number) => new Date(s * 1000).toISOString();
  return `${r.product} ${r.granularity} ${iso(r.fromSec)}…${iso(r.toSec)}`;
}

function withDefaults(o: RefillOptions): Required<RefillOptions> {
  return {
    rest: o.rest,
    store: o.store,
    clock: o.clock ?? systemClock,
    sleep: o.sleep ?? abortableSleep,
    signal: o.signal ?? new AbortController().signal,
    backoff: o.backoff ?? REFILL_BACKOFF,
    random: o.random ?? Math.random,
    settleS: o.settleS ?? 10,
  };
}

/** Runs `fn` until it succeeds; rethrows a final error, or any error once aborted. */
async function retry<T>(o: Required<RefillOptions>, what: string, fn: () => Promise<T>) {
  for (let attempt = 1;; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (o.signal.aborted || isFinalError(e)) throw e;
      const waitMs = backoffDelay(attempt, o.backoff, o.random);
      if (attempt === 1 || attempt % 10 === 0) {
        log.warn("{what} failed (attempt {attempt}), retrying: {error}", {
          what,
          attempt,
          error: e instanceof Error ? e.message : String(e),
        });
      }
      await o.sleep(waitMs, o.signal);
    }
  }
}

/** Waits until the (service) clock reaches `atMs`, polling in real time. */
async function waitUntil(o: Required<RefillOptions>, atMs: number): Promise<void> {
  while (!o.signal.aborted && o.clock() < atMs) {
    await o.sleep(Math.min(1000, Math.max(10, atMs - o.clock())), o.signal);
  }
}

/** What a {@linkcode Refiller} reports (status, tests). */
export interface RefillerStats {
  /** Runs waiting for the next refill. */
  pendingRuns: number;
  /** Whether a refill is under way. */
  running: boolean;
  /** Candles dropped by the writer and handed over since start. */
  dropped: number;
  /** Candles written by refills since start. */
  refilled: number;
  /** Runs given up on since start. */
  failed: number;
}

/**
 * Takes the writer's drops and refills them in the background, one refill at a time; see the
 * module comment.
 *
 * @example
 * ```ts ignore
 * const refiller = new Refiller({ rest: markets, store, signal });
 * writer.onDropped((docs) => refiller.add(docs));
 * ```
 */
export class Refiller {
  readonly #o: RefillOptions;
  readonly #runs = new DroppedRuns();
  #running: Promise<void> | undefined;
  #s = { dropped: 0, refilled: 0, failed: 0 };

  constructor(options: RefillOptions) {
    this.#o = options;
  }

  /** Takes dropped candles; a refill starts unless one is under way (it takes them next). */
  add(docs: readonly DroppedCandle[]): void {
    if (docs.length === 0) return;
    this.#s.dropped += docs.length;
    this.#runs.add(docs);
    this.#running ??= this.#loop().finally(() => this.#running = undefined);
  }

  /** Resolves when no refill is under way or pending. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  stats(): RefillerStats {
    return {
      pendingRuns: this.#runs.size,
      running: this.#running !== undefined,
      ...this.#s,
    };
  }

  async #loop(): Promise<void> {
    while (this.#runs.size > 0 && !this.#o.signal?.aborted) {
      const runs = this.#runs.take();
      try {
        const summary = await refillCandles(runs, this.#o);
        this.#s.refilled += summary.candles;
        this.#s.failed += summary.failed.length;
        log.info("Refilled {candles} dropped candles of {products} products from REST", {
          candles: summary.candles,
          products: new Set(runs.map((r) => r.product)).size,
          failed: summary.failed.length,
        });
      } catch (e) {
        if (this.#o.signal?.aborted) return;
        // Not final and not aborted: cannot happen (retry loops forever); keep the runs anyway.
        for (const r of runs) this.#runs.addRun(r);
        log.error("Refill failed: {error}", { error: String(e) });
        return;
      }
    }
  }
}
