/**
 * @module
 * Client-side request pacing for an exchange's REST limit: never more than `ratePerSecond`
 * requests sent in any sliding one-second window, counted from when each request is SENT (its
 * answer, however slow, holds nothing), while requests run concurrently; a pause the transport
 * calls on a 429 (with the answer's `Retry-After` when there is one) that holds every request of
 * the limiter; and an adaptive rate: a rate-limit answer ({@linkcode RateLimiter.throttled}) cuts
 * the rate requests are scheduled at, which recovers step by step once they stop. Time and
 * waiting are injected so tests never sleep for real. Retries and backoff live in the transports
 * (`coinbase/rest_transport.ts`, `kraken/rest.ts`).
 */
import { abortableSleep, type Clock, type Sleep } from "../clock.ts";
import { getLogger } from "../log.ts";

const log = getLogger(["spot", "rest", "limit"]);

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
  /** What the log calls this limiter's requests. @default "REST" */
  name?: string;
  /** What a rate cut multiplies the scheduled rate by, in (0, 1). @default 0.8 */
  cutFactor?: number;
  /**
   * Least scheduled rate a cut goes down to, /s, in (0, ratePerSecond].
   * @default ratePerSecond / 4
   */
  minRatePerSecond?: number;
  /**
   * Recovery: `recoveryQuietMs` after a cut without another one, and then every
   * `recoveryStepMs`, the scheduled rate grows by `recoveryStep × ratePerSecond`, up to
   * `ratePerSecond` (the numbers are justified at {@linkcode RateLimiter}).
   * @default 3000
   */
  recoveryQuietMs?: number;
  /** @default 2000 */
  recoveryStepMs?: number;
  /** @default 0.1 */
  recoveryStep?: number;
}

