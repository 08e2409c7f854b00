/**
 * @module
 * One Kraken WebSocket v2 connection for a fixed set of pairs, kept alive (kraken-protocol.md
 * "WebSocket v2"): subscribes to `trade` with `snapshot:true` in modest batches (each batch
 * after the previous one's acknowledgements), reads the per-symbol acks (an unknown pair fails
 * alone and is not asked for again), pings when it has sent nothing for a while, reconnects a
 * socket silent past the stale limit and every close (Cloudflare's 1001 included) with the
 * process's backoff, resubscribes a symbol that stays silent on an otherwise live socket (the
 * reported silent subscription), and reports the windows in which trades may be missing: a
 * jump in a symbol's `trade_id` (the WebSocket was reported to drop trades), a reconnect, a
 * resubscribe. Parsing is `messages.ts`; splitting pairs and pacing connects are `feed.ts`.
 */
import type { BackoffPolicy } from "../backoff.ts";
import type { Clock } from "../clock.ts";
import {
  type ConnectionState,
  type FeedGap,
  type FeedHandlers,
  type FeedStats,
  replayedSince,
} from "../exchange/feed_types.ts";
import { ExchangeSocket, StaleJudge } from "../exchange/exchange_socket.ts";
import { getLogger } from "../log.ts";
import { type KrakenMessage, type KrakenTrade, parseKrakenMessage } from "./messages.ts";
import { marketKeyToSymbol } from "./symbols.ts";

const log = getLogger(["spot", "feed", "kraken"]);

/** What a {@linkcode KrakenConnection} needs; the feed supplies it. */
export interface KrakenConnectionOptions {
  id: string;
  url: string;
  /** Market keys (`kraken:BTC-USD`). */
  products: string[];
  clock: Clock;
  /** A socket with no frame at all this long (real ms) is stale. */
  staleAfterMs: number;
  /** Ping when nothing was sent this long (real ms). */
  pingIntervalMs: number;
  /** An acknowledged symbol without a trade this long (real ms) is resubscribed. */
  symbolSilenceMs: number;
  /** Symbols per subscribe message. */
  batchSize: number;
  /** Acks (and snapshots) not in this long (real ms): the socket is given up. */
  ackTimeoutMs: number;
  backoff: BackoffPolicy;
  /** Subtracted from every gap's start (clock skew, trades in flight). */
  gapMarginMs: number;
  random: () => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Waits for a connect slot (the feed spaces connects out). */
  gate: (signal: AbortSignal) => Promise<void>;
  stats: FeedStats;
  handlers: FeedHandlers;
}

/** Per product, across sessions: what the trade ids said so far. */
interface Track {
  lastId?: number;
  lastTimeMs?: number;
  /** Watchdog threshold multiplier (doubles while resubscribes find the symbol merely quiet). */
  quiet: number;
}

/** A resubscribe of one symbol by the watchdog, until its snapshot is in. */
interface Resubscribe {
  fromMs: number;
  lastIdBefore?: number;
  sentAt: number;
}

interface Session {
  ws: WebSocket;
  openedAt: number;
  /** Keys still to send in a subscribe batch. */
  unsent: string[];
  /** Keys sent, awaiting their ack. */
  pending: Set<string>;
  /** Keys acknowledged (success). */
  acked: Set<string>;
  /** Acked keys whose snapshot has not come yet, in ack order. */
  snapshotDue: string[];
  /** Keys whose snapshot came (before or after their ack). */
  snapshotSeen: Set<string>;
  /** Per key, the oldest trade time of its subscription snapshot. */
  replayedFrom: Map<string, number>;
  reported: boolean;
  /** Real time of the last progress (send, ack, snapshot) while subscribing. */
  progressAt: number;
  /** Feed clock at the last frame: up to here the session's data is complete. */
  cutoffMs?: number;
  /** Real time of each acked key's last trade (or its ack). */
  heardAt: Map<string, number>;
  resubscribing: Map<string, Resubscribe>;
  lastSentAt: number;
  /** This side closed the socket on purpose (its reason is `lastError` already). */
  selfClosed: boolean;
}

let nextReqId = 1;

/** A self-healing Kraken v2 WebSocket for one group of pairs. */
export class KrakenConnection extends ExchangeSocket {
  readonly #o: KrakenConnectionOptions;
  readonly #symbolOf = new Map<string, string>();
  readonly #keyOf = new Map<string, string>();
  readonly #track = new Map<string, Track>();
  #session?: Session;
  #statusError?: string;
  #pendingGapFrom?: number;
  #rejectedLogged = 0;
  #malformed: string[] = [];

