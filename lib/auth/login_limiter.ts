/**
 * @module
 * Per-client rate limit on password attempts (the login form and `POST /api/token`): at most
 * `maxFailures` wrong passwords per client within `windowMs`; further attempts are refused until
 * the oldest failure leaves the window. A correct password clears the client's record. Memory is
 * bounded: past `maxClients` tracked clients, the least recently seen is forgotten.
 */
import { type Clock, systemClock } from "../clock.ts";

/** Options for {@linkcode LoginLimiter}. */
export interface LoginLimiterOptions {
  /** @default 5 */
  maxFailures?: number;
  /** @default 300000 (5 min) */
  windowMs?: number;
  /** @default 10000 */
  maxClients?: number;
  /** @default systemClock */
  clock?: Clock;
}

/** Whether a client may try a password now. */
export type LimitDecision = { allowed: true } | { allowed: false; retryAfterS: number };

/** Counts failed password attempts per client. */
export class LoginLimiter {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly #maxClients: number;
  readonly #clock: Clock;
  /** Client → epoch ms of its recent failures, oldest first. Map order = least recently seen. */
  readonly #failures = new Map<string, number[]>();

  constructor(options: LoginLimiterOptions = {}) {
    this.maxFailures = options.maxFailures ?? 5;
    this.windowMs = options.windowMs ?? 5 * 60_000;
    this.#maxClients = options.maxClients ?? 10_000;
    this.#clock = options.clock ?? systemClock;
  }

  #recent(client: string): number[] {
    const since = this.#clock() - this.windowMs;
    const list = (this.#failures.get(client) ?? []).filter((t) => t > since);
    if (list.length === 0) this.#failures.delete(client);
    return list;
  }

  /** May `client` try a password now? */
  check(client: string): LimitDecision {
    const list = this.#recent(client);
    if (list.length < this.maxFailures) return { allowed: true };
    const oldest = list[list.length - this.maxFailures]!;
    const retryAfterS = Math.max(1, Math.ceil((oldest + this.windowMs - this.#clock()) / 1000));
    return { allowed: false, retryAfterS };
  }

  /** Records a wrong password from `client`. */
  fail(client: string): void {
    const list = this.#recent(client);
    list.push(this.#clock());
    if (list.length > this.maxFailures) list.splice(0, list.length - this.maxFailures);
    this.#failures.delete(client);
    this.#failures.set(client, list);
    while (this.#failures.size > this.#maxClients) {
      this.#failures.delete(this.#failures.keys().next().value!);
    }
  }

  /** Forgets `client`'s failures after a correct password. */
  succeed(client: string): void {
    this.#failures.delete(client);
  }

  /** Clients currently tracked. */
  get size(): number {
    return this.#failures.size;
  }
}
