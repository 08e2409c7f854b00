/**
 * @module
 * The service's Prometheus metrics: counters updated on the hot path, gauges read from the feed,
 * writer, aggregator and hub at scrape time, and the latency histograms.
 */
import type { AggregatorStats } from "../candles/aggregator.ts";
import type { ConnectionStatus, FeedStats } from "../exchange/feed_types.ts";
import type { WriterStats } from "../store/writer.ts";
import { Counter, Gauge, Histogram, Registry, ScrapedCounter } from "./prometheus.ts";

const LATENCY = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1];
const GAP = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

/** What the scrape-time gauges read (the pipeline's parts and the feed, once started). */
export interface MetricsSources {
  readonly feedStats: FeedStats | undefined;
  connections(): ConnectionStatus[];
  readonly aggregator: { readonly stats: AggregatorStats };
  readonly repairer: {
    readonly repaired: number;
    readonly pending: number;
    readonly replayed: number;
  };
  readonly writer: { stats(): WriterStats };
  readonly hub: { readonly subscribers: number };
}

/** Metrics of one running service. */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly trades: Counter;
  readonly completed: Counter;
  readonly gaps: Counter;
  readonly tradeToSse: Histogram;
  readonly messageGap: Histogram;
  readonly frameAge: Histogram;
  readonly loopLag: Histogram;

  constructor(service: MetricsSources) {
    const r = this.registry;
    this.trades = r.add(new Counter("spot_trades_total", "Trades counted into candles"));
    this.completed = r.add(
      new Counter(
        "spot_candles_completed_total",
        "Completed candles emitted (corrections labelled)",
        ["granularity", "correction"],
      ),
    );
    this.gaps = r.add(
      new Counter(
        "spot_feed_gaps_total",
        "Feed gaps reported (reconnects, sequence gaps), replayed or left to REST repair",
        ["reason"],
      ),
    );
    this.tradeToSse = r.add(
      new Histogram(
        "spot_trade_to_sse_seconds",
        "Trade frame received to candle update published",
        LATENCY,
      ),
    );
    this.loopLag = r.add(
      new Histogram(
        "spot_event_loop_lag_seconds",
        "How late the 1 s clock tick ran (event loop blocked)",
        LATENCY,
      ),
    );
    this.messageGap = r.add(
      new Histogram(
        "spot_trade_frame_gap_seconds",
        "Interval between trade frames on a connection",
        GAP,
      ),
    );
    this.frameAge = r.add(
      new Histogram(
        "spot_trade_frame_age_seconds",
        "Trade frame received minus the frame's own timestamp (network, Coinbase's sending, clock skew; negative counted as 0)",
        LATENCY,
      ),
    );
    const feed = () => service.feedStats;
    r.add(
      new ScrapedCounter("spot_feed_frames_total", "Frames received", () => feed()?.frames ?? 0),
    );
    r.add(
      new ScrapedCounter(
        "spot_feed_reconnects_total",
        "Reconnects over the process lifetime",
        () => feed()?.reconnects ?? 0,
      ),
    );
    r.add(
      new ScrapedCounter(
        "spot_feed_sequence_gaps_total",
        "Sequence gaps over the process lifetime",
        () => feed()?.sequenceGaps ?? 0,
      ),
    );
    r.add(
      new ScrapedCounter(
        "spot_feed_rejected_trades_total",
        "Trades rejected as malformed",
        () => feed()?.rejectedTrades ?? 0,
      ),
    );
    r.add(
      new ScrapedCounter(
        "spot_feed_garbage_frames_total",
        "Frames that were not valid JSON frames",
        () => feed()?.garbageFrames ?? 0,
      ),
    );
    r.add(
      new Gauge("spot_connections", "Exchange WebSocket connections by state", () => {
        const counts = new Map<string, number>();
        for (const c of service.connections()) counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
        return [...counts].map(([state, n]) => [{ state }, n]);
      }, ["state"]),
    );
    r.add(
      new ScrapedCounter(
        "spot_aggregator_duplicates_total",
        "Duplicate trades dropped",
        () => service.aggregator.stats.duplicates,
      ),
    );
    r.add(
      new ScrapedCounter(
        "spot_aggregator_late_trades_total",
        "Late trades applied as corrections",
        () => service.aggregator.stats.late,
      ),
    );
    r.add(
      new ScrapedCounter(
        "spot_repairs_total",
        "Gap windows repaired from REST",
        () => service.repairer.repaired,
      ),
    );
    r.add(
      new ScrapedCounter(
        "spot_gaps_replayed_total",
        "Gap windows the subscription snapshot replayed whole (no REST repair needed)",
        () => service.repairer.replayed,
      ),
    );
    r.add(
      new Gauge(
        "spot_repairs_pending",
        "Gap windows waiting for repair",
        () => service.repairer.pending,
      ),
    );
    r.add(
      new ScrapedCounter(
        "spot_store_writes_total",
        "Documents written to the store",
        () => service.writer.stats().writesTotal,
      ),
    );
    r.add(
      new ScrapedCounter(
        "spot_store_write_failures_total",
        "Failed store batches",
        () => service.writer.stats().failures,
      ),
    );
    r.add(
      new Gauge(
        "spot_store_pending_writes",
        "Documents waiting to be written",
        () => service.writer.stats().pending,
      ),
    );
    r.add(
      new Gauge("spot_sse_subscribers", "Connected SSE subscribers", () => service.hub.subscribers),
    );
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.render();
  }
}