  constructor(options: KrakenConnectionOptions) {
    super(options);
    this.#o = options;
    for (const key of options.products) {
      let symbol: string;
      try {
        symbol = marketKeyToSymbol(key);
      } catch (e) {
        this.unknown.add(key);
        this.#malformed.push(key);
        log.error("Cannot stream {product}: {error}", {
          product: key,
          error: (e as Error).message,
        });
        continue;
      }
      this.#symbolOf.set(key, symbol);
      this.#keyOf.set(symbol, key);
      this.#track.set(key, { quiet: 1 });
    }
  }

  /** Starts connecting (in the background), after reporting the keys that name no pair. */
  override start(): void {
    if (this.#malformed.length) this.#o.handlers.onUnknownProducts?.(this.#malformed);
    this.#malformed = [];
    super.start();
  }

  protected override currentSocket(): WebSocket | undefined {
    return this.#session?.ws;
  }

  protected override statusError(): string | undefined {
    return this.#statusError ?? this.lastError;
  }

  #known(): string[] {
    return this.#o.products.filter((p) => !this.unknown.has(p));
  }

  /** One socket's life. Resolves when it is over; true when it got as far as subscribed. */
  protected override connectOnce(first: boolean): Promise<boolean> {
    const products = this.#known();
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
      const now = performance.now();
      const session: Session = {
        ws,
        openedAt: this.#o.clock(),
        unsent: [...products],
        pending: new Set(),
        acked: new Set(),
        snapshotDue: [],
        snapshotSeen: new Set(),
        replayedFrom: new Map(),
        reported: false,
        progressAt: now,
        heardAt: new Map(),
        resubscribing: new Map(),
        lastSentAt: now,
        selfClosed: false,
      };
      this.#session = session;
      let lastActivity = now;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearInterval(watchdog);
        this.connectedSince = null;
        // Where this session's complete data ends: the next session reports the rest as a gap.
        if (session.reported && this.#pendingGapFrom === undefined) {
          this.#pendingGapFrom = (session.cutoffMs ?? session.openedAt) - this.#o.gapMarginMs;
        }
        if (this.#session === session) this.#session = undefined;
        resolve(session.reported);
      };
      const giveUp = (error: string, state: ConnectionState) => {
        this.lastError = error;
        log.warning("Connection {connectionId}: {error}", { connectionId: this.#o.id, error });
        this.setState(state);
        this.closeSocket(ws, 4000, state);
        finish();
      };
      const tickMs = Math.max(10, Math.floor(Math.min(this.#o.staleAfterMs, 4000) / 4));
      const judge = new StaleJudge(this.#o.staleAfterMs, tickMs);
      const watchdog = setInterval(() => {
        const now = performance.now();
        const silentMs = judge.check(now, lastActivity);
        if (silentMs !== undefined) {
          return giveUp(`No message for ${Math.round(silentMs)} ms`, "stale");
        }
        if (now - lastActivity > this.#o.staleAfterMs) return; // held back: judged next tick
        if (ws.readyState !== WebSocket.OPEN) return;
        const waiting = session.pending.size > 0 || (!session.reported && session.acked.size > 0);
        if (waiting && now - session.progressAt > this.#o.ackTimeoutMs) {
          return giveUp(
            `Subscription not acknowledged within ${this.#o.ackTimeoutMs} ms`,
            "reconnecting",
          );
        }
        if (!session.reported && session.pending.size === 0 && session.snapshotDue.length) {
          // Snapshots that never came (a silent subscription): go on without them.
          if (now - session.progressAt > Math.min(this.#o.ackTimeoutMs, 2000)) {
            session.snapshotDue = [];
            this.#maybeReport(session);
          }
        }
        this.#checkResubscribes(session, now);
        if (session.reported) this.#watchSymbols(session, now);
        if (now - session.lastSentAt > this.#o.pingIntervalMs) {
          this.#send(session, { method: "ping", req_id: nextReqId++ });
        }
      }, tickMs);
      ws.onopen = () => {
        lastActivity = performance.now();
        this.connectedSince = this.#o.clock();
        this.#sendBatch(session);
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
        if (!done && !this.abort.signal.aborted && !session.selfClosed) {
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

  #send(session: Session, msg: Record<string, unknown>): void {
    if (session.ws.readyState !== WebSocket.OPEN) return;
    session.lastSentAt = performance.now();
    session.ws.send(JSON.stringify(msg));
  }

  #subscribeMessage(symbols: string[]): Record<string, unknown> {
    return {
      method: "subscribe",
      params: { channel: "trade", symbol: symbols, snapshot: true },
      req_id: nextReqId++,
    };
  }

  /** Sends the next subscribe batch, once the previous one is acknowledged. */
  #sendBatch(session: Session): void {
    if (session.pending.size > 0 || session.unsent.length === 0) return;
    const keys = session.unsent.splice(0, this.#o.batchSize);
    for (const k of keys) session.pending.add(k);
    session.progressAt = performance.now();
    this.#send(session, this.#subscribeMessage(keys.map((k) => this.#symbolOf.get(k)!)));
  }

  #onMessage(session: Session, text: string): void {
    const now = this.#o.clock();
    const perf = performance.now();
    const stats = this.#o.stats;
    stats.frames++;
    this.noteFrame(perf);
    session.cutoffMs = now;
    let msg: KrakenMessage;
    try {
      msg = parseKrakenMessage(text);
    } catch (e) {
      stats.garbageFrames++;
      log.warning("Ignored a garbage frame on {connectionId}: {reason}", {
        connectionId: this.#o.id,
        reason: (e as Error).message,
      });
      return;
    }
    switch (msg.kind) {
      case "trades":
        return this.#onTrades(session, msg, now);
      case "subscribed":
        return this.#onSubscribed(session, msg.symbol, msg.snapshot);
      case "subscribeFailed":
        return this.#onSubscribeFailed(session, msg.symbol, msg.error);
      case "status":
        return this.#onStatus(msg.system);
      case "error":
        return this.#onError(session, msg.message);
      default:
        return; // heartbeat, pong, unsubscribed, other channels
    }
  }

  #onStatus(system: string): void {
    if (system === "online") {
      if (this.#statusError !== undefined) {
        log.info("Kraken is online again ({connectionId})", { connectionId: this.#o.id });
      }
      this.#statusError = undefined;
      return;
    }
    this.#statusError = `Kraken status: ${system}`;
    log.warning("Kraken reports {system} on {connectionId}", {
      connectionId: this.#o.id,
      system,
    });
    this.#o.handlers.onStatus?.(this.status());
  }

  #onError(session: Session, message: string): void {
    this.#o.stats.errors++;
    this.lastError = `Kraken error: ${message}`;
    log.warning("Kraken sent an error on {connectionId}: {message}", {
      connectionId: this.#o.id,
      message,
    });
    // The message that exceeded the rate was dropped: start over, after a backoff.
    if (/exceeded msg rate/i.test(message)) {
      session.selfClosed = true;
      this.closeSocket(session.ws, 4001, "message rate exceeded");
    }
  }

  #onSubscribed(session: Session, symbol: string, snapshot: boolean): void {
    const key = this.#keyOf.get(symbol);
    if (key === undefined || this.unknown.has(key)) return;
    const resub = session.resubscribing.get(key);
    const wasPending = session.pending.delete(key);
    if (!wasPending && !resub && session.acked.has(key)) return; // a repeated ack
    session.acked.add(key);
    session.heardAt.set(key, performance.now());
    session.progressAt = performance.now();
    if (snapshot && !session.snapshotSeen.has(key)) session.snapshotDue.push(key);
    else if (resub) this.#finishResubscribe(session, key, undefined);
    this.#sendBatch(session);
    this.#maybeReport(session);
  }

  #onSubscribeFailed(session: Session, symbol: string | undefined, error: string): void {
    const key = symbol === undefined ? undefined : this.#keyOf.get(symbol);
    if (key === undefined) {
      this.lastError = `Kraken refused a subscription: ${error}`;
      log.warning("Kraken refused a subscription on {connectionId}: {error}", {
        connectionId: this.#o.id,
        error,
      });
      return;
    }
    if (/already subscribed/i.test(error)) return this.#onSubscribed(session, symbol!, false);
    session.pending.delete(key);
    session.resubscribing.delete(key);
    session.acked.delete(key);
    session.progressAt = performance.now();
    if (!this.unknown.has(key)) {
      this.unknown.add(key);
      log.warning("Kraken does not stream {product} ({error}) on {connectionId}", {
        connectionId: this.#o.id,
        product: key,
        error,
      });
      this.#o.handlers.onUnknownProducts?.([key]);
    }
    this.#sendBatch(session);
    this.#maybeReport(session);
  }

  /** Reports the session's subscription once every batch is acknowledged and snapshots are in. */
  #maybeReport(session: Session): void {
    if (session.reported || session.pending.size || session.unsent.length) return;
    if (session.snapshotDue.some((k) => !session.resubscribing.has(k))) return;
    if (session.acked.size === 0) {
      this.setState("closed");
      this.abort.abort();
      this.closeSocket(session.ws, 1000, "no known products");
      return;
    }
    session.reported = true;
    const atMs = this.#o.clock();
    this.setState("subscribed");
    const products = this.#o.products.filter((p) => session.acked.has(p));
    this.#o.handlers.onSubscribed?.({
      connectionId: this.#o.id,
      products,
      atMs,
      replayedFrom: new Map(session.replayedFrom),
    });
    if (this.#pendingGapFrom !== undefined) this.#emitReconnectGap(session, products, atMs);
  }

  /**
   * What happened while the connection was away. A product whose snapshot replayed every trade
   * since the gap's start ({@linkcode replayedSince}) is reported as replayed; the others are
   * left to repair. (Trade-id jumps inside a snapshot are reported as sequence gaps besides.)
   */
  #emitReconnectGap(session: Session, products: string[], toMs: number): void {
    const fromMs = this.#pendingGapFrom!;
    this.#pendingGapFrom = undefined;
    const repair: string[] = [];
    const replayed: string[] = [];
    for (const p of products) {
      (replayedSince(session.replayedFrom, p, fromMs) ? replayed : repair).push(p);
    }
    log.info(
      "Reconnect gap on {connectionId}: {replayed} of {total} pairs replayed by their snapshot, {repair} left to REST repair",
      {
        connectionId: this.#o.id,
        replayed: replayed.length,
        total: products.length,
        repair: repair.length,
        fromMs,
        toMs,
      },
    );
    this.#gap({ products: repair, replayed, fromMs, toMs, reason: "reconnect" });
  }

  #gap(g: Omit<FeedGap, "connectionId">): void {
    this.#o.handlers.onGap?.({ connectionId: this.#o.id, ...g });
  }

  #onTrades(
    session: Session,
    msg: Extract<KrakenMessage, { kind: "trades" }>,
    now: number,
  ): void {
    const stats = this.#o.stats;
    if (msg.rejected) {
      stats.rejectedTrades += msg.rejected;
      if (this.#rejectedLogged++ < 100) {
        log.warning("Rejected {count} trades on {connectionId}", {
          connectionId: this.#o.id,
          count: msg.rejected,
        });
      }
    }
    const trades = msg.trades.filter((t) =>
      this.#track.has(t.product) && !this.unknown.has(t.product)
    );
    if (msg.type === "snapshot") {
      this.#onSnapshot(session, trades, msg.trades.length === 0 && msg.rejected === 0);
    }
    if (!trades.length) return;
    const perf = performance.now();
    for (const t of trades) session.heardAt.set(t.product, perf);
    this.#trackIds(trades);
    stats.trades += trades.length;
    this.rate.add(trades.length);
    this.#o.handlers.onTrades(trades, { connectionId: this.#o.id, receivedAt: now });
    if (msg.type === "snapshot") {
      for (const key of new Set(trades.map((t) => t.product))) {
        if (session.resubscribing.has(key)) this.#finishResubscribe(session, key, trades);
      }
      this.#maybeReport(session);
    }
  }

  /** Marks the snapshot of its pair as in (an empty one: the earliest still due). */
  #onSnapshot(session: Session, trades: KrakenTrade[], empty: boolean): void {
    session.progressAt = performance.now();
    const keys = [...new Set(trades.map((t) => t.product))];
    if (empty && session.snapshotDue.length) {
      const key = session.snapshotDue.shift()!;
      session.snapshotSeen.add(key);
      if (session.resubscribing.has(key)) this.#finishResubscribe(session, key, []);
      this.#maybeReport(session);
      return;
    }
    for (const key of keys) {
      session.snapshotSeen.add(key);
      const i = session.snapshotDue.indexOf(key);
      if (i >= 0) session.snapshotDue.splice(i, 1);
      if (session.resubscribing.has(key)) continue;
      for (const t of trades) {
        if (t.product !== key) continue;
        const oldest = session.replayedFrom.get(key);
        if (oldest === undefined || t.timeMs < oldest) session.replayedFrom.set(key, t.timeMs);
      }
    }
  }

