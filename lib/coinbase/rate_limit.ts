/**
 * @module
 * Client-side request pacing for Coinbase REST: a sliding-window limiter under which the client
 * never sends more than `ratePerSecond` requests in any one-second window (so the server's per-IP
 * token bucket never empties), while requests run concurrently. Time and waiting are injected so tests
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

/**
 * A sliding-window limiter on send times: a request may start only while fewer than `capacity =
 * max(1, floor(ratePerSecond))` requests started within the last window, which is one second (or
 * `1 / rate` seconds for rates under one). So the requests leave at most `capacity ≤
 * ratePerSecond` in ANY sliding one-second window, the first second included, and a slow answer
 * costs no throughput: requests run concurrently, however long each takes. What the server sees
 * is the send times shifted by network delay; the service's default rate (8/s against
 * Coinbase's 10/s) leaves that jitter its margin. A fractional rate above one is rounded down
 * (9.5/s runs at 9/s) rather than allowing a burst of two capacities within one second. Shared by
 * all calls of a client.
 */
export class RateLimiter {
  readonly ratePerSecond: number;
  readonly #capacity: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  /** Send times (epoch ms) within the last window, oldest first. */
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
    this.#windowMs = Math.max(1000, (this.#capacity / rate) * 1000);
    this.#clock = options.clock ?? Date.now;
    this.#sleep = options.sleep ?? abortableSleep;
  }

  /** Resolves when one more request may be sent now (and counts it as sent). */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.#clock();
      const starts = this.#starts;
      while (starts.length > 0 && starts[0]! <= now - this.#windowMs) starts.shift();
      if (starts.length < this.#capacity) {
        starts.push(now);
        return;
      }
      // +1 ms: the oldest send must be strictly more than a window ago.
      await this.#sleep(starts[0]! + this.#windowMs - now + 1, signal);
    }
  }
}
