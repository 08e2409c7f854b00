/**
 * @module
 * {@linkcode HistoryFetchError}: a REST → candles fetch (seeding, catch-up, backfill) that failed,
 * naming the product, granularity and window it was for, and passing on whether a retry can help
 * (`retryable`, from the cause: a Coinbase 4xx other than 429 is final, by the project's
 * convention that an error with `retryable === false` is never retried).
 */
import type { GranularityId } from "../candles/granularity.ts";
import { isFinalError } from "../backoff.ts";

/** Where a failed fetch was aimed. */
export interface FetchWindow {
  product: string;
  granularity: GranularityId;
  /** First bucket start asked for, epoch s. */
  fromSec: number;
  /** Last bucket start asked for, epoch s (inclusive). */
  toSec: number;
}

/** A failed history fetch with its window; `cause` is the original error. */
export class HistoryFetchError extends Error {
  readonly product: string;
  readonly granularity: GranularityId;
  readonly fromSec: number;
  readonly toSec: number;
  /** False when the cause is final (no retry can help). */
  readonly retryable: boolean;

  constructor(what: string, window: FetchWindow, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `${what} ${window.product} ${window.granularity} ${iso(window.fromSec)}…${
        iso(window.toSec)
      } failed${isFinalError(cause) ? " for good" : ""}: ${reason}`,
      { cause },
    );
    this.name = "HistoryFetchError";
    this.product = window.product;
    this.granularity = window.granularity;
    this.fromSec = window.fromSec;
    this.toSec = window.toSec;
    this.retryable = !isFinalError(cause);
  }
}

function iso(sec: number): string {
  return new Date(sec * 1000).toISOString();
}
