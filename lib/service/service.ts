/**
 * @module
 * The running service's lifecycle: `start` (writer, clock tick, the startup sequence of
 * `startup.ts`, this shard's registry heartbeat), `ready`, `stop` (stop intake, mark the registry
 * entry stopped, flush within the deadline, close). It owns the parts (the pipeline of
 * `pipeline.ts`, the feed, the startup, the shard registry) and answers for them as a
 * {@linkcode ServiceView}, the read-only face routes get; it does no HTTP itself. Every dependency
 * is passed in, so tests and the demo run the very same code against the simulator.
 */
import type { Candle, CandleUpdate } from "../candles/candle.ts";
import type { Granularity } from "../candles/granularity.ts";
import { abortableSleep, type Clock, systemClock } from "../clock.ts";
import type { Config } from "../config.ts";
import { createCoinbaseExchange } from "../coinbase/exchange.ts";
import type { Exchange, FeedTuning, LiveFeed, MarketRest } from "../exchange/exchange.ts";
import { type ConnectionStatus, emptyStats, type FeedStats } from "../exchange/feed_types.ts";
import { Markets } from "../exchange/markets.ts";
import type { Product } from "../exchange/product.ts";
import type { RestClient } from "../coinbase/rest.ts";
import { exchangeSelections } from "../history/catalogue.ts";
import { CatalogueRefresher } from "../history/catalogue_refresh.ts";
import { addFillerMetrics, type FillProgress, HistoryFiller } from "../history/filler.ts";
import { Refiller } from "../history/refill.ts";
import { RestPriority } from "../history/rest_priority.ts";
import type { RepairRecord } from "../history/repair.ts";
import { getLogger } from "../log.ts";
import type { CandleStore } from "../store/store.ts";
import type { FleetReport } from "./fleet.ts";
import { health, type HealthBody } from "./health.ts";
import { granularityBits, type HubFilter } from "./hub.ts";
import { Pipeline, type PipelineOptions } from "./pipeline.ts";
import { pendingRepairsOf, shardIdentity, ShardRegistry, shardSnapshot } from "./registry.ts";
import { Startup } from "./startup.ts";
import {
  type CandleRange,
  type CandleRow,
  type HistoryFillStatus,
  type ProductProblem,
  type ServiceView,
  type StatusBody,
  withLive,
} from "./view.ts";

const log = getLogger(["spot", "service"]);

/** Problems listed one by one in the `/health` reason before they are only counted. */
const PROBLEMS_IN_REASON = 3;

/** Options for {@linkcode Service}. */
export interface ServiceOptions {
  config: Config;
  store: CandleStore;
  /**
   * The exchanges served, in order. @default Coinbase alone, from `config` and `rest`
   */
  exchanges?: Exchange[];
  /** Coinbase's REST client, when `exchanges` is not given. */
  rest?: RestClient;
  /** @default systemClock */
  clock?: Clock;
  /** Real milliseconds between clock ticks (candle completion, repairs). @default 1000 */
  tickMs?: number;
  /** Overrides for every exchange's feed (tests shorten its intervals). */
  feed?: FeedTuning;
  /** Silence on every connection that makes `/health` 503. @default 60 */
  staleLimitS?: number;
  /** Store failure duration that makes `/health` 503. @default 300 */
  storeFailLimitS?: number;
  /** Waits (real ms); tests make it instant. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Real milliseconds between catalogue refreshes. @default 3_600_000 */
  catalogueRefreshMs?: number;
  /** The writer's cap of queued completed candles and its retry backoff. @default the writer's */
  writer?: PipelineOptions["writer"];
}

/** Where the service is in its life. */
export type Phase = "starting" | "running" | "stopping";

/** Process memory in MB (RSS and the JavaScript heap), for the status page. */
function memory(): { rssMB: number; heapUsedMB: number; heapTotalMB: number } {
  const m = Deno.memoryUsage();
  const mb = (n: number) => Math.round(n / 1048576);
  return { rssMB: mb(m.rss), heapUsedMB: mb(m.heapUsed), heapTotalMB: mb(m.heapTotal) };
}

/** One exchange's part of the service: its startup, catalogue refresher and feed. */
interface ExchangeRun {
  exchange: Exchange;
  /** Live REST work (startup, repair, catalogue) before the filler's. */
  priority: RestPriority;
  /** The exchange's REST client without the gate: the filler's, which the gate paces itself. */
  background: MarketRest;
  startup: Startup;
  catalogue: CatalogueRefresher;
  /** Completes history back to `HISTORY_DAYS`, made once startup is done. */
  filler?: HistoryFiller;
  feed?: LiveFeed;
}

