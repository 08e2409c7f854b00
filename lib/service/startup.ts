/**
 * @module
 * Bringing the service up, in order: resolve the products of this shard; tell the aggregator the
 * seed cutoff (the start minute) of every product and start the feed at once, so `ONE_MINUTE`
 * candles flow from the first trade (DESIGN.md invariant 7); seed every product's candles that
 * began before the cutoff from the store and, for what it lacks, at most two REST requests each
 * (`history/seeding.ts`) — then the service is `seeded` and `/health` leaves `starting`; then,
 * still running, catch history up since the last stored candle (the note says so), describe the
 * products and write the catalogue. Each REST step goes through the one retry loop, which
 * reports what it waits for as the startup note (shown on `/health` and the dashboard) and gives
 * up on an error a retry cannot help (a {@linkcode ConfigError}, or one whose `retryable` is
 * `false`). A product whose seeding fails for good is reported as a problem and dropped; the
 * others carry on.
 */
import { abortableSleep, type Clock } from "../clock.ts";
import { ConfigError } from "../config.ts";
import type { Config } from "../config.ts";
import type { Product } from "../coinbase/product.ts";
import type { RestClient } from "../coinbase/rest.ts";
import { catalogueEntry, describeProducts, resolveProducts } from "../history/catalogue.ts";
import { catchUp, readStoredLatest } from "../history/catch_up.ts";
import { runSeeding, seedCutoffAt } from "../history/seeding.ts";
import { getLogger } from "../log.ts";
import type { CandleStore } from "../store/store.ts";
import type { Pipeline } from "./pipeline.ts";
import type { ProductProblem } from "./view.ts";

const log = getLogger(["spot", "startup"]);

/** Longest wait between two attempts of a startup step. */
const MAX_RETRY_WAIT_MS = 60_000;

/** Whether retrying can help with `error`: not for bad configuration or a final REST answer. */
export function retryHelps(error: unknown): boolean {
  if (error instanceof ConfigError) return false;
  return (error as { retryable?: unknown } | null)?.retryable !== false;
}

