/**
 * @module
 * Bringing the service up, in order: resolve the products of this shard; tell the aggregator the
 * seed cutoff (the start minute) of every product and start the feed at once, so `ONE_MINUTE`
 * candles flow from the first trade (DESIGN.md invariant 7); seed every product's candles that
 * began before the cutoff from the store and, for what it lacks, at most two REST requests each
 * (`history/seeding.ts`) — then the service is `seeded` and `/health` leaves `starting`; then,
 * still running, catch history up since the last stored candle (the note says so). The catalogue
 * (trading_pairs/exchanges, product documents) is the refresher's, started with the feed
 * (`history/catalogue_refresh.ts`). Each REST step goes through the one retry loop, which
 * reports what it waits for as the startup note (shown on `/health` and the dashboard) and gives
 * up on an error a retry cannot help (a {@linkcode ConfigError}, or one whose `retryable` is
 * `false`). A product whose seeding fails for good is reported as a problem and dropped; the
 * others carry on.
 *
 * The previous run's registry entry may list repair windows it left pending (`pendingRepairs`):
 * the stored candles of those products from that minute on are untrusted, so seeding takes their
 * tiles from REST and the catch-up fetches and rewrites them (DESIGN.md invariant 1), back to
 * `max(CATCHUP_HOURS, HISTORY_DAYS)` even when that minute is older than the catch-up's bound.
 * Until then this run's registry entry carries them on (`ShardRegistry.previousRepairsDone`).
 */
import type { Clock } from "../clock.ts";
import { backoffDelay, type BackoffPolicy, isFinalError } from "../backoff.ts";
import { ConfigError } from "../config.ts";
import type { Config } from "../config.ts";
import { replayedSince } from "../exchange/feed_types.ts";
import type { Product } from "../exchange/product.ts";
import type { MarketRest } from "../exchange/exchange.ts";
import {
  coinbaseSelection,
  type ExchangeSelection,
  resolveProducts,
} from "../history/catalogue.ts";
import { catchUp, readStoredLatest } from "../history/catch_up.ts";
import { runSeeding, seedCutoffAt } from "../history/seeding.ts";
import { getLogger } from "../log.ts";
import type { CandleStore } from "../store/store.ts";
import { untrustedFrom } from "./registry.ts";
import type { Pipeline } from "./pipeline.ts";

const log = getLogger(["spot", "startup"]);

/** Waits between startup retries: up to 2 s after the first failure, doubling to a minute. */
export const STARTUP_BACKOFF: BackoffPolicy = { initialMs: 2000, maxMs: 60_000 };

/** Whether retrying can help with `error`: not for bad configuration or a final REST answer. */
export function retryHelps(error: unknown): boolean {
  return !(error instanceof ConfigError) && !isFinalError(error);
}

