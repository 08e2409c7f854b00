/**
 * @module
 * The HTTP side of the Coinbase REST client: every request waits for the shared
 * {@linkcode RateLimiter}, carries a fresh JWT when authenticated, and is retried with the
 * process's backoff (`lib/backoff.ts`) on 429 (whose body may be HTML), 5xx and network errors,
 * once on a 401 with a fresh JWT. A 429 pauses the whole limiter (every request of the client,
 * not only the one refused) for its `Retry-After` when the answer has one, else for the backoff
 * delay, and cuts the limiter's rate ({@linkcode RateLimiter.throttled}: slower for the next
 * seconds, then back to the configured rate); 5xx and network errors back off that request
 * alone. Any other 4xx is a final {@linkcode RestError} (`retryable: false`) naming the method,
 * path, status and Coinbase's message (never the JWT). Endpoints and their shapes live in
 * `rest.ts`.
 */
import { callDeadline } from "../deadline.ts";
import { backoffDelay } from "../backoff.ts";
import { abortableSleep, type Clock, type Sleep, systemClock } from "../clock.ts";
import { getLogger } from "../log.ts";
import type { RestStats } from "../exchange/exchange.ts";
import { RateLimiter, retryAfterMs } from "../exchange/rate_limit.ts";
import { describeErrorBody, isRetryableStatus, RestError } from "../exchange/rest_error.ts";

const log = getLogger(["spot", "rest"]);

/** Makes the value of `Authorization: Bearer …` for one request (a fresh JWT each call). */
export type Authorize = (method: string, url: string) => Promise<string>;

/** Options for {@linkcode RestTransport}. */
export interface TransportOptions {
  /** API base including `/api/v3/brokerage`, e.g. `config.coinbaseRestUrl`. */
  baseUrl: string;
  /** Requests started per second, across all concurrent calls. @default 8 */
  ratePerSecond?: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default systemClock */
  clock?: Clock;
  /** @default abortableSleep */
  sleep?: Sleep;
  /** Retries of one request on 429, 5xx and network errors. @default 6 */
  maxRetries?: number;
  /** Cap of the first backoff delay; doubles per retry, full jitter (`backoffDelay`). @default 1000 */
  backoffBaseMs?: number;
  /** Cap of any backoff delay and of a 429's `Retry-After`. @default 30000 */
  backoffMaxMs?: number;
  /** Per-request timeout. @default 30000 */
  timeoutMs?: number;
  /** Jitter source in [0, 1). @default Math.random */
  random?: () => number;
}

export type { RestStats };

/** Rate-limited, retrying GETs of JSON. */
export class RestTransport {
  readonly #counts = { requests: 0, retries: 0, rateLimited: 0 };
  readonly #base: string;
  readonly #authorize?: Authorize;
  readonly #limiter: RateLimiter;
  readonly #fetch: typeof fetch;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  readonly #maxRetries: number;
  readonly #backoffBase: number;
  readonly #backoffMax: number;
  readonly #timeoutMs: number;
  readonly #random: () => number;

