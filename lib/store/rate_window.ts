/**
 * @module
 * {@linkcode RateWindow}: events per second over a sliding window, in one-second buckets, for
 * the writer's `writesPerS` (and so its cost projection). Memory is one number per second of
 * the window.
 */
import type { Clock } from "../clock.ts";

/** Counts events in one-second buckets over the last `windowMs`. */
export class RateWindow {
  #windowS: number;
  #clock: Clock;
  #buckets = new Map<number, number>();
  #since: number;

  constructor(windowMs: number, clock: Clock) {
    this.#windowS = Math.max(1, Math.round(windowMs / 1000));
    this.#clock = clock;
    this.#since = clock();
  }

  /** Records `n` events now. */
  add(n: number): void {
    const second = Math.floor(this.#clock() / 1000);
    this.#buckets.set(second, (this.#buckets.get(second) ?? 0) + n);
    this.#prune(second);
  }

  /** Events per second over the window (or since creation, when that is shorter; ≥ 1 s). */
  perSecond(): number {
    const now = this.#clock();
    const second = Math.floor(now / 1000);
    this.#prune(second);
    let sum = 0;
    for (const n of this.#buckets.values()) sum += n;
    const spanS = Math.min(this.#windowS, Math.max(1, (now - this.#since) / 1000));
    return sum / spanS;
  }

  #prune(second: number): void {
    for (const s of this.#buckets.keys()) {
      if (s <= second - this.#windowS) this.#buckets.delete(s);
    }
  }
}