  /**
   * Follows each pair's `trade_id` (a sequence per book): repeats are replays; a jump means the
   * WebSocket left trades out, reported for that pair alone, from its last trade to the new one.
   */
  #trackIds(trades: readonly KrakenTrade[]): void {
    for (const t of trades) {
      const track = this.#track.get(t.product);
      if (!track) continue;
      const last = track.lastId;
      if (last !== undefined && t.id <= last) continue;
      if (last !== undefined && t.id > last + 1) {
        this.sequenceGaps++;
        this.#o.stats.sequenceGaps++;
        const fromMs = track.lastTimeMs! - this.#o.gapMarginMs;
        log.warning("Trade ids of {product} jumped on {connectionId}: {last} → {id}", {
          connectionId: this.#o.id,
          product: t.product,
          last,
          id: t.id,
        });
        this.#gap({
          products: [t.product],
          replayed: [],
          fromMs,
          toMs: t.timeMs,
          reason: "sequence",
        });
      }
      track.lastId = t.id;
      track.lastTimeMs = t.timeMs;
      track.quiet = 1;
    }
  }

  /** Resubscribes (in one batch per tick) the acknowledged pairs silent past their limit. */
  #watchSymbols(session: Session, now: number): void {
    const due: string[] = [];
    for (const key of session.acked) {
      if (session.resubscribing.has(key)) continue;
      const track = this.#track.get(key)!;
      const heard = session.heardAt.get(key) ?? now;
      if (now - heard > this.#o.symbolSilenceMs * track.quiet) due.push(key);
      if (due.length >= this.#o.batchSize) break;
    }
    if (!due.length) return;
    for (const key of due) {
      const track = this.#track.get(key)!;
      const since = track.lastTimeMs ?? session.openedAt;
      session.resubscribing.set(key, {
        fromMs: since - this.#o.gapMarginMs,
        lastIdBefore: track.lastId,
        sentAt: now,
      });
      session.acked.delete(key);
      session.snapshotSeen.delete(key);
    }
    log.warning("No trade of {products} for {silentMs} ms on {connectionId}: resubscribing", {
      connectionId: this.#o.id,
      products: due,
      silentMs: this.#o.symbolSilenceMs,
    });
    const symbols = due.map((k) => this.#symbolOf.get(k)!);
    this.#send(session, {
      method: "unsubscribe",
      params: { channel: "trade", symbol: symbols },
      req_id: nextReqId++,
    });
    this.#send(session, this.#subscribeMessage(symbols));
  }

  /** Gives up on resubscribes whose ack or snapshot never came: the window goes to repair. */
  #checkResubscribes(session: Session, now: number): void {
    for (const [key, r] of session.resubscribing) {
      if (now - r.sentAt <= this.#o.ackTimeoutMs) continue;
      const i = session.snapshotDue.indexOf(key);
      if (i >= 0) session.snapshotDue.splice(i, 1);
      session.acked.add(key);
      session.heardAt.set(key, now);
      this.#finishResubscribe(session, key, undefined);
    }
  }

  /**
   * Reports a resubscribed pair's silent window: replayed when its snapshot reached back before
   * the window, else to repair. A snapshot with nothing newer than what was seen means the pair
   * is merely quiet: the watchdog waits twice as long for it next time (up to 16 times).
   */
  #finishResubscribe(session: Session, key: string, snapshot: KrakenTrade[] | undefined): void {
    const r = session.resubscribing.get(key);
    if (!r) return;
    session.resubscribing.delete(key);
    const track = this.#track.get(key)!;
    const mine = (snapshot ?? []).filter((t) => t.product === key);
    let oldest: number | undefined;
    let newest = -Infinity;
    for (const t of mine) {
      if (oldest === undefined || t.timeMs < oldest) oldest = t.timeMs;
      if (t.id > newest) newest = t.id;
    }
    if (snapshot !== undefined && (r.lastIdBefore === undefined || newest <= r.lastIdBefore)) {
      track.quiet = Math.min(16, track.quiet * 2);
    } else if (mine.length) track.quiet = 1;
    const replayed = oldest !== undefined && oldest < r.fromMs;
    this.#gap({
      products: replayed ? [] : [key],
      replayed: replayed ? [key] : [],
      fromMs: r.fromMs,
      toMs: this.#o.clock(),
      reason: "reconnect",
    });
  }
}
