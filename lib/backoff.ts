/**
 * @module
 * The one retry backoff of the process: capped exponential with full jitter. Connection
 * reconnects, REST retries, gap repair, store writes and the startup retry loop all wait
 * `backoffDelay(attempt, policy)` between attempts, so a fleet of clients that failed together
 * spreads out instead of retrying in lockstep, and no wait exceeds the policy's cap.
 */

/** How long to back off: the first retry waits up to `initialMs`, doubling up to `maxMs`. */
export interface BackoffPolicy {
  /** Upper bound of the first retry's delay, ms. */
  initialMs: number;
  /** Upper bound of any delay, ms. */
  maxMs: number;
}

/**
 * The delay (ms) before retry number `attempt` (1 = the first retry): a uniformly random share
 * of `min(maxMs, initialMs · 2^(attempt−1))` ("full jitter"). `random` returns values in [0, 1].
 *
 * @example
 * ```ts
 * const waitMs = backoffDelay(3, { initialMs: 1000, maxMs: 30_000 }); // 0 … 4000
 * ```
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`Backoff attempt must be an integer ≥ 1, got ${attempt}`);
  }
  if (!(policy.initialMs >= 0) || !(policy.maxMs >= policy.initialMs)) {
    throw new RangeError(
      `Backoff needs 0 ≤ initialMs ≤ maxMs, got initialMs ${policy.initialMs}, maxMs ${policy.maxMs}`,
    );
  }
  // 2^(attempt−1) overflows to Infinity for huge attempts; min() caps it either way.
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt - 1, 1023));
  return Math.min(1, Math.max(0, random())) * ceiling;
}

/**
 * Whether `error` says that no retry can help: the shared convention is an error object whose
 * `retryable` property is `false` (e.g. a Coinbase 4xx other than 429). Anything else (no such
 * property, or `true`) may be retried.
 */
export function isFinalError(error: unknown): boolean {
  return typeof error === "object" && error !== null &&
    (error as { retryable?: unknown }).retryable === false;
}
