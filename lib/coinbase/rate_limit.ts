/**
 * @module
 * Client-side request pacing for Coinbase REST: a sliding-window limiter under which the server
 * never sees more than `ratePerSecond` requests in any one-second window (so its per-IP token
 * bucket never empties), while requests run concurrently. Time and waiting are injected so tests
 * never sleep for real. Retries and backoff live in `rest_transport.ts`.
 */
import { abortableSleep, type Clock, type Sleep } from "../clock.ts";

/** Options for {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /** Requests allowed to start per second; fractions are allowed (0.5 = one every 2 s). */
  ratePerSecond: number;
  /** @default systemClock */
  clock?: Clock;
  /** @default abortableSleep */
  sleep?: Sleep;
}

/** Marks a request acquired from a {@linkcode RateLimiter} as finished (idempotent). */
export type Release = () => void;

/**
 * A sliding-window limiter robust to network delay: a request holds its slot while in flight and
 * for one window after it finishes, and a new one starts only while fewer than `capacity =
 * max(1, floor(ratePerSecond))` slots are held. The window is one second (or `1 / rate` seconds
 * for rates under one), so whatever the latency the server sees at most `capacity ≤
 * ratePerSecond` requests in ANY sliding one-second window, the first second included: of any
 * `capacity + 1` requests, one had finished a whole window before the last one started. A
 * fractional rate above one is rounded down (9.5/s runs at 9/s) rather than allowing a burst of
 * two capacities within one second. Shared by all calls of a client; requests run concurrently.
 */
export class RateLimiter {
  readonly ratePerSecond: number;
  readonly #capacity: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  #inFlight = 0;
  /** Finish times (epoch ms) of the requests still holding a slot, oldest first. */
  readonly #ends: number[] = [];
  #waiters: (() => void)[] = [];

  constructor(options: RateLimiterOptions) {
    const rate = options.ratePerSecond;
    if (!(rate > 0) || !Number.isFinite(rate)) {
      throw new RangeError(
        `Rate limit must be a positive number of requests per second, got ${rate}`,
      );
    }
    this.ratePerSecond = rate;
    this.#capacity = Math.max(1, Math.floor(rate));
    this.#windowMs = Math.max(1000, (this.#capacity / rate) * 1000);
    this.#clock = options.clock ?? Date.now;
    this.#sleep = options.sleep ?? abortableSleep;
  }

  /** Resolves when one more request may start now; call the returned function when it ends. */
  async acquire(signal?: AbortSignal): Promise<Release> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.#clock();
      while (this.#ends.length > 0 && this.#ends[0]! <= now - this.#windowMs) this.#ends.shift();
      if (this.#inFlight + this.#ends.length < this.#capacity) {
        this.#inFlight++;
        let released = false;
        return () => {
          if (released) return;
          released = true;
          this.#inFlight--;
          this.#ends.push(this.#clock());
          const waiters = this.#waiters;
          this.#waiters = [];
          for (const wake of waiters) wake();
        };
      }
      if (this.#ends.length > 0) {
        // +1 ms: the oldest finish must be strictly more than a window ago.
        await this.#sleep(this.#ends[0]! + this.#windowMs - now + 1, signal);
      } else {
        // Every slot is in flight: wait for one to finish (its window starts then).
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(signal!.reason);
          signal?.addEventListener("abort", onAbort, { once: true });
          this.#waiters.push(() => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          });
        });
      }
    }
  }
}
