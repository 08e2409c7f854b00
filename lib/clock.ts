/**
 * @module
 * The one seam for time. Components take a {@linkcode Clock} (epoch milliseconds) instead of
 * calling `Date.now()`, so tests and the simulator can share an accelerated clock and never wait
 * for real minutes to pass.
 */

/** Returns the current time in epoch milliseconds. */
export type Clock = () => number;

/** The wall clock. */
export const systemClock: Clock = () => Date.now();

/**
 * A clock running `speed` times faster than the wall clock, equal to `startMs` now.
 *
 * @example
 * ```ts
 * const now = acceleratedClock(60, Date.UTC(2026, 0, 1)); // one simulated minute per second
 * ```
 */
export function acceleratedClock(speed: number, startMs: number = Date.now()): Clock {
  if (!(speed > 0)) throw new RangeError(`Clock speed must be positive, got ${speed}`);
  const origin = performance.now();
  return () => Math.floor(startMs + (performance.now() - origin) * speed);
}

/** Waits `ms` milliseconds or until `signal` aborts, whichever comes first; never rejects. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/**
 * Waits `ms` real milliseconds, or less when `signal` aborts: it resolves either way (callers
 * check the signal), so a stopping component never waits out a backoff. The process's one
 * abort-aware sleep.
 */
export const abortableSleep: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
  });
