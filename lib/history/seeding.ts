/**
 * @module
 * Loading the candles that began before the process started (DESIGN.md invariants 2, 7, 8),
 * without ever holding the live path back. The cutoff is the minute the process started in
 * ({@linkcode seedCutoffAt}); the service calls `aggregator.expectSeed(product, cutoff)` for every
 * product before the feed starts, so `ONE_MINUTE` candles flow from the first trade and coarser
 * buckets begun before the cutoff wait (unpublished) for their seed.
 *
 * The seed of a product is `[day start, cutoff)` tiled by {@linkcode seedPlan}: the day's
 * completed hours as `ONE_HOUR` and the current hour's completed minutes as `ONE_MINUTE`.
 * {@linkcode runSeeding} reads those tiles from the store first (batched reads, a slice of
 * products at a time: REST starts on the first slice's products while the next slice is read)
 * and asks REST only for what the store does not hold: the hours after the newest
 * stored hour and the minutes after the newest stored minute — at most two requests per product
 * on an empty store, none on a restart within the minute, one (minutes) on a restart within the
 * hour. A product whose REST calls fail is retried later without holding the others back.
 *
 * A product the previous run left with a repair window pending (its registry entry's
 * `pendingRepairs`) has its stored candles from that window's first minute on untrusted (built
 * from incomplete trades): they are taken from REST instead (`untrustedFrom`).
 */
import { type Aggregator, seedPlan, type SeedTile } from "../candles/aggregator.ts";
import type { Candle } from "../candles/candle.ts";
import { granularityById } from "../candles/granularity.ts";
import { MAX_CANDLES_PER_REQUEST } from "../coinbase/rest.ts";
import { rollUp } from "./catch_up.ts";
import type { Clock } from "../clock.ts";
import { isFinalError } from "../backoff.ts";
import type { MarketRest } from "../exchange/exchange.ts";
import { getLogger } from "../log.ts";
import type { CandleDoc, CandleStore } from "../store/store.ts";

const log = getLogger(["spot", "seed"]);
const ONE_HOUR = granularityById("ONE_HOUR");

/** Seconds into a minute before its previous minute is trusted complete in REST (cache lag). */
export const REST_SETTLE_S = 5;

/** REST seed requests in flight at once (the client's rate limiter paces them). */
export const SEED_CONCURRENCY = 12;

/** Products whose seed plan is read from the store at once (REST starts after the first). */
export const SEED_PLAN_SLICE = 100;

/**
 * The seed cutoff for a process started at `startMs` (epoch s): the start of that minute, or of
 * the minute before when the previous run of this shard was last seen alive in it
 * (`previousAliveMs`). Seeding covers what lies before the cutoff and the startup repair (or the
 * first snapshot) the window from it, so a restart across a minute boundary then seeds from the
 * store alone, as one within a minute does: with the start's own minute, the minute the previous
 * run stopped in would be seeded from REST, one request per product before `/health` leaves
 * `starting` (~125 s at a full shard), instead of one per product in the background.
 */
export function seedCutoffAt(startMs: number, previousAliveMs?: number): number {
  const minute = Math.floor(startMs / 60_000) * 60;
  if (previousAliveMs === undefined) return minute;
  const previous = Math.floor(previousAliveMs / 60_000) * 60;
  return previous === minute - 60 ? previous : minute;
}

/** One REST request still needed to seed a product. */
export interface SeedRequest {
  granularity: "ONE_HOUR" | "ONE_MINUTE";
  startSec: number;
  endSec: number;
}

/** What seeding a product needs: the tiles the store holds and the REST requests for the rest. */
export interface ProductSeedPlan {
  product: string;
  tiles: SeedTile[];
  requests: SeedRequest[];
}

/**
 * Plans the seed of every product at `cutoffSec` from what `store` holds, in two batched reads
 * (one per tile granularity) and one of the live state. For each tile range, stored candles are
 * used up to the newest one stored in the range, or up to the previous run's watermark when
 * that is later; REST is asked for the rest of the range.
 *
 * The watermark makes a restart need no REST even for products without trades in some minutes
 * (no candle stored need not mean "not stored"): a previous run that published today's
 * `ONE_DAY` live candle was seeded (coarse candles begun before a cutoff are published only
 * once seeded), stored its seed tiles ({@linkcode runSeeding} writes them) and every minute and
 * hour it completed since (the writer stores completed candles before the live state of the same
 * cycle). So every `ONE_MINUTE` candle before its stored live `ONE_MINUTE` bucket, and every
 * `ONE_HOUR` candle before that bucket's hour, is in the store.
 *
 * `untrustedFrom` (per product, epoch s): stored candles of a bucket ending after it are not
 * used; REST is asked for them (the previous run stopped with a repair of them pending).
 */
