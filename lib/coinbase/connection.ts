/**
 * @module
 * One Coinbase market-data WebSocket for a fixed set of products, kept alive: subscribes to
 * `market_trades` and `heartbeats` on open (one channel per message, a fresh JWT each when a key
 * is set), checks the `subscriptions` ack for products Coinbase left out, tracks the
 * per-connection `sequence_num` (coinbase-protocol.md §2.5), reconnects a silent socket
 * (watchdog) with the process's backoff (`lib/backoff.ts`), and reports the windows in which trades may
 * have been lost (sequence gaps, reconnects) so the service can repair them from REST.
 * Parsing is `messages.ts`; splitting products and pacing connects are `feed.ts`.
 */
import type { BackoffPolicy } from "../backoff.ts";
import type { Trade } from "../candles/trade.ts";
import type { Clock } from "../clock.ts";
import { getLogger } from "../log.ts";
import type { JwtSigner } from "./auth.ts";
import { parseFrame, type ServerFrame } from "./messages.ts";
import { type FeedHandlers, type FeedStats, replayedSince } from "../exchange/feed_types.ts";
import { ExchangeSocket, StaleJudge } from "../exchange/exchange_socket.ts";

const log = getLogger(["spot", "feed"]);

/** What a {@linkcode Connection} needs; the feed supplies it. */
export interface ConnectionOptions {
  id: string;
  url: string;
  products: string[];
  signer?: JwtSigner;
  clock: Clock;
  staleAfterMs: number;
  backoff: BackoffPolicy;
  /** Margin subtracted from a gap's start (Coinbase batches each product's trades per update). */
  gapMarginMs: number;
  random: () => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Waits for a connect slot (the feed spaces connects out). */
  gate: (signal: AbortSignal) => Promise<void>;
  stats: FeedStats;
  handlers: FeedHandlers;
}

interface Session {
  ws: WebSocket;
  openedAt: number;
  lastSeq?: number;
  acked: boolean;
  requested: string[];
  /** Server time up to which this session's trade frames are complete. */
  cutoffMs?: number;
  /**
   * Per product, the oldest trade time of its subscription snapshot (Coinbase's latest trades,
   * replayed on every subscribe before the ack), until the subscription is reported.
   */
  replayedFrom?: Map<string, number>;
}

/** A self-healing WebSocket for one group of products. */
export class Connection extends ExchangeSocket {
  readonly #o: ConnectionOptions;
  #session?: Session;
  #pendingGapFrom?: number;
  #rejectedLogged = 0;

  constructor(options: ConnectionOptions) {
    super(options);
    this.#o = options;
  }

  protected override currentSocket(): WebSocket | undefined {
    return this.#session?.ws;
  }

