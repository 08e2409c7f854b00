/**
 * @module
 * The Kraken REST simulator's traffic controls: the public rate limit (a per-client token
 * bucket, Coinbase's simulator's limiter, answered the Kraken way: `EAPI:Rate limit exceeded`
 * in `error[]`, with HTTP 200 or 429), and injected faults (the next N responses fail with an
 * error string, the rate-limit answer, or a bare HTTP status). Routing and payloads are
 * `rest.ts`.
 */
export { type BucketLimit, limiterFor } from "../../coinbase/simulator/rest_limits.ts";

/** Kraken's rate-limit error string. */
export const RATE_LIMITED = "EAPI:Rate limit exceeded";

/** Faults to inject into the next responses (whatever the request). */
export type KrakenRestFault =
  /** `{error:[error]}` with HTTP 200, e.g. `EService:Unavailable`, `EService:Busy`. */
  | { kind: "error"; count: number; error?: string }
  /** The rate-limit answer (as the options say it: HTTP 200 or 429). */
  | { kind: "rate-limit"; count: number }
  /** A bare HTTP status (a 502 from the edge, say) with a text body. */
  | { kind: "http"; count: number; status?: number };

/** A Kraken-shaped error answer. */
export function krakenError(error: string, status = 200): Response {
  return Response.json({ error: [error] }, { status });
}

/** The queue of injected faults. */
export class KrakenFaultQueue {
  readonly #queue: KrakenRestFault[] = [];

  /** Adds faults after those already queued. */
  push(fault: KrakenRestFault): void {
    if (fault.count > 0) this.#queue.push({ ...fault });
  }

  /** Faults still to be served. */
  get pending(): number {
    return this.#queue.reduce((n, f) => n + f.count, 0);
  }

  /** The forced response for the next request, if a fault is queued. */
  next(rateLimitStatus: 200 | 429): Response | undefined {
    const f = this.#queue[0];
    if (!f) return undefined;
    f.count--;
    if (f.count <= 0) this.#queue.shift();
    if (f.kind === "rate-limit") return krakenError(RATE_LIMITED, rateLimitStatus);
    if (f.kind === "error") return krakenError(f.error ?? "EService:Unavailable");
    const status = f.status ?? 502;
    return new Response(`simulated ${status}\n`, {
      status,
      headers: { "content-type": "text/plain" },
    });
  }
}
