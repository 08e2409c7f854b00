/**
 * @module
 * What every exchange's feed does with its connections alike: open them at most one per
 * `connectIntervalMs` feed-wide (first connects and reconnects share the pacing), start, stop and
 * report them. Coinbase's `Feed` and Kraken's `KrakenFeed` extend it and only build their
 * connections.
 *
 * It also watches what the connections tell the handlers, to say in each status from when trades
 * may be missing while a connection is not receiving (`ConnectionStatus.missingFromMs`): from
 * the moment a connection that was subscribed in this run leaves `subscribed` (stale, closed by
 * the peer, reconnecting, resubscribing its products) until it is subscribed again — when it
 * reports the reconnect gap, in the same step, and the repairer takes the window over. The shard
 * registry persists this meanwhile, so that a kill -9 during the outage leaves the next run a
 * pending repair instead of trusting the minutes stored without the missed trades. The start
 * is the connection's last trade frame (its send time, or receipt when earlier; the socket's open
 * when the session had none), less the gap margin: no later than the `fromMs` the reconnect gap
 * then reports (which counts every frame, heartbeats too). A connection never subscribed in this
 * run says nothing (the startup's seeding and repair cover it), nor does one `closed` for good.
 */
import { abortableSleep } from "../clock.ts";
import {
  type ConnectionStatus,
  emptyStats,
  type FeedHandlers,
  type FeedStats,
} from "./feed_types.ts";

/** One connection of a feed. */
export interface FeedConnection {
  start(): void;
  stop(): Promise<void>;
  status(): ConnectionStatus;
}

/** Options for {@linkcode ConnectionSet}. */
export interface ConnectionSetOptions {
  /** Minimum real time between two socket opens, feed-wide. */
  connectIntervalMs: number;
  /** Waits (real ms); resolves, never rejects, when `signal` aborts. @default abortableSleep */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** The feed's handlers: the connections get them through {@linkcode ConnectionSet.handlers}. */
  handlers: FeedHandlers;
  /** Subtracted from an outage's start, as the connections do from every gap's. */
  gapMarginMs: number;
}

/** What the set saw of one connection, for `missingFromMs`. */
interface Watch {
  /** Its current socket's open (feed clock) at its latest subscription. */
  sessionFromMs?: number;
  /** The newest trade frame it delivered (feed clock; the exchange's when earlier). */
  lastFrameMs?: number;
  /** While not receiving after a subscription: from when trades may be missing. */
  missingFromMs?: number;
}

/** A feed's connections, paced and started together. */
export abstract class ConnectionSet<C extends FeedConnection> {
  /** Counters over every connection. */
  readonly stats: FeedStats = emptyStats();
  /** Filled by the subclass's constructor. */
  protected readonly connections: C[] = [];
  /** Waits (real ms) until `signal` aborts; resolves, never rejects, on abort. */
  protected readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Waits for the next connect slot; what each connection calls before opening a socket. */
  protected readonly gate = (signal: AbortSignal): Promise<void> => this.#slot(signal);
  /** The feed's handlers, watched (see the module): what each connection is given. */
  protected readonly handlers: FeedHandlers;
  readonly #abort = new AbortController();
  readonly #interval: number;
  readonly #marginMs: number;
  readonly #watch = new Map<string, Watch>();
  #nextSlot = 0;
  #started = false;

  constructor(options: ConnectionSetOptions) {
    this.#interval = options.connectIntervalMs;
    this.#marginMs = options.gapMarginMs;
    this.sleep = options.sleep ?? abortableSleep;
    this.handlers = this.#watched(options.handlers);
  }

  /** Opens the connections (paced; returns at once). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const c of this.connections) c.start();
  }

  /** Closes every connection; resolves when all sockets and timers are gone. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.all(this.connections.map((c) => c.stop()));
  }

  /** Status of every connection, in id order, with `missingFromMs` while one is not receiving. */
  status(): ConnectionStatus[] {
    return this.connections.map((c) => {
      const s = c.status();
      const missingFromMs = this.#watch.get(s.id)?.missingFromMs;
      return missingFromMs === undefined ? s : { ...s, missingFromMs };
    });
  }

  /** `handlers`, passing everything on, after noting what `missingFromMs` needs. */
  #watched(handlers: FeedHandlers): FeedHandlers {
    const watch = (id: string) => {
      let w = this.#watch.get(id);
      if (!w) this.#watch.set(id, w = {});
      return w;
    };
    // Calls through `handlers`, so that handlers written as methods keep their `this`.
    const { onGap, onSubscribed, onUnknownProducts } = handlers;
    return {
      onGap: onGap && ((gap) => handlers.onGap!(gap)),
      onSubscribed: onSubscribed && ((sub) => handlers.onSubscribed!(sub)),
      onUnknownProducts: onUnknownProducts && ((ps) => handlers.onUnknownProducts!(ps)),
      onTrades: (trades, info) => {
        const w = watch(info.connectionId);
        const at = Math.min(info.sentAt ?? info.receivedAt, info.receivedAt);
        if (w.lastFrameMs === undefined || at > w.lastFrameMs) w.lastFrameMs = at;
        handlers.onTrades(trades, info);
      },
      onStatus: (status) => {
        const w = watch(status.id);
        if (status.state === "subscribed") {
          w.sessionFromMs = status.connectedSince ?? w.sessionFromMs;
          w.missingFromMs = undefined;
        } else if (status.state === "closed") {
          w.missingFromMs = undefined;
        } else if (w.sessionFromMs !== undefined && w.missingFromMs === undefined) {
          // Left `subscribed` (the first time since it was): trades may be missing from its
          // last frame on, until the resubscription reports the gap to the repairer.
          w.missingFromMs = Math.max(w.lastFrameMs ?? -Infinity, w.sessionFromMs) -
            this.#marginMs;
        }
        handlers.onStatus?.(status);
      },
    };
  }

  /** Waits for the next connect slot: at most one socket open per interval, feed-wide. */
  async #slot(signal: AbortSignal): Promise<void> {
    const now = performance.now();
    const at = Math.max(now, this.#nextSlot);
    this.#nextSlot = at + this.#interval;
    if (at > now) await this.sleep(at - now, AbortSignal.any([signal, this.#abort.signal]));
  }
}