  constructor(options: TransportOptions, authorize?: Authorize) {
    this.#base = options.baseUrl.replace(/\/+$/, "");
    this.#authorize = authorize;
    this.#clock = options.clock ?? systemClock;
    this.#sleep = options.sleep ?? abortableSleep;
    this.#limiter = new RateLimiter({
      ratePerSecond: options.ratePerSecond ?? 8,
      clock: this.#clock,
      sleep: this.#sleep,
      name: "Coinbase REST",
    });
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#maxRetries = options.maxRetries ?? 6;
    this.#backoffBase = options.backoffBaseMs ?? 1000;
    this.#backoffMax = options.backoffMaxMs ?? 30_000;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#random = options.random ?? Math.random;
  }

  /** Whether requests can carry a JWT. */
  get authenticated(): boolean {
    return this.#authorize !== undefined;
  }

  /** Requests per second this transport allows itself. */
  get ratePerSecond(): number {
    return this.#limiter.ratePerSecond;
  }

  /** Requests, retries and 429s so far, the rate cuts they caused and the rate paced at now. */
  get stats(): RestStats {
    return { ...this.#counts, ...this.#limiter.stats };
  }

  /**
   * GETs `path` (under the base) and returns the parsed JSON. `authenticatable` requests carry a
   * JWT when a key is configured; `context` (product, granularity) goes into errors and logs.
   */
  async get(
    path: string,
    params: URLSearchParams | undefined,
    authenticatable: boolean,
    signal: AbortSignal | undefined,
    context: string,
  ): Promise<unknown> {
    const url = `${this.#base}${path}`;
    const full = params ? `${url}?${params}` : url;
    const shown = `GET ${path}${params ? `?${params}` : ""}`;
    const auth = authenticatable && this.#authorize !== undefined;
    let retry = 0;
    let reauthorized = false;
    for (;;) {
      const sentAt = await this.#limiter.acquire(signal);
      this.#counts.requests++;
      const headers: Record<string, string> = { accept: "application/json" };
      if (auth) headers.authorization = `Bearer ${await this.#authorize!("GET", url)}`;
      const deadline = callDeadline(this.#timeoutMs, signal);
      let problem: string;
      let status = 0;
      let retryAfter: number | undefined;
      try {
        const res = await this.#fetch(full, { headers, signal: deadline.signal });
        status = res.status;
        const text = await res.text();
        if (res.ok) {
          try {
            return JSON.parse(text);
          } catch {
            throw new RestError(
              `${shown} returned ${status} with a body that is not JSON (${context}): ` +
                describeErrorBody(text).message,
              // A proxy's or an edge's page in place of the answer: worth another try later.
              { method: "GET", path, status, retryable: true },
            );
          }
        }
        const { code, message } = describeErrorBody(text);
        problem = `${status}${code ? ` ${code}` : ""}: ${message}`;
        if (status === 401 && auth && !reauthorized) {
          reauthorized = true;
          this.#counts.retries++;
          log.warn("Coinbase answered 401 to {request}; retrying once with a fresh JWT", {
            request: shown,
          });
          continue;
        }
        if (status === 429) {
          this.#counts.rateLimited++;
          this.#limiter.throttled(sentAt);
          retryAfter = retryAfterMs(res.headers.get("retry-after"), this.#clock());
        }
        if (!isRetryableStatus(status)) {
          throw new RestError(`${shown} failed with ${problem} (${context})`, {
            method: "GET",
            path,
            status,
            code,
            coinbaseMessage: message,
            retryable: false,
          });
        }
      } catch (e) {
        if (e instanceof RestError) throw e;
        if (signal?.aborted) throw signal.reason;
        problem = `network error: ${e instanceof Error ? e.message : String(e)}`;
      } finally {
        deadline.clear();
      }
      if (retry >= this.#maxRetries) {
        throw new RestError(
          `${shown} failed after ${retry + 1} attempts, last with ${problem} (${context})`,
          { method: "GET", path, status, retryable: true },
        );
      }
      retry++;
      const delay = Math.min(
        this.#backoffMax,
        retryAfter ?? backoffDelay(
          retry,
          { initialMs: this.#backoffBase, maxMs: this.#backoffMax },
          this.#random,
        ),
      );
      this.#counts.retries++;
      log.warn(
        status === 429
          ? "Coinbase {request} failed ({problem}); every request paused, retry {retry} in {delayMs} ms"
          : "Coinbase {request} failed ({problem}); retry {retry} in {delayMs} ms",
        { request: shown, problem, retry, delayMs: Math.round(delay), context },
      );
      // Over the limit: the whole client holds back (the retry waits for the limiter with the
      // rest); any other failure is this request's own.
      if (status === 429) this.#limiter.pause(delay);
      else await this.#sleep(delay, signal);
    }
  }
}
