/**
 * @module
 * Gap repair (DESIGN.md invariant 1): after a reconnect or a sequence gap the feed reports a
 * window in which trades may be missing; once the window's minutes are complete and REST has
 * settled, their 1-minute candles are fetched from REST and handed to the aggregator, which
 * replaces what the live path built and corrects every coarser candle containing them. A
 * failed fetch is retried with the process's backoff (`lib/backoff.ts`) up to `maxAttempts`
 * times, except a final error (`retryable === false`, e.g. Coinbase no longer knows the
 * product), which gives the window up at once; every repair is kept in a short per-product
 * history for the dashboard.
 */
import { backoffDelay, type BackoffPolicy, isFinalError } from "../backoff.ts";
import type { Aggregator } from "../candles/aggregator.ts";
import { ONE_MINUTE } from "../candles/granularity.ts";
import type { Clock } from "../clock.ts";
import type { FeedGap } from "../exchange/feed_types.ts";
import type { MarketRest } from "../exchange/exchange.ts";
import { getLogger } from "../log.ts";
import { REST_SETTLE_S } from "./seeding.ts";

const log = getLogger(["spot", "repair"]);
const HISTORY = 20;

/** One gap and what its repair did. */
export interface RepairRecord {
  product: string;
  reason: FeedGap["reason"] | "startup";
  /** Window of minute starts, epoch s: `[fromSec, toSec)`. */
  fromSec: number;
  toSec: number;
  detectedAt: number;
  repairedAt?: number;
  /** Minutes whose live candle REST replaced. */
  minutesReplaced?: number;
  attempts: number;
  /** The last failure's message. */
  error?: string;
  /** When the window was given up (a final error, or `maxAttempts` failures). */
  gaveUpAt?: number;
  /**
   * True when a subscription snapshot (after a reconnect, or the first one at start) replayed
   * every trade of the window: nothing was asked of REST (`repairedAt` is when that was known).
   */
  replayed?: true;
}

/** Options for {@linkcode Repairer}. */
export interface RepairerOptions {
  rest: Pick<MarketRest, "candles">;
  aggregator: Aggregator;
  clock: Clock;
  /** Called after a repair changed candles, so the caller drains the aggregator. */
  onRepaired: () => void;
  /**
   * Longest window (minutes) a new gap may grow a queued one to; past it the gap is a window
   * of its own, so that a window's repair is never pushed back by more than this. @default 3
   */
  maxMergedMinutes?: number;
  /** Per product, seconds after a minute ends before REST has all of it. @default REST_SETTLE_S */
  settleSeconds?: (product: string) => number;
  /** Attempts before a window is given up. @default 8 */
  maxAttempts?: number;
  /** Wait between attempts (on the injected clock). @default {initialMs: 2000, maxMs: 60000} */
  backoff?: BackoffPolicy;
  /** Jitter source of the backoff, in [0, 1]. @default Math.random */
  random?: () => number;
}

/** Queues gap windows and repairs them from REST 1-minute candles. */
export class Repairer {
  readonly #o: RepairerOptions;
  readonly #queue: RepairRecord[] = [];
  readonly #history = new Map<string, RepairRecord[]>();
  #busy = false;
  #notBefore = new WeakMap<RepairRecord, number>();
  /** Windows repaired since start. */
  repaired = 0;
  /** Windows given up since start. */
  failed = 0;
  /** Windows the snapshot replayed (no REST) since start. */
  replayed = 0;

  constructor(options: RepairerOptions) {
    this.#o = options;
  }