/** The spot-server service. */
export class Service implements ServiceView {
  readonly startedAt: number;
  readonly #o: ServiceOptions;
  readonly #clock: Clock;
  readonly #abort = new AbortController();
  readonly #markets: Markets;
  readonly #pipeline: Pipeline;
  readonly #refiller: Refiller;
  readonly #runs: ExchangeRun[];
  readonly #registry: ShardRegistry;
  #ticker?: ReturnType<typeof setInterval>;
  #everConnected = false;
  /** Served products that are not well: the first problem of each, in the order found. */
  readonly #problems = new Map<string, string>();
  #stopping = false;
  #failure?: string;
  #run?: Promise<void>;

  constructor(options: ServiceOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.startedAt = this.#clock();
    const exchanges = options.exchanges ?? [defaultCoinbase(options)];
    const priorities = exchanges.map((e) =>
      new RestPriority({ ratePerSecond: e.rest.ratePerSecond })
    );
    // Every live REST call goes through its exchange's priority gate, so the filler waits for it.
    this.#markets = new Markets(
      exchanges.map((e, i) => ({ ...e, rest: priorities[i]!.liveRest(e.rest) })),
    );
    this.#pipeline = new Pipeline({
      store: options.store,
      rest: this.#markets,
      settleSeconds: (product) => this.#markets.of(product).restSettleS,
      clock: this.#clock,
      flushIntervalMs: options.config.flushIntervalMs,
      sseCoalesceMs: options.config.sseCoalesceMs,
      tickMs: options.tickMs ?? 1000,
      connections: () => this.connections(),
      feedStats: () => this.#feedStats(),
      writer: options.writer,
    });
    // Completed candles the writer drops past its cap (a long store outage) come back from REST
    // once the store answers (lib/history/refill.ts).
    this.#refiller = new Refiller({
      rest: this.#markets,
      store: options.store,
      clock: this.#clock,
      signal: this.#abort.signal,
      settleS: Math.max(...this.#markets.exchanges.map((e) => e.restSettleS)),
    });
    this.#pipeline.writer.onDropped((docs) => this.#refiller.add(docs));
    const selections = exchangeSelections({
      ...options.config,
      exchanges: this.#markets.exchanges.map((e) => e.id),
    });
    this.#runs = this.#markets.exchanges.map((exchange, i) => {
      const run = { exchange, priority: priorities[i]! } as ExchangeRun;
      run.background = exchanges[i]!.rest;
      run.startup = new Startup({
        config: options.config,
        rest: exchange.rest,
        selection: selections[i],
        store: options.store,
        clock: this.#clock,
        pipeline: this.#pipeline,
        startFeed: (ids) => {
          this.#startFeed(run, ids);
          run.catalogue.start();
        },
        sleep: (ms) => (options.sleep ?? abortableSleep)(ms, this.#abort.signal),
        signal: this.#abort.signal,
        reportProblem: (product, message) => this.#reportProblem(product, message),
      });
      // Writes trading_pairs/exchanges and the served products' documents at start, then hourly.
      run.catalogue = new CatalogueRefresher({
        rest: exchange.rest,
        store: options.store,
        served: () => run.startup.products.map((p) => p.productId),
        clock: this.#clock,
        intervalMs: options.catalogueRefreshMs,
        onCatalogueWritten: () => this.#registry.forgetCatalogue(),
      });
      return run;
    });
    this.#registry = new ShardRegistry({
      store: options.store,
      identity: shardIdentity(options.config, this.startedAt),
      snapshot: () => shardSnapshot(this),
      // The service's clock, as `startedAt`: the next run's seed cutoff compares its minutes.
      clock: this.#clock,
      intervalMs: options.config.shardHeartbeatMs,
      // Repairs still pending, and the outages of connections down whose gap is not reported
      // yet: the next run re-fetches their minutes (kill -9 or stop first).
      pendingRepairs: pendingRepairsOf({
        repairer: this.#pipeline.repairer,
        writerIdle: () => {
          const w = this.#pipeline.writer.stats();
          return w.pendingCompleted === 0 && w.inFlight === 0;
        },
        clock: this.#clock,
        connections: () => this.connections(),
      }),
    });
    this.#registry.addMetrics(this.#pipeline.metrics.registry);
    addFillerMetrics(
      this.#pipeline.metrics.registry,
      () => this.#runs.flatMap((r) => r.filler ? [r.filler] : []),
    );
  }

  /** The exchanges served, in order. */
  get exchanges(): readonly Exchange[] {
    return this.#markets.exchanges;
  }

  #feedStats(): FeedStats | undefined {
    const feeds = this.#runs.flatMap((r) => r.feed ? [r.feed] : []);
    if (feeds.length === 0) return undefined;
    if (feeds.length === 1) return feeds[0]!.stats;
    const sum = emptyStats();
    for (const f of feeds) {
      for (const k of Object.keys(sum) as (keyof FeedStats)[]) sum[k] += f.stats[k];
    }
    return sum;
  }

  #reportProblem(product: string, message: string): void {
    if (this.#problems.has(product)) return;
    this.#problems.set(product, message);
    log.error("{product}: {problem}", { product, problem: message });
  }

  /** Where the service is in its life. */
  get phase(): Phase {
    if (this.#stopping) return "stopping";
    // Running once every live candle is right (seeded); history catch-up may still go on.
    return this.#runs.every((r) => r.startup.seeded) ? "running" : "starting";
  }

  get shard(): { index: number; count: number } {
    return { index: this.#o.config.shardIndex, count: this.#o.config.shardCount };
  }

  /** Starts in the background: returns at once; {@linkcode ready} resolves when running. */
  start(): void {
    this.#pipeline.writer.start();
    this.#ticker = setInterval(() => {
      this.#pipeline.tick(this.#abort.signal);
      void this.#registry.checkPending();
    }, this.#o.tickMs ?? 1000);
    // The previous run's registry entry says when it was last alive: the seed cutoff needs it.
    const entry = this.#registry.start();
    const previous = entry.then((e) => e?.heartbeatAt);
    // Repairs it left pending: those products' stored candles from there on are fetched again.
    const pending = entry.then((e) => e?.pendingRepairs);
    // Each exchange starts on its own: one exchange's trouble never holds the other back.
    let startupsLeft = this.#runs.length;
    const run = Promise.all(this.#runs.map(async (r) => {
      await r.startup.run(previous, pending);
      // Every exchange's seeding and catch-up fetched the previous run's pending minutes again:
      // this run's registry entry stops carrying them on.
      if (--startupsLeft === 0 && !this.#abort.signal.aborted) {
        this.#registry.previousRepairsDone();
      }
      // History beyond the catch-up's bound, in the background, after the live work.
      if (this.#abort.signal.aborted || this.#o.config.historyDays === 0) return;
      r.filler = new HistoryFiller({
        rest: r.background,
        store: this.#o.store,
        priority: r.priority,
        products: () => r.startup.products.map((p) => p.productId),
        horizonDays: this.#o.config.historyDays,
        liveFromSec: r.startup.cutoffSec,
        clock: this.#clock,
        signal: this.#abort.signal,
      });
      r.filler.start();
    })).then(() => {});
    // Reported here whether or not anyone awaits ready(); ready() still rejects with it.
    run.catch((e) => {
      if (this.#abort.signal.aborted) return;
      const error = e instanceof Error ? e.message : String(e);
      log.fatal("Startup failed: {error}", { error });
      this.#failure = `startup failed: ${error}`;
    });
    this.#run = run;
  }

  /**
   * Resolves when startup (seeding and catch-up) is done; rejects with the error that ended it
   * for good (bad configuration, an answer a retry cannot change). Resolves if stopped first.
   */
  async ready(): Promise<void> {
    try {
      await this.#run;
    } catch (e) {
      if (!this.#abort.signal.aborted) throw e;
    }
  }

  #startFeed(run: ExchangeRun, ids: string[]): void {
    const pipeline = this.#pipeline;
    const { exchange, startup } = run;
    run.feed = exchange.createFeed({
      products: ids,
      clock: this.#clock,
      tuning: this.#o.feed,
      handlers: {
        onTrades: (trades, info) => pipeline.onTrades(trades, info),
        onGap: (gap) => pipeline.onGap(gap),
        onStatus: (s) => {
          if (s.state === "subscribed") this.#everConnected = true;
        },
        onSubscribed: (sub) => startup.subscribed(sub.products, sub.atMs, sub.replayedFrom),
        onUnknownProducts: (products) => {
          for (const p of products) {
            this.#reportProblem(
              p,
              `${exchange.name} refused its subscription: it does not know it`,
            );
          }
        },
      },
    });
    run.feed.start();
  }

  /** Per-connection status of the feed (empty before the feed starts). */
  connections(): ConnectionStatus[] {
    return this.#runs.flatMap((r) => r.feed?.status() ?? []);
  }

  /** What startup is doing, waiting for, or why it failed; empty once running. */
  get startupNote(): string {
    if (this.#failure) return this.#failure;
    if (this.#runs.length === 1) return this.#runs[0]!.startup.note;
    return this.#runs.filter((r) => r.startup.note)
      .map((r) => `${r.exchange.name}: ${r.startup.note}`).join("; ");
  }

  products(): Product[] {
    return this.#runs.flatMap((r) => r.startup.products);
  }

  problems(): ProductProblem[] {
    const problems = [...this.#problems].map(([product, message]) => ({ product, message }));
    for (const { exchange, catalogue } of this.#runs) {
      for (const product of catalogue.delisted()) {
        if (this.#problems.has(product)) continue;
        const message = `delisted by ${exchange.name}: no more trades will come`;
        problems.push({ product, message });
      }
    }
    return problems;
  }

  health(): { code: 200 | 503; body: HealthBody } {
    const w = this.#pipeline.writer.stats();
    const connections = this.connections();
    // The feed keeps each connection's last frame for the process lifetime, in real time.
    const ages = connections.map((c) => c.lastMessageAgeS).filter((a) => a !== null);
    const notes = this.startupNote ? [this.startupNote] : [];
    const problems = this.problems();
    if (problems.length > PROBLEMS_IN_REASON) {
      notes.push(`${problems.length} products have problems (see /api/status)`);
    } else {
      notes.push(...problems.map((p) => `${p.product}: ${p.message}`));
    }
    return health({
      phase: this.phase,
      nowMs: this.#clock(),
      startedAtMs: this.startedAt,
      connections,
      everConnected: this.#everConnected,
      lastMessageAgeS: ages.length ? Math.min(...ages) : null,
      storeOk: w.failingSinceMs === null,
      storeFailingSinceMs: w.failingSinceMs,
      storeFailingForS: w.failingForMs === null ? null : w.failingForMs / 1000,
      storeLastError: w.lastError?.message ?? null,
      pendingWrites: w.pending,
      staleLimitS: this.#o.staleLimitS,
      storeFailLimitS: this.#o.storeFailLimitS,
      notes,
    });
  }

  status(): StatusBody {
    const { writer, repairer, aggregator, hub } = this.#pipeline;
    const { config, store } = this.#o;
    const w = writer.stats();
    return {
      status: this.health().body.status,
      startup: this.startupNote || undefined,
      uptimeS: Math.round((this.#clock() - this.startedAt) / 1000),
      shard: this.shard,
      products: this.products().length,
      problems: this.problems(),
      connections: this.connections(),
      store: {
        kind: store.kind,
        layout: store.kind === "firestore" ? config.firestoreLayout : undefined,
        ok: w.failingSinceMs === null,
        pendingWrites: w.pending,
        writesPerS: w.writesPerS,
        writesTotal: w.writesTotal,
        failures: w.failures,
        lastError: w.lastError,
        projectedCostPerDayUsd: w.projectedCostPerDayUsd,
        flushIntervalsMs: w.flushIntervalsMs,
        costCeilingPerDayUsd: w.costCeilingPerDayUsd,
        liveProducts: w.liveProducts,
        droppedTotal: w.droppedTotal,
        refill: this.#refiller.stats(),
      },
      aggregator: { ...aggregator.stats },
      feed: this.#feedStats() ? { ...this.#feedStats()! } : undefined,
      repairs: {
        pending: repairer.pending,
        done: repairer.repaired,
        failed: repairer.failed,
        replayed: repairer.replayed,
      },
      sseSubscribers: hub.subscribers,
      history: this.#historyStatus(),
      memory: memory(),
    };
  }

  liveCandle(product: string, granularity: Granularity): Candle | undefined {
    return this.#pipeline.aggregator.live(product, granularity);
  }

  async candles(
    product: string,
    granularity: Granularity,
    range: CandleRange,
  ): Promise<CandleRow[]> {
    const stored = await this.#o.store.readCompleted(product, granularity.id, range);
    return withLive(stored, this.liveCandle(product, granularity), range);
  }

  async storedCandles(
    product: string,
    granularity: Granularity,
    range: CandleRange,
  ): Promise<CandleRow[] | undefined> {
    const { store } = this.#o;
    if (store.kind !== "firestore") return undefined;
    const catalogue = await this.#registry.catalogue();
    if (!catalogue.some((e) => e.product_id === product)) return undefined;
    const [stored, live] = await Promise.all([
      store.readCompleted(product, granularity.id, range),
      store.readLive(product),
    ]);
    const doc = live.find((d) => d.granularity === granularity.id);
    return withLive(stored, doc?.candle, range);
  }

  async ownerOf(product: string): Promise<string | undefined> {
    const report = await this.#registry.fleet();
    const owner = report.shards.find((s) =>
      s.status !== "stopped" && s.status !== "silent" && s.products.includes(product)
    );
    return owner?.id;
  }

  live(filter: HubFilter): CandleUpdate[] {
    return this.#pipeline.aggregator.snapshot(filter.products, granularityBits(filter));
  }

  subscribe(
    filter: HubFilter,
    deliver: (updates: CandleUpdate[]) => void,
    onClose?: () => void,
  ): () => void {
    return this.#pipeline.hub.subscribe(filter, deliver, onClose);
  }

  lastTradeAgeS(product: string): number | undefined {
    return this.#pipeline.activity.lastTradeAgeS(product);
  }

  lastTradePrice(product: string): number | undefined {
    return this.#pipeline.activity.lastPrice(product);
  }

  fleet(): Promise<FleetReport> {
    return this.#registry.fleet();
  }

  historyFill(product: string): FillProgress | undefined {
    for (const r of this.#runs) {
      const p = r.filler?.progress(product);
      if (p) return p;
    }
    return undefined;
  }

  #historyStatus(): HistoryFillStatus {
    const statuses = this.#runs.flatMap((r) => r.filler ? [r.filler.status()] : []);
    const products = statuses.flatMap((s) => s.products);
    return {
      horizonDays: this.#o.config.historyDays,
      running: statuses.length > 0,
      persistent: statuses.every((s) => s.persistent),
      complete: products.filter((p) => p.state === "complete").length,
      products: products.map((p) => ({
        product: p.product,
        state: p.state,
        completeBackTo: p.completeBackToSec === null
          ? null
          : new Date(p.completeBackToSec * 1000).toISOString(),
        holes: p.holes.length,
        checkedPct: Math.round(p.checkedShare * 1000) / 10,
        candlesWritten: p.candlesWritten,
        requests: p.requests,
        lastError: p.lastError,
      })),
    };
  }

  repairHistory(product: string): RepairRecord[] {
    return this.#pipeline.repairer.history(product);
  }

  metrics(): Promise<string> {
    return this.#pipeline.metrics.render();
  }

  /**
   * Stops intake, marks this shard's registry entry stopped, flushes completed candles and the
   * live state within `deadlineMs`, and closes the feed and the store.
   */
  async stop(deadlineMs = 8000): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const until = Date.now() + deadlineMs;
    // Written while the writer flushes; the store stays open for it until the deadline.
    const marked = this.#registry.stop();
    this.#abort.abort();
    clearInterval(this.#ticker);
    await Promise.all(
      this.#runs.flatMap((r) => [r.feed?.stop(), r.catalogue.stop(), r.filler?.stop()]),
    );
    this.#pipeline.flush();
    this.#pipeline.hub.closeAll();
    await this.#run?.catch(() => {}); // startup's failure was reported when it happened
    const result = await this.#pipeline.writer.stop(Math.max(0, until - Date.now()));
    log.info("Stopped: writer flushed with {pending} writes left", { pending: result.pending });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => {
      timer = setTimeout(() => r("late"), Math.max(0, until - Date.now()));
    });
    if (await Promise.race([marked, late]) === "late") {
      log.warn("The shard registry entry was not marked stopped before the deadline");
    }
    clearTimeout(timer);
    await this.#o.store.close();
  }
}

/** Coinbase alone, from the configuration and the REST client given. */
function defaultCoinbase(options: ServiceOptions): Exchange {
  if (!options.rest) throw new TypeError("Service needs exchanges, or Coinbase's REST client");
  return createCoinbaseExchange({
    wsUrl: options.config.coinbaseWsUrl,
    rest: options.rest,
    productsPerConnection: options.config.productsPerConnection,
    key: options.config.coinbaseKey,
  });
}