export async function planSeeds(
  store: CandleStore,
  products: string[],
  cutoffSec: number,
  untrustedFrom?: ReadonlyMap<string, number>,
): Promise<ProductSeedPlan[]> {
  const plan = seedPlan(cutoffSec);
  const [live, ...stored] = await Promise.all([
    plan.length > 0 ? store.readLiveMany(products) : Promise.resolve(new Map()),
    ...plan.map((r) => store.readCompletedMany(products, r.granularity.id, r.startSec, r.endSec)),
  ]);
  const day = Math.floor(cutoffSec / 86400) * 86400;
  return products.map((product) => {
    const tiles: SeedTile[] = [];
    const requests: SeedRequest[] = [];
    const docs = (live.get(product) ?? []) as { granularity: string; candle: Candle }[];
    const minute = docs.find((d) => d.granularity === "ONE_MINUTE")?.candle.start;
    const seededToday = docs.some((d) => d.granularity === "ONE_DAY" && d.candle.start === day);
    const untrusted = untrustedFrom?.get(product);
    plan.forEach((r, k) => {
      const id = r.granularity.id as SeedRequest["granularity"];
      const seconds = r.granularity.seconds;
      // The bucket holding the first untrusted minute, and every later one, come from REST.
      const trustedBefore = untrusted === undefined
        ? Infinity
        : Math.max(r.startSec, Math.floor(untrusted / seconds) * seconds);
      const have = (stored[k]!.get(product) ?? [])
        .filter((c) => c.start >= r.startSec && c.start <= r.endSec && c.start < trustedBefore);
      for (const candle of have) tiles.push({ granularity: id, candle });
      let from = have.length > 0 ? have.at(-1)!.start + seconds : r.startSec;
      if (seededToday && minute !== undefined) {
        const stored = Math.floor(minute / seconds) * seconds;
        from = Math.max(from, stored);
      }
      from = Math.min(from, trustedBefore);
      if (from <= r.endSec) requests.push({ granularity: id, startSec: from, endSec: r.endSec });
    });
    return mergeRequests({ product, tiles, requests });
  });
}

/**
 * One request instead of two when the hours still needed and the current hour's minutes fit in
 * one page of `ONE_MINUTE` candles (in the first five hours of the UTC day on an empty store):
 * the minutes of those hours are rolled up into their `ONE_HOUR` tiles once fetched
 * ({@linkcode seedTilesFrom}), exactly as REST's own hours. Stored minutes inside the span are
 * fetched again rather than counted twice.
 */
function mergeRequests(plan: ProductSeedPlan): ProductSeedPlan {
  const [hours, minutes] = plan.requests;
  if (hours?.granularity !== "ONE_HOUR" || minutes?.granularity !== "ONE_MINUTE") return plan;
  if ((minutes.endSec - hours.startSec) / 60 + 1 > MAX_CANDLES_PER_REQUEST) return plan;
  return {
    product: plan.product,
    tiles: plan.tiles.filter((t) => t.candle.start < hours.startSec),
    requests: [{ granularity: "ONE_MINUTE", startSec: hours.startSec, endSec: minutes.endSec }],
  };
}

/**
 * The seed tiles of the candles a request fetched: as they are, except that minutes before the
 * cutoff's hour (a merged request) become the `ONE_HOUR` tiles of their hours, so that seeding
 * stores what a two-request seed would (the next start's plan reads hours there).
 */
export function seedTilesFrom(
  request: SeedRequest,
  candles: Candle[],
  cutoffSec: number,
): SeedTile[] {
  const inRange = candles.filter((c) => c.start >= request.startSec && c.start <= request.endSec);
  const hour = Math.floor(cutoffSec / 3600) * 3600;
  if (request.granularity !== "ONE_MINUTE" || request.startSec >= hour) {
    return inRange.map((candle) => ({ granularity: request.granularity, candle }));
  }
  return [
    ...rollUp(inRange, ONE_HOUR, request.startSec, hour).map((candle) => ({
      granularity: "ONE_HOUR" as const,
      candle,
    })),
    ...inRange.filter((c) => c.start >= hour).map((candle) => ({
      granularity: "ONE_MINUTE" as const,
      candle,
    })),
  ];
}