/** A wait in seconds as the note shows it: tenths below 10 s (jitter makes short waits common). */
export function waitSeconds(ms: number): number {
  return ms < 10_000 ? Math.round(ms / 100) / 10 : Math.round(ms / 1000);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Options for {@linkcode Startup}. */
export interface StartupOptions {
  config: Config;
  /** The exchange's REST API (the products of this startup are all on one exchange). */
  rest: MarketRest;
  /** Which products of which exchange. @default Coinbase's, from `PRODUCTS` */
  selection?: ExchangeSelection;
  store: CandleStore;
  clock: Clock;
  pipeline: Pipeline;
  /** Starts the feed on the products served (called once they are known). */
  startFeed: (products: string[]) => void;
  /** Reports a served product that is not well (the service lists it: log, /health, dashboard). */
  reportProblem: (product: string, message: string) => void;
  /** Waits (real ms), ending early when the service stops. */
  sleep: (ms: number) => Promise<void>;
  /** Aborted when the service stops. */
  signal: AbortSignal;
}

/** One run of the startup sequence and what it found out. */
export class Startup {
  /** What startup is doing or waiting for; empty once done. */
  note = "resolving products";
  /** The products served, with Coinbase's catalogue fields. */
  products: Product[] = [];
  /** Whether every product is seeded (or given up): its live candles are right. */
  seeded = false;
  /** Whether startup has finished (every product seeded or given up, history caught up). */
  done = false;
  readonly #o: StartupOptions;
  /** Products whose seeding failed for good (their trades are dropped). */
  readonly #unseeded = new Set<string>();
  /**
   * Each product's first subscription: when (service clock, epoch ms) and how far back its
   * connection's snapshots replayed (per product, as the feed reported it).
   */
  readonly #firstSubscription = new Map<
    string,
    { atMs: number; replayedFrom: ReadonlyMap<string, number> }
  >();
  /** The seed cutoff (epoch ms) once seeding is done: startup repairs start there. */
  #seededAtMs?: number;

  constructor(options: StartupOptions) {
    this.#o = options;
  }

  /** The seed cutoff (epoch s) once seeding is done: the live path owns buckets from it on. */
  get cutoffSec(): number | undefined {
    return this.#seededAtMs === undefined ? undefined : this.#seededAtMs / 1000;
  }

  /**
   * Runs the sequence; rejects with the error that ended it for good. `previousAliveMs`: when
   * the previous run of this shard was last seen alive (its registry entry's last heartbeat),
   * for the seed cutoff (`seedCutoffAt`). `previousPending`: that entry's `pendingRepairs`.
   */
  async run(
    previousAliveMs?: Promise<number | undefined>,
    previousPending?: Promise<Record<string, number> | undefined>,
  ): Promise<void> {
    const { config, rest, pipeline, signal } = this.#o;
    const selection = this.#o.selection ?? coinbaseSelection(config);
    this.products = await this.#retry(
      `listing products from ${selection.name}`,
      () => resolveProducts(config, rest, signal, selection),
    );
    const ids = this.products.map((p) => p.productId);
    log.info("Serving {count} {exchange} products (shard {index}/{shards})", {
      count: ids.length,
      exchange: selection.name,
      index: config.shardIndex,
      shards: config.shardCount,
    });
    // Everything before the cutoff comes from the seed; the live path owns the rest.
    const previousAt = await previousAliveMs;
    const startMs = this.#o.clock();
    const cutoffSec = seedCutoffAt(startMs, previousAt);
    if (cutoffSec < seedCutoffAt(startMs)) {
      log.info("Seed cutoff {cutoff}: the minute the previous run was last alive in ({at})", {
        cutoff: new Date(cutoffSec * 1000).toISOString(),
        at: new Date(previousAt!).toISOString(),
      });
    }
    for (const id of ids) pipeline.aggregator.expectSeed(id, cutoffSec);
    this.#o.startFeed(ids);
    // Repairs the previous run left pending: its stored candles from there on are untrusted.
    const untrusted = untrustedFrom(await previousPending, ids, cutoffSec);
    if (untrusted.size > 0) {
      log.warn(
        "The previous run stopped with repairs pending for {count} products (oldest {from}): their stored candles from there on are fetched again",
        {
          count: untrusted.size,
          from: new Date(Math.min(...untrusted.values()) * 1000).toISOString(),
          products: [...untrusted.keys()].slice(0, 10),
        },
      );
    }

    // What an earlier run left, for the catch-up: read alongside the seeding's REST requests,
    // after its own store reads (which /health waits for: they go first), and before this run
    // stores its seed tiles (they would look like history this run had already caught up).
    let planned = () => {};
    const plannedRead = new Promise<void>((resolve) => planned = resolve);
    const latestRead = config.catchupHours === 0 ? Promise.resolve(undefined) : plannedRead.then(
      () =>
        this.#retry(
          "reading the store",
          () => readStoredLatest(this.#o.store, ids, cutoffSec, config.catchupHours),
        ),
    );
    latestRead.catch(() => {}); // awaited (and its error raised) after seeding
    this.note = "seeding in-progress candles (store, then REST)";
    const summary = await runSeeding({
      store: this.#o.store,
      rest,
      aggregator: pipeline.aggregator,
      products: ids,
      cutoffSec,
      untrustedFrom: untrusted,
      clock: this.#o.clock,
      sleep: (ms) => this.#o.sleep(ms),
      signal,
      storeAfter: latestRead,
      // The tiles go through the writer: a slow store (Firestore under load) must not hold up
      // /health; past the writer's cap they are dropped and refilled like completions.
      history: (docs) => pipeline.writer.pushHistory(docs),
      attempt: (what, fn) => this.#retry(what, fn),
      onPlanned: planned,
      onSeeded: (_, n, total) => {
        this.note = `seeding in-progress candles (${n}/${total})`;
        pipeline.flushSoon();
      },
      onFailed: (product, e) => {
        // A final answer for this product: report it, drop its trades, carry on with the others.
        pipeline.dropProduct(product);
        this.#unseeded.add(product);
        this.#o.reportProblem(product, `seeding failed: ${message(e)}`);
      },
    });
    signal.throwIfAborted();
    // Trades between the cutoff and a product's first subscription may be missing: repair that
    // window now for the products subscribed, later for the others (see subscribed()).
    const seeded = ids.filter((id) => !this.#unseeded.has(id));
    this.#seededAtMs = cutoffSec * 1000;
    this.#repairStart(seeded.filter((id) => this.#firstSubscription.has(id)));
    this.seeded = true;
    log.info(
      "Seeded {count} products at {cutoff}: {fromStore} from the store alone, {requests} REST requests",
      {
        count: seeded.length,
        cutoff: new Date(cutoffSec * 1000).toISOString(),
        fromStore: summary.fromStore,
        requests: summary.requests,
        failed: summary.failed.length,
      },
    );

    const latest = await latestRead;
    this.note = "catching up history since the last stored candle";
    await catchUp({
      rest,
      store: this.#o.store,
      products: seeded,
      cutoffSec,
      catchupHours: config.catchupHours,
      untrustedFrom: untrusted,
      // Untrusted minutes before the catch-up's bound: fetched again as far back as history is
      // kept (the filler fills only what is missing, never what is wrong).
      untrustedHours: Math.max(config.catchupHours, config.historyDays * 24),
      clock: this.#o.clock,
      signal,
      attempt: (what, fn) => this.#retry(what, fn),
      latest,
      onProgress: (n, total) => {
        this.note = `catching up history since the last stored candle (${n}/${total} products)`;
      },
    });
    this.done = true;
    this.note = "";
    log.info("Startup done: {count} products seeded at {cutoff}, history caught up", {
      count: seeded.length,
      cutoff: new Date(cutoffSec * 1000).toISOString(),
      failed: ids.length - seeded.length,
    });
  }

  /**
   * Tells startup that a connection subscribed `products` at `atMs`, its snapshots replaying
   * each product's trades from `replayedFrom` on (the service calls it on every subscription;
   * only a product's first one counts).
   */
  subscribed(
    products: readonly string[],
    atMs: number,
    replayedFrom: ReadonlyMap<string, number> = new Map(),
  ): void {
    const first = products.filter((p) => !this.#firstSubscription.has(p));
    for (const p of first) this.#firstSubscription.set(p, { atMs, replayedFrom });
    if (this.#seededAtMs !== undefined) {
      this.#repairStart(first.filter((p) => !this.#unseeded.has(p)));
    }
  }

  /**
   * Trades between the seed cutoff and a product's first subscription may be missing (the
   * subscription's snapshot holds only the latest 100): repair from the cutoff's minute through
   * the subscription's, once both are known — unless the snapshot reached back before the
   * cutoff, so that every trade since it was delivered (then the window is recorded as replayed).
   */
  #repairStart(products: string[]): void {
    if (products.length === 0) return;
    const fromMs = this.#seededAtMs!;
    let replayedCount = 0;
    for (const product of products) {
      const subscription = this.#firstSubscription.get(product)!;
      const replayed = replayedSince(subscription.replayedFrom, product, fromMs);
      if (replayed) replayedCount++;
      this.#o.pipeline.repairer.schedule({
        products: replayed ? [] : [product],
        replayed: replayed ? [product] : [],
        fromMs,
        toMs: Math.max(fromMs, subscription.atMs),
        reason: "startup",
      });
    }
    log.info(
      "Startup windows (seed cutoff → first subscription): {replayed} of {total} products replayed by their first snapshot, {repair} left to REST repair",
      {
        replayed: replayedCount,
        total: products.length,
        repair: products.length - replayedCount,
        cutoff: new Date(fromMs).toISOString(),
      },
    );
  }

  /**
   * Runs `fn` until it succeeds, with capped exponential backoff, reporting each wait as the
   * note; rethrows at once an error a retry cannot help, or any error once the service stops.
   */
  async #retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (this.#o.signal.aborted) throw e;
        const error = message(e);
        if (!retryHelps(e)) {
          log.error("{what} failed for good: {error}", { what, error });
          throw e;
        }
        const waitMs = backoffDelay(attempt, STARTUP_BACKOFF);
        const waitS = waitSeconds(waitMs);
        this.note = `${what} failed (attempt ${attempt}), retrying in ${waitS} s: ${error}`;
        log.warn("{what} failed (attempt {attempt}), retrying in {waitS} s: {error}", {
          what,
          attempt,
          waitS,
          error,
        });
        await this.#o.sleep(waitMs);
      }
    }
  }
}
