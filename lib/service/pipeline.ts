/**
 * @module
 * The hot path: trades from the feed → aggregator → writer + hub, the clock tick that closes
 * candles and runs gap repairs, and the metrics observed on the way. It owns the aggregator,
 * the hub, the writer, the repairer, the trade activity and the metrics; it neither starts the
 * feed nor seeds (that is `startup.ts`), and answers no HTTP.
 */
import { Aggregator } from "../candles/aggregator.ts";
import type { CandleUpdate } from "../candles/candle.ts";
import type { Trade } from "../candles/trade.ts";
import type { Clock } from "../clock.ts";
import type { ConnectionStatus, FeedGap, FeedStats } from "../coinbase/feed_types.ts";
import type { RestClient } from "../coinbase/rest.ts";
import { Repairer } from "../history/repair.ts";
import type { CandleStore } from "../store/store.ts";
import { CandleWriter } from "../store/writer.ts";
import { TradeActivity } from "./activity.ts";
import { Hub } from "./hub.ts";
import { ServiceMetrics } from "./metrics.ts";

/** Options for {@linkcode Pipeline}. */
export interface PipelineOptions {
  store: CandleStore;
  rest: RestClient;
  clock: Clock;
  /** At most one store write per live document per interval (ms). */
  flushIntervalMs: number;
  /** Real milliseconds between clock ticks, for the event-loop lag metric. */
  tickMs: number;
  /** The feed's connections (empty before it starts), for the metrics. */
  connections: () => ConnectionStatus[];
  /** The feed's counters, once it started, for the metrics. */
  feedStats: () => FeedStats | undefined;
}

/** Trades in, candle updates out to the writer and the hub. */
export class Pipeline {
  readonly aggregator = new Aggregator();
  readonly hub = new Hub();
  readonly writer: CandleWriter;
  readonly repairer: Repairer;
  readonly activity: TradeActivity;
  readonly metrics: ServiceMetrics;
  readonly #clock: Clock;
  readonly #tickMs: number;
  /** Products whose seeding failed for good: their trades are dropped, never half-counted. */
  readonly #failed = new Set<string>();
  readonly #lastFrameAt = new Map<string, number>();
  #lastTickAt?: number;

  constructor(options: PipelineOptions) {
    this.#clock = options.clock;
    this.#tickMs = options.tickMs;
    // The writer's limits are about the store's real-time write rate: wall clock, always.
    this.writer = new CandleWriter(options.store, { flushIntervalMs: options.flushIntervalMs });
    this.repairer = new Repairer({
      rest: options.rest,
      aggregator: this.aggregator,
      clock: options.clock,
      onRepaired: () => this.dispatch(this.aggregator.drain()),
    });
    this.activity = new TradeActivity(options.clock);
    const { aggregator, repairer, writer, hub } = this;
    this.metrics = new ServiceMetrics({
      get feedStats() {
        return options.feedStats();
      },
      connections: options.connections,
      aggregator,
      repairer,
      writer,
      hub,
    });
  }

  /** Stops taking trades of `product` (its seeding failed for good) and forgets its candles. */
  dropProduct(product: string): void {
    this.#failed.add(product);
    this.aggregator.forget(product);
    this.hub.forget(product);
    this.activity.forget(product);
  }

  /** Takes one frame's trades from the feed. */
  onTrades(trades: Trade[], connectionId: string, receivedAt: number): void {
    const previous = this.#lastFrameAt.get(connectionId);
    if (previous !== undefined) this.metrics.messageGap.observe((receivedAt - previous) / 1000);
    this.#lastFrameAt.set(connectionId, receivedAt);
    let counted = 0;
    for (const t of trades) {
      if (this.#failed.has(t.product)) continue;
      if (this.aggregator.add(t)) {
        counted++;
        this.activity.traded(t.product, t.price);
      }
    }
    this.metrics.trades.inc(counted);
    // Live candles nobody subscribes to wait for the tick's full drain (the writer writes each
    // live document at most once per flush interval anyway): 1 update per trade, not 8.
    this.dispatch(this.aggregator.drain(this.hub.granularityMask), receivedAt);
  }

  /** Takes a gap the feed reported: counted, and queued for REST repair. */
  onGap(gap: FeedGap): void {
    this.metrics.gaps.inc(1, { reason: gap.reason });
    this.repairer.schedule(gap);
  }

  /** Sends candle updates to the writer and the hub. */
  dispatch(updates: CandleUpdate[], receivedAt?: number): void {
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

  /** Drains whatever the aggregator has pending (after a seed, at shutdown). */
  flush(): void {
    this.dispatch(this.aggregator.drain());
  }

  /**
   * The clock tick: closes due candles and drains every pending live candle; repairs run unless
   * `signal` says the service stops.
   */
  tick(signal: AbortSignal): void {
    const real = performance.now();
    if (this.#lastTickAt !== undefined) {
      this.metrics.loopLag.observe(Math.max(0, real - this.#lastTickAt - this.#tickMs) / 1000);
    }
    this.#lastTickAt = real;
    this.aggregator.tick(this.#clock());
    this.flush();
    if (!signal.aborted) void this.repairer.run(signal);
  }
}