/** The wait before attempt `attempt + 1`: 2 s, 4 s … capped at a minute. */
export function retryWaitMs(attempt: number): number {
  return Math.min(MAX_RETRY_WAIT_MS, 1000 * 2 ** Math.min(attempt, 6));
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Options for {@linkcode Startup}. */
export interface StartupOptions {
  config: Config;
  rest: RestClient;
  store: CandleStore;
  clock: Clock;
  pipeline: Pipeline;
  /** Starts the feed on the products served (called once they are known). */
  startFeed: (products: string[]) => void;
  /** Whether every feed connection has subscribed. @default always true */
  feedSubscribed?: () => boolean;
  /** Waits (real ms), ending early when the service stops. */
  sleep: (ms: number) => Promise<void>;
  /** Aborted when the service stops. */
  signal: AbortSignal;
}

/** One run of the startup sequence and what it found out. */
export class Startup {
  /** What startup is doing or waiting for; empty once done. */
  note = "resolving products";
  /** The products served, with catalogue fields once REST answered. */
  products: Product[] = [];
  /** Whether every product is seeded (or given up): its live candles are right. */
  seeded = false;
  /** Whether startup has finished (every product seeded or given up, history caught up). */
  done = false;
  readonly #o: StartupOptions;
  readonly #problems = new Map<string, string>();

  constructor(options: StartupOptions) {
    this.#o = options;
  }

  /** Served products that are not well, in product order. */
  problems(): ProductProblem[] {
    return [...this.#problems].map(([product, message]) => ({ product, message }));
  }

  /** Runs the sequence; rejects with the error that ended it for good. */
  async run(): Promise<void> {
    const { config, rest, pipeline, signal } = this.#o;
    this.products = await this.#retry(
      "listing products from Coinbase",
      () => resolveProducts(config, rest, signal),
    );
    const ids = this.products.map((p) => p.productId);
    log.info("Serving {count} products (shard {index}/{shards})", {
      count: ids.length,
      index: config.shardIndex,
      shards: config.shardCount,
    });
    // Everything before the start minute comes from the seed; the live path owns the rest.
    const cutoffSec = seedCutoffAt(this.#o.clock());
    for (const id of ids) pipeline.aggregator.expectSeed(id, cutoffSec);
    this.#o.startFeed(ids);
    const subscribedAt = this.#subscribedAt();

    // What an earlier run left, for the catch-up: read alongside the seeding, whose tile writes
    // wait for it (they would look like history this run had already caught up).
    const latestRead = config.catchupHours === 0
      ? Promise.resolve(undefined)
      : this.#retry("reading the store", () => readStoredLatest(this.#o.store, ids, cutoffSec));
    latestRead.catch(() => {}); // awaited (and its error raised) after seeding
    this.note = "seeding in-progress candles (store, then REST)";
    const summary = await runSeeding({
      store: this.#o.store,
      rest,
      aggregator: pipeline.aggregator,
      products: ids,
      cutoffSec,
      clock: this.#o.clock,
      sleep: (ms) => this.#o.sleep(ms),
      signal,
      storeAfter: latestRead,
      attempt: (what, fn) => this.#retry(what, fn),
      onSeeded: (_, n, total) => {
        this.note = `seeding in-progress candles (${n}/${total})`;
        pipeline.flush();
      },
      onFailed: (product, e) => {
        // A final answer for this product: report it, drop its trades, carry on with the others.
        pipeline.dropProduct(product);
        this.#problem(product, `seeding failed: ${message(e)}`);
      },
    });
    signal.throwIfAborted();
    // Trades between the cutoff and the subscriptions may be missing: repair that window (from
    // the cutoff to when every connection had subscribed, found without holding anything back).
    const seeded = ids.filter((id) => !this.#problems.has(id));
    void subscribedAt.then((toMs) =>
      pipeline.repairer.schedule({
        products: seeded,
        fromMs: cutoffSec * 1000,
        toMs: Math.max(cutoffSec * 1000, toMs),
        reason: "startup",
      })
    );
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
      clock: this.#o.clock,
      signal,
      attempt: (what, fn) => this.#retry(what, fn),
      latest,
      onProgress: (n, total) => {
        this.note = `catching up history since the last stored candle (${n}/${total} products)`;
      },
    });
    this.products = await this.#retry(
      "describing products",
      () => describeProducts(rest, this.products, signal),
    );
    for (const p of this.products) {
      if (p.status === "") this.#problem(p.productId, "Coinbase lists no such product");
      else if (p.status !== "online") {
        this.#problem(p.productId, `Coinbase lists it as ${p.status}`);
      }
    }
    await this.#retry("writing the catalogue", () => this.#writeCatalogue());
    this.done = true;
    this.note = "";
    log.info("Startup done: {count} products seeded at {cutoff}, history caught up", {
      count: seeded.length,
      cutoff: new Date(cutoffSec * 1000).toISOString(),
      failed: ids.length - seeded.length,
    });
  }

  /** When every feed connection had subscribed (epoch ms; polled, at most a minute). */
  async #subscribedAt(): Promise<number> {
    const subscribed = this.#o.feedSubscribed ?? (() => true);
    for (let waited = 0; !subscribed() && waited < 60_000; waited += 100) {
      if (this.#o.signal.aborted) break;
      // A poll, not a retry wait: the real abort-aware sleep, not the injected one.
      await abortableSleep(100, this.#o.signal);
    }
    return this.#o.clock();
  }

  #problem(product: string, text: string): void {
    if (this.#problems.has(product)) return;
    this.#problems.set(product, text);
    log.error("{product}: {problem}", { product, problem: text });
  }

  async #writeCatalogue(): Promise<void> {
    const now = this.#o.clock();
    const known = this.products.filter((p) => p.status !== "");
    await this.#o.store.writeCatalogue(known.map((p) => catalogueEntry(p, now)));
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
        const waitMs = retryWaitMs(attempt);
        const waitS = Math.round(waitMs / 1000);
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
