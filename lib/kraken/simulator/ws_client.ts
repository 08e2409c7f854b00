/**
 * @module
 * One simulated Kraken v2 WebSocket connection: its `trade` subscriptions (each possibly made
 * silent by a fault), its inbound message-rate bucket, and its per-connection fault state
 * (stalls). Sending respects stalls and the socket's state. Scheduling, fan-out and the
 * protocol's replies live in `ws.ts`.
 */

/** One `trade` subscription of a connection. */
export interface SimSubscription {
  /** Acknowledged but never delivering (the silent-subscription fault). */
  silent: boolean;
}

/** Inbound message-rate limit of one connection (a token bucket, real time). */
export interface MsgRateLimit {
  /** Messages allowed per second, sustained. */
  ratePerSecond: number;
  /** Messages allowed at once. */
  burst: number;
}

/** One connected socket and its state. */
export class KrakenSimClient {
  readonly id: number;
  readonly socket: WebSocket;
  /** v2 symbol → subscription. */
  readonly trades = new Map<string, SimSubscription>();
  /** Random-looking per-connection id, as the status message carries (a u64 as JSON number). */
  readonly connectionId: string;
  readonly openedAt: number = performance.now();
  /** Whether any subscribe came (heartbeats start after the first). */
  subscribedOnce = false;
  lastSentAt: number = performance.now();
  lastReceivedAt: number = performance.now();
  stalledUntil = 0;
  /** The next subscribes of these symbols are acknowledged and then stay silent (count each). */
  readonly silentNext = new Map<string, number>();
  readonly #limit: MsgRateLimit;
  #tokens: number;
  #tokensAt = performance.now();
  #closed?: Promise<void>;

  constructor(id: number, socket: WebSocket, limit: MsgRateLimit) {
    this.id = id;
    this.socket = socket;
    this.#limit = limit;
    this.#tokens = limit.burst;
    this.connectionId = String(10_000_000_000_000_000_000n + BigInt(id) * 7_919_000_000_003n);
  }

  /** Counts one inbound message; false when it exceeds the connection's message rate. */
  takeMessage(): boolean {
    const now = performance.now();
    this.lastReceivedAt = now;
    this.#tokens = Math.min(
      this.#limit.burst,
      this.#tokens + ((now - this.#tokensAt) * this.#limit.ratePerSecond) / 1000,
    );
    this.#tokensAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Sends text unless stalled or closed; returns whether it went out. */
  send(text: string): boolean {
    if (this.socket.readyState !== WebSocket.OPEN) return false;
    if (this.stalledUntil > performance.now()) return false;
    this.lastSentAt = performance.now();
    this.socket.send(text);
    return true;
  }

  /** Closes the socket and resolves once it is closed (or after 2 s). */
  close(code: number, reason: string): Promise<void> {
    if (this.#closed) return this.#closed;
    const s = this.socket;
    this.#closed = s.readyState === WebSocket.CLOSED
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        s.addEventListener("close", () => (clearTimeout(t), resolve()), { once: true });
      });
    try {
      s.close(code, reason);
    } catch {
      // already closing
    }
    return this.#closed;
  }
}