  /** One socket's life. Resolves when it is over; true when it got as far as subscribed. */
  protected override connectOnce(first: boolean): Promise<boolean> {
    const products = this.#o.products.filter((p) => !this.unknown.has(p));
    if (!products.length) {
      this.setState("closed");
      return Promise.resolve(false);
    }
    this.setState(first ? "connecting" : "reconnecting");
    return new Promise<boolean>((resolve) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(this.#o.url);
      } catch (e) {
        this.lastError = `Cannot open ${this.#o.url}: ${(e as Error).message}`;
        return resolve(false);
      }
      const session: Session = { ws, openedAt: this.#o.clock(), acked: false, requested: products };
      this.#session = session;
      let lastActivity = performance.now();
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearInterval(watchdog);
        this.connectedSince = null;
        // Where this session's complete trade data ends: the next session reports the rest as a gap.
        if (session.acked && this.#pendingGapFrom === undefined) {
          this.#pendingGapFrom = (session.cutoffMs ?? session.openedAt) - this.#o.gapMarginMs;
        }
        if (this.#session === session) this.#session = undefined;
        resolve(session.acked);
      };
      const tickMs = Math.max(10, Math.floor(this.#o.staleAfterMs / 4));
      const judge = new StaleJudge(this.#o.staleAfterMs, tickMs);
      const watchdog = setInterval(() => {
        const silentMs = judge.check(performance.now(), lastActivity);
        if (silentMs === undefined) return;
        this.lastError = `No message for ${Math.round(silentMs)} ms`;
        log.warning("Connection {connectionId} is stale: {error}", {
          connectionId: this.#o.id,
          error: this.lastError,
        });
        this.setState("stale");
        this.closeSocket(ws, 4000, "stale");
        finish();
      }, tickMs);
      ws.onopen = () => {
        lastActivity = performance.now();
        this.connectedSince = this.#o.clock();
        this.#subscribe(ws, products).catch((e) => {
          this.lastError = `Cannot subscribe: ${(e as Error).message}`;
          log.error("Connection {connectionId} cannot subscribe: {error}", {
            connectionId: this.#o.id,
            error: this.lastError,
          });
          this.closeSocket(ws, 1000, "subscribe failed");
        });
      };
      ws.onmessage = (e) => {
        if (done) return;
        lastActivity = performance.now();
        this.#onMessage(session, typeof e.data === "string" ? e.data : "");
      };
      ws.onerror = (e) => {
        this.lastError = (e as ErrorEvent).message || "WebSocket error";
      };
      ws.onclose = (e) => {
        if (!done && !this.abort.signal.aborted) {
          this.lastError = `Closed by peer (code ${e.code}${e.reason ? `, ${e.reason}` : ""})`;
          log.warning("Connection {connectionId} closed: {error}", {
            connectionId: this.#o.id,
            error: this.lastError,
          });
        }
        finish();
      };
    });
  }

  async #subscribe(ws: WebSocket, products: string[]): Promise<void> {
    const messages: Record<string, unknown>[] = [
      { type: "subscribe", product_ids: products, channel: "market_trades" },
      { type: "subscribe", channel: "heartbeats" },
    ];
    for (const m of messages) {
      // One channel per message, each with its own fresh JWT (§2.2, pitfall 9).
      if (this.#o.signer) m.jwt = await this.#o.signer.forWebSocket();
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(JSON.stringify(m));
    }
  }

  #onMessage(session: Session, text: string): void {
    const now = this.#o.clock();
    const perf = performance.now();
    const stats = this.#o.stats;
    stats.frames++;
    this.noteFrame(perf);
    const frame = parseFrame(text);
    const serverMs = ("timestampMs" in frame ? frame.timestampMs : undefined) ?? now;
    if ("sequenceNum" in frame && frame.sequenceNum !== undefined) {
      this.#trackSequence(session, frame.sequenceNum, serverMs);
    }
    switch (frame.kind) {
      case "garbage":
        stats.garbageFrames++;
        log.warning("Ignored a garbage frame on {connectionId}: {reason}", {
          connectionId: this.#o.id,
          reason: frame.reason,
        });
        return;
      case "error":
        stats.errors++;
        this.lastError = `Coinbase error: ${frame.message}${
          frame.reason ? ` (${frame.reason})` : ""
        }`;
        log.warning("Coinbase sent an error on {connectionId}: {message}", {
          connectionId: this.#o.id,
          message: frame.message,
          reason: frame.reason,
        });
        return;
      case "subscriptions":
        return this.#onAck(session, frame.subscriptions, serverMs);
      case "market_trades":
        return this.#onTrades(session, frame, serverMs, now);
      default:
        return;
    }
  }