/** Options for {@linkcode runSeeding}. */
export interface SeedingOptions {
  store: CandleStore;
  rest: MarketRest;
  aggregator: Aggregator;
  products: string[];
  /** The cutoff every product was `expectSeed`-ed with. */
  cutoffSec: number;
  clock: Clock;
  /** Waits (real ms), resolving early when the signal aborts. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
  /**
   * Per product, the minute (epoch s) from which its stored candles are untrusted: the previous
   * run stopped with a repair pending there ({@linkcode planSeeds}). @default none
   */
  untrustedFrom?: ReadonlyMap<string, number>;
  /** Called once the whole plan is read from the store (REST may have begun on its first slices). */
  onPlanned?: () => void;
  /** Called after each product is seeded (the caller drains the aggregator). */
  onSeeded?: (product: string, seeded: number, total: number) => void;
  /** Called when a product's REST answer is final (e.g. Coinbase does not know it): not seeded. */
  onFailed?: (product: string, error: unknown) => void;
  /**
   * Storing the fetched tiles waits for this (e.g. a read of what the store held before this
   * run, which the tiles must not change); seeding the aggregator does not.
   */
  storeAfter?: Promise<unknown>;
  /**
   * Where the fetched tiles go to be stored, e.g. the writer's queue (never dropped, retried):
   * then a slow store does not hold seeding up. Without it each product's tiles are written to
   * the store before it counts as seeded.
   */
  history?: (docs: CandleDoc[]) => void;
  /** Wraps the store reads of the plan (retries, as the caller sees fit). @default runs once */
  attempt?: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
  /** REST requests in flight at once. @default SEED_CONCURRENCY */
  concurrency?: number;
  /** Products whose plan is read from the store at once. @default SEED_PLAN_SLICE */
  planSlice?: number;
}

/** What {@linkcode runSeeding} did. */
export interface SeedingSummary {
  products: number;
  /** Products seeded from the store alone. */
  fromStore: number;
  /** REST requests made by the client while seeding (pages and retries included). */
  requests: number;
  /** Failed attempts that were retried. */
  retries: number;
  /** Products whose REST answer was final, e.g. unknown to Coinbase (not seeded). */
  failed: string[];
}

/**
 * Seeds every product (see the module comment), returning when all are seeded or the signal
 * aborts. Products needing no REST are seeded at once; the others as their requests answer.
 */
