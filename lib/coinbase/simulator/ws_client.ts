/**
 * @module
 * One simulated Coinbase WebSocket connection: its subscriptions, its `sequence_num` counter
 * (0-based, +1 per frame of any channel, coinbase-protocol.md §2.5), envelope framing with
 * Go-style timestamps, and the per-connection fault state (stall, withheld frames). Also the
 * JWT shape check the simulator applies when a subscribe carries a `jwt` (§5.2). Scheduling and
 * fan-out live in `ws.ts`.
 */
import type { Clock } from "../../clock.ts";
import type { Market } from "../../simulator/market.ts";

/** What a {@linkcode SimClient} needs from its simulator. */
export interface SimClientContext {
  market: Market;
  clock: Clock;
  /** Whether envelopes carry `"client_id":""` right now. */
  clientId: () => boolean;
}

/** One connected socket and its subscription state. */
export class SimClient {
  readonly id: number;
  readonly socket: WebSocket;
  readonly openedAt: number = performance.now();
  readonly tradeProducts = new Set<string>();
  readonly candleProducts = new Set<string>();
  readonly #other = new Map<string, Set<string>>();
  readonly #ctx: SimClientContext;
  #seq = 0;
  #closed?: Promise<void>;
  heartbeats = false;
  subscribedAt?: number;
  lastSentAt: number = performance.now();
  stalledUntil = 0;
  withhold = 0;
  /** Text of the last `market_trades` update sent (for the duplicate fault). */
  lastUpdate?: string;

  constructor(id: number, socket: WebSocket, ctx: SimClientContext) {
    this.id = id;
    this.socket = socket;
    this.#ctx = ctx;
  }

  /** Adds products to a channel's subscription. */
  add(channel: string, products: string[]): void {
    const set = this.#set(channel);
    for (const p of products) set.add(p);
  }

  /** Removes products (or, with `undefined`, the whole channel). */
  remove(channel: string, products: string[] | undefined): void {
    const set = this.#set(channel);
    if (products === undefined) set.clear();
    else for (const p of products) set.delete(p);
  }

  #set(channel: string): Set<string> {
    if (channel === "market_trades") return this.tradeProducts;
    if (channel === "candles") return this.candleProducts;
    let s = this.#other.get(channel);
    if (!s) this.#other.set(channel, s = new Set());
    return s;
  }

  /** The full subscription map, as the `subscriptions` frame lists it (§2.4). */
  subscriptions(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    const all: [string, Set<string>][] = [
      ["market_trades", this.tradeProducts],
      ["candles", this.candleProducts],
      ...this.#other,
    ];
    for (const [ch, set] of all.sort((a, b) => a[0] < b[0] ? -1 : 1)) {
      if (set.size) out[ch] = [...set];
    }
    if (this.heartbeats) out.heartbeats = ["heartbeats"];
    return out;
  }

  /** Frames one message with the next sequence number and sends it; returns its text. */
  send(channel: string, events: string): string {
    const seq = this.#seq++;
    const nowMs = this.#ctx.clock();
    const text = `{"channel":"${channel}",${this.#ctx.clientId() ? '"client_id":"",' : ""}` +
      `"timestamp":"${goTimeNs(nowMs)}","sequence_num":${seq},"events":${events}}`;
    this.sendRaw(text);
    return text;
  }

  /** Sends text as is (garbage and duplicates), unless stalled or closed. */
  sendRaw(text: string): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    if (this.stalledUntil > performance.now()) return;
    this.lastSentAt = performance.now();
    this.socket.send(text);
  }

  /** A flat error frame (no channel, no sequence number, §2.6). */
  sendError(message: string): void {
    this.sendRaw(JSON.stringify({ type: "error", message }));
  }

  /** Consumes `n` sequence numbers without sending. */
  skipSequence(n: number): void {
    this.#seq += n;
  }

  /** Closes the socket and resolves once it is closed. */
  close(code: number, reason: string): Promise<void> {
    if (this.#closed) return this.#closed;
    const s = this.socket;
    this.#closed = s.readyState === WebSocket.CLOSED
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
        s.addEventListener("close", () => resolve(), { once: true });
        setTimeout(resolve, 2000);
      });
    try {
      s.close(code, reason);
    } catch {
      // already closing
    }
    return this.#closed;
  }
}

/**
 * Whether `jwt` has the shape of a CDP token valid at `nowMs`: `alg` ES256/EdDSA and `kid` in
 * the header, `sub`, `iss: "cdp"`, `nbf` ≤ now and `exp` > now in the claims. The signature is
 * not checked (§5.2).
 */
export function checkJwtShape(jwt: unknown, nowMs: number): boolean {
  if (typeof jwt !== "string") return false;
  const parts = jwt.split(".");
  if (parts.length !== 3 || !parts[2]) return false;
  try {
    const header = JSON.parse(b64urlDecode(parts[0]!));
    const claims = JSON.parse(b64urlDecode(parts[1]!));
    const now = nowMs / 1000;
    return (header.alg === "ES256" || header.alg === "EdDSA") &&
      typeof header.kid === "string" && header.kid !== "" &&
      typeof claims.sub === "string" && claims.iss === "cdp" &&
      typeof claims.nbf === "number" && claims.nbf <= now + 5 &&
      typeof claims.exp === "number" && claims.exp > now &&
      (claims.uri === undefined || typeof claims.uri === "string");
  } catch {
    return false;
  }
}

function b64urlDecode(s: string): string {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

/**
 * RFC 3339 with nanoseconds, trailing zeros trimmed, as the recorded envelopes carry them
 * (`2026-08-09T21:05:48.228568804Z`, `…49.25328358Z`). The digits below the millisecond come
 * from the performance clock, so the fraction width varies the way Go's output does.
 */
export function goTimeNs(
  nowMs: number,
  subMsNs = Math.floor((performance.now() * 1e6) % 1e6),
): string {
  const ms = Math.floor(nowMs);
  const base = new Date(ms - (ms % 1000)).toISOString().slice(0, 19);
  const frac = (String(ms % 1000).padStart(3, "0") + String(subMsNs).padStart(6, "0"))
    .replace(/0+$/, "");
  return frac ? `${base}.${frac}Z` : `${base}Z`;
}

/**
 * Go's `time.String()` text without the monotonic suffix, with nanoseconds as recorded:
 * `2026-08-09 21:05:48.854840045 +0000 UTC`.
 */
export function goTimeString(nowMs: number): string {
  const rfc = goTimeNs(nowMs);
  return `${rfc.slice(0, 10)} ${rfc.slice(11, -1)} +0000 UTC`;
}
