/**
 * @module
 * The history filler (issue 25 part 2): after startup, in the background, it walks each served
 * product's completed candles at every granularity back to a horizon (`HISTORY_DAYS`) and fills
 * every one the store lacks and REST has, through {@linkcode runBackfill} (the one pager), at the
 * background priority of {@linkcode RestPriority} (live work first, a share of the limit).
 *
 * Per product: `ONE_DAY` first (one or two requests for 30 days), which tells the days with
 * trades; then every finer granularity's newer part (from its watermark to the live path's
 * start: the outage the startup catch-up could not bridge), then its older part back to the
 * horizon, newest first. A bucket in a day REST has no candle for needs no request. The store is
 * read a page at a time; only a page with missing buckets costs a request (from its first to its
 * last missing bucket), and only candles the store lacks are written. After each page the
 * watermark (`lib/store/fill_watermark.ts`) records what is checked, so a restart resumes there.
 *
 * What REST cannot fill is recorded as a hole, not retried: `no_trades` (the product did not
 * trade before some day: listed after the horizon), `rest_empty` (REST has a day's candle but
 * none of a finer granularity in that day), `rest_refused` (a final 4xx: retried only by the next
 * process). Other errors are retried with backoff, and after a few attempts the product waits for
 * the next pass. The live path owns every bucket from `liveFromSec` on; the filler stops there.
 */
import { bucketStart, GRANULARITIES, type Granularity } from "../candles/granularity.ts";
import type { GranularityId } from "../candles/granularity.ts";
import { backoffDelay, type BackoffPolicy, isFinalError } from "../backoff.ts";
import { abortableSleep, type Clock, type Sleep, systemClock } from "../clock.ts";
import { candleWindows } from "../coinbase/rest_candles.ts";
import { getLogger } from "../log.ts";
import {
  type FillWatermark,
  type FillWatermarks,
  type HoleReason,
  watermarksOf,
} from "../store/fill_watermark.ts";
import type { CandleDoc, CandleStore } from "../store/store.ts";
import { type BackfillRest, runBackfill } from "./backfill.ts";
import type { RestPriority } from "./rest_priority.ts";
import { REST_SETTLE_S } from "./seeding.ts";
import { Gauge, type Registry, ScrapedCounter } from "../service/prometheus.ts";

const log = getLogger(["spot", "filler"]);

const DAY = GRANULARITIES.at(-1)!;
/** Coarse first: the day tells which days have trades; finer ones skip the others. */
const FINER = GRANULARITIES.slice(0, -1).reverse();
/** Pages checked between two watermark writes when none needed REST. */
const SAVE_EVERY_PAGES = 10;

/** A hole as `/api/status` shows it (bucket starts, epoch s, inclusive). */
export interface FillHole {
  granularity: GranularityId;
  fromSec: number;
  toSec: number;
  reason: HoleReason;
}

/** One product's filler state. */
export interface FillProgress {
  product: string;
  state: "pending" | "filling" | "complete" | "failed";
  /**
   * Every granularity holds every candle REST has from this bucket start to the live path's
   * start; null until each granularity is checked up to it (the newer part comes first).
   */
  completeBackToSec: number | null;
  /** The horizon (epoch s) of the product's last pass. */
  horizonSec: number | null;
  holes: FillHole[];
  /** The window being filled now. */
  fillingNow: { granularity: GranularityId; fromSec: number; toSec: number } | null;
  /** Share (0…1) of horizon × granularities checked. */
  checkedShare: number;
  /** Missing candles written. */
  candlesWritten: number;
  /** REST calls made (pages; the client's own retries not counted). */
  requests: number;
  /** Failed attempts (retried, or the product given up for this pass). */
  errors: number;
  lastError: string | null;
}

/** What {@linkcode HistoryFiller.status} reports. */
export interface FillerStatus {
  enabled: boolean;
  horizonDays: number;
  /** Whether the watermarks survive a restart (the store keeps them). */
  persistent: boolean;
  /** Passes over every product finished. */
  passes: number;
  products: FillProgress[];
}

/** What the filler needs of the REST client: pages, through {@linkcode runBackfill}. */
export type FillerRest = BackfillRest;

