/**
 * @module
 * Client-side request pacing for Coinbase REST: a sliding-window limiter that lets at most
 * `ratePerSecond` requests start in any one-second window (so the server's per-IP token bucket
 * never empties), while letting requests run concurrently. Time and waiting are injected so tests
 * never sleep for real. Retries and backoff live in `rest.ts`.
 */
import type { Clock } from "../clock.ts";

/** Waits `ms` milliseconds, rejecting when `signal` aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** A real {@linkcode Sleep} on `setTimeout`, cancelled by the signal. */
export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** Options for {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /** Requests allowed to start per second; fractions are allowed (0.5 = one every 2 s). */
  ratePerSecond: number;
  /** @default systemClock */
  clock?: Clock;
  /** @default realSleep */
  sleep?: Sleep;
}

/**
 * A sliding-window limiter: in any window of `capacity / ratePerSecond` seconds at most
 * `capacity = max(1, floor(ratePerSecond))` requests start. For integer rates that is exactly
 * "never more than `ratePerSecond` in any one second". Shared by all calls of a client.
 */
export class RateLimiter {
  readonly ratePerSecond: number;
  readonly #capacity: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  /** Start times (epoch ms) of the requests inside the current window, oldest first. */
  readonly #starts: number[] = [];

  constructor(options: RateLimiterOptions) {
    const rate = options.ratePerSecond;
    if (!(rate > 0) || !Number.isFinite(rate)) {
      throw new RangeError(
        `Rate limit must be a positive number of requests per second, got ${rate}`,
      );
    }
    this.ratePerSecond = rate;
    this.#capacity = Math.max(1, Math.floor(rate));
    this.#windowMs = (this.#capacity / rate) * 1000;
    this.#clock = options.clock ?? Date.now;
    this.#sleep = options.sleep ?? realSleep;
  }

  /** Resolves when one more request may start now (and counts it). */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.#clock();
      while (this.#starts.length > 0 && this.#starts[0]! <= now - this.#windowMs) {
        this.#starts.shift();
      }
      if (this.#starts.length < this.#capacity) {
        this.#starts.push(now);
        return;
      }
      // +1 ms: the window is half-open, so the oldest start must be strictly out of it.
      await this.#sleep(this.#starts[0]! + this.#windowMs - now + 1, signal);
    }
  }
}