  /**
   * Queues the minutes of a gap for every product it names, and records the products the
   * feed reports as `replayed` (nothing to fetch) in their history.
   */
  schedule(
    gap: Pick<FeedGap, "products" | "fromMs" | "toMs"> & {
      replayed?: readonly string[];
      reason: RepairRecord["reason"];
    },
  ): void {
    const fromSec = Math.floor(gap.fromMs / 60_000) * 60;
    const toSec = Math.floor(gap.toMs / 60_000) * 60 + 60;
    const now = this.#o.clock();
    for (const product of gap.replayed ?? []) {
      this.#remember({
        product,
        reason: gap.reason,
        fromSec,
        toSec,
        detectedAt: now,
        repairedAt: now,
        minutesReplaced: 0,
        attempts: 0,
        replayed: true,
      });
      this.replayed++;
    }
    const maxMergedS = (this.#o.maxMergedMinutes ?? 3) * 60;
    for (const product of gap.products) {
      // A gap touching a queued window joins it, unless that would stretch the window past
      // `maxMergedMinutes`: a feed that misses trades every minute (Kraken's withheld fills)
      // would otherwise keep pushing the window's end, and so its repair, into the future.
      const pending = this.#queue.find((r) =>
        r.product === product && r.fromSec <= toSec && fromSec <= r.toSec &&
        Math.max(r.toSec, toSec) - Math.min(r.fromSec, fromSec) <= maxMergedS
      );
      if (pending) {
        pending.fromSec = Math.min(pending.fromSec, fromSec);
        pending.toSec = Math.max(pending.toSec, toSec);
        continue;
      }
      // The part of the gap a queued window already covers needs no second request.
      const covering = this.#queue.find((r) =>
        r.product === product && r.fromSec <= fromSec && toSec <= r.toSec
      );
      if (covering) continue;
      const rec: RepairRecord = {
        product,
        reason: gap.reason,
        fromSec,
        toSec,
        detectedAt: now,
        attempts: 0,
      };
      this.#queue.push(rec);
      this.#remember(rec);
    }
  }

  #remember(rec: RepairRecord): void {
    const list = this.#history.get(rec.product) ?? [];
    list.push(rec);
    if (list.length > HISTORY) list.shift();
    this.#history.set(rec.product, list);
  }

  /** Recent gaps and repairs of a product, oldest first. */
  history(product: string): RepairRecord[] {
    return this.#history.get(product) ?? [];
  }

  /** Windows waiting for repair. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Per product, the oldest minute start (epoch s) of a window not repaired yet: its stored
   * minutes from there on may be wrong (built from incomplete trades). With `repairedSinceMs`,
   * windows repaired from REST at or after that time count too: their
   * corrections may still wait in the writer. The shard registry persists this, so that a run
   * stopped or killed before the repair lands has the next one re-fetch those minutes.
   */
  pendingStarts(repairedSinceMs?: number): Map<string, number> {
    const out = new Map<string, number>();
    const add = (r: RepairRecord) => {
      const from = out.get(r.product);
      if (from === undefined || r.fromSec < from) out.set(r.product, r.fromSec);
    };
    for (const r of this.#queue) add(r);
    if (repairedSinceMs !== undefined) {
      for (const list of this.#history.values()) {
        for (const r of list) {
          if (r.repairedAt !== undefined && r.repairedAt >= repairedSinceMs && !r.replayed) add(r);
        }
      }
    }
    return out;
  }

  /**
   * Repairs every queued window whose minutes are complete and settled. Called by the service's
   * clock tick; runs one pass at a time.
   */
  async run(signal?: AbortSignal): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const now = this.#o.clock();
      for (const rec of [...this.#queue]) {
        if (signal?.aborted) return;
        const settle = this.#o.settleSeconds?.(rec.product) ?? REST_SETTLE_S;
        if ((rec.toSec + settle) * 1000 > now) continue;
        if ((this.#notBefore.get(rec) ?? 0) > now) continue;
        await this.#repair(rec, signal);
      }
    } finally {
      this.#busy = false;
    }
  }

  async #repair(rec: RepairRecord, signal?: AbortSignal): Promise<void> {
    rec.attempts++;
    try {
      const minutes = await this.#o.rest.candles(
        rec.product,
        ONE_MINUTE,
        rec.fromSec,
        rec.toSec - 60,
        { signal },
      );
      const replaced = this.#o.aggregator.repair(rec.product, rec.fromSec, rec.toSec, minutes);
      rec.minutesReplaced = replaced.length;
      rec.repairedAt = this.#o.clock();
      delete rec.error;
      this.#queue.splice(this.#queue.indexOf(rec), 1);
      this.repaired++;
      if (replaced.length > 0) this.#o.onRepaired();
      log.info("Repaired {product} {from}–{to} ({reason}): {replaced} minutes replaced from REST", {
        ...logWindow(rec),
        reason: rec.reason,
        replaced: replaced.length,
      });
    } catch (e) {
      if (signal?.aborted) return;
      rec.error = e instanceof Error ? e.message : String(e);
      const final = isFinalError(e);
      const max = this.#o.maxAttempts ?? 8;
      if (final || rec.attempts >= max) {
        this.#queue.splice(this.#queue.indexOf(rec), 1);
        rec.gaveUpAt = this.#o.clock();
        this.failed++;
        log.error(
          "Gave up repairing {product} {granularity} {from}–{to} after {attempts} attempts " +
            "({why}): {error}",
          {
            ...logWindow(rec),
            granularity: ONE_MINUTE.id,
            attempts: rec.attempts,
            why: final ? "a retry cannot help" : "retries exhausted",
            error: rec.error,
          },
        );
        return;
      }
      const delay = backoffDelay(
        rec.attempts,
        this.#o.backoff ?? { initialMs: 2000, maxMs: 60_000 },
        this.#o.random,
      );
      this.#notBefore.set(rec, this.#o.clock() + delay);
      log.warn(
        "Repair of {product} {granularity} {from}–{to} failed (attempt {attempts}), " +
          "retrying in {delayMs} ms: {error}",
        {
          ...logWindow(rec),
          granularity: ONE_MINUTE.id,
          attempts: rec.attempts,
          delayMs: Math.round(delay),
          error: rec.error,
        },
      );
    }
  }
}

/** A record's product and window, as log properties. */
function logWindow(rec: RepairRecord): { product: string; from: string; to: string } {
  return {
    product: rec.product,
    from: new Date(rec.fromSec * 1000).toISOString(),
    to: new Date(rec.toSec * 1000).toISOString(),
  };
}
