/**
 * @module
 * The Kraken simulator's WebSocket v2 side (kraken-protocol.md "WebSocket v2"): a `status`
 * message on connect, `subscribe`/`unsubscribe` of the `trade` channel with one acknowledgement
 * per symbol (`success:false` and an `error` for an unknown pair or a repeated subscribe), the
 * latest 50 trades as a `snapshot` when asked, trade `update`s of one symbol each (sent every
 * `flushIntervalMs` with the trades since the last), `heartbeat` about once a second on an
 * otherwise quiet connection after its first subscribe, `ping` → `pong`, and an inbound
 * message-rate limit answering `{"Error":"Exceeded msg rate"}`. Faults: drops, stalls, Cloudflare's
 * 1001 close, silent subscriptions, status changes and withheld trades (of several fills sharing
 * a timestamp only the first arrives, as peers reported; REST keeps them all). The HTTP server
 * is `../simulator.ts`; REST is `rest.ts`.
 */
import type { Clock } from "../../clock.ts";
import { systemClock } from "../../clock.ts";
import type { Market, SimTrade } from "../../simulator/market.ts";
import { isListed } from "./pairs.ts";
import { rfc3339Us, wsTradeJson } from "./wire.ts";
import { KrakenSimClient, type MsgRateLimit } from "./ws_client.ts";

export type { MsgRateLimit };

/** Options for {@linkcode KrakenWsSimulator}. Intervals are real milliseconds. */
export interface KrakenWsOptions {
  market: Market;
  /** Market time for trades, `time_in`/`time_out`. @default systemClock */
  clock?: Clock;
  /**
   * The market's `multiFillShare` (share of trades that are further fills of a taker order),
   * which bounds how many trades can be withheld. @default 0
   */
  multiFillShare?: number;
  /** @default 1000 */
  heartbeatIntervalMs?: number;
  /** How often each symbol's new trades go out, one update per symbol. @default 50 */
  flushIntervalMs?: number;
  /** Trades in a `snapshot`. @default 50 */
  snapshotSize?: number;
  /** Inbound messages per connection (unpublished by Kraken). @default 5/s, burst 20 */
  msgRateLimit?: MsgRateLimit;
  /** Close the socket after answering `Exceeded msg rate` (unconfirmed). @default false */
  closeOnMsgRate?: boolean;
  /**
   * Close a connection from which nothing came this long (Kraken is said to drop idle clients
   * after about a minute; unconfirmed). 0 = never. @default 0
   */
  clientIdleCloseMs?: number;
  /**
   * Share of all trades the WebSocket never sends (0 … `multiFillShare`): further fills of a
   * taker order, each withheld with probability `withholdShare / multiFillShare`. @default 0
   */
  withholdShare?: number;
  /** `version` in status messages. @default "2.0.10" */
  version?: string;
}

/** Which connections (or symbol) a fault hits: those subscribed to `symbol`, or all. */
export interface KrakenFaultTarget {
  /** v2 symbol, e.g. `BTC/USD`. */
  symbol?: string;
}

/** Kraken's `system` states. */
export type SystemStatus = "online" | "cancel_only" | "maintenance" | "post_only";

/** A simulated `wss://ws.kraken.com/v2`. */
export class KrakenWsSimulator {
  readonly #market: Market;
  readonly #clock: Clock;
  readonly #o: Required<Omit<KrakenWsOptions, "market" | "clock">>;
  readonly #clients = new Set<KrakenSimClient>();
  #timers: ReturnType<typeof setInterval>[] = [];
  #lastFlushMs: number;
  #nextId = 0;
  #system: SystemStatus = "online";
  #withholdShare: number;
  readonly #withholdBySymbol = new Map<string, number>();
  readonly #withheldDecision = new WeakMap<SimTrade, boolean>();
  /** Trades the WebSocket withheld (first decided), oldest decision first; REST has them. */
  readonly withheldTrades: SimTrade[] = [];