/** Options for {@linkcode HistoryFiller}. */
export interface HistoryFillerOptions {
  rest: FillerRest;
  store: CandleStore;
  /** The gate the live work's REST goes through too ({@linkcode RestPriority.liveRest}). */
  priority: RestPriority;
  /** The products served now (market keys); looked at again every pass. */
  products: () => readonly string[];
  /** How far back, in days; 0 turns the filler off. */
  horizonDays: number;
  /** Buckets from here on (epoch s) are the live path's (the seed cutoff). @default the clock at start() */
  liveFromSec?: number;
  /** @default the store's own, else memory ({@linkcode watermarksOf}) */
  watermarks?: FillWatermarks;
  /** @default systemClock */
  clock?: Clock;
  /** @default abortableSleep */
  sleep?: Sleep;
  /** Seconds after a bucket ends before REST is trusted with it. @default REST_SETTLE_S */
  settleSeconds?: number;
  /** Wait between passes (new products, retries). @default 60_000 */
  passIntervalMs?: number;
  /**
   * Store range reads per second the walk allows itself (real time): the filler is background
   * work for the store too, so a first pass over a full shard does not crowd the writer.
   * @default 20
   */
  storeReadsPerSecond?: number;
  /** Between failed attempts of one page. @default 5 s doubling to 5 min */
  retry?: BackoffPolicy;
  /** Attempts of one page before the product waits for the next pass. @default 5 */
  maxAttempts?: number;
  signal?: AbortSignal;
}

interface Walked {
  g: Granularity;
  lo: number;
  hi: number;
}

interface ProductState {
  progress: FillProgress;
  marks: Map<GranularityId, FillWatermark>;
  ranges: Map<GranularityId, Walked>;
  refused: FillHole[];
  /** Whether this process has finished the product. */
  done: boolean;
}

/** A final REST answer for a product: it is left for the next process. */
class Refused extends Error {
  constructor(message: string, readonly granularity: GranularityId, cause: unknown) {
    super(message, { cause });
  }
}
/** Too many failed attempts: the product waits for the next pass. */
class GaveUp extends Error {}

/** Fills holes in stored history in the background; see the module comment. */
export class HistoryFiller {
  readonly #o: HistoryFillerOptions;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  readonly #watermarks: FillWatermarks;
  readonly #persistent: boolean;
  readonly #abort = new AbortController();
  readonly #signal: AbortSignal;
  readonly #states = new Map<string, ProductState>();
  readonly #totals = { requests: 0, candles: 0, errors: 0 };
  #liveFromSec = Infinity;
  #run?: Promise<void>;
  #passes = 0;
  /** Earliest real time (performance.now) of the next store range read. */
  #nextStoreRead = -Infinity;
  #passWaiters: (() => void)[] = [];

