/**
 * @module
 * The error a failed Coinbase REST call throws, and the reading of Coinbase's error bodies:
 * `{"error":"INVALID_ARGUMENT","error_details":"…","message":"…"}` usually, but a 429 may come
 * back as an HTML page (coinbase-protocol.md §6.5), so bodies are never parsed blindly.
 */

/** Details of a {@linkcode RestError}. */
export interface RestErrorDetails {
  method: string;
  /** Path under the API base, without the query. */
  path: string;
  /** HTTP status; 0 when no response arrived. */
  status: number;
  /** Coinbase's error code, e.g. `INVALID_ARGUMENT`, `NOT_FOUND`. */
  code?: string;
  /** Coinbase's message. */
  coinbaseMessage?: string;
  /**
   * Whether trying again later can help: true for network errors, timeouts, 429 and 5xx (and
   * an answer that was not JSON), false for any other 4xx (unknown product, bad argument, bad
   * key). See {@linkcode isRetryableStatus}.
   */
  retryable: boolean;
}

/** Whether a failed REST call with this status may succeed when retried (0: no answer arrived). */
export function isRetryableStatus(status: number): boolean {
  return status === 0 || status === 429 || status >= 500;
}

/**
 * A Coinbase REST call that failed (after the transport's own retries). `retryable` says whether
 * a later attempt can help; by the project's convention an error with `retryable === false` is
 * final. The message never contains a JWT.
 */
export class RestError extends Error {
  readonly retryable: boolean;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly code?: string;
  readonly coinbaseMessage?: string;

  constructor(message: string, details: RestErrorDetails, options?: ErrorOptions) {
    super(message, options);
    this.name = "RestError";
    this.method = details.method;
    this.path = details.path;
    this.status = details.status;
    this.code = details.code;
    this.coinbaseMessage = details.coinbaseMessage;
    this.retryable = details.retryable;
  }
}

/**
 * Reads an error body: Coinbase's JSON shape when it is JSON, else the HTML page's title or the
 * first characters of its text (tags stripped).
 */
export function describeErrorBody(text: string): { code?: string; message: string } {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    try {
      const body = JSON.parse(trimmed) as Record<string, unknown>;
      const code = typeof body.error === "string" ? body.error : undefined;
      const parts = [body.message, body.error_details].filter(
        (v): v is string => typeof v === "string" && v !== "",
      );
      const unique = [...new Set(parts)];
      return { code, message: unique.join(" / ") || trimmed.slice(0, 200) };
    } catch {
      // fall through: not JSON after all
    }
  }
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(trimmed)?.[1]?.trim();
  const plain = (title || trimmed.replace(/<[^>]*>/g, " ")).replace(/\s+/g, " ").trim();
  return { message: plain.slice(0, 200) || "(empty body)" };
}
