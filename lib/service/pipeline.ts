/**
 * @module
 * The hot path: trades from the feed → aggregator → writer + hub, the clock tick that closes
 * candles and runs gap repairs, and the metrics observed on the way. It owns the aggregator,
 * the hub, the writer, the repairer, the trade activity and the metrics; it neither starts the
 * feed nor seeds (that is `startup.ts`), and answers no HTTP.
 */
import { Aggregator } from "../candles/aggregator.ts";
import { GRANULARITIES } from "../candles/granularity.ts";
import type { CandleUpdate } from "../candles/candle.ts";
import type { Trade } from "../candles/trade.ts";
import type { Clock } from "../clock.ts";
import type { FlushIntervals } from "../config.ts";
import type {
  ConnectionStatus,
  FeedGap,
  FeedStats,
  TradeFrameInfo,
} from "../exchange/feed_types.ts";
import type { MarketRest } from "../exchange/exchange.ts";
import { Repairer } from "../history/repair.ts";
import type { CandleStore } from "../store/store.ts";
import { CandleWriter, type CandleWriterOptions } from "../store/writer.ts";
import { TradeActivity } from "./activity.ts";
import { Hub } from "./hub.ts";
import { ServiceMetrics } from "./metrics.ts";

const ALL_GRANULARITIES = (1 << GRANULARITIES.length) - 1;

/** Options for {@linkcode Pipeline}. */
export interface PipelineOptions {
  store: CandleStore;
  rest: MarketRest;
  clock: Clock;
  /** At most one store write per live document per interval (ms): one, or per granularity. */
  flushIntervalMs: number | FlushIntervals;
  /** Per product, seconds after a minute ends before its exchange's REST has all of it. */
  settleSeconds?: (product: string) => number;
  /** How long a busy hub collects updates into one write per SSE client (`SSE_COALESCE_MS`). */
  sseCoalesceMs?: number;
  /** Real milliseconds between clock ticks, for the event-loop lag metric. */
  tickMs: number;
  /** The feed's connections (empty before it starts), for the metrics. */
  connections: () => ConnectionStatus[];
  /** The feed's counters, once it started, for the metrics. */
  feedStats: () => FeedStats | undefined;
  /** The writer's cap and retry timing (tests scale them to a short outage). @default the writer's */
  writer?: Pick<
    CandleWriterOptions,
    "maxPending" | "backoffInitialMs" | "backoffMaxMs" | "stallMs"
  >;
}

/** Trades in, candle updates out to the writer and the hub. */
export class Pipeline {
  readonly aggregator = new Aggregator();
  readonly hub: Hub;
  readonly writer: CandleWriter;
  readonly repairer: Repairer;
  readonly activity: TradeActivity;
  readonly metrics: ServiceMetrics;
  readonly #clock: Clock;
  readonly #tickMs: number;
  /** Products whose seeding failed for good: their trades are dropped, never half-counted. */
  readonly #failed = new Set<string>();
  /** Receipt time of each connection's last frame, overwritten in place (no new number per frame). */
  readonly #lastFrame = new Map<string, { at: number }>();
  #lastTickAt?: number;
  /** Receipt times of the frames whose trades wait for the end of this turn's drain. */
  #turnFrames: number[] = [];
  /** Granularities (bit mask) whose live candles the end of this turn drains. */
  #turnMask = 0;
  #turnScheduled = false;