export async function runSeeding(options: SeedingOptions): Promise<SeedingSummary> {
  const { aggregator, cutoffSec, products } = options;
  const summary: SeedingSummary = {
    products: products.length,
    fromStore: 0,
    requests: 0,
    retries: 0,
    failed: [],
  };
  const requestsBefore = options.rest.stats.requests;
  let seeded = 0;
  const done = (product: string, tiles: SeedTile[]) => {
    aggregator.seed(product, cutoffSec, tiles);
    options.onSeeded?.(product, ++seeded, products.length);
  };
  const attempt = options.attempt ?? ((_, fn) => fn());
  const queue: { plan: ProductSeedPlan; attempt: number; notBefore: number }[] = [];
  // The plan is read a slice of products at a time and REST starts on the first slice's
  // products while the store reads the next (on a loaded Firestore the reads of a full shard
  // take seconds that the REST budget would otherwise sit idle).
  let planning = true;
  let wake = () => {};
  let planned = new Promise<void>((resolve) => wake = resolve);
  const plannedMore = () => {
    const wakeWorkers = wake;
    planned = new Promise<void>((resolve) => wake = resolve);
    wakeWorkers();
  };
  let requests = 0;
  let planFailed = false;
  const planAll = (async () => {
    try {
      const size = options.planSlice ?? SEED_PLAN_SLICE;
      for (let i = 0; i < products.length && !options.signal?.aborted; i += size) {
        const slice = products.slice(i, i + size);
        const plans = await attempt(
          "reading the seed tiles from the store",
          () => planSeeds(options.store, slice, cutoffSec, options.untrustedFrom),
        );
        for (const plan of plans) {
          if (plan.requests.length === 0) {
            summary.fromStore++;
            done(plan.product, plan.tiles);
          } else {
            queue.push({ plan, attempt: 0, notBefore: 0 });
            requests += plan.requests.length;
          }
        }
        plannedMore();
      }
    } catch (e) {
      planFailed = true; // the workers stop: the caller gets the error
      throw e;
    } finally {
      planning = false;
      plannedMore();
    }
    options.onPlanned?.();
    log.info(
      "Seeding {products} products at {cutoff}: {fromStore} from the store alone, {rest} need REST ({requests} requests)",
      {
        products: products.length,
        cutoff: new Date(cutoffSec * 1000).toISOString(),
        fromStore: summary.fromStore,
        rest: products.length - summary.fromStore,
        requests,
      },
    );
  })();
  planAll.catch(() => {}); // awaited below, after the workers stop
  // REST's candle for the minute before the cutoff is complete only some seconds after it.
  const settleAt = (cutoffSec + REST_SETTLE_S) * 1000;
  let settled: Promise<void> | undefined;
  const settle = () =>
    settled ??= (async () => {
      while (options.clock() < settleAt && !options.signal?.aborted) {
        await options.sleep(Math.min(1000, settleAt - options.clock()), options.signal);
      }
    })();
  let inFlight = 0;
  const worker = async () => {
    while (!options.signal?.aborted && !planFailed) {
      if (queue.length === 0) {
        if (!planning) return;
        await planned;
        continue;
      }
      await settle();
      if (queue.length === 0 || planFailed) continue;
      // The first entry whose backoff has passed (entries keep their arrival order).
      const now = options.clock();
      const i = queue.findIndex((q) => q.notBefore <= now);
      if (i < 0) {
        const soonest = Math.min(...queue.map((q) => q.notBefore));
        await options.sleep(Math.max(10, soonest - now), options.signal);
        continue;
      }
      const [entry] = queue.splice(i, 1);
      const { plan } = entry!;
      inFlight++;
      try {
        const tiles = [...plan.tiles];
        const fetched: SeedTile[] = [];
        for (const r of plan.requests) {
          const g = granularityById(r.granularity);
          const candles: Candle[] = await options.rest.candles(
            plan.product,
            g,
            r.startSec,
            r.endSec,
            { signal: options.signal },
          );
          fetched.push(...seedTilesFrom(r, candles, cutoffSec));
        }
        // Stored as history too: the next start finds them (see planSeeds' watermark).
        if (fetched.length > 0) {
          const docs = fetched.map((t) => ({ product: plan.product, ...t }));
          const history = options.history;
          if (history) {
            const give = () => history(docs);
            if (options.storeAfter) options.storeAfter.then(give, give);
            else give();
          } else {
            await options.storeAfter?.catch(() => {});
            await options.store.writeCompleted(docs);
          }
        }
        done(plan.product, [...tiles, ...fetched]);
      } catch (e) {
        if (options.signal?.aborted) return;
        if (isFinalError(e)) {
          // A final answer (Coinbase does not know the product): no retry can help.
          summary.failed.push(plan.product);
          options.onFailed?.(plan.product, e);
          continue;
        }
        summary.retries++;
        const waitMs = Math.min(60_000, 1000 * 2 ** Math.min(entry!.attempt, 6));
        log.warn("Seeding {product} failed (attempt {attempt}), retrying in {waitS} s: {error}", {
          product: plan.product,
          attempt: entry!.attempt + 1,
          waitS: Math.round(waitMs / 1000),
          error: e instanceof Error ? e.message : String(e),
        });
        queue.push({ plan, attempt: entry!.attempt + 1, notBefore: options.clock() + waitMs });
      } finally {
        inFlight--;
      }
    }
  };
  // Workers leave when the queue is empty; one whose product failed puts it back, so loop until
  // nothing is queued or in flight.
  while (
    (planning || queue.length > 0 || inFlight > 0) && !options.signal?.aborted && !planFailed
  ) {
    await Promise.all(Array.from({ length: options.concurrency ?? SEED_CONCURRENCY }, worker));
  }
  await planAll; // its error, if the store could not be read
  summary.requests = options.rest.stats.requests - requestsBefore;
  return summary;
}
