/**
 * @module
 * The feed's public shapes (handlers, per-connection status, counters) and the
 * trades-per-second meter the connections share.
 */
import type { Trade } from "../candles/trade.ts";

/** Lifecycle of one connection. */
export type ConnectionState = "connecting" | "subscribed" | "stale" | "reconnecting" | "closed";

/** Status of one connection, as `/api/status` shows it. */
export interface ConnectionStatus {
  id: string;
  products: string[];
  state: ConnectionState;
  /** Epoch ms of the current socket's open, or null while not connected. */
  connectedSince: number | null;
  /** Reconnects over the process lifetime. */
  reconnects: number;
  /** Seconds since the last frame, or null before the first one. */
  lastMessageAgeS: number | null;
  /** Largest interval between two frames seen (across reconnects), seconds. */
  maxGapS: number;
  /** Sequence gaps over the process lifetime. */
  sequenceGaps: number;
  /** Trades delivered per second (snapshot replays included), averaged over the last 10 s. */
  tradesPerS: number;
  /** Products Coinbase left out of the subscriptions ack (not asked for again). */
  unknownProducts: string[];
  lastError?: string;
  /**
   * While a connection subscribed earlier in this run is not receiving (down, reconnecting, or
   * connected again but not yet resubscribed): the feed-clock time (epoch ms) from which its
   * products' trades may be missing — its last trade frame, less the gap margin — until it is
   * subscribed again and reports the gap. Absent otherwise (`lib/exchange/connection_set.ts`).
   */
  missingFromMs?: number;
}

/** A window in which trades of `products` may be missing (repair it from REST). */
export interface FeedGap {
  connectionId: string;
  /** Products whose trades in the window may be missing: to repair from REST. */
  products: string[];
  /**
   * Products of a reconnect whose subscription snapshot reached back before the window: every
   * trade of the window was delivered (as replays), so there is nothing to repair.
   */
  replayed: string[];
  /** Exchange time, epoch ms (inclusive). */
  fromMs: number;
  /** Exchange time, epoch ms (inclusive). */
  toMs: number;
  reason: "reconnect" | "sequence";
}

/** An acknowledged subscription of one connection. */
export interface FeedSubscription {
  connectionId: string;
  /** The products Coinbase knows, subscribed. */
  products: string[];
  /** When it was acknowledged (the feed's clock, epoch ms). */
  atMs: number;
  /**
   * Per product, the time of the oldest trade its subscription snapshot replayed (absent when
   * the snapshot held none). The snapshot is the product's latest trades, consecutive: every
   * trade after that time up to the subscription was delivered.
   */
  replayedFrom: ReadonlyMap<string, number>;
}

/**
 * Whether `product`'s subscription snapshot replayed every trade from `fromMs` on: its oldest
 * replayed trade is older than that (the snapshot is the latest trades, consecutive, and trade
 * ids and times rise together), so a window starting at `fromMs` needs no REST repair.
 */
export function replayedSince(
  replayedFrom: ReadonlyMap<string, number>,
  product: string,
  fromMs: number,
): boolean {
  const oldest = replayedFrom.get(product);
  return oldest !== undefined && oldest < fromMs;
}

/** Callbacks of a feed. */
/** Where and when a frame of trades came. */
export interface TradeFrameInfo {
  connectionId: string;
  /** Receipt time (the feed's clock, epoch ms). */
  receivedAt: number;
  /** The frame's own `timestamp` (Coinbase's clock, epoch ms), when it had one. */
  sentAt?: number;
}

export interface FeedHandlers {
  /**
   * The valid trades of one frame, parsed, oldest first, as Coinbase sent them: a snapshot
   * replay after a reconnect or a repeated frame delivers trades again (the aggregator drops
   * repeated ids).
   */
  onTrades(trades: Trade[], info: TradeFrameInfo): void;
  onGap?(gap: FeedGap): void;
  /** When Coinbase acknowledges a subscription (after its snapshots). */
  onSubscribed?(subscription: FeedSubscription): void;
  /** On every state change of a connection. */
  onStatus?(status: ConnectionStatus): void;
  onUnknownProducts?(products: string[]): void;
}

/** Counters over all connections of a feed. */
export interface FeedStats {
  frames: number;
  /** Valid trades delivered, replays included. */
  trades: number;
  rejectedTrades: number;
  garbageFrames: number;
  errors: number;
  sequenceGaps: number;
  reconnects: number;
}

/** Fresh zeroed counters. */
export function emptyStats(): FeedStats {
  return {
    frames: 0,
    trades: 0,
    rejectedTrades: 0,
    garbageFrames: 0,
    errors: 0,
    sequenceGaps: 0,
    reconnects: 0,
  };
}

/** Counts events in one-second buckets over the last ten seconds. */
export class RateMeter {
  readonly #buckets = new Float64Array(10);
  readonly #secs = new Float64Array(10).fill(-1);

  /** Adds `n` events now. */
  add(n: number, nowMs: number = performance.now()): void {
    const sec = Math.floor(nowMs / 1000);
    const i = sec % 10;
    if (this.#secs[i] !== sec) {
      this.#secs[i] = sec;
      this.#buckets[i] = 0;
    }
    this.#buckets[i]! += n;
  }

  /** Events per second over the last ten whole seconds. */
  perSecond(nowMs: number = performance.now()): number {
    const sec = Math.floor(nowMs / 1000);
    let sum = 0;
    for (let i = 0; i < 10; i++) {
      const s = this.#secs[i]!;
      if (s >= sec - 10 && s < sec + 1) sum += this.#buckets[i]!;
    }
    return sum / 10;
  }
}
