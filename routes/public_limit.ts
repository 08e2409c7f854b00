/**
 * @module
 * The per-client limit of `PUBLIC_API=true` (DESIGN.md, `PUBLIC_RATE_LIMIT`): a token bucket per
 * client address, refilled at `ratePerS` up to `burst`. A request takes a token; without one it
 * is refused with the whole seconds until the next token (the `Retry-After` of the 429). Memory
 * is bounded: past `maxClients` tracked addresses the least recently seen is forgotten (it
 * comes back with a full bucket, which is what an idle client would have anyway).
 */
import { type Clock, systemClock } from "../lib/clock.ts";
import type { PublicRateLimit } from "../lib/config.ts";

/** Options for {@linkcode PublicLimiter}. */
export interface PublicLimiterOptions extends PublicRateLimit {
  /** @default 10000 */
  maxClients?: number;
  /** @default systemClock */
  clock?: Clock;
}

/** Whether a request may go on now. */
export type PublicDecision = { allowed: true } | { allowed: false; retryAfterS: number };

interface Bucket {
  tokens: number;
  atMs: number;
}

/** Token buckets by client address. */
export class PublicLimiter {
  readonly ratePerS: number;
  readonly burst: number;
  readonly #maxClients: number;
  readonly #clock: Clock;
  /** Client → bucket; map order = least recently seen first. */
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: PublicLimiterOptions) {
    if (!(options.ratePerS > 0) || !(options.burst >= 1)) {
      throw new RangeError(
        `PublicLimiter needs ratePerS > 0 and burst ≥ 1, got ${options.ratePerS}/${options.burst}`,
      );
    }
    this.ratePerS = options.ratePerS;
    this.burst = options.burst;
    this.#maxClients = options.maxClients ?? 10_000;
    this.#clock = options.clock ?? systemClock;
  }

  /** Clients tracked now. */
  get clients(): number {
    return this.#buckets.size;
  }

  /** Takes a token for `client`, or says how long to wait for one. */
  take(client: string): PublicDecision {
    const now = this.#clock();
    const b = this.#buckets.get(client);
    let tokens = this.burst;
    if (b) {
      tokens = Math.min(this.burst, b.tokens + (now - b.atMs) / 1000 * this.ratePerS);
      this.#buckets.delete(client);
    } else if (this.#buckets.size >= this.#maxClients) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    if (tokens >= 1) {
      this.#buckets.set(client, { tokens: tokens - 1, atMs: now });
      return { allowed: true };
    }
    this.#buckets.set(client, { tokens, atMs: now });
    return { allowed: false, retryAfterS: Math.max(1, Math.ceil((1 - tokens) / this.ratePerS)) };
  }
}
