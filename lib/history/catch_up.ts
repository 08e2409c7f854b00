/**
 * @module
 * The startup catch-up (DESIGN.md invariant 2): the completed candles of every granularity from
 * the last one stored (per product, bounded by `catchupHours`) up to the seed cutoff, so a
 * restart leaves no hole. Only `ONE_MINUTE` candles are asked from REST (one request per 350
 * minutes); every coarser candle is rolled up from them locally, exactly as the live path does
 * (`accumulator.ts`), instead of one request per granularity. A `ONE_DAY` candle whose day began
 * before the minutes fetched is the one exception: it is asked for at its own granularity (one
 * request). What is stored is read with batched reads (`latestCompletedStarts`). A store holding
 * recent history needs little REST; an empty one gets the bounded window. It may run after
 * `/health` has left `starting`: the live candles do not depend on it.
 *
 * A product the previous run left with a repair pending (`untrustedFrom`) is caught up from that
 * minute instead of from its newest stored candle: its stored candles from there on, built from
 * incomplete trades, are fetched again and overwritten, rolled up at every granularity. That
 * minute may lie before the `catchupHours` bound (a shard killed with a repair pending and
 * started again hours or days later): the re-fetch then reaches past the bound, back to
 * `untrustedHours` (the service's `max(CATCHUP_HOURS, HISTORY_DAYS × 24)`: REST keeps minutes
 * for longer, and the history filler fills only what is missing, never what is wrong). Minutes
 * before that are left as stored, and logged (`untrustedGivenUp`). It happens even with
 * `catchupHours` 0, which skips the catch-up of the other products.
 */
import { accFromCandle, mergeAcc, toCandle } from "../candles/accumulator.ts";
import type { Acc } from "../candles/accumulator.ts";
import type { Candle } from "../candles/candle.ts";
import {
  bucketStart,
  GRANULARITIES,
  type Granularity,
  ONE_MINUTE,
} from "../candles/granularity.ts";
import type { Clock } from "../clock.ts";
import type { MarketRest } from "../exchange/exchange.ts";
import { isFinalError } from "../backoff.ts";
import { getLogger } from "../log.ts";
import { eachConcurrently } from "../store/concurrency.ts";
import type { CandleDoc, CandleStore } from "../store/store.ts";
import { HistoryFetchError } from "./fetch_error.ts";

const log = getLogger(["spot", "catch-up"]);

/** Products caught up at once (the REST client's limiter paces the requests). */
const CATCH_UP_CONCURRENCY = 12;

const ONE_DAY = GRANULARITIES.at(-1)!;

/** Runs one step, retrying as the caller sees fit (the service's startup retry loop). */
export type Attempt = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

/** Per granularity (index of `GRANULARITIES`): the newest completed start stored per product. */
export type StoredLatest = Map<string, number>[];

/**
 * What the store held before this run wrote anything: the newest completed candle per product
 * and granularity starting before the cutoff, in batched reads, among those the catch-up can
 * use (a candle older than the bucket holding the bound `catchupHours` back changes nothing: the
 * catch-up starts at the bound then). Read it before this run stores its seed tiles, so that the
 * catch-up is not misled by candles this run wrote.
 */
export function readStoredLatest(
  store: CandleStore,
  products: readonly string[],
  cutoffSec: number,
  catchupHours: number,
): Promise<StoredLatest> {
  const boundSec = cutoffSec - catchupHours * 3600;
  return Promise.all(
    GRANULARITIES.map((g) =>
      store.latestCompletedStarts([...products], g.id, cutoffSec - 1, boundSec - g.seconds + 1)
    ),
  );
}