  constructor(options: PipelineOptions) {
    this.#clock = options.clock;
    this.#tickMs = options.tickMs;
    this.hub = new Hub({ coalesceMs: options.sseCoalesceMs });
    // The writer's limits are about the store's real-time write rate: wall clock, always.
    this.writer = new CandleWriter(options.store, {
      ...options.writer,
      flushIntervalMs: options.flushIntervalMs,
      // Live candles nobody subscribes to are drained for the store only, right before it
      // writes: once per flush interval, and they die young instead of waiting a second.
      beforeCycle: () => this.flush(),
      liveSource: (product, g, into) => this.aggregator.liveInto(product, g, into),
    });
    this.repairer = new Repairer({
      rest: options.rest,
      aggregator: this.aggregator,
      clock: options.clock,
      // Corrections are drained whatever the mask; repaired coarse live candles nobody
      // subscribes to go out with the next tick's full drain.
      onRepaired: () => this.#drainSoon(this.hub.granularityMask),
      settleSeconds: options.settleSeconds,
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
    this.activity.forget(product);
  }

  /** Takes one frame's trades from the feed. */
  onTrades(trades: Trade[], { connectionId, receivedAt, sentAt }: TradeFrameInfo): void {
    // Coinbase's clock may run ahead of ours: a negative age counts as 0.
    if (sentAt !== undefined) {
      this.metrics.frameAge.observe(Math.max(0, receivedAt - sentAt) / 1000);
    }
    const last = this.#lastFrame.get(connectionId);
    if (last === undefined) this.#lastFrame.set(connectionId, { at: receivedAt });
    else {
      this.metrics.messageGap.observe((receivedAt - last.at) / 1000);
      last.at = receivedAt;
    }
    let counted = 0;
    for (const t of trades) {
      if (this.#failed.has(t.product)) continue;
      if (this.aggregator.add(t)) {
        counted++;
        this.activity.traded(t.product, t.price, receivedAt);
      }
    }
    this.metrics.trades.inc(counted);
    // Frames that arrive together (the event loop hands over every socket's ready frame in one
    // turn) are drained and published once, at the end of the turn: nothing goes out to a
    // socket before the turn ends anyway, and one publish means one SSE write per client
    // instead of one per frame.
    // Live candles nobody subscribes to wait for the tick's full drain (the writer writes each
    // live document at most once per flush interval anyway): 1 update per trade, not 8.
    this.#turnFrames.push(receivedAt);
    this.#drainSoon(this.hub.granularityMask);
  }

  /** Drains `mask`'s live candles (and every completion and correction) at the end of the turn. */
  #drainSoon(mask: number): void {
    this.#turnMask |= mask;
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    queueMicrotask(() => this.#endOfTurn());
  }

  #endOfTurn(): void {
    const frames = this.#turnFrames;
    const mask = this.#turnMask;
    this.#turnFrames = [];
    this.#turnMask = 0;
    this.#turnScheduled = false;
    this.#drain(mask);
    const now = this.#clock();
    for (const receivedAt of frames) this.metrics.tradeToSse.observe((now - receivedAt) / 1000);
  }

  /** Takes a gap the feed reported: counted, and queued for REST repair (what it did not replay). */
  onGap(gap: FeedGap): void {
    this.metrics.gaps.inc(1, { reason: gap.reason });
    this.repairer.schedule(gap);
  }

  /** Sends candle updates to the writer and the hub. */
  dispatch(updates: CandleUpdate[]): void {
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
  }

  /** Drains whatever the aggregator has pending, now (before a write cycle, at shutdown). */
  flush(): void {
    this.#drain(ALL_GRANULARITIES);
  }

  /**
   * Drains `mask`'s open candles and every completion and correction: the subscribed
   * granularities' open candles go to the hub and the writer; the others are only marked for
   * the writer, which reads their values when it writes (a full shard's flush would otherwise
   * build ~7,000 candles a second for nobody).
   */
  #drain(mask: number): void {
    const hot = this.hub.granularityMask;
    this.dispatch(
      this.aggregator.drain(mask & hot, { bits: mask & ~hot, mark: this.#markLive }),
    );
  }

  readonly #markLive = (product: string, g: number, start: number): void =>
    this.writer.markLive(product, g, start);

  /**
   * Drains whatever the aggregator has pending at the end of this turn (after a seed: many
   * products seeded in one turn cost one drain).
   */
  flushSoon(): void {
    this.#drainSoon(ALL_GRANULARITIES);
  }

  /**
   * The clock tick: closes due candles, which go out (with the subscribed live candles) at the
   * end of the turn; repairs run unless `signal` says the service stops.
   */
  tick(signal: AbortSignal): void {
    const real = performance.now();
    if (this.#lastTickAt !== undefined) {
      this.metrics.loopLag.observe(Math.max(0, real - this.#lastTickAt - this.#tickMs) / 1000);
    }
    this.#lastTickAt = real;
    this.aggregator.tick(this.#clock());
    this.#drainSoon(this.hub.granularityMask);
    if (!signal.aborted) void this.repairer.run(signal);
  }
}
