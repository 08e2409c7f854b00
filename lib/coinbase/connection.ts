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
import { backoffDelay, type BackoffPolicy } from "../backoff.ts";
import type { Trade } from "../candles/trade.ts";
import type { Clock } from "../clock.ts";
import { getLogger } from "../log.ts";
import type { JwtSigner } from "./auth.ts";
import { parseFrame, type ServerFrame } from "./messages.ts";
import {
  type ConnectionState,
  type ConnectionStatus,
  type FeedHandlers,
  type FeedStats,
  RateMeter,
  replayedSince,
} from "../exchange/feed_types.ts";

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
export class Connection {
  readonly #o: ConnectionOptions;
  readonly #abort = new AbortController();
  readonly #unknown = new Set<string>();
  readonly #rate = new RateMeter();
  readonly #closing = new Set<Promise<void>>();
  #state: ConnectionState = "connecting";
  #session?: Session;
  #run?: Promise<void>;
  #connectedSince: number | null = null;
  #reconnects = 0;
  #sequenceGaps = 0;
  #lastMessagePerf?: number;
  #maxGapMs = 0;
  #lastError?: string;
  #pendingGapFrom?: number;
  #rejectedLogged = 0;

  constructor(options: ConnectionOptions) {
    this.#o = options;
  }

  /** Starts connecting (in the background). */
  start(): void {
    this.#run ??= this.#loop();
  }

