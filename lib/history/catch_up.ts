/**
 * @module
 * The startup catch-up (DESIGN.md invariant 2): for every granularity, the completed candles
 * from the last one stored (the oldest across the products, bounded by `catchupHours`) up to the
 * seed cutoff are backfilled from REST, so a restart leaves no hole. A store that holds recent
 * history needs little REST; an empty one gets the bounded window.
 */
import { bucketStart, GRANULARITIES } from "../candles/granularity.ts";
import type { Clock } from "../clock.ts";
import { getLogger } from "../log.ts";
import type { CandleStore } from "../store/store.ts";
import { type BackfillRest, runBackfill } from "./backfill.ts";

const log = getLogger(["spot", "catch-up"]);

/** Products whose latest stored candle is read at once. */
const LATEST_CHUNK = 50;

/** Runs one step, retrying as the caller sees fit (the service's startup retry loop). */
export type Attempt = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

/** Options for {@linkcode catchUp}. */
export interface CatchUpOptions {
  rest: BackfillRest;
  store: CandleStore;
  products: readonly string[];
  /** The seed cutoff (epoch s): the live path owns everything from it on. */
  cutoffSec: number;
  /** How far back at most, in hours; 0 skips the catch-up. */
  catchupHours: number;
  clock: Clock;
  signal?: AbortSignal;
  /** Wraps each granularity's backfill (retries). @default runs it once */
  attempt?: Attempt;
}

/** The first bucket start to fetch at `g`: after the oldest latest stored candle, bounded. */
async function firstMissing(
  store: CandleStore,
  products: readonly string[],
  g: (typeof GRANULARITIES)[number],
  boundSec: number,
  toSec: number,
): Promise<number> {
  let fromSec = toSec + g.seconds;
  for (let i = 0; i < products.length; i += LATEST_CHUNK) {
    const chunk = products.slice(i, i + LATEST_CHUNK);
    // The newest stored up to `toSec`: what the live path completed since start (several
    // buckets on a slow start) must not pass for caught-up history.
    const latests = await Promise.all(
      chunk.map(async (p) =>
        (await store.readCompleted(p, g.id, { end: toSec, limit: 1 }))[0]?.start
      ),
    );
    for (const latest of latests) {
      const first = latest === undefined ? boundSec : Math.max(boundSec, latest + g.seconds);
      fromSec = Math.min(fromSec, bucketStart(first, g));
    }
  }
  return fromSec;
}

/** Fills completed candles from REST for the time since the last one stored (bounded). */
export async function catchUp(o: CatchUpOptions): Promise<void> {
  if (o.catchupHours === 0) return;
  const attempt: Attempt = o.attempt ?? ((_, fn) => fn());
  const boundSec = o.cutoffSec - o.catchupHours * 3600;
  for (const g of GRANULARITIES) {
    const toSec = bucketStart(o.cutoffSec, g) - g.seconds;
    const fromSec = await firstMissing(o.store, o.products, g, boundSec, toSec);
    if (fromSec > toSec) continue;
    const summary = await attempt(`catching up ${g.short} history`, () =>
      runBackfill({
        rest: o.rest,
        store: o.store,
        products: o.products,
        granularities: [g],
        fromSec,
        toSec,
        clock: o.clock,
        resume: false,
        signal: o.signal,
      }));
    log.info(
      "Caught up {granularity} history from {from}: {candles} candles in {requests} requests",
      {
        granularity: g.short,
        from: new Date(fromSec * 1000).toISOString(),
        candles: summary.candles,
        requests: summary.requests,
      },
    );
  }
}
