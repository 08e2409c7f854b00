/**
 * @module
 * {@linkcode ExchangeSocket}: the life every exchange's market-data WebSocket connection shares,
 * whatever its protocol — connect when the feed's gate allows, one socket's life at a time
 * (the subclass's {@linkcode ExchangeSocket.connectOnce}), reconnect with the process's backoff
 * (reset once a socket got as far as subscribed), stop, the {@linkcode ConnectionStatus} the
 * dashboard shows, closing sockets with a bounded wait — and {@linkcode StaleJudge}, the
 * watchdog's rule for a silent socket. Subscribing, parsing frames, sequence tracking and gaps
 * stay in each exchange's connection (`lib/coinbase/connection.ts`, `lib/kraken/connection.ts`).
 */
import { backoffDelay, type BackoffPolicy } from "../backoff.ts";
import { getLogger } from "../log.ts";
import {
  type ConnectionState,
  type ConnectionStatus,
  type FeedHandlers,
  type FeedStats,
  RateMeter,
} from "./feed_types.ts";

const log = getLogger(["spot", "feed"]);

/** What {@linkcode ExchangeSocket} needs of a connection's options (the feed supplies them). */
export interface ExchangeSocketOptions {
  id: string;
  url: string;
  /** Market keys. */
  products: string[];
  backoff: BackoffPolicy;
  random: () => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Waits for a connect slot (the feed spaces connects out). */
  gate: (signal: AbortSignal) => Promise<void>;
  stats: FeedStats;
  handlers: FeedHandlers;
}

/** A self-healing WebSocket for one group of products; see the module comment. */
export abstract class ExchangeSocket {
  readonly #base: ExchangeSocketOptions;
  /** Aborted by {@linkcode stop}: no reconnect after it. */
  protected readonly abort = new AbortController();
  /** Products the exchange does not know (never asked for again). */
  protected readonly unknown = new Set<string>();
  protected readonly rate = new RateMeter();
  readonly #closing = new Set<Promise<void>>();
  #state: ConnectionState = "connecting";
  #run?: Promise<void>;
  /** Feed clock when the current socket opened; null while there is none. */
  protected connectedSince: number | null = null;
  protected reconnects = 0;
  protected sequenceGaps = 0;
  /** Real time (performance.now) of the last frame, and the longest wait between two. */
  protected lastMessagePerf?: number;
  protected maxGapMs = 0;
  protected lastError?: string;

  constructor(base: ExchangeSocketOptions) {
    this.#base = base;
  }

  /** One socket's life: resolves when it is over, true when it got as far as subscribed. */
  protected abstract connectOnce(first: boolean): Promise<boolean>;

  /** The socket open now, if any ({@linkcode stop} closes it). */
  protected abstract currentSocket(): WebSocket | undefined;

  /** The error the status shows. @default the last error */
  protected statusError(): string | undefined {
    return this.lastError;
  }

  /** Starts connecting (in the background). */
  start(): void {
    this.#run ??= this.#loop();
  }

  /** Closes the socket and stops reconnecting; resolves when everything is closed. */
  async stop(): Promise<void> {
    this.abort.abort();
    const ws = this.currentSocket();
    if (ws) this.closeSocket(ws, 1000, "client stopping");
    await this.#run;
    await Promise.all(this.#closing);
    this.setState("closed");
  }

  /** The connection's current status. */
  status(): ConnectionStatus {
    const s: ConnectionStatus = {
      id: this.#base.id,
      products: this.#base.products,
      state: this.#state,
      connectedSince: this.connectedSince,
      reconnects: this.reconnects,
      lastMessageAgeS: this.lastMessagePerf === undefined
        ? null
        : (performance.now() - this.lastMessagePerf) / 1000,
      maxGapS: this.maxGapMs / 1000,
      sequenceGaps: this.sequenceGaps,
      tradesPerS: this.rate.perSecond(),
      unknownProducts: [...this.unknown],
    };
    const error = this.statusError();
    if (error !== undefined) s.lastError = error;
    return s;
  }

  /** The state now. */
  protected get state(): ConnectionState {
    return this.#state;
  }

  /** Moves to `state`, telling the feed's `onStatus` when it changed. */
  protected setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#base.handlers.onStatus?.(this.status());
  }

  /** Counts a frame received now (real ms): its wait since the previous one, the longest kept. */
  protected noteFrame(perf: number): void {
    if (this.lastMessagePerf !== undefined) {
      this.maxGapMs = Math.max(this.maxGapMs, perf - this.lastMessagePerf);
    }
    this.lastMessagePerf = perf;
  }

  /** Closes `ws`; {@linkcode stop} waits for the close (2 s at most). */
  protected closeSocket(ws: WebSocket, code: number, reason: string): void {
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

  async #loop(): Promise<void> {
    const o = this.#base;
    const signal = this.abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      await o.gate(signal);
      if (signal.aborted) break;
      const subscribed = await this.connectOnce(attempt === 0 && this.reconnects === 0);
      if (signal.aborted || this.#state === "closed") break;
      if (subscribed) attempt = 0;
      attempt++;
      this.reconnects++;
      o.stats.reconnects++;
      this.setState("reconnecting");
      const delay = backoffDelay(attempt, o.backoff, o.random);
      log.info("Reconnecting {connectionId} in {delayMs} ms", {
        connectionId: o.id,
        delayMs: Math.round(delay),
        attempt,
        lastError: this.lastError,
      });
      await o.sleep(delay, signal);
    }
  }
}

/**
 * The watchdog's rule, per socket, checked every `tickMs`: a socket silent longer than
 * `staleAfterMs` is stale — unless this check came a whole tick late, which means this process's
 * event loop was held (a long task, a garbage collection) and the server's frames may be waiting
 * unread: then it is judged at the next check, once they have had a turn. One check only, so a
 * loop held all the time still detects a silent server.
 */
export class StaleJudge {
  readonly #staleAfterMs: number;
  readonly #tickMs: number;
  #lastTick = performance.now();
  #heldBack = false;

  constructor(staleAfterMs: number, tickMs: number) {
    this.#staleAfterMs = staleAfterMs;
    this.#tickMs = tickMs;
  }

  /** At a check (`now`, real ms): how long the socket has been silent if stale, else undefined. */
  check(now: number, lastActivity: number): number | undefined {
    const late = now - this.#lastTick - this.#tickMs;
    this.#lastTick = now;
    const silentMs = now - lastActivity;
    if (silentMs <= this.#staleAfterMs) {
      this.#heldBack = false;
      return undefined;
    }
    if (late > this.#tickMs && !this.#heldBack) {
      this.#heldBack = true;
      return undefined;
    }
    this.#heldBack = false;
    return silentMs;
  }
}
