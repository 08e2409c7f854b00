/**
 * @module
 * The history filler's watermark (`lib/history/filler.ts`): per product and granularity, the
 * range of buckets it has checked — every bucket in `[fromSec, throughSec]` is stored or has
 * no candle on REST — and the holes it found there that REST cannot fill. A restart resumes
 * from it instead of reading the complete range again.
 *
 * Stored path (the service's own, like the ingest checkpoint beside it):
 * `exchanges/{exchange}/products/{product}/filled/{granularity}` —
 * `{from, through, holes: [{from, to, reason}], updated_at}` (bucket starts in epoch s). In KV
 * the same segments as key parts. It is a separate document from the ingest checkpoint
 * (`…/ingest/{granularity}`) because the two mean different things: the checkpoint says history
 * is complete from the oldest stored candle through a bucket, for ever back; the watermark
 * covers a bounded window that moves with the horizon (`HISTORY_DAYS`) and records holes.
 *
 * The stores implement {@linkcode FillWatermarks} (`readFillWatermark`/`writeFillWatermark`);
 * {@linkcode watermarksOf} takes them from a store that has them and otherwise falls back to
 * {@linkcode MemoryFillWatermarks} (progress then lasts only as long as the process).
 * {@linkcode readKvFillWatermark}/{@linkcode writeKvFillWatermark} are the KV side, for
 * `KvCandleStore` to delegate to.
 */
/// <reference lib="deno.unstable" />
import type { GranularityId } from "../candles/granularity.ts";
import { productPath } from "./paths.ts";
import type { CandleStore } from "./store.ts";

/** Why a hole stays. */
export type HoleReason =
  /** REST has no trades of the product up to the hole's end (listed after the horizon, or never traded). */
  | "no_trades"
  /** REST has the day's candle but no candle of this granularity in the day. */
  | "rest_empty"
  /** REST refused the product for good (unknown, delisted: a 4xx other than 429). */
  | "rest_refused";

/** A range of buckets REST cannot fill (bucket starts, epoch s, inclusive). */
export interface StoredHole {
  fromSec: number;
  toSec: number;
  reason: HoleReason;
}

/** What the filler has checked of one (product, granularity). */
export interface FillWatermark {
  /** Oldest bucket start checked (epoch s). */
  fromSec: number;
  /** Newest bucket start checked (epoch s); every bucket in between is checked. */
  throughSec: number;
  /** Holes found in the range, oldest first. */
  holes: StoredHole[];
}

/** Where watermarks are kept: the store (see the module comment for the path), or memory. */
export interface FillWatermarks {
  readFillWatermark(
    product: string,
    granularity: GranularityId,
  ): Promise<FillWatermark | undefined>;
  writeFillWatermark(
    product: string,
    granularity: GranularityId,
    mark: FillWatermark,
  ): Promise<void>;
}

/** `exchanges/{exchange}/products/{product}/filled/{granularity}`. */
export function fillWatermarkPath(product: string, granularity: GranularityId): string[] {
  return [...productPath(product), "filled", granularity];
}

/** The stored fields of a watermark. */
export interface FillWatermarkFields {
  from: number;
  through: number;
  holes: { from: number; to: number; reason: HoleReason }[];
}

/** A watermark's stored fields (`updated_at` is the store's). */
export function watermarkFields(mark: FillWatermark): FillWatermarkFields {
  return {
    from: mark.fromSec,
    through: mark.throughSec,
    holes: mark.holes.map((h) => ({ from: h.fromSec, to: h.toSec, reason: h.reason })),
  };
}

/** A watermark from stored fields; undefined when they are not one. */
export function watermarkFromFields(data: unknown): FillWatermark | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const { from, through, holes } = data as Partial<FillWatermarkFields>;
  if (typeof from !== "number" || typeof through !== "number") return undefined;
  return {
    fromSec: from,
    throughSec: through,
    holes: (Array.isArray(holes) ? holes : []).map((h) => ({
      fromSec: h.from,
      toSec: h.to,
      reason: h.reason,
    })),
  };
}

/** Watermarks in memory: tests, and stores that cannot keep them yet. */
export class MemoryFillWatermarks implements FillWatermarks {
  readonly #marks = new Map<string, FillWatermark>();

  readFillWatermark(product: string, granularity: GranularityId) {
    const mark = this.#marks.get(`${product}\n${granularity}`);
    return Promise.resolve(mark && structuredClone(mark));
  }

  writeFillWatermark(product: string, granularity: GranularityId, mark: FillWatermark) {
    this.#marks.set(`${product}\n${granularity}`, structuredClone(mark));
    return Promise.resolve();
  }
}

/** Reads a watermark from Deno KV (what `KvCandleStore.readFillWatermark` delegates to). */
export async function readKvFillWatermark(
  kv: Deno.Kv,
  product: string,
  granularity: GranularityId,
): Promise<FillWatermark | undefined> {
  const entry = await kv.get(fillWatermarkPath(product, granularity));
  return watermarkFromFields(entry.value);
}

/** Writes a watermark to Deno KV (what `KvCandleStore.writeFillWatermark` delegates to). */
export async function writeKvFillWatermark(
  kv: Deno.Kv,
  product: string,
  granularity: GranularityId,
  mark: FillWatermark,
): Promise<void> {
  const key = fillWatermarkPath(product, granularity);
  const result = await kv.atomic().set(key, { ...watermarkFields(mark), updated_at: Date.now() })
    .commit();
  if (!result.ok) throw new Error(`Cannot write the fill watermark ${key.join("/")} to Deno KV`);
}

/**
 * The store's own watermarks when it keeps them (`readFillWatermark`/`writeFillWatermark`),
 * else `fallback` (memory: progress lasts as long as the process).
 */
export function watermarksOf(
  store: CandleStore,
  fallback: () => FillWatermarks = () => new MemoryFillWatermarks(),
): { watermarks: FillWatermarks; persistent: boolean } {
  const s = store as Partial<FillWatermarks>;
  if (typeof s.readFillWatermark === "function" && typeof s.writeFillWatermark === "function") {
    return { watermarks: s as FillWatermarks, persistent: true };
  }
  return { watermarks: fallback(), persistent: false };
}
