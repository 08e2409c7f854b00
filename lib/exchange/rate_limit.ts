/**
 * @module
 * Client-side request pacing for an exchange's REST limit: never more than `ratePerSecond`
 * requests sent in any sliding one-second window, counted from when each request is SENT (its
 * answer, however slow, holds nothing), while requests run concurrently; and a pause the
 * transport calls on a 429 (with the answer's `Retry-After` when there is one) that holds every
 * request of the limiter. Time and waiting are injected so tests never sleep for real. Retries
 * and backoff live in the transports (`coinbase/rest_transport.ts`, `kraken/rest.ts`).
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
  /**
   * How far behind its place on the even schedule a request may be sent without moving the
   * schedule, ms (a timer that wakes late, a busy event loop). In `[0, windowMs / capacity]`;
   * consecutive sends are at least `windowMs / capacity − toleranceMs` apart.
   * @default windowMs / (2 × capacity) (62.5 ms at 8/s, ~55.6 ms at 9.5/s)
   */
  toleranceMs?: number;
}

/**
 * Two rules, both on send times. The window: a request is sent only when fewer than `capacity =
 * max(1, floor(ratePerSecond))` were sent in the last `windowMs` (one second, or `1 / rate`
 * seconds for rates under one), so at most `capacity ≤ ratePerSecond` requests are sent in ANY
 * sliding window, the first one included; a fractional rate above one is rounded down (9.5/s
 * sends at most 9 in any second). Each request counts from when it is sent: a slow answer holds
 * nothing. The schedule: requests are due evenly, `windowMs / capacity` apart (125 ms at 8/s,
 * 111.1 ms at 9.5/s), and one sent up to `toleranceMs` behind its due time leaves the schedule
 * where it was; only a later one (a stall, a pause, an idle spell) restarts it from its own send
 * time, so a stall never releases a burst. Consecutive sends are at least `windowMs / capacity −
 * toleranceMs` apart.
 *
 * Why a schedule and a window: the server counts arrivals, and a request reaches it a little
 * after it is sent, more while either side's event loop is busy. Evenly spaced requests need
 * their delays to differ by a couple of spacings before the server sees more than its own limit
 * in a second (Coinbase's 10/s against the service's 8/s); a window's worth sent at once would
 * need none. Spacing each request from the previous one's actual send, as this limiter did
 * before, kept them even but lost every timer's lateness for good (~1 ms a request on a quiet
 * machine, tens of ms on a busy one: ingest's bench ran at 89 % and 77 % of the limit's bound);
 * the schedule absorbs it, and the window still holds over actual send times.
 *
 * {@linkcode pause} holds every request until a time (a 429's `Retry-After` or backoff); the
 * window still applies after it. Waiters are served in order. Shared by all calls of a client.
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ ratePerSecond: 1 });
 * await limiter.acquire(); // send now
 * // The server answered 429 with Retry-After: 2 → no request of this limiter for 2 s:
 * limiter.pause(retryAfterMs("2", Date.now()) ?? 1000);
 * ```
 */
export class RateLimiter {
  readonly ratePerSecond: number;
  /** Requests allowed in any sliding window. */
  readonly capacity: number;
  /** The window, ms: 1000, or `1000 / ratePerSecond` for rates under one. */
  readonly windowMs: number;
  /** The schedule's spacing, whole ms rounded up (it runs on the exact `windowMs / capacity`). */
  readonly spacingMs: number;
  /** How far behind the schedule a send may be without moving it, ms. */
  readonly toleranceMs: number;
  /** Least time between two sends, ms (`windowMs / capacity − toleranceMs`). */
  readonly minGapMs: number;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  /** The last `capacity` send times (epoch ms), a ring; `#head` is the oldest. */
  readonly #sent: number[] = [];
  #head = 0;
  readonly #spacing: number;
  /** When the next request is due on the schedule (epoch ms). */
  #due = -Infinity;
  #pausedUntil = -Infinity;
  /** Settles when every earlier caller has been sent (or given up). */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: RateLimiterOptions) {
    const rate = options.ratePerSecond;
    if (!(rate > 0) || !Number.isFinite(rate)) {
      throw new RangeError(
        `Rate limit must be a positive number of requests per second, got ${rate}`,
      );
    }
    this.ratePerSecond = rate;
    this.capacity = Math.max(1, Math.floor(rate));
    this.windowMs = Math.max(1000, (this.capacity / rate) * 1000);
    this.#spacing = this.windowMs / this.capacity;
    this.spacingMs = Math.ceil(this.#spacing);
    const tolerance = options.toleranceMs ?? this.#spacing / 2;
    if (!(tolerance >= 0 && tolerance <= this.#spacing)) {
      throw new RangeError(
        `Lateness tolerance must be in [0, ${this.#spacing}] ms at ${rate}/s, got ${tolerance}`,
      );
    }
    this.toleranceMs = tolerance;
    this.minGapMs = this.#spacing - tolerance;
    this.#clock = options.clock ?? Date.now;
    this.#sleep = options.sleep ?? abortableSleep;
  }

  /** Resolves when one more request may be sent now (and counts it as sent now). */
  acquire(signal?: AbortSignal): Promise<void> {
    const turn = this.#queue.then(() => this.#wait(signal));
    this.#queue = turn.catch(() => {});
    return turn;
  }

  /**
   * Holds every request (those waiting and those to come) for `ms` from now, e.g. after a 429:
   * the transport passes the answer's `Retry-After` ({@linkcode retryAfterMs}) or its backoff.
   * A pause only ever extends one in progress; requests already sent are not recalled.
   */
  pause(ms: number): void {
    if (!(ms > 0)) return;
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#clock() + ms);
  }

  /** Until when (epoch ms) requests are held by {@linkcode pause}; in the past when not. */
  get pausedUntil(): number {
    return this.#pausedUntil;
  }

  async #wait(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.#clock();
      const full = this.#sent.length === this.capacity;
      const at = Math.max(
        this.#pausedUntil,
        this.#due - this.toleranceMs,
        full ? this.#sent[this.#head]! + this.windowMs : -Infinity,
      );
      if (now >= at) {
        this.#record(now);
        return;
      }
      await this.#sleep(Math.ceil(at - now), signal);
    }
  }

  #record(now: number): void {
    // Within the tolerance the schedule stands; later, it restarts from this send.
    this.#due = (now <= this.#due ? this.#due : now) + this.#spacing;
    if (this.#sent.length < this.capacity) {
      this.#sent.push(now);
      return;
    }
    this.#sent[this.#head] = now;
    this.#head = (this.#head + 1) % this.capacity;
  }
}

/**
 * A `Retry-After` header's wait from `nowMs`, ms: delta-seconds (`"2"`, `"1.5"`) or an HTTP
 * date; undefined when absent or unreadable (Coinbase documents none: the caller backs off).
 */
export function retryAfterMs(value: string | null | undefined, nowMs: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}
