/**
 * @module
 * Bringing the service up, in order: resolve the products of this shard, start the feed, seed
 * every product's in-progress candles (a small worker pool, so the REST limiter and not latency
 * bounds it), catch history up since the last stored candle, describe the products and write the
 * catalogue. Each REST step goes through the one retry loop, which reports what it waits for as
 * the startup note (shown on `/health` and the dashboard) and gives up on an error a retry cannot
 * help (a {@linkcode ConfigError}, or one whose `retryable` is `false`). A product whose seeding
 * fails for good is reported as a problem and dropped; the others carry on.
 */
import type { Clock } from "../clock.ts";
import { backoffDelay, type BackoffPolicy, isFinalError } from "../backoff.ts";
import { ConfigError } from "../config.ts";
import type { Config } from "../config.ts";
import type { Product } from "../coinbase/product.ts";
import type { RestClient } from "../coinbase/rest.ts";
import { catalogueEntry, describeProducts, resolveProducts } from "../history/catalogue.ts";
import { catchUp } from "../history/catch_up.ts";
import { seedCutoff, SeedGate, seedProduct } from "../history/seeding.ts";
import { getLogger } from "../log.ts";
import type { CandleStore } from "../store/store.ts";
import type { Pipeline } from "./pipeline.ts";

const log = getLogger(["spot", "startup"]);

/** Products seeded at once. */
const SEED_CONCURRENCY = 6;

/** Waits between startup retries: up to 2 s after the first failure, doubling to a minute. */
export const STARTUP_BACKOFF: BackoffPolicy = { initialMs: 2000, maxMs: 60_000 };

/** Whether retrying can help with `error`: not for bad configuration or a final REST answer. */
export function retryHelps(error: unknown): boolean {
  return !(error instanceof ConfigError) && !isFinalError(error);
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
  /** Waits (real ms), ending early when the service stops. */
  sleep: (ms: number) => Promise<void>;
  /** Aborted when the service stops. */
  signal: AbortSignal;
  /** Reports a served product that is not well (the service lists it). */
  reportProblem: (product: string, message: string) => void;
}

/** One run of the startup sequence and what it found out. */
export class Startup {
  /** What startup is doing or waiting for; empty once done. */
  note = "resolving products";
  /** The products served, with catalogue fields once REST answered. */
  products: Product[] = [];
  /** Whether startup has finished (every product seeded or given up, history caught up). */
  done = false;
  readonly #o: StartupOptions;
  /** Products whose seeding failed for good. */
  readonly #unseeded = new Set<string>();
  /** When each product's connection first subscribed (service clock, epoch ms). */
  readonly #subscribedAt = new Map<string, number>();
  /** The seed cutoff (epoch ms), once seeding is done. */
  #seededAtMs?: number;

  constructor(options: StartupOptions) {
    this.#o = options;
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
    pipeline.gate = new SeedGate(ids);
    this.#o.startFeed(ids);

    this.note = "seeding in-progress candles from REST";
    const cutoffSec = await seedCutoff(this.#o.clock, this.#o.sleep, signal);
    await this.#seedAll(ids, cutoffSec);
    const seeded = ids.filter((id) => !this.#unseeded.has(id));
    this.#seededAtMs = cutoffSec * 1000;
    this.#repairStart(seeded.filter((id) => this.#subscribedAt.has(id)));

    this.note = "filling history since the last stored candle";
    await catchUp({
      rest,
      store: this.#o.store,
      products: seeded,
      cutoffSec,
      catchupHours: config.catchupHours,
      clock: this.#o.clock,
      signal,
      attempt: (what, fn) => this.#retry(what, fn),
    });
    this.products = await this.#retry(
      "describing products",
      () => describeProducts(rest, this.products, signal),
    );
    for (const p of this.products) {
      if (p.status === "") this.#o.reportProblem(p.productId, "Coinbase lists no such product");
      else if (p.status !== "online") {
        this.#o.reportProblem(p.productId, `Coinbase lists it as ${p.status}`);
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

  /**
   * Tells startup that a connection subscribed `products` at `atMs` (the service calls it on
   * every subscription; only a product's first one counts).
   */
  subscribed(products: readonly string[], atMs: number): void {
    const first = products.filter((p) => !this.#subscribedAt.has(p));
    for (const p of first) this.#subscribedAt.set(p, atMs);
    if (this.#seededAtMs !== undefined) {
      this.#repairStart(first.filter((p) => !this.#unseeded.has(p)));
    }
  }

  /**
   * Trades between the seed cutoff and a product's first subscription may be missing (the
   * subscription's snapshot holds only the latest few): repair from the cutoff's minute through
   * the subscription's, once both are known.
   */
  #repairStart(products: string[]): void {
    const fromMs = this.#seededAtMs!;
    for (const product of products) {
      this.#o.pipeline.repairer.schedule({
        products: [product],
        fromMs,
        toMs: Math.max(fromMs, this.#subscribedAt.get(product)!),
        reason: "startup",
      });
    }
  }

  /** Seeds every product, {@linkcode SEED_CONCURRENCY} at once; one product's failure is its own. */
  async #seedAll(ids: string[], cutoffSec: number): Promise<void> {
    const { rest, pipeline, signal } = this.#o;
    let finished = 0;
    let next = 0;
    const seedOne = async (product: string) => {
      try {
        const { droppedThroughMs } = await this.#retry(
          `seeding ${product}`,
          () =>
            seedProduct({
              rest,
              aggregator: pipeline.aggregator,
              gate: pipeline.gate,
              cutoffSec,
              signal,
            }, product),
        );
        if (droppedThroughMs !== undefined) {
          // Its seed buffer overflowed: what it dropped comes back from REST.
          pipeline.repairer.schedule({
            products: [product],
            fromMs: cutoffSec * 1000,
            toMs: droppedThroughMs,
            reason: "startup",
          });
        }
      } catch (e) {
        if (signal.aborted) throw e;
        // A final answer for this product: report it, drop its trades, carry on with the others.
        pipeline.dropProduct(product);
        pipeline.gate.release(product);
        this.#unseeded.add(product);
        this.#o.reportProblem(product, `seeding failed: ${message(e)}`);
      }
      this.note = `seeding in-progress candles from REST (${++finished}/${ids.length})`;
      pipeline.flush();
    };
    await Promise.all(Array.from({ length: Math.min(SEED_CONCURRENCY, ids.length) }, async () => {
      while (next < ids.length) await seedOne(ids[next++]!);
    }));
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
        const waitMs = backoffDelay(attempt, STARTUP_BACKOFF);
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