  #trackSequence(session: Session, seq: number, serverMs: number): void {
    const last = session.lastSeq;
    if (last !== undefined && seq > last + 1) {
      this.sequenceGaps++;
      this.#o.stats.sequenceGaps++;
      const fromMs = (session.cutoffMs ?? session.openedAt) - this.#o.gapMarginMs;
      log.warning("Sequence gap on {connectionId}: {last} → {seq}", {
        connectionId: this.#o.id,
        last,
        seq,
      });
      this.#emitGap("sequence", fromMs, serverMs);
    }
    if (last === undefined || seq > last) session.lastSeq = seq;
  }

  #emitGap(reason: "sequence" | "reconnect", fromMs: number, toMs: number): void {
    const products = this.#o.products.filter((p) => !this.unknown.has(p));
    this.#o.handlers.onGap?.({
      connectionId: this.#o.id,
      products,
      replayed: [],
      fromMs,
      toMs,
      reason,
    });
  }

  /** Keeps, per product, the oldest trade time a subscription snapshot replayed. */
  #noteReplay(session: Session, trades: readonly Trade[]): void {
    const from = session.replayedFrom ??= new Map();
    for (const t of trades) {
      const oldest = from.get(t.product);
      if (oldest === undefined || t.timeMs < oldest) from.set(t.product, t.timeMs);
    }
  }

  #takeReplayed(session: Session): ReadonlyMap<string, number> {
    const replayedFrom = session.replayedFrom ?? new Map<string, number>();
    session.replayedFrom = undefined;
    return replayedFrom;
  }

  /**
   * Reports what happened while the connection was away. A product whose snapshot replayed
   * every trade since the gap's start ({@linkcode replayedSince}) has them in the aggregator
   * already (deduped, late ones correcting their candles) and needs no REST repair: it is
   * reported as replayed. The others are left to repair.
   */
  #emitReconnectGap(replayedFrom: ReadonlyMap<string, number>, toMs: number): void {
    const fromMs = this.#pendingGapFrom!;
    this.#pendingGapFrom = undefined;
    const products: string[] = [];
    const replayed: string[] = [];
    for (const p of this.#o.products) {
      if (this.unknown.has(p)) continue;
      (replayedSince(replayedFrom, p, fromMs) ? replayed : products).push(p);
    }
    log.info(
      "Reconnect gap on {connectionId}: {replayed} of {total} products replayed by their snapshot, {repair} left to REST repair",
      {
        connectionId: this.#o.id,
        replayed: replayed.length,
        total: replayed.length + products.length,
        repair: products.length,
        fromMs,
        toMs,
      },
    );
    this.#o.handlers.onGap?.({
      connectionId: this.#o.id,
      products,
      replayed,
      fromMs,
      toMs,
      reason: "reconnect",
    });
  }

  #onAck(session: Session, subs: Record<string, string[]>, serverMs: number): void {
    if (session.acked) return;
    session.acked = true;
    // Unknown ids are silently left out of the ack (§2.4, pitfall 7): don't ask for them again.
    const listed = new Set(subs.market_trades ?? []);
    const missing = session.requested.filter((p) => !listed.has(p));
    if (missing.length) {
      for (const p of missing) this.unknown.add(p);
      log.warning("Coinbase does not know {products} (connection {connectionId})", {
        connectionId: this.#o.id,
        products: missing,
      });
      this.#o.handlers.onUnknownProducts?.(missing);
    }
    this.setState("subscribed");
    // Coinbase sends the snapshots before the ack (recorded): all of them are in by now.
    const replayedFrom = this.#takeReplayed(session);
    if (missing.length < session.requested.length) {
      this.#o.handlers.onSubscribed?.({
        connectionId: this.#o.id,
        products: session.requested.filter((p) => listed.has(p)),
        atMs: this.#o.clock(),
        replayedFrom,
      });
      if (this.#pendingGapFrom !== undefined) this.#emitReconnectGap(replayedFrom, serverMs);
    }
    if (missing.length === session.requested.length) {
      this.setState("closed");
      this.abort.abort();
      this.closeSocket(session.ws, 1000, "no known products");
    }
  }

  #onTrades(
    session: Session,
    frame: Extract<ServerFrame, { kind: "market_trades" }>,
    serverMs: number,
    now: number,
  ): void {
    const stats = this.#o.stats;
    if (frame.rejected.length) {
      stats.rejectedTrades += frame.rejected.length;
      for (const r of frame.rejected) {
        if (this.#rejectedLogged++ >= 100) break;
        log.warning("Rejected a trade on {connectionId}: {reason}", {
          connectionId: this.#o.id,
          reason: r.reason,
          product: r.product_id,
          tradeId: r.trade_id,
        });
      }
    }
    // The snapshots come first (one per product, before the ack).
    if (frame.snapshot && !session.acked) this.#noteReplay(session, frame.trades);
    else if (this.#pendingGapFrom !== undefined) {
      // An update before the ack (not what Coinbase does): report the gap now.
      this.#emitReconnectGap(this.#takeReplayed(session), serverMs);
    }
    session.cutoffMs = Math.max(session.cutoffMs ?? -Infinity, serverMs);
    const trades = frame.trades;
    if (!trades.length) return;
    stats.trades += trades.length;
    this.rate.add(trades.length);
    this.#o.handlers.onTrades(trades, {
      connectionId: this.#o.id,
      receivedAt: now,
      sentAt: frame.timestampMs,
    });
  }
}
