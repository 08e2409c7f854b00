/**
 * @module
 * The running service: products → feed → aggregator → hub + writer, with startup seeding and
 * catch-up, gap repair and the clock tick. It owns the lifecycle (`start`, `stop`) and exposes
 * what the routes show (status, health, metrics); it does no HTTP itself. Every dependency is
 * passed in, so tests and the demo run the very same code against the simulator.
 */
import { Aggregator } from "../candles/aggregator.ts";
import type { CandleUpdate } from "../candles/candle.ts";
import type { Trade } from "../candles/trade.ts";
import { bucketStart, GRANULARITIES } from "../candles/granularity.ts";
import { abortableSleep, type Clock, systemClock } from "../clock.ts";
import type { Config } from "../config.ts";
import { Feed, type FeedOptions } from "../coinbase/feed.ts";
import type { ConnectionStatus } from "../coinbase/feed_types.ts";
import type { Product } from "../coinbase/product.ts";
import type { RestClient } from "../coinbase/rest.ts";
import { runBackfill } from "../history/backfill.ts";
import { Hub } from "./hub.ts";
import { getLogger } from "../log.ts";
import { ServiceMetrics } from "./metrics.ts";
import { describeProducts, resolveProducts } from "../history/catalogue.ts";
import { Repairer } from "../history/repair.ts";
import { seedCutoff, SeedGate, seedProduct } from "../history/seeding.ts";
import { health, type HealthBody } from "./health.ts";
import type { CandleStore } from "../store/store.ts";
import { CandleWriter } from "../store/writer.ts";

const log = getLogger(["spot", "service"]);

/** Products seeded at once at startup. */
const SEED_CONCURRENCY = 6;

/** Options for {@linkcode Service}. */
export interface ServiceOptions {
  config: Config;
  store: CandleStore;
  rest: RestClient;
  /** @default systemClock */
  clock?: Clock;
  /** Real milliseconds between clock ticks (candle completion, repairs). @default 1000 */
  tickMs?: number;
  /** Overrides for the feed (tests shorten its intervals). */
  feed?: Partial<Omit<FeedOptions, "url" | "products" | "handlers">>;
  /** Silence on every connection that makes `/health` 503. @default 60 */
  staleLimitS?: number;
  /** Store failure duration that makes `/health` 503. @default 300 */
  storeFailLimitS?: number;
  /** Waits (real ms); tests make it instant. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Where the service is in its life. */
export type Phase = "starting" | "running" | "stopping";

/** The spot-server service. */
export class Service {
  readonly hub = new Hub();
  readonly aggregator = new Aggregator();
  readonly writer: CandleWriter;
  readonly repairer: Repairer;
  readonly metrics: ServiceMetrics;
  readonly startedAt: number;
  phase: Phase = "starting";
  /** What startup is doing or waiting for (shown on /health and the dashboard). */
  startupNote = "resolving products";
  /** The products this shard serves, with catalogue fields once REST answered. */
  products: Product[] = [];
  readonly #o: ServiceOptions;
  readonly #clock: Clock;
  readonly #abort = new AbortController();
  #feed?: Feed;
  #ticker?: ReturnType<typeof setInterval>;
  #gate = new SeedGate([]);
  #everConnected = false;
  #startup?: Promise<void>;
  readonly #lastFrameAt = new Map<string, number>();
  #lastTickAt?: number;

  constructor(options: ServiceOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.startedAt = this.#clock();
    // The writer's limits are about the store's real-time write rate: wall clock, always.
    this.writer = new CandleWriter(options.store, {
      flushIntervalMs: options.config.flushIntervalMs,
    });
    this.repairer = new Repairer({
      rest: options.rest,
      aggregator: this.aggregator,
      clock: this.#clock,
      onRepaired: () => this.#dispatch(this.aggregator.drain()),
    });
    this.metrics = new ServiceMetrics(this);
  }

  get config(): Config {
    return this.#o.config;
  }

  get store(): CandleStore {
    return this.#o.store;
  }

  /** Product ids served. */
  get productIds(): string[] {
    return this.products.map((p) => p.productId);
  }

  /** Starts in the background: returns at once; {@linkcode ready} resolves when running. */
  start(): void {
    this.writer.start();
    this.#ticker = setInterval(() => this.#tick(), this.#o.tickMs ?? 1000);
    this.#startup = this.#run().catch((e) => {
      if (this.#abort.signal.aborted) return;
      log.fatal("Startup failed: {error}", { error: e instanceof Error ? e.message : String(e) });
      this.startupNote = `startup failed: ${e instanceof Error ? e.message : String(e)}`;
    });
  }