  constructor(options: KrakenWsOptions) {
    this.#market = options.market;
    this.#clock = options.clock ?? systemClock;
    this.#o = {
      multiFillShare: options.multiFillShare ?? 0,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1000,
      flushIntervalMs: options.flushIntervalMs ?? 50,
      snapshotSize: options.snapshotSize ?? 50,
      msgRateLimit: options.msgRateLimit ?? { ratePerSecond: 5, burst: 20 },
      closeOnMsgRate: options.closeOnMsgRate ?? false,
      clientIdleCloseMs: options.clientIdleCloseMs ?? 0,
      withholdShare: options.withholdShare ?? 0,
      version: options.version ?? "2.0.10",
    };
    this.#withholdShare = this.#checkShare(this.#o.withholdShare);
    this.#lastFlushMs = this.#clock();
  }

  /** Upgrades an HTTP request to a simulated Kraken v2 socket. */
  handle(req: Request): Response {
    const { socket, response } = Deno.upgradeWebSocket(req);
    const client = new KrakenSimClient(this.#nextId++, socket, this.#o.msgRateLimit);
    socket.onopen = () => {
      this.#clients.add(client);
      this.#startTimers();
      client.send(this.#statusText(client, "update"));
    };
    socket.onmessage = (e) => this.#onMessage(client, e.data);
    socket.onclose = () => this.#clients.delete(client);
    socket.onerror = () => {};
    return response;
  }

  /** Open connections. */
  connections(): number {
    return this.#clients.size;
  }

  /** Symbols subscribed on each open connection, in connection order. */
  subscriptions(): string[][] {
    return [...this.#clients].map((c) => [...c.trades.keys()]);
  }

  #statusText(c: KrakenSimClient, type: "snapshot" | "update"): string {
    return `{"channel":"status","type":"${type}","data":[{"version":"${this.#o.version}",` +
      `"system":"${this.#system}","api_version":"v2","connection_id":${c.connectionId}}]}`;
  }

  #times(inUs: number): string {
    return `"time_in":"${rfc3339Us(inUs)}","time_out":"${rfc3339Us(this.#clock() * 1000)}"`;
  }

  #onMessage(c: KrakenSimClient, data: unknown): void {
    const inUs = this.#clock() * 1000;
    if (!c.takeMessage()) {
      c.send('{"Error":"Exceeded msg rate"}');
      if (this.#o.closeOnMsgRate) c.close(1008, "Exceeded msg rate");
      return;
    }
    let msg: unknown;
    try {
      msg = typeof data === "string" ? JSON.parse(data) : undefined;
    } catch {
      msg = undefined;
    }
    if (msg === null || typeof msg !== "object" || Array.isArray(msg)) {
      c.send(`{"error":"EGeneral:Invalid arguments","success":false,${this.#times(inUs)}}`);
      return;
    }
    const { method, params, req_id: reqId } = msg as Record<string, unknown>;
    const tail = `${this.#times(inUs)}${typeof reqId === "number" ? `,"req_id":${reqId}` : ""}`;
    if (method === "ping") {
      c.send(`{"method":"pong",${tail}}`);
      return;
    }
    if (method !== "subscribe" && method !== "unsubscribe") {
      c.send(
        `{"error":"Method not supported","method":${
          JSON.stringify(String(method))
        },"success":false,${tail}}`,
      );
      return;
    }
    const p = (params ?? {}) as Record<string, unknown>;
    const symbols = p.symbol;
    if (
      typeof params !== "object" || params === null || !Array.isArray(symbols) ||
      symbols.some((s) => typeof s !== "string") || (p.snapshot !== undefined &&
        typeof p.snapshot !== "boolean")
    ) {
      c.send(`{"error":"EGeneral:Invalid arguments","method":"${method}","success":false,${tail}}`);
      return;
    }
    if (p.channel !== "trade") {
      c.send(
        `{"error":"Channel ${
          String(p.channel).replace(/["\\]/g, "")
        } not supported by the simulator","method":"${method}","success":false,${tail}}`,
      );
      return;
    }
    if (method === "subscribe") this.#subscribe(c, symbols as string[], p.snapshot === true, tail);
    else this.#unsubscribe(c, symbols as string[], tail);
  }

  #known(symbol: string): boolean {
    if (!this.#market.has(symbol)) return false;
    return isListed(this.#market.products.find((p) => p.id === symbol)!);
  }

  #subscribe(c: KrakenSimClient, symbols: string[], snapshot: boolean, tail: string): void {
    c.subscribedOnce = true;
    const now = this.#clock();
    this.#market.advance(now);
    for (const s of symbols) {
      const sym = JSON.stringify(s);
      if (!this.#known(s)) {
        c.send(
          `{"error":${JSON.stringify(`Currency pair not supported ${s}`)},"method":"subscribe",` +
            `"success":false,"symbol":${sym},${tail}}`,
        );
        continue;
      }
      if (c.trades.has(s)) {
        c.send(
          `{"error":"Already subscribed","method":"subscribe","success":false,"symbol":${sym},${tail}}`,
        );
        continue;
      }
      const next = c.silentNext.get(s) ?? 0;
      const silent = next > 0;
      if (silent) c.silentNext.set(s, next - 1);
      c.trades.set(s, { silent });
      c.send(
        `{"method":"subscribe","result":{"channel":"trade","snapshot":${snapshot},"symbol":${sym}},` +
          `"success":true,${tail}}`,
      );
      if (snapshot && !silent) c.send(this.#snapshotText(s, now));
    }
  }

  #unsubscribe(c: KrakenSimClient, symbols: string[], tail: string): void {
    for (const s of symbols) {
      const sym = JSON.stringify(s);
      if (!c.trades.delete(s)) {
        c.send(
          `{"error":"Subscription Not Found","method":"unsubscribe","success":false,` +
            `"symbol":${sym},${tail}}`,
        );
        continue;
      }
      c.send(
        `{"method":"unsubscribe","result":{"channel":"trade","symbol":${sym}},"success":true,${tail}}`,
      );
    }
  }

  /** The latest `snapshotSize` trades the WebSocket would have sent, oldest first. */
  #snapshotText(symbol: string, nowMs: number): string {
    const n = this.#o.snapshotSize;
    const recent = this.#market.latestTrades(symbol, n * 4 + 50, nowMs);
    const sent = recent.filter((t) => !this.#isWithheld(t, symbol)).slice(0, n).reverse();
    return `{"channel":"trade","type":"snapshot","data":[${
      sent.map((t) => wsTradeJson(t, symbol)).join(",")
    }]}`;
  }

  /**
   * Whether the WebSocket withholds `t`: only a further fill of a taker order can be, each with
   * probability share / multiFillShare by a hash of its id, decided once (so every connection and
   * every later snapshot agree).
   */
  #isWithheld(t: SimTrade, symbol: string): boolean {
    const known = this.#withheldDecision.get(t);
    if (known !== undefined) return known;
    let out = false;
    if ((t.fill ?? 0) > 0 && this.#o.multiFillShare > 0) {
      const share = this.#withholdBySymbol.get(symbol) ?? this.#withholdShare;
      const u = (Math.imul(t.parsed.id ^ 0x5bd1e995, 0x27d4eb2d) >>> 0) / 4294967296;
      out = u < share / this.#o.multiFillShare;
    }
    this.#withheldDecision.set(t, out);
    if (out) this.withheldTrades.push(t);
    return out;
  }

  #startTimers(): void {
    if (this.#timers.length) return;
    this.#lastFlushMs = Math.min(this.#lastFlushMs, this.#clock());
    this.#timers.push(
      setInterval(() => this.#flush(), this.#o.flushIntervalMs),
      setInterval(() => this.#heartbeat(), this.#o.heartbeatIntervalMs),
    );
  }

  /** Sends every subscribed symbol's trades since the last flush, one update per symbol. */
  #flush(): void {
    const now = this.#clock();
    const from = this.#lastFlushMs;
    if (now <= from) return;
    this.#market.advance(now);
    this.#lastFlushMs = now;
    const frames = new Map<string, string>();
    for (const c of this.#clients) {
      for (const [s, sub] of c.trades) {
        if (sub.silent) continue;
        let text = frames.get(s);
        if (text === undefined) {
          const sent = this.#market.trades(s, from, now).filter((t) => !this.#isWithheld(t, s));
          text = sent.length
            ? `{"channel":"trade","type":"update","data":[${
              sent.map((t) => wsTradeJson(t, s)).join(",")
            }]}`
            : "";
          frames.set(s, text);
        }
        if (text) c.send(text);
      }
    }
  }

  #heartbeat(): void {
    const now = performance.now();
    const quietMs = this.#o.heartbeatIntervalMs * 0.9;
    for (const c of this.#clients) {
      const idle = this.#o.clientIdleCloseMs;
      if (idle > 0 && now - c.lastReceivedAt > idle) {
        c.close(1000, "idle");
        continue;
      }
      if (c.subscribedOnce && now - c.lastSentAt >= quietMs) c.send('{"channel":"heartbeat"}');
    }
  }

  #targets(target?: KrakenFaultTarget): KrakenSimClient[] {
    const all = [...this.#clients];
    return target?.symbol ? all.filter((c) => c.trades.has(target.symbol!)) : all;
  }

  #checkShare(share: number): number {
    if (!(share >= 0 && share <= this.#o.multiFillShare)) {
      throw new RangeError(
        `A withheld share must be in [0, ${this.#o.multiFillShare}] (the market's multiFillShare), got ${share}`,
      );
    }
    return share;
  }

  /** Fault: closes the matching sockets (code 4000). Returns how many. */
  dropConnections(target?: KrakenFaultTarget): number {
    const hit = this.#targets(target);
    for (const c of hit) c.close(4000, "dropped by simulator");
    return hit.length;
  }

  /** Fault: Cloudflare restarting: closes the matching sockets with 1001. */
  restartProxy(target?: KrakenFaultTarget): number {
    const hit = this.#targets(target);
    for (const c of hit) c.close(1001, "WebSocket proxy restarting");
    return hit.length;
  }

  /** Fault: sends nothing at all (heartbeats neither) for `ms`; what falls in it is lost. */
  stall(ms: number, target?: KrakenFaultTarget): number {
    const hit = this.#targets(target);
    for (const c of hit) c.stalledUntil = performance.now() + ms;
    return hit.length;
  }

  /**
   * Fault: `symbol`'s current subscriptions stop delivering (the socket and its other symbols
   * go on) until unsubscribed; with `next`, instead the next `next` subscribes of `symbol` on
   * every open connection are acknowledged and then deliver nothing (no snapshot either).
   * Returns the connections hit.
   */
  silenceSubscription(symbol: string, options: { next?: number } = {}): number {
    if (options.next !== undefined) {
      for (const c of this.#clients) c.silentNext.set(symbol, options.next);
      return this.#clients.size;
    }
    const hit = this.#targets({ symbol });
    for (const c of hit) c.trades.get(symbol)!.silent = true;
    return hit.length;
  }

  /**
   * Fault: from now on the WebSocket withholds `share` of the trades (of `target.symbol`, or of
   * every symbol without a share of its own); trades already decided stay as they were.
   */
  withholdTrades(share: number, target?: KrakenFaultTarget): void {
    this.#checkShare(share);
    if (target?.symbol) this.#withholdBySymbol.set(target.symbol, share);
    else this.#withholdShare = share;
  }

  /** Fault: a `status` update with `system` (and the state for later connects). */
  setSystemStatus(system: SystemStatus, target?: KrakenFaultTarget): number {
    this.#system = system;
    const hit = this.#targets(target);
    for (const c of hit) c.send(this.#statusText(c, "update"));
    return hit.length;
  }

  /** Stops the timers and closes every socket, waiting for the closes. */
  async close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await Promise.all([...this.#clients].map((c) => c.close(1001, "simulator closing")));
    this.#clients.clear();
  }
}
