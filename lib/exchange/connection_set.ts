/**
 * @module
 * What every exchange's feed does with its connections alike: open them at most one per
 * `connectIntervalMs` feed-wide (first connects and reconnects share the pacing), start, stop and
 * report them. Coinbase's `Feed` and Kraken's `KrakenFeed` extend it and only build their
 * connections.
 */
import { abortableSleep } from "../clock.ts";
import { type ConnectionStatus, emptyStats, type FeedStats } from "./feed_types.ts";

/** One connection of a feed. */
export interface FeedConnection {
  start(): void;
  stop(): Promise<void>;
  status(): ConnectionStatus;
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
  readonly #abort = new AbortController();
  readonly #interval: number;
  #nextSlot = 0;
  #started = false;

  constructor(
    connectIntervalMs: number,
    sleep: ((ms: number, signal: AbortSignal) => Promise<void>) | undefined,
  ) {
    this.#interval = connectIntervalMs;
    this.sleep = sleep ?? abortableSleep;
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

  /** Status of every connection, in id order. */
  status(): ConnectionStatus[] {
    return this.connections.map((c) => c.status());
  }

  /** Waits for the next connect slot: at most one socket open per interval, feed-wide. */
  async #slot(signal: AbortSignal): Promise<void> {
    const now = performance.now();
    const at = Math.max(now, this.#nextSlot);
    this.#nextSlot = at + this.#interval;
    if (at > now) await this.sleep(at - now, AbortSignal.any([signal, this.#abort.signal]));
  }
}