  /** Resolves when startup (seeding and catch-up) is done or failed. */
  async ready(): Promise<void> {
    await this.#startup;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const config = this.#o.config;
    this.products = await this.#retry(
      "listing products from Coinbase",
      () => resolveProducts(config, this.#o.rest, signal),
    );
    const ids = this.productIds;
    log.info("Serving {count} products (shard {index}/{shards})", {
      count: ids.length,
      index: config.shardIndex,
      shards: config.shardCount,
    });
    this.#gate = new SeedGate(ids);
    this.#feed = new Feed({
      ...this.#o.feed,
      url: config.coinbaseWsUrl,
      products: ids,
      productsPerConnection: config.productsPerConnection,
      key: config.coinbaseKey,
      clock: this.#clock,
      handlers: {
        onTrades: (trades, info) => this.#onTrades(trades, info.connectionId, info.receivedAt),
        onGap: (gap) => {
          this.metrics.gaps.inc(1, { reason: gap.reason });
          this.repairer.schedule(gap);
        },
        onStatus: (s) => {
          if (s.state === "subscribed") this.#everConnected = true;
        },
        onUnknownProducts: (products) =>
          log.warn("Coinbase does not know {products}", { products }),
      },
    });
    this.#feed.start();

    this.startupNote = "seeding in-progress candles from REST";
    const cutoffSec = await seedCutoff(this.#clock, (ms) => this.#sleep(ms), signal);
    // Several products in flight, so the REST limiter (not request latency) bounds seeding.
    let seeded = 0;
    let next = 0;
    const seedOne = async (product: string) => {
      const { droppedThroughMs } = await this.#retry(
        `seeding ${product}`,
        () =>
          seedProduct({
            rest: this.#o.rest,
            aggregator: this.aggregator,
            gate: this.#gate,
            cutoffSec,
            signal,
          }, product),
      );
      if (droppedThroughMs !== undefined) {
        // Its seed buffer overflowed: what it dropped comes back from REST.
        this.repairer.schedule({
          products: [product],
          fromMs: cutoffSec * 1000,
          toMs: droppedThroughMs,
          reason: "startup",
        });
      }
      this.startupNote = `seeding in-progress candles from REST (${++seeded}/${ids.length})`;
      this.#dispatch(this.aggregator.drain());
    };
    await Promise.all(Array.from({ length: Math.min(SEED_CONCURRENCY, ids.length) }, async () => {
      while (next < ids.length) await seedOne(ids[next++]!);
    }));
    // Trades between the cutoff and the first subscription may be missing: repair that minute.
    this.repairer.schedule({
      products: ids,
      fromMs: cutoffSec * 1000,
      toMs: cutoffSec * 1000,
      reason: "startup",
    });

    this.startupNote = "filling history since the last stored candle";
    await this.#catchUp(ids, cutoffSec);
    this.products = await this.#retry(
      "describing products",
      () => describeProducts(this.#o.rest, this.products, signal),
    );
    await this.#retry("writing the catalogue", () => this.#writeCatalogue());
    this.phase = "running";
    this.startupNote = "";
    log.info("Startup done: {count} products seeded at {cutoff}, history caught up", {
      count: ids.length,
      cutoff: new Date(cutoffSec * 1000).toISOString(),
    });
  }

  /** Fills completed candles from REST for the time since the last one stored (bounded). */
  async #catchUp(ids: string[], cutoffSec: number): Promise<void> {
    if (this.#o.config.catchupHours === 0) return;
    const bound = cutoffSec - this.#o.config.catchupHours * 3600;
    for (const g of GRANULARITIES) {
      const toSec = bucketStart(cutoffSec, g) - g.seconds;
      let fromSec = toSec + g.seconds;
      const latests: (number | undefined)[] = [];
      for (let i = 0; i < ids.length; i += 50) {
        const chunk = ids.slice(i, i + 50);
        latests.push(
          ...await Promise.all(chunk.map((p) => this.#o.store.latestCompletedStart(p, g.id))),
        );
      }
      for (const latest of latests) {
        const first = latest === undefined ? bound : Math.max(bound, latest + g.seconds);
        fromSec = Math.min(fromSec, bucketStart(first, g));
      }
      if (fromSec > toSec) continue;
      const summary = await this.#retry(`catching up ${g.short} history`, () =>
        runBackfill({
          rest: this.#o.rest,
          store: this.#o.store,
          products: ids,
          granularities: [g],
          fromSec,
          toSec,
          clock: this.#clock,
          resume: false,
          signal: this.#abort.signal,
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

  async #writeCatalogue(): Promise<void> {
    const now = this.#clock();
    const known = this.products.filter((p) => p.status !== "");
    await this.#o.store.writeCatalogue(known.map((p) => ({
      product_id: p.productId,
      base_currency: p.baseCurrency,
      quote_currency: p.quoteCurrency,
      status: p.status === "delisted" ? "delisted" : "online",
      min_size: p.baseMinSize,
      max_size: p.baseMaxSize,
      last_updated: now,
    })));
  }

  /** Runs `fn` until it succeeds or the service stops, with capped exponential backoff. */
  async #retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (this.#abort.signal.aborted) throw e;
        const waitMs = Math.min(60_000, 1000 * 2 ** Math.min(attempt, 6));
        const error = e instanceof Error ? e.message : String(e);
        this.startupNote = `${what} failed (attempt ${attempt}), retrying in ${
          Math.round(waitMs / 1000)
        } s: ${error}`;
        log.warn("{what} failed (attempt {attempt}), retrying in {waitS} s: {error}", {
          what,
          attempt,
          waitS: Math.round(waitMs / 1000),
          error,
        });
        await this.#sleep(waitMs);
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return (this.#o.sleep ?? abortableSleep)(ms, this.#abort.signal);
  }

  #onTrades(trades: Trade[], connectionId: string, receivedAt: number): void {
    const previous = this.#lastFrameAt.get(connectionId);
    if (previous !== undefined) this.metrics.messageGap.observe((receivedAt - previous) / 1000);
    this.#lastFrameAt.set(connectionId, receivedAt);
    let counted = 0;
    for (const t of trades) {
      if (this.#gate.hold(t)) continue;
      if (this.aggregator.add(t)) counted++;
    }
    this.metrics.trades.inc(counted);
    this.#dispatch(this.aggregator.drain(), receivedAt);
  }

  #dispatch(updates: CandleUpdate[], receivedAt?: number): void {
    if (updates.length === 0) return;
    for (const u of updates) {
      this.writer.push(u);
      if (u.complete) {
        this.metrics.completed.inc(1, {
          granularity: u.granularity,
          correction: String(!!u.correction),
        });
      }
    }
    this.hub.publish(updates);
    if (receivedAt !== undefined) {
      this.metrics.tradeToSse.observe((this.#clock() - receivedAt) / 1000);
    }
  }

  #tick(): void {
    const real = performance.now();
    if (this.#lastTickAt !== undefined) {
      this.metrics.loopLag.observe(
        Math.max(0, real - this.#lastTickAt - (this.#o.tickMs ?? 1000)) / 1000,
      );
    }
    this.#lastTickAt = real;
    const now = this.#clock();
    this.aggregator.tick(now);
    this.#dispatch(this.aggregator.drain());
    if (this.phase !== "stopping") void this.repairer.run(this.#abort.signal);
  }

  /** Per-connection status of the feed (empty before the feed starts). */
  connections(): ConnectionStatus[] {
    return this.#feed?.status() ?? [];
  }

  /** Feed counters, if the feed has started. */
  get feedStats(): Feed["stats"] | undefined {
    return this.#feed?.stats;
  }

  /** The `/health` answer. */
  health(): { code: 200 | 503; body: HealthBody } {
    const w = this.writer.stats();
    const connections = this.connections();
    // The feed keeps each connection's last frame for the process lifetime, in real time.
    const ages = connections.map((c) => c.lastMessageAgeS).filter((a) => a !== null);
    return health({
      phase: this.phase,
      nowMs: this.#clock(),
      startedAtMs: this.startedAt,
      connections,
      everConnected: this.#everConnected,
      lastMessageAgeS: ages.length ? Math.min(...ages) : null,
      storeOk: w.failingSinceMs === null,
      storeFailingSinceMs: w.failingSinceMs,
      pendingWrites: w.pending,
      staleLimitS: this.#o.staleLimitS,
      storeFailLimitS: this.#o.storeFailLimitS,
      notes: this.startupNote ? [this.startupNote] : [],
    });
  }

  /**
   * Stops intake, flushes completed candles and the live state within `deadlineMs`, and closes
   * the feed and the store.
   */
  async stop(deadlineMs = 8000): Promise<void> {
    if (this.phase === "stopping") return;
    this.phase = "stopping";
    const until = Date.now() + deadlineMs;
    this.#abort.abort();
    clearInterval(this.#ticker);
    await this.#feed?.stop();
    this.#dispatch(this.aggregator.drain());
    this.hub.closeAll();
    await this.#startup;
    const result = await this.writer.stop(Math.max(0, until - Date.now()));
    log.info("Stopped: writer flushed with {pending} writes left", { pending: result.pending });
    await this.#o.store.close();
  }
}