/** What a {@linkcode RateLimiter} has done about rate-limit answers. */
export interface RateLimiterStats {
  /** The rate requests are scheduled at now, /s: `ratePerSecond`, less after a cut. */
  effectiveRatePerSecond: number;
  /** Rate-limit answers that cut the rate (or, at its floor, restarted its recovery). */
  rateCuts: number;
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
 * The adaptive rate: delays do differ that much at times (a stalled receiver handles its backlog at
 * once: at 8/s against a strict 10 in any second a stall of about 250 ms is enough), and repeating
 * the rate that met a 429 invites the next. So {@linkcode throttled} (the transport's word that a
 * request was refused for the rate) cuts the rate the schedule runs at ×`cutFactor` (0.8), never
 * below `minRatePerSecond` (a quarter of the rate): at 6.4/s requests are 156 ms apart, and a
 * strict 10/s server refuses one only after a stall of about 560 ms. The rate then recovers
 * additively: `recoveryQuietMs` (3 s) after the cut without another one, and every `recoveryStepMs`
 * (2 s) from then on, +`recoveryStep` (10 %) of the configured rate; from 8/s, 6.4/s for 3 s, 7.2/s
 * for 2 s, 8/s again 5 s after the cut. A cut from the full rate costs `1.6 × 3 + 0.8 × 2` = 6.4
 * requests, 0.8 s at 8/s: 0.3 % of a 2,000-request cold start (250 s), which met 1 to 9 429s at
 * 8/s. A 429 that recurs cuts again from where the rate is (8, 6.4, 5.1, 4.1/s …), so a limit that
 * is really lower (another client on the same IP) is found in a few cuts. Why not deeper or longer
 * (AWS SDKs' adaptive mode and CUBIC cut ×0.7): a receiver's stalls do not come from the rate, and
 * a slower rate only outlasts longer ones. In the simulated cold start of
 * `tests/exchange/rate_limit_test.ts` (stall spells through which a fixed 8/s met 15 to 17 429s in
 * 2,000 requests), ×0.8 with these steps avoided a third of them for +2 % time, ×0.7 held 5 s 40 %
 * for +5 %; against stalls spread evenly neither avoids any. One cut per episode: a refused request
 * sent before the last cut, or within one window after it, says nothing about the cut rate (the
 * server still counted the requests sent before the cut), so it cuts nothing. Only the schedule
 * slows: the window keeps its `capacity`, and both rules above hold at any rate. Without 429s
 * nothing changes.
 *
 * {@linkcode pause} holds every request until a time (a 429's `Retry-After` or backoff); the
 * window still applies after it. Waiters are served in order. Shared by all calls of a client.
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ ratePerSecond: 1 });
 * const sentAt = await limiter.acquire(); // send now
 * // The server answered 429 with Retry-After: 2 → slower from now on, nothing for 2 s:
 * limiter.throttled(sentAt);
 * limiter.pause(retryAfterMs("2", Date.now()) ?? 1000);
 * ```
 */
export class RateLimiter {
  readonly ratePerSecond: number;
  /** Requests allowed in any sliding window. */
  readonly capacity: number;
  /** The window, ms: 1000, or `1000 / ratePerSecond` for rates under one. */
  readonly windowMs: number;
  /** The schedule's spacing at the configured rate, whole ms rounded up. */
  readonly spacingMs: number;
  /** How far behind the schedule a send may be without moving it, ms. */
  readonly toleranceMs: number;
  /** Least time between two sends, ms (`windowMs / capacity − toleranceMs`; more after a cut). */
  readonly minGapMs: number;
  /** Least scheduled rate, /s. */
  readonly minRatePerSecond: number;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  readonly #name: string;
  readonly #cutFactor: number;
  readonly #stepRate: number;
  readonly #stepMs: number;
  readonly #quietMs: number;
  /** The last `capacity` send times (epoch ms), a ring; `#head` is the oldest. */
  readonly #sent: number[] = [];
  #head = 0;
  /** The schedule's spacing at the configured rate, ms (exact). */
  readonly #spacing: number;
  /** When the next request is due on the schedule (epoch ms). */
  #due = -Infinity;
  /** The spacing `#due` was set with, ms. */
  #lastSpacing: number;
  #pausedUntil = -Infinity;
  /** Settles when every earlier caller has been sent (or given up). */
  #queue: Promise<unknown> = Promise.resolve();
  /** The scheduled rate the last cut set, /s; undefined when at the configured rate. */
  #cutRate: number | undefined;
  /** When the last cut was (epoch ms), whether or not the rate has recovered since. */
  #cutAt = -Infinity;
  #cuts = 0;

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
    this.#lastSpacing = this.#spacing;
    this.spacingMs = Math.ceil(this.#spacing);
    const tolerance = options.toleranceMs ?? this.#spacing / 2;
    if (!(tolerance >= 0 && tolerance <= this.#spacing)) {
      throw new RangeError(
        `Lateness tolerance must be in [0, ${this.#spacing}] ms at ${rate}/s, got ${tolerance}`,
      );
    }
    this.toleranceMs = tolerance;
    this.minGapMs = this.#spacing - tolerance;
    const cut = options.cutFactor ?? 0.8;
    const floor = options.minRatePerSecond ?? rate / 4;
    const step = options.recoveryStep ?? 0.1;
    const quietMs = options.recoveryQuietMs ?? 3000;
    const stepMs = options.recoveryStepMs ?? 2000;
    if (
      !(cut > 0 && cut < 1) || !(floor > 0 && floor <= rate) || !(step > 0) ||
      !(quietMs >= 0) || !(stepMs > 0)
    ) {
      throw new RangeError(
        `Rate adaptation needs cutFactor in (0, 1), minRatePerSecond in (0, ${rate}], a positive ` +
          `recoveryStep and recoveryStepMs, recoveryQuietMs ≥ 0; got ${cut}, ${floor}, ${step}, ` +
          `${stepMs}, ${quietMs}`,
      );
    }
    this.#cutFactor = cut;
    this.minRatePerSecond = floor;
    this.#stepRate = step * rate;
    this.#stepMs = stepMs;
    this.#quietMs = quietMs;
    this.#name = options.name ?? "REST";
    this.#clock = options.clock ?? Date.now;
    this.#sleep = options.sleep ?? abortableSleep;
  }

  /**
   * Resolves when one more request may be sent now (and counts it as sent now), with that send
   * time (epoch ms of the limiter's clock): what {@linkcode throttled} asks for if it is refused.
   */
  acquire(signal?: AbortSignal): Promise<number> {
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

  /**
   * The request sent at `sentAtMs` (what {@linkcode acquire} resolved with) was refused for the
   * rate (a 429, Kraken's `EAPI:Rate limit exceeded`): cuts the scheduled rate, unless the
   * request was sent before the last cut or within one window of it (the same episode). Holds
   * nothing by itself: the transport pauses for the answer's `Retry-After` or its backoff.
   * Returns whether it cut (at the floor: whether it restarted the recovery).
   */
  throttled(sentAtMs: number): boolean {
    if (sentAtMs < this.#cutAt + this.windowMs) return false;
    const now = this.#clock();
    const before = this.#rateAt(now);
    const after = Math.max(this.minRatePerSecond, before * this.#cutFactor);
    this.#cutRate = after;
    this.#cutAt = now;
    this.#cuts++;
    // The next request is due the new spacing after the last one's due time, not the old.
    const spacing = this.#spacingAt(after);
    if (spacing > this.#lastSpacing) this.#due += spacing - this.#lastSpacing;
    this.#lastSpacing = spacing;
    log.warn(
      "{name} paced at {ratePerSecond}/s after a rate-limit answer (was {previous}/s; cut " +
        "{cuts}); {quietS} s without another, it climbs back to {configured}/s by {stepRate}/s " +
        "every {stepS} s",
      {
        name: this.#name,
        ratePerSecond: round2(after),
        previous: round2(before),
        cuts: this.#cuts,
        quietS: this.#quietMs / 1000,
        configured: this.ratePerSecond,
        stepRate: round2(this.#stepRate),
        stepS: this.#stepMs / 1000,
      },
    );
    return true;
  }

  /** The scheduled rate now and the cuts so far. */
  get stats(): RateLimiterStats {
    return { effectiveRatePerSecond: round2(this.#rateAt(this.#clock())), rateCuts: this.#cuts };
  }

  /** The scheduled rate at `now`: the last cut's, plus the recovery steps since, capped. */
  #rateAt(now: number): number {
    if (this.#cutRate === undefined) return this.ratePerSecond;
    const since = now - this.#cutAt - this.#quietMs;
    const steps = since < 0 ? 0 : Math.floor(since / this.#stepMs) + 1;
    const rate = this.#cutRate + steps * this.#stepRate;
    // A hair below counts as there: float sums of tenths.
    if (rate < this.ratePerSecond * (1 - 1e-9)) return rate;
    this.#cutRate = undefined;
    log.info("{name} rate back to {ratePerSecond}/s ({quietS} s after the last cut)", {
      name: this.#name,
      ratePerSecond: this.ratePerSecond,
      quietS: Math.round((now - this.#cutAt) / 1000),
    });
    return this.ratePerSecond;
  }

  /** The schedule's spacing at a scheduled rate, ms: never under the configured spacing. */
  #spacingAt(rate: number): number {
    return rate >= this.ratePerSecond ? this.#spacing : Math.max(this.#spacing, 1000 / rate);
  }

  async #wait(signal?: AbortSignal): Promise<number> {
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
        return now;
      }
      await this.#sleep(Math.ceil(at - now), signal);
    }
  }

  #record(now: number): void {
    // Within the tolerance the schedule stands; later, it restarts from this send.
    const spacing = this.#cutRate === undefined
      ? this.#spacing
      : this.#spacingAt(this.#rateAt(now));
    this.#due = (now <= this.#due ? this.#due : now) + spacing;
    this.#lastSpacing = spacing;
    if (this.#sent.length < this.capacity) {
      this.#sent.push(now);
      return;
    }
    this.#sent[this.#head] = now;
    this.#head = (this.#head + 1) % this.capacity;
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
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
