/**
 * @module
 * The simulator REST server's traffic controls: a per-client token bucket answering 429 (with an
 * HTML or JSON body, as Coinbase does), injected faults (the next N responses 429 or 5xx), and
 * the request log tests use to check a client's pacing. Routing and payloads live in `rest.ts`.
 */

/** A token bucket's shape. */
export interface BucketLimit {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Bucket size: requests allowed at once after a quiet spell. */
  burst: number;
  /**
   * Strict mode: at most `floor(ratePerSecond)` requests in ANY sliding one-second window (429
   * beyond, `burst` ignored): the strictest reading of Coinbase's public "10 requests/s", for
   * benches and tests that must prove a client stays within it.
   */
  sliding?: boolean;
}

/** Per-client sliding one-second windows (see {@linkcode BucketLimit.sliding}). */
export class SlidingWindows {
  readonly #max: number;
  readonly #starts = new Map<string, number[]>();

  constructor(ratePerSecond: number) {
    if (!(ratePerSecond >= 1)) {
      throw new RangeError(`A sliding window needs a rate of at least 1/s, got ${ratePerSecond}`);
    }
    this.#max = Math.floor(ratePerSecond);
  }

  /** Counts a request of `client` at `nowMs`; false (not counted) when the window is full. */
  take(client: string, nowMs: number): boolean {
    let times = this.#starts.get(client);
    if (!times) this.#starts.set(client, times = []);
    while (times.length > 0 && times[0]! <= nowMs - 1000) times.shift();
    if (times.length >= this.#max) return false;
    times.push(nowMs);
    return true;
  }
}

/** The limiter a {@linkcode BucketLimit} describes. */
export function limiterFor(limit: BucketLimit): { take(client: string, nowMs: number): boolean } {
  return limit.sliding ? new SlidingWindows(limit.ratePerSecond) : new TokenBuckets(limit);
}

/** One request as the simulator saw it. */
export interface RestRequestRecord {
  /** Arrival, epoch ms of the limit clock (the wall clock unless injected). */
  timeMs: number;
  method: string;
  /** Path including `/api/v3/brokerage`. */
  path: string;
  /** Query parameters (repeated keys keep their last value; see `search` for all). */
  query: Record<string, string>;
  /** The raw query string, without `?`. */
  search: string;
  /** Client key the bucket was chosen by. */
  client: string;
  /** Whether a valid JWT was presented. */
  authenticated: boolean;
  /** Status answered. */
  status: number;
  /** Why the status was forced, when it was: `rate-limit` or `fault`. */
  forced?: "rate-limit" | "fault";
}

/** Faults to inject into the next responses (whatever the request). */
export type RestFault =
  | { kind: "429"; count: number; body?: "html" | "json" }
  | { kind: "5xx"; count: number; status?: number };

/** The HTML page a 429 may carry (coinbase-protocol.md §6.5). */
export const RATE_LIMIT_HTML =
  "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n" +
  "<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>cloudflare</center>\r\n" +
  "</body>\r\n</html>\r\n";

/** A 429 response with an HTML or JSON body. */
export function tooManyRequests(body: "html" | "json"): Response {
  if (body === "html") {
    return new Response(RATE_LIMIT_HTML, {
      status: 429,
      headers: { "content-type": "text/html" },
    });
  }
  return Response.json({
    error: "RESOURCE_EXHAUSTED",
    error_details: "Too many requests",
    message: "Too many requests",
  }, { status: 429 });
}

/** Per-client token buckets. */
export class TokenBuckets {
  readonly #limit: BucketLimit;
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(limit: BucketLimit) {
    if (!(limit.ratePerSecond > 0) || !(limit.burst >= 1)) {
      throw new RangeError(
        `Token bucket needs a positive rate and a burst of at least 1, got ${
          JSON.stringify(limit)
        }`,
      );
    }
    this.#limit = limit;
  }

  /** Takes a token for `client` at `nowMs`; false when the bucket is empty. */
  take(client: string, nowMs: number): boolean {
    const b = this.#buckets.get(client) ?? { tokens: this.#limit.burst, atMs: nowMs };
    b.tokens = Math.min(
      this.#limit.burst,
      b.tokens + (Math.max(0, nowMs - b.atMs) * this.#limit.ratePerSecond) / 1000,
    );
    b.atMs = nowMs;
    this.#buckets.set(client, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

/** The queue of injected faults. */
export class FaultQueue {
  readonly #queue: RestFault[] = [];

  /** Adds faults after those already queued. */
  push(fault: RestFault): void {
    if (fault.count > 0) this.#queue.push({ ...fault });
  }

  /** Faults still to be served. */
  get pending(): number {
    return this.#queue.reduce((n, f) => n + f.count, 0);
  }

  /** The forced response for the next request, if a fault is queued. */
  next(): Response | undefined {
    const f = this.#queue[0];
    if (!f) return undefined;
    f.count--;
    if (f.count <= 0) this.#queue.shift();
    if (f.kind === "429") return tooManyRequests(f.body ?? "html");
    const status = f.status ?? 503;
    return Response.json({
      error: "UNAVAILABLE",
      error_details: "injected server error",
      message: `simulated ${status}`,
    }, { status });
  }
}

/**
 * The largest number of records in any window `[t, t + windowMs)` (optionally only those
 * matching `filter`), for checking a client's rate.
 */
export function maxInWindow(
  records: readonly RestRequestRecord[],
  windowMs = 1000,
  filter: (r: RestRequestRecord) => boolean = () => true,
): number {
  const times = records.filter(filter).map((r) => r.timeMs).sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < times.length; hi++) {
    while (times[hi]! - times[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}
