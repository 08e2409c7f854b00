/**
 * @module
 * Who goes first on an exchange's REST limit: live work (seeding, startup catch-up, gap repair,
 * the catalogue) before background work (the history filler). Live calls go through
 * {@linkcode RestPriority.liveRest} (or {@linkcode RestPriority.live}), which only counts them in
 * flight; a background call ({@linkcode RestPriority.background}) is sent only when no live call
 * is in flight nor ended within `quietMs`, one at a time, at most `share × ratePerSecond` per
 * second. Both then meet the REST client's own limiter (`lib/exchange/rate_limit.ts`), which
 * serves requests in order: a live request that arrives just after a background one was released
 * waits at most one of the limiter's spacings behind it (125 ms at 8/s), and never behind a
 * second one. The limiter, retries and 429 handling stay the client's.
 */
import { abortableSleep, type Clock, type Sleep, systemClock } from "../clock.ts";
import type { MarketRest } from "../exchange/exchange.ts";

/** Options for {@linkcode RestPriority}. */
export interface RestPriorityOptions {
  /** The REST client's own limit (requests per second). */
  ratePerSecond: number;
  /** Share of it background work may use at most. @default 0.25 */
  share?: number;
  /** Background waits this long after the last live call ended (live work comes in bursts). @default 1000 */
  quietMs?: number;
  /** @default systemClock */
  clock?: Clock;
  /** @default abortableSleep */
  sleep?: Sleep;
}

/** What {@linkcode RestPriority} has done (for status pages and tests). */
export interface RestPriorityStats {
  /** Live calls in flight now. */
  liveInFlight: number;
  /** Live calls made. */
  live: number;
  /** Background calls made. */
  background: number;
  /** Background calls that had to wait for live work first. */
  deferred: number;
}

/** The gate between live and background REST work; see the module comment. */
export class RestPriority {
  /** Least time between two background sends, ms. */
  readonly spacingMs: number;
  readonly stats: RestPriorityStats = { liveInFlight: 0, live: 0, background: 0, deferred: 0 };
  readonly #quietMs: number;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  #lastLiveEnd = -Infinity;
  #lastBackground = -Infinity;
  /** Settles when the previous background call is done (background calls run one at a time). */
  #queue: Promise<unknown> = Promise.resolve();
  #idleWaiters: (() => void)[] = [];

  constructor(options: RestPriorityOptions) {
    const share = options.share ?? 0.25;
    if (!(share > 0 && share <= 1)) {
      throw new RangeError(`Background share of the REST limit must be in (0, 1], got ${share}`);
    }
    if (!(options.ratePerSecond > 0) || !Number.isFinite(options.ratePerSecond)) {
      throw new RangeError(
        `Rate limit must be a positive number of requests per second, got ${options.ratePerSecond}`,
      );
    }
    this.spacingMs = Math.ceil(1000 / (options.ratePerSecond * share));
    this.#quietMs = options.quietMs ?? 1000;
    this.#clock = options.clock ?? systemClock;
    this.#sleep = options.sleep ?? abortableSleep;
  }

  /** Runs a live call: background calls wait while it is in flight. */
  async live<T>(fn: () => Promise<T>): Promise<T> {
    this.stats.liveInFlight++;
    this.stats.live++;
    try {
      return await fn();
    } finally {
      this.stats.liveInFlight--;
      this.#lastLiveEnd = this.#clock();
      if (this.stats.liveInFlight === 0) {
        for (const wake of this.#idleWaiters.splice(0)) wake();
      }
    }
  }

  /** `rest` with every call made live (what seeding, catch-up, repair and the catalogue get). */
  liveRest(rest: MarketRest): MarketRest {
    return {
      get stats() {
        return rest.stats;
      },
      get ratePerSecond() {
        return rest.ratePerSecond;
      },
      products: (query) => this.live(() => rest.products(query)),
      candles: (...args) => this.live(() => rest.candles(...args)),
      candlePage: (...args) => this.live(() => rest.candlePage(...args)),
    };
  }

  /**
   * Runs a background call once no live work is in flight (nor was within `quietMs`) and the
   * share allows, after the previous background call has finished.
   * @throws the signal's reason when it aborts first
   */
  background<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const turn = this.#queue.then(async () => {
      await this.#turn(signal);
      this.stats.background++;
      return await fn();
    });
    this.#queue = turn.catch(() => {});
    return turn;
  }

  async #turn(signal?: AbortSignal): Promise<void> {
    let waited = false;
    for (;;) {
      signal?.throwIfAborted();
      if (this.stats.liveInFlight > 0) {
        waited = true;
        await this.#idle(signal);
        continue;
      }
      const now = this.#clock();
      const readyAt = Math.max(
        this.#lastLiveEnd + this.#quietMs,
        this.#lastBackground + this.spacingMs,
      );
      if (now >= readyAt) {
        if (waited) this.stats.deferred++;
        this.#lastBackground = now;
        return;
      }
      if (now < this.#lastLiveEnd + this.#quietMs) waited = true;
      await this.#sleep(readyAt - now, signal);
    }
  }

  #idle(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.#idleWaiters.push(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
