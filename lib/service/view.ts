/**
 * @module
 * The read-only face of the running service that routes and pages receive
 * ({@linkcode ServiceView}), and the shapes it answers in: the `/api/status` body, a product's
 * problem, a candle with its `complete` flag. Routes never reach into the service's parts; tests
 * give them a small fake instead. Also {@linkcode withLive}, the one rule that joins stored
 * candles and the live one for a range (the API and the product page both show it).
 */
import type { Candle, CandleUpdate } from "../candles/candle.ts";
import type { Granularity } from "../candles/granularity.ts";
import type { AggregatorStats } from "../candles/aggregator.ts";
import type { ConnectionStatus, FeedStats } from "../exchange/feed_types.ts";
import type { Product } from "../exchange/product.ts";
import type { FillProgress } from "../history/filler.ts";
import type { RefillerStats } from "../history/refill.ts";
import type { RepairRecord } from "../history/repair.ts";
import type { FleetReport } from "./fleet.ts";
import type { HealthBody } from "./health.ts";
import type { HubFilter } from "./hub.ts";

export type { ConnectionStatus, FillProgress, FleetReport, HubFilter, Product, RepairRecord };

/** The history filler in `/api/status`: its settings and, per product, how far it got. */
export interface HistoryFillStatus {
  /** `HISTORY_DAYS`; 0 = off. */
  horizonDays: number;
  /** Whether the filler has started (it starts once startup is done). */
  running: boolean;
  /** Whether its watermarks survive a restart (the store keeps them). */
  persistent: boolean;
  /** Products complete back to the horizon (holes REST cannot fill aside). */
  complete: number;
  products: {
    product: string;
    state: FillProgress["state"];
    /** ISO time history is complete back to, or null before the newer part is checked. */
    completeBackTo: string | null;
    holes: number;
    /** Percent of horizon × granularities checked. */
    checkedPct: number;
    candlesWritten: number;
    requests: number;
    lastError: string | null;
  }[];
}

/** A served product that is not well, and why (one plain sentence). */
export interface ProductProblem {
  product: string;
  message: string;
}

/** The `/api/status` body (the overview's service summary and connections table). */
export interface StatusBody {
  status: HealthBody["status"];
  /** What startup is doing or waiting for; absent once running. */
  startup?: string;
  uptimeS: number;
  shard: { index: number; count: number };
  /** Number of products served. */
  products: number;
  /** Served products that are not well (seeding failed for good, unknown to Coinbase …). */
  problems: ProductProblem[];
  connections: ConnectionStatus[];
  store: {
    kind: string;
    layout?: string;
    ok: boolean;
    pendingWrites: number;
    writesPerS: number;
    writesTotal?: number;
    failures?: number;
    lastError?: { message: string; atMs: number } | null;
    projectedCostPerDayUsd?: number;
    /** The live flush interval of each granularity, ms (`FLUSH_INTERVAL_MS`). */
    flushIntervalsMs?: Record<string, number>;
    /** What those intervals allow at most per day for `liveProducts`, at list price. */
    costCeilingPerDayUsd?: number;
    /** Products with live documents. */
    liveProducts?: number;
    /** Completed candles dropped from memory past the writer's cap since start. */
    droppedTotal?: number;
    /** The REST refill of dropped candles. */
    refill?: RefillerStats;
  };
  aggregator?: AggregatorStats;
  feed?: FeedStats;
  repairs?: { pending: number; done: number; failed: number; replayed: number };
  sseSubscribers?: number;
  history?: HistoryFillStatus;
  memory?: { rssMB: number; heapUsedMB: number; heapTotalMB: number };
}

/** A candle as the API and the chart show it. */
export interface CandleRow extends Candle {
  complete: boolean;
}

/** Which candles of a product and granularity: bucket starts, epoch s, inclusive. */
export interface CandleRange {
  start?: number;
  end?: number;
  limit: number;
}

/** Where candle updates come from: the live candles now, then every update as it happens. */
export interface CandleSource {
  /** The current live candles matching `filter`. */
  live(filter: HubFilter): CandleUpdate[];
  /**
   * Delivers every later update matching `filter`; `onClose` runs if the service stops first.
   * Returns the function that unsubscribes.
   */
  subscribe(
    filter: HubFilter,
    deliver: (updates: CandleUpdate[]) => void,
    onClose?: () => void,
  ): () => void;
}

/** What routes may ask of the running service. Read-only. */
export interface ServiceView extends CandleSource {
  /** This instance's shard. */
  readonly shard: { index: number; count: number };
  /** The `/health` answer and its HTTP status. */
  health(): { code: 200 | 503; body: HealthBody };
  /** The `/api/status` body. */
  status(): StatusBody;
  /** The products served, with catalogue fields once REST answered. */
  products(): Product[];
  /** Served products that are not well. */
  problems(): ProductProblem[];
  /** The live (in-progress) candle of a product, once it is right (seeded). */
  liveCandle(product: string, granularity: Granularity): Candle | undefined;
  /** Stored completed candles plus the live one, oldest first (see {@linkcode withLive}). */
  candles(product: string, granularity: Granularity, range: CandleRange): Promise<CandleRow[]>;
  /** Seconds since `product` last traded, or undefined before its first trade. */
  lastTradeAgeS(product: string): number | undefined;
  /** The price of `product`'s last trade seen, or undefined before its first trade. */
  lastTradePrice(product: string): number | undefined;
  /**
   * The fleet as the shard registry shows it (every shard's entry and what is wrong); rejects
   * when the store cannot be read.
   */
  fleet(): Promise<FleetReport>;
  /**
   * For a product another shard serves: its candles as the owner's answer would be, read from
   * the store the fleet shares (completed candles, then the live one from its live document),
   * or `undefined` when the store is this process's own (Deno KV) or the catalogue does not
   * list the product.
   */
  storedCandles(
    product: string,
    granularity: Granularity,
    range: CandleRange,
  ): Promise<CandleRow[] | undefined>;
  /** The shard (`{index}-of-{count}`) the registry says serves `product`, if any is live. */
  ownerOf(product: string): Promise<string | undefined>;
  /** Recent gaps of a product and what their repair did, oldest first. */
  repairHistory(product: string): RepairRecord[];
  /** How far the history filler got with a product (undefined: off, or not reached yet). */
  historyFill(product: string): FillProgress | undefined;
  /** The Prometheus exposition text. */
  metrics(): Promise<string>;
}

/**
 * Joins the completed candles of a range (oldest first) and the live candle when it falls in the
 * range after them; at most `limit`: from `start` when given, else the latest.
 */
export function withLive(
  stored: readonly Candle[],
  live: Candle | undefined,
  range: CandleRange,
): CandleRow[] {
  const { start, end, limit } = range;
  const rows: CandleRow[] = stored.map((c) => ({ ...c, complete: true }));
  const last = rows.at(-1)?.start ?? -Infinity;
  if (
    live && live.start > last && (start === undefined || live.start >= start) &&
    (end === undefined || live.start <= end)
  ) {
    rows.push({ ...live, complete: false });
  }
  return start === undefined ? rows.slice(-limit) : rows.slice(0, limit);
}