/** Options for {@linkcode catchUp}. */
export interface CatchUpOptions {
  rest: Pick<MarketRest, "candles" | "stats">;
  store: CandleStore;
  products: readonly string[];
  /** The seed cutoff (epoch s): the live path owns everything from it on. */
  cutoffSec: number;
  /** How far back at most, in hours; 0 skips the catch-up. */
  catchupHours: number;
  clock: Clock;
  signal?: AbortSignal;
  /** Wraps each product's fetch (retries). @default runs it once */
  attempt?: Attempt;
  /** What the store held before this run ({@linkcode readStoredLatest}). @default read now */
  latest?: StoredLatest;
  /**
   * Per product, the minute (epoch s) from which its stored candles are untrusted (the previous
   * run stopped with a repair pending): every bucket ending after it is fetched again, as if the
   * newest stored candle were the one before it, back to `untrustedHours`. @default none
   */
  untrustedFrom?: ReadonlyMap<string, number>;
  /**
   * How far back at most (hours) the untrusted minutes are fetched again when they begin before
   * the `catchupHours` bound; the earlier ones are given up. @default catchupHours
   */
  untrustedHours?: number;
  /** Called after each product (for the startup note). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * `latest` with each product of `untrustedFrom` moved back: per granularity, a newest stored
 * start at or after the bucket holding the untrusted minute becomes the bucket before it.
 */
export function untrustLatest(
  latest: StoredLatest,
  untrustedFrom: ReadonlyMap<string, number> | undefined,
): StoredLatest {
  if (!untrustedFrom || untrustedFrom.size === 0) return latest;
  return latest.map((byProduct, k) => {
    const g = GRANULARITIES[k]!;
    const out = new Map(byProduct);
    for (const [product, fromSec] of untrustedFrom) {
      const l = out.get(product);
      const bucket = bucketStart(fromSec, g);
      if (l !== undefined && l >= bucket) out.set(product, bucket - g.seconds);
    }
    return out;
  });
}

/** What {@linkcode catchUp} did. */
export interface CatchUpSummary {
  /** Products that needed REST. */
  products: number;
  /** Completed candles written (every granularity). */
  candles: number;
  /** REST requests made (pages and retries included). */
  requests: number;
  /** Products given up on (a final REST answer). */
  failed: string[];
  /** Products whose untrusted minutes began before `untrustedHours`: those before it are kept. */
  untrustedGivenUp: string[];
}

/**
 * Rolls `minutes` (sorted or not) up into the buckets of `g` that lie wholly in
 * `[fromSec, toSec)` (minutes outside are ignored), exactly (decimal volumes).
 */
export function rollUp(
  minutes: Candle[],
  g: Granularity,
  fromSec: number,
  toSec: number,
): Candle[] {
  const buckets = new Map<number, Acc>();
  for (const m of [...minutes].sort((a, b) => a.start - b.start)) {
    const b = bucketStart(m.start, g);
    if (b < fromSec || b + g.seconds > toSec) continue;
    const part = accFromCandle(m, 60, b);
    const acc = buckets.get(b);
    if (acc) mergeAcc(acc, part);
    else buckets.set(b, part);
  }
  return [...buckets.values()].sort((a, b) => a.start - b.start).map((a) => toCandle(a));
}

/** Fills completed candles for the time since the last one stored (bounded); see the module. */
export async function catchUp(o: CatchUpOptions): Promise<CatchUpSummary> {
  const summary: CatchUpSummary = {
    products: 0,
    candles: 0,
    requests: 0,
    failed: [],
    untrustedGivenUp: [],
  };
  const products = o.products.filter((p) => o.catchupHours > 0 || o.untrustedFrom?.has(p));
  if (products.length === 0) return summary;
  const requestsBefore = o.rest.stats.requests;
  const attempt: Attempt = o.attempt ?? ((_, fn) => fn());
  const boundSec = o.cutoffSec - o.catchupHours * 3600;
  const untrustedBoundSec = o.cutoffSec -
    Math.max(o.catchupHours, o.untrustedHours ?? 0) * 3600;
  const latest = untrustLatest(
    o.latest ?? await readStoredLatest(o.store, products, o.cutoffSec, o.catchupHours),
    o.untrustedFrom,
  );
  // Per product and granularity: the first bucket missing, and the last one to fill.
  const plans = products.map((product) => {
    // A product with untrusted minutes before the bound starts with them (as far as allowed).
    const untrusted = o.untrustedFrom?.get(product);
    let productBoundSec = boundSec;
    if (untrusted !== undefined && untrusted < boundSec) {
      productBoundSec = Math.max(untrusted, untrustedBoundSec);
      if (untrusted < untrustedBoundSec) summary.untrustedGivenUp.push(product);
    }
    const from = GRANULARITIES.map((g, k) => {
      const l = latest[k]!.get(product);
      const b = productBoundSec;
      return bucketStart(l === undefined ? b : Math.max(b, l + g.seconds), g);
    });
    const to = GRANULARITIES.map((g) => bucketStart(o.cutoffSec, g) - g.seconds);
    const needed = GRANULARITIES.filter((_, k) => from[k]! <= to[k]!);
    // Minutes from the earliest missing bucket of any granularity but the day (which may begin
    // long before the bound), so those buckets are wholly covered.
    const sub = needed.filter((g) => g !== ONE_DAY).map((g) => from[g.index]!);
    const dayFrom = from[ONE_DAY.index]!;
    let minuteFrom = sub.length > 0 ? Math.min(...sub) : Infinity;
    const dayNeeded = needed.includes(ONE_DAY);
    // A day begun after the minutes start is rolled up from them; an earlier one is fetched.
    const dayFromMinutes = dayNeeded && dayFrom >= Math.min(minuteFrom, o.cutoffSec);
    if (dayFromMinutes) minuteFrom = Math.min(minuteFrom, dayFrom);
    return { product, from, to, minuteFrom, dayNeeded, dayFromMinutes };
  }).filter((p) => p.minuteFrom < o.cutoffSec || p.dayNeeded);
  summary.products = plans.length;
  if (summary.untrustedGivenUp.length > 0) {
    const oldest = Math.min(...summary.untrustedGivenUp.map((p) => o.untrustedFrom!.get(p)!));
    log.warn(
      "Repairs the previous run left pending began before {bound} for {count} products (oldest {oldest}): their stored candles before it are kept as they are",
      {
        count: summary.untrustedGivenUp.length,
        bound: new Date(untrustedBoundSec * 1000).toISOString(),
        oldest: new Date(oldest * 1000).toISOString(),
        products: summary.untrustedGivenUp.slice(0, 10),
      },
    );
  }
  let finished = 0;
  await eachConcurrently(plans, CATCH_UP_CONCURRENCY, async (plan) => {
    if (o.signal?.aborted) return;
    const { product } = plan;
    try {
      const docs = await attempt(`catching up ${product} history`, async () => {
        const out: CandleDoc[] = [];
        if (plan.minuteFrom < o.cutoffSec) {
          const toSec = o.cutoffSec - 60;
          const minutes = await o.rest.candles(product, ONE_MINUTE, plan.minuteFrom, toSec, {
            signal: o.signal,
          }).catch((e) => {
            if (o.signal?.aborted) throw e;
            throw new HistoryFetchError("catching up", {
              product,
              granularity: ONE_MINUTE.id,
              fromSec: plan.minuteFrom,
              toSec,
            }, e);
          });
          const inRange = minutes.filter((c) => c.start >= plan.minuteFrom && c.start <= toSec);
          for (const g of GRANULARITIES) {
            if (g === ONE_DAY && !plan.dayFromMinutes) continue;
            const from = Math.max(plan.from[g.index]!, plan.minuteFrom);
            const to = plan.to[g.index]!;
            if (from > to) continue;
            const candles = g === ONE_MINUTE
              ? inRange.filter((c) => c.start >= from && c.start <= to)
              : rollUp(inRange, g, from, to + g.seconds);
            for (const candle of candles) out.push({ product, granularity: g.id, candle });
          }
        }
        if (plan.dayNeeded && !plan.dayFromMinutes) {
          const fromSec = plan.from[ONE_DAY.index]!;
          const toSec = plan.to[ONE_DAY.index]!;
          const days = await o.rest.candles(product, ONE_DAY, fromSec, toSec, {
            signal: o.signal,
          }).catch((e) => {
            if (o.signal?.aborted) throw e;
            throw new HistoryFetchError("catching up", {
              product,
              granularity: ONE_DAY.id,
              fromSec,
              toSec,
            }, e);
          });
          for (const candle of days) {
            if (candle.start >= fromSec && candle.start <= toSec) {
              out.push({ product, granularity: ONE_DAY.id, candle });
            }
          }
        }
        return out;
      });
      if (docs.length > 0) {
        await attempt(`storing ${product} history`, () => o.store.writeCompleted(docs));
      }
      summary.candles += docs.length;
    } catch (e) {
      if (o.signal?.aborted) return;
      if (!isFinalError(e)) throw e;
      summary.failed.push(product);
      log.warn("Catch-up of {product} given up: {error}", {
        product,
        error: e instanceof Error ? e.message : String(e),
      });
    }
    o.onProgress?.(++finished, plans.length);
  });
  summary.requests = o.rest.stats.requests - requestsBefore;
  log.info(
    "Caught up history of {products} products from their last stored candle: {candles} candles in {requests} requests",
    { products: summary.products, candles: summary.candles, requests: summary.requests },
  );
  return summary;
}