  /** Closes the socket and stops reconnecting; resolves when everything is closed. */
  async stop(): Promise<void> {
    this.#abort.abort();
    if (this.#session) this.#closeSocket(this.#session.ws, 1000, "client stopping");
    await this.#run;
    await Promise.all(this.#closing);
    this.#setState("closed");
  }

  /** The connection's current status. */
  status(): ConnectionStatus {
    const s: ConnectionStatus = {
      id: this.#o.id,
      products: this.#o.products,
      state: this.#state,
      connectedSince: this.#connectedSince,
      reconnects: this.#reconnects,
      lastMessageAgeS: this.#lastMessagePerf === undefined
        ? null
        : (performance.now() - this.#lastMessagePerf) / 1000,
      maxGapS: this.#maxGapMs / 1000,
      sequenceGaps: this.#sequenceGaps,
      tradesPerS: this.#rate.perSecond(),
      unknownProducts: [...this.#unknown],
    };
    if (this.#lastError !== undefined) s.lastError = this.#lastError;
    return s;
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#o.handlers.onStatus?.(this.status());
  }

  async #loop(): Promise<void> {
    const signal = this.#abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      await this.#o.gate(signal);
      if (signal.aborted) break;
      const subscribed = await this.#connectOnce(attempt === 0 && this.#reconnects === 0);
      if (signal.aborted || this.#state === "closed") break;
      if (subscribed) attempt = 0;
      attempt++;
      this.#reconnects++;
      this.#o.stats.reconnects++;
      this.#setState("reconnecting");
      const delay = backoffDelay(attempt, this.#o.backoff, this.#o.random);
      log.info("Reconnecting {connectionId} in {delayMs} ms", {
        connectionId: this.#o.id,
        delayMs: Math.round(delay),
        attempt,
        lastError: this.#lastError,
      });
      await this.#o.sleep(delay, signal);
    }
  }

  /** One socket's life. Resolves when it is over; true when it got as far as subscribed. */
  #connectOnce(first: boolean): Promise<boolean> {
    const products = this.#o.products.filter((p) => !this.#unknown.has(p));
    if (!products.length) {
      this.#setState("closed");
      return Promise.resolve(false);
    }
    this.#setState(first ? "connecting" : "reconnecting");
    return new Promise<boolean>((resolve) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(this.#o.url);
      } catch (e) {
        this.#lastError = `Cannot open ${this.#o.url}: ${(e as Error).message}`;
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
        this.#connectedSince = null;
        // Where this session's complete trade data ends: the next session reports the rest as a gap.
        if (session.acked && this.#pendingGapFrom === undefined) {
          this.#pendingGapFrom = (session.cutoffMs ?? session.openedAt) - this.#o.gapMarginMs;
        }
        if (this.#session === session) this.#session = undefined;
        resolve(session.acked);
      };
      const tickMs = Math.max(10, Math.floor(this.#o.staleAfterMs / 4));
      let lastTick = performance.now();
      let heldBack = false;
      const watchdog = setInterval(() => {
        const now = performance.now();
        const late = now - lastTick - tickMs;
        lastTick = now;
        const silentMs = now - lastActivity;
        if (silentMs <= this.#o.staleAfterMs) {
          heldBack = false;
          return;
        }
        // A tick that comes a whole tick late means this process's event loop was held (a long
        // task, a garbage collection): the server's messages may be waiting unread in the
        // socket. Judge at the next tick, once they have had a turn; one tick only, so a loop
        // held all the time still detects a silent server.
        if (late > tickMs && !heldBack) {
          heldBack = true;
          return;
        }
        heldBack = false;
        this.#lastError = `No message for ${Math.round(silentMs)} ms`;
        log.warning("Connection {connectionId} is stale: {error}", {
          connectionId: this.#o.id,
          error: this.#lastError,
        });
        this.#setState("stale");
        this.#closeSocket(ws, 4000, "stale");
        finish();
      }, tickMs);
      ws.onopen = () => {
        lastActivity = performance.now();
        this.#connectedSince = this.#o.clock();
        this.#subscribe(ws, products).catch((e) => {
          this.#lastError = `Cannot subscribe: ${(e as Error).message}`;
          log.error("Connection {connectionId} cannot subscribe: {error}", {
            connectionId: this.#o.id,
            error: this.#lastError,
          });
          this.#closeSocket(ws, 1000, "subscribe failed");
        });
      };
      ws.onmessage = (e) => {
        if (done) return;
        lastActivity = performance.now();
        this.#onMessage(session, typeof e.data === "string" ? e.data : "");
      };
      ws.onerror = (e) => {
        this.#lastError = (e as ErrorEvent).message || "WebSocket error";
      };
      ws.onclose = (e) => {
        if (!done && !this.#abort.signal.aborted) {
          this.#lastError = `Closed by peer (code ${e.code}${e.reason ? `, ${e.reason}` : ""})`;
          log.warning("Connection {connectionId} closed: {error}", {
            connectionId: this.#o.id,
            error: this.#lastError,
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

  #closeSocket(ws: WebSocket, code: number, reason: string): void {
    if (ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      ws.addEventListener("close", () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
    this.#closing.add(closed);
    closed.then(() => this.#closing.delete(closed));
    try {
      ws.close(code, reason);
    } catch {
      // already closing
    }
  }

  #onMessage(session: Session, text: string): void {
    const now = this.#o.clock();
    const perf = performance.now();
    const stats = this.#o.stats;
    stats.frames++;
    if (this.#lastMessagePerf !== undefined) {
      this.#maxGapMs = Math.max(this.#maxGapMs, perf - this.#lastMessagePerf);
    }
    this.#lastMessagePerf = perf;
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
        this.#lastError = `Coinbase error: ${frame.message}${
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
      this.#sequenceGaps++;
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
    const products = this.#o.products.filter((p) => !this.#unknown.has(p));
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
      if (this.#unknown.has(p)) continue;
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
      for (const p of missing) this.#unknown.add(p);
      log.warning("Coinbase does not know {products} (connection {connectionId})", {
        connectionId: this.#o.id,
        products: missing,
      });
      this.#o.handlers.onUnknownProducts?.(missing);
    }
    this.#setState("subscribed");
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
      this.#setState("closed");
      this.#abort.abort();
      this.#closeSocket(session.ws, 1000, "no known products");
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
    this.#rate.add(trades.length);
    this.#o.handlers.onTrades(trades, {
      connectionId: this.#o.id,
      receivedAt: now,
      sentAt: frame.timestampMs,
    });
  }
}
