/**
 * @module
 * {@linkcode callDeadline}: the abort signal of one call's deadline, let go of when the call
 * ends. `AbortSignal.timeout(ms)` cannot be cancelled: its timer holds the signal, and with it
 * every listener the call added (`fetch`'s, which reach its request and body), until the
 * deadline passes, and then builds the timeout's `DOMException` (a stack trace) for nobody. At a
 * Firestore shard's several ~60 KB commits a second with a 10 s deadline, that kept the last
 * ten seconds' requests alive: old enough to be promoted, so collected by mark-compacts (the
 * collector was 25.9 % of the JavaScript thread in the compat profile, bench/RESULTS.md
 * 2026-12-07).
 */

/** A call's deadline: pass `signal` to the call, `clear()` when it is over (always: `finally`). */
export interface CallDeadline {
  /** Aborts with a `TimeoutError` `DOMException` after the deadline, or with `outer`'s reason. */
  readonly signal: AbortSignal;
  /** Disarms the deadline and lets go of `outer`; the signal is never aborted after it. */
  clear(): void;
}

/**
 * A signal that aborts `ms` from now (a `DOMException` named `TimeoutError`, as
 * `AbortSignal.timeout` gives) or when `outer` aborts (with its reason), whichever is first,
 * until `clear()`. The timer does not keep the process alive.
 */
export function callDeadline(ms: number, outer?: AbortSignal): CallDeadline {
  const controller = new AbortController();
  if (outer?.aborted) {
    controller.abort(outer.reason);
    return { signal: controller.signal, clear() {} };
  }
  const onOuterAbort = () => {
    clearTimeout(timer);
    controller.abort(outer!.reason);
  };
  const timer = setTimeout(() => {
    outer?.removeEventListener("abort", onOuterAbort);
    controller.abort(new DOMException(`The call did not end within ${ms} ms`, "TimeoutError"));
  }, ms);
  Deno.unrefTimer(timer);
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  return {
    signal: controller.signal,
    clear() {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onOuterAbort);
    },
  };
}
