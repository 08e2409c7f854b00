/**
 * @module
 * Client-side request pacing for Coinbase REST: requests evenly spaced so that the client never
 * sends more than `ratePerSecond` in any one-second window (and the server's per-IP limit is
 * never reached), while requests run concurrently. Time and waiting are injected so tests
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
 * Even pacing: requests start at least `spacing = window / capacity` apart, where `capacity =
 * max(1, floor(ratePerSecond))` and the window is one second (or `1 / rate` seconds for rates
 * under one). So at most `capacity ≤ ratePerSecond` requests start in ANY sliding window, the
 * first second included, and a slow answer costs no throughput: requests run concurrently,
 * however long each takes.
 *
 * Why evenly spaced rather than `capacity` at once per window: the server counts arrivals, and
 * a request reaches the wire a little after it is sent (more while the event loop is busy). Two
 * back-to-back bursts of `capacity` that are delayed differently land in one server window with
 * twice the rate; evenly spaced requests need delays differing by a whole spacing per extra
 * request to do that, and the service's default rate (8/s against Coinbase's 10/s) leaves two
 * spacings of margin. A late waker is spaced from when it actually starts, so a stalled event
 * loop never releases a burst. Waiters are served in order. A fractional rate above one is
 * rounded down (9.5/s runs at 9/s). Shared by all calls of a client.
 */
export class RateLimiter {
  readonly ratePerSecond: number;
  /** Least time between two starts, whole milliseconds (rounded up: never faster). */
  readonly spacingMs: number;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  /** Earliest time (epoch ms) the next request may start. */
  #next = -Infinity;
  /** Settles when every earlier caller has started (or given up). */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: RateLimiterOptions) {
    const rate = options.ratePerSecond;
    if (!(rate > 0) || !Number.isFinite(rate)) {
      throw new RangeError(
        `Rate limit must be a positive number of requests per second, got ${rate}`,
      );
    }
    this.ratePerSecond = rate;
    const capacity = Math.max(1, Math.floor(rate));
    const windowMs = Math.max(1000, (capacity / rate) * 1000);
    this.spacingMs = Math.ceil(windowMs / capacity);
    this.#clock = options.clock ?? Date.now;
    this.#sleep = options.sleep ?? abortableSleep;
  }

  /** Resolves when one more request may be sent now (and counts it as sent). */
  acquire(signal?: AbortSignal): Promise<void> {
    const turn = this.#queue.then(() => this.#wait(signal));
    this.#queue = turn.catch(() => {});
    return turn;
  }

  async #wait(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.#clock();
      if (now >= this.#next) {
        this.#next = now + this.spacingMs;
        return;
      }
      await this.#sleep(this.#next - now, signal);
    }
  }
}