  constructor(options: HistoryFillerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#sleep = options.sleep ?? abortableSleep;
    const w = options.watermarks
      ? { watermarks: options.watermarks, persistent: true }
      : watermarksOf(options.store);
    this.#watermarks = w.watermarks;
    this.#persistent = w.persistent;
    this.#signal = options.signal
      ? AbortSignal.any([options.signal, this.#abort.signal])
      : this.#abort.signal;
  }

  /** Starts the background walk (returns at once); does nothing with `horizonDays` 0. */
  start(): void {
    if (this.#run || this.#o.horizonDays <= 0) return;
    this.#liveFromSec = this.#o.liveFromSec ?? Math.floor(this.#clock() / 1000);
    if (!this.#persistent) {
      log.warn("The store keeps no fill watermarks: the history filler starts over on restart");
    }
    this.#run = this.#loop().catch((e) => {
      if (!this.#signal.aborted) log.error("History filler stopped: {error}", { error: msg(e) });
    });
  }

  /** Stops it; resolves when the current request has settled. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#run;
    for (const wake of this.#passWaiters.splice(0)) wake();
  }

  /** Resolves when the current (or, between passes, the next) pass over every product ends. */
  whenPassed(): Promise<void> {
    if (!this.#run || this.#signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.#passWaiters.push(resolve));
  }

  /** Per product: how far history is complete, its holes, what is being filled. */
  status(): FillerStatus {
    return {
      enabled: this.#o.horizonDays > 0,
      horizonDays: this.#o.horizonDays,
      persistent: this.#persistent,
      passes: this.#passes,
      products: [...this.#states.values()].map((s) => this.#view(s)),
    };
  }

  /** One product's state (undefined: not served, or not reached yet). */
  progress(product: string): FillProgress | undefined {
    const s = this.#states.get(product);
    return s && this.#view(s);
  }

  /** Registers the filler's metrics (`spot_history_fill_*`); see {@linkcode addFillerMetrics}. */
  addMetrics(registry: Registry): void {
    addFillerMetrics(registry, () => [this]);
  }

  /** Requests, candles written and failed attempts so far. */
  get totals(): Readonly<{ requests: number; candles: number; errors: number }> {
    return this.#totals;
  }

  /** Background calls that waited for live work first (the gate's count). */
  get deferred(): number {
    return this.#o.priority.stats.deferred;
  }

  /** Products by state, and holes by reason, now. */
  counts(): { states: Record<FillProgress["state"], number>; holes: Record<HoleReason, number> } {
    const states = { pending: 0, filling: 0, complete: 0, failed: 0 };
    const holes: Record<HoleReason, number> = { no_trades: 0, rest_empty: 0, rest_refused: 0 };
    for (const s of this.#states.values()) {
      states[s.progress.state]++;
      for (const h of this.#holes(s)) holes[h.reason]++;
    }
    return { states, holes };
  }

  /** Waits for the next store read's slot ({@linkcode HistoryFillerOptions.storeReadsPerSecond}). */
  async #paceStoreRead(): Promise<void> {
    const spacing = 1000 / (this.#o.storeReadsPerSecond ?? 20);
    const now = performance.now();
    const wait = this.#nextStoreRead - now;
    this.#nextStoreRead = Math.max(now, this.#nextStoreRead) + spacing;
    if (wait > 0) await this.#sleep(wait, this.#signal);
  }

  async #loop(): Promise<void> {
    while (!this.#signal.aborted) {
      const products = this.#o.products();
      const served = new Set(products);
      for (const p of [...this.#states.keys()]) if (!served.has(p)) this.#states.delete(p);
      for (const p of products) {
        if (!this.#states.has(p)) this.#states.set(p, newState(p));
      }
      for (const p of products) {
        const s = this.#states.get(p)!;
        if (s.done || this.#signal.aborted) continue;
        await this.#fillProduct(s);
      }
      if (this.#signal.aborted) return;
      this.#passes++;
      for (const wake of this.#passWaiters.splice(0)) wake();
      await this.#sleep(this.#o.passIntervalMs ?? 60_000, this.#signal);
    }
  }

  async #fillProduct(s: ProductState): Promise<void> {
    const p = s.progress;
    p.state = "filling";
    const nowSec = Math.floor(this.#clock() / 1000);
    const horizonSec = nowSec - this.#o.horizonDays * 86400;
    const endSec = Math.min(this.#liveFromSec, nowSec - (this.#o.settleSeconds ?? REST_SETTLE_S));
    p.horizonSec = horizonSec;
    s.ranges.clear();
    try {
      for (const g of GRANULARITIES) {
        const lo = bucketStart(horizonSec, g);
        const hi = bucketStart(endSec, g) - g.seconds;
        if (hi < lo) continue;
        s.ranges.set(g.id, { g, lo, hi });
        const mark = await this.#watermarks.readFillWatermark(p.product, g.id);
        const usable = mark && mark.throughSec >= lo - g.seconds && mark.fromSec <= hi + g.seconds;
        if (usable) {
          mark.holes = mark.holes.filter((h) => h.toSec >= lo);
          s.marks.set(g.id, mark);
        } else s.marks.delete(g.id);
      }
      const day = s.ranges.get(DAY.id);
      let days: Days | undefined;
      if (day) {
        await this.#walk(s, day, "newer");
        await this.#walk(s, day, "older");
        days = await this.#days(s, day);
      }
      const finer = FINER.map((g) => s.ranges.get(g.id)).filter((w) => w !== undefined);
      for (const phase of ["newer", "older"] as const) {
        for (const w of finer) await this.#walk(s, w, phase, days);
      }
      s.done = true;
      p.state = "complete";
      if (p.candlesWritten > 0 || this.#holes(s).length > 0) {
        const back = this.#view(s).completeBackToSec;
        log.info(
          "History of {product} checked back to {horizon}: {candles} missing candles written in {requests} requests, complete back to {back}, {holes} holes left",
          {
            product: p.product,
            horizon: iso(horizonSec),
            candles: p.candlesWritten,
            requests: p.requests,
            back: back === null ? "-" : iso(back),
            holes: this.#holes(s).length,
          },
        );
      }
    } catch (e) {
      if (this.#signal.aborted) return;
      p.lastError = msg(e);
      if (e instanceof Refused) {
        const w = s.ranges.get(e.granularity)!;
        s.refused = [{
          granularity: e.granularity,
          fromSec: w.lo,
          toSec: w.hi,
          reason: "rest_refused",
        }];
        s.done = true;
        p.state = "failed";
        log.warn("History of {product} not filled: REST refused it for good: {error}", {
          product: p.product,
          error: p.lastError,
        });
      } else if (e instanceof GaveUp) p.state = "pending";
      else {
        p.state = "pending";
        p.errors++;
        this.#totals.errors++;
        log.warn("History filler left {product} for the next pass: {error}", {
          product: p.product,
          error: p.lastError,
        });
      }
    } finally {
      p.fillingNow = null;
    }
  }

  /**
   * Checks one part of a granularity's range: `newer` from the watermark up to the live path's
   * start (oldest first, moving `throughSec`), `older` from the watermark back to the horizon
   * (newest first, moving `fromSec`); without a watermark, `older` is the whole range.
   */
  async #walk(s: ProductState, w: Walked, phase: "newer" | "older", days?: Days): Promise<void> {
    const { g, lo, hi } = w;
    const mark = s.marks.get(g.id);
    let from: number, to: number;
    if (phase === "newer") {
      if (!mark) return;
      [from, to] = [mark.throughSec + g.seconds, hi];
    } else [from, to] = [lo, mark ? mark.fromSec - g.seconds : hi];
    if (from > to) return;
    const windows = candleWindows(g, from, to);
    if (phase === "older") windows.reverse();
    const seen = new Set<number>();
    let unsaved = 0;
    for (const [i, [a, b]] of windows.entries()) {
      this.#signal.throwIfAborted();
      const fetched = await this.#page(s, g, a, b, seen, days);
      const m = s.marks.get(g.id) ?? { fromSec: a, throughSec: b, holes: [] };
      if (phase === "newer") m.throughSec = b;
      else m.fromSec = a;
      s.marks.set(g.id, m);
      // Saved after a page that cost REST, and every few pages (a restart re-reads at most those).
      if (fetched || ++unsaved >= SAVE_EVERY_PAGES || i === windows.length - 1) {
        await this.#watermarks.writeFillWatermark(s.progress.product, g.id, m);
        unsaved = 0;
      }
    }
    if (days && g !== DAY) await this.#restEmpty(s, g, from, to, seen, days);
  }

  /** Fills the buckets of `[a, b]` the store lacks (but for days without trades); true: REST asked. */
  async #page(
    s: ProductState,
    g: Granularity,
    a: number,
    b: number,
    seen: Set<number>,
    days?: Days,
  ): Promise<boolean> {
    const product = s.progress.product;
    const candidates: number[] = [];
    for (let t = a; t <= b; t += g.seconds) if (!days?.empty(t)) candidates.push(t);
    if (candidates.length === 0) return false;
    await this.#paceStoreRead();
    const stored = new Set(
      (await this.#o.store.readCompleted(product, g.id, {
        start: a,
        end: b,
        limit: (b - a) / g.seconds + 1,
      })).map((c) => c.start),
    );
    for (const t of stored) seen.add(dayOf(t));
    const missing = candidates.filter((t) => !stored.has(t));
    if (missing.length === 0) return false;
    const fromSec = missing[0]!, toSec = missing.at(-1)!;
    s.progress.fillingNow = { granularity: g.id, fromSec, toSec };
    for (let attempt = 1;; attempt++) {
      try {
        await runBackfill({
          rest: this.#gated(s),
          store: this.#onlyMissing(s, stored, seen),
          products: [product],
          granularities: [g],
          fromSec,
          toSec,
          clock: this.#clock,
          settleSeconds: this.#o.settleSeconds ?? REST_SETTLE_S,
          concurrency: 1,
          resume: false,
          signal: this.#signal,
        });
        s.progress.fillingNow = null;
        return true;
      } catch (e) {
        if (this.#signal.aborted) throw e;
        const p = s.progress;
        p.errors++;
        this.#totals.errors++;
        p.lastError = msg(e);
        if (isFinalError(e)) throw new Refused(p.lastError, g.id, e);
        if (attempt >= (this.#o.maxAttempts ?? 5)) throw new GaveUp(p.lastError, { cause: e });
        const waitMs = backoffDelay(attempt, this.#o.retry ?? { initialMs: 5000, maxMs: 300_000 });
        log.warn("Filling {product} {granularity} failed (attempt {attempt}), retrying: {error}", {
          product,
          granularity: g.id,
          attempt,
          error: p.lastError,
        });
        await this.#sleep(waitMs, this.#signal);
        this.#signal.throwIfAborted();
      }
    }
  }

  /** The REST client behind the background gate, counting calls. */
  #gated(s: ProductState): BackfillRest {
    const { rest, priority } = this.#o;
    return {
      get stats() {
        return rest.stats;
      },
      candlePage: (...args) =>
        priority.background(() => {
          s.progress.requests++;
          this.#totals.requests++;
          return rest.candlePage(...args);
        }, this.#signal),
    };
  }

  /** The store, but writing only candles it lacks (and counting them). */
  #onlyMissing(s: ProductState, stored: Set<number>, seen: Set<number>): CandleStore {
    const store = this.#o.store;
    const writeCompleted = async (docs: CandleDoc[]) => {
      const missing = docs.filter((d) => !stored.has(d.candle.start));
      if (missing.length === 0) return;
      await store.writeCompleted(missing);
      for (const d of missing) seen.add(dayOf(d.candle.start));
      s.progress.candlesWritten += missing.length;
      this.#totals.candles += missing.length;
    };
    return new Proxy(store, {
      get(target, prop) {
        if (prop === "writeCompleted") return writeCompleted;
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
  }

  /** The days with trades, from the checked day candles; a `no_trades` hole before the first. */
  async #days(s: ProductState, w: Walked): Promise<Days | undefined> {
    const mark = s.marks.get(DAY.id);
    if (!mark) return undefined;
    const product = s.progress.product;
    const fromSec = Math.max(w.lo, mark.fromSec), throughSec = mark.throughSec;
    await this.#paceStoreRead();
    const stored = await this.#o.store.readCompleted(product, DAY.id, {
      start: fromSec,
      end: throughSec,
      limit: (throughSec - fromSec) / DAY.seconds + 1,
    });
    const traded = new Set(stored.map((c) => c.start));
    const first = stored[0]?.start ?? throughSec + DAY.seconds;
    mark.holes = mark.holes.filter((h) => h.reason !== "no_trades");
    if (mark.fromSec <= w.lo && first > w.lo) {
      mark.holes.unshift({ fromSec: w.lo, toSec: first - DAY.seconds, reason: "no_trades" });
      await this.#watermarks.writeFillWatermark(product, DAY.id, mark);
    }
    return {
      empty: (t) => {
        const d = dayOf(t);
        return d >= fromSec && d <= throughSec && !traded.has(d);
      },
      traded,
    };
  }

  /** Records days with trades in which REST had no candle of `g` at all (whole days walked). */
  async #restEmpty(
    s: ProductState,
    g: Granularity,
    from: number,
    to: number,
    seen: Set<number>,
    days: Days,
  ): Promise<void> {
    const mark = s.marks.get(g.id);
    if (!mark) return;
    let added = false;
    for (const d of days.traded) {
      if (d < from || d + DAY.seconds - g.seconds > to || seen.has(d)) continue;
      if (mark.holes.some((h) => h.fromSec === d)) continue;
      mark.holes.push({ fromSec: d, toSec: d + DAY.seconds - g.seconds, reason: "rest_empty" });
      added = true;
      log.warn("REST has a day candle of {product} on {day} but no {granularity} candle in it", {
        product: s.progress.product,
        day: new Date(d * 1000).toISOString().slice(0, 10),
        granularity: g.id,
      });
    }
    if (!added) return;
    mark.holes.sort((a, b) => a.fromSec - b.fromSec);
    await this.#watermarks.writeFillWatermark(s.progress.product, g.id, mark);
  }

  #holes(s: ProductState): FillHole[] {
    const out: FillHole[] = [...s.refused];
    for (const [granularity, mark] of s.marks) {
      for (const h of mark.holes) out.push({ granularity, ...h });
    }
    return out.sort((a, b) => a.fromSec - b.fromSec);
  }

  #view(s: ProductState): FillProgress {
    let back: number | null = s.ranges.size > 0 && s.refused.length === 0 ? -Infinity : null;
    let checked = 0;
    for (const { g, lo, hi } of s.ranges.values()) {
      const mark = s.marks.get(g.id);
      if (!mark) {
        back = null;
        continue;
      }
      const from = Math.max(lo, mark.fromSec), through = Math.min(hi, mark.throughSec);
      checked += Math.max(0, through - from + g.seconds) / (hi - lo + g.seconds);
      if (back === null) continue;
      if (mark.throughSec < hi) {
        back = null;
        continue;
      }
      let b = from;
      for (const h of mark.holes) b = Math.max(b, h.toSec + g.seconds);
      back = Math.max(back, b);
    }
    return {
      ...s.progress,
      completeBackToSec: back === -Infinity ? null : back,
      holes: this.#holes(s),
      fillingNow: s.progress.fillingNow && { ...s.progress.fillingNow },
      checkedShare: s.ranges.size === 0 ? 0 : Math.min(1, checked / s.ranges.size),
    };
  }
}

interface Days {
  /** Whether the day of bucket `t` is checked and has no trades. */
  empty(t: number): boolean;
  /** Day starts with trades (checked days). */
  traded: Set<number>;
}

function dayOf(t: number): number {
  return bucketStart(t, DAY);
}

function newState(product: string): ProductState {
  return {
    progress: {
      product,
      state: "pending",
      completeBackToSec: null,
      horizonSec: null,
      holes: [],
      fillingNow: null,
      checkedShare: 0,
      candlesWritten: 0,
      requests: 0,
      errors: 0,
      lastError: null,
    },
    marks: new Map(),
    ranges: new Map(),
    refused: [],
    done: false,
  };
}

function iso(sec: number): string {
  return new Date(sec * 1000).toISOString();
}

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Registers the metrics (`spot_history_fill_*`) of every filler `fillers()` returns (one per
 * exchange), summed.
 */
export function addFillerMetrics(
  registry: Registry,
  fillers: () => readonly HistoryFiller[],
): void {
  const sum = (f: (x: HistoryFiller) => number) => () => fillers().reduce((n, x) => n + f(x), 0);
  registry.add(
    new ScrapedCounter(
      "spot_history_fill_requests_total",
      "REST pages the history filler asked for",
      sum((x) => x.totals.requests),
    ),
  );
  registry.add(
    new ScrapedCounter(
      "spot_history_fill_candles_total",
      "Missing completed candles the history filler wrote",
      sum((x) => x.totals.candles),
    ),
  );
  registry.add(
    new ScrapedCounter(
      "spot_history_fill_errors_total",
      "Failed history filler attempts (retried, or the product left for later)",
      sum((x) => x.totals.errors),
    ),
  );
  registry.add(
    new ScrapedCounter(
      "spot_history_fill_deferred_total",
      "Background REST calls that waited for live work first",
      sum((x) => x.deferred),
    ),
  );
  const counts = () => fillers().map((x) => x.counts());
  registry.add(
    new Gauge("spot_history_fill_products", "Products by history filler state", () => {
      const total = { pending: 0, filling: 0, complete: 0, failed: 0 };
      for (const c of counts()) {
        for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += c.states[k];
      }
      return Object.entries(total).map(([state, n]) => [{ state }, n]);
    }, ["state"]),
  );
  registry.add(
    new Gauge("spot_history_fill_holes", "Holes REST cannot fill, by reason", () => {
      const total: Record<HoleReason, number> = { no_trades: 0, rest_empty: 0, rest_refused: 0 };
      for (const c of counts()) {
        for (const k of Object.keys(total) as HoleReason[]) total[k] += c.holes[k];
      }
      return Object.entries(total).map(([reason, n]) => [{ reason }, n]);
    }, ["reason"]),
  );
}
