/**
 * @module
 * The simulator's WebSocket side: speaks Coinbase Advanced Trade's market-data protocol
 * (coinbase-protocol.md §2–3, checklist §8) over sockets handed to {@linkcode WsSimulator.handle},
 * streaming the trades of a {@linkcode Market}. Per-connection `sequence_num` from 0, Go-style
 * timestamps, one channel per message, `authentication failure` for bad requests, snapshots on
 * every (re)subscribe, heartbeats, trade updates of one product each, every 100 ms on that
 * product's own phase (as recorded from Coinbase: `fixtures/coinbase-real`), and 5-minute
 * candles, plus fault injection. The HTTP server and REST side live in `../simulator.ts` and `rest.ts`.
 */
import type { Clock } from "../../clock.ts";
import { systemClock } from "../../clock.ts";
import { type Market, type SimTrade } from "../../simulator/market.ts";
import { checkJwtShape, goTimeString, SimClient } from "./ws_client.ts";
import { candleEvents, candleSnapshotEvents, GARBAGE, tradeJson } from "./ws_frames.ts";

/** Options for {@linkcode WsSimulator}. Intervals are real milliseconds. */
export interface WsSimulatorOptions {
  market: Market;
  /** Drives trade generation and timestamps (may be accelerated). @default systemClock */
  clock?: Clock;
  /** @default 1000 */
  heartbeatIntervalMs?: number;
  /**
   * `market_trades` update cadence of each product. Coinbase's documents say 250 ms; its frames
   * (`fixtures/coinbase-real`) come on a 100 ms grid per product, each product on its own phase
   * (BTC-USD at …x52 ms, ETH-USD at …x78 ms), one product per frame. @default 100
   */
  flushIntervalMs?: number;
  /**
   * Phases the products are spread over: a timer every `flushIntervalMs / flushPhases` flushes
   * the products of one phase (a product's phase is a hash of its id). @default 10
   */
  flushPhases?: number;
  /** `candles` update cadence. @default 1000 */
  candleIntervalMs?: number;
  /**
   * How far (clock ms) the `candles` channel trails the trades: an open candle covers the trades
   * up to this long before its frame (recorded from Coinbase: 2–18 s). @default 6000
   */
  candleLagMs?: number;
  /** Close a socket that has not subscribed by then. @default 5000 */
  subscribeDeadlineMs?: number;
  /** Close a socket without `heartbeats` after this long without a frame (Coinbase: 60–90 s). @default 75000 */
  idleCloseMs?: number;
  /** Emit `"client_id":""` in envelopes (2026 market captures omit it). @default false */
  clientId?: boolean;
  /** First heartbeat counter (server-global, starts high). @default 512034 */
  heartbeatCounterStart?: number;
  /** Trades per product in a `market_trades` snapshot. @default 100 */
  snapshotSize?: number;
  /** Clock for JWT `nbf`/`exp` checks (the signer's clock). @default systemClock */
  jwtClock?: Clock;
}

/** Which connections a fault hits: those subscribed to `product`'s trades, or all. */
export interface FaultTarget {
  product?: string;
}

/** A simulated Coinbase WebSocket endpoint. */
export class WsSimulator {
  readonly #market: Market;
  readonly #clock: Clock;
  readonly #opts: Required<Omit<WsSimulatorOptions, "market" | "clock">>;
  readonly #clients = new Set<SimClient>();
  #timers: ReturnType<typeof setInterval>[] = [];
  /** Up to when each phase's products were flushed (clock ms). */
  readonly #lastFlushMs: number[];
  /** The phase whose products the next flush timer sends. */
  #nextPhase = 0;
  readonly #phaseOf = new Map<string, number>();
  #heartbeatCounter: number;
  #lastCandle = new Map<string, string>();
  #nextId = 0;
  /** Trades the simulator withheld on purpose (only REST knows them). */
  readonly withheldTrades: SimTrade[] = [];

  constructor(options: WsSimulatorOptions) {
    this.#market = options.market;
    this.#clock = options.clock ?? systemClock;
    this.#opts = {
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1000,
      flushIntervalMs: options.flushIntervalMs ?? 100,
      flushPhases: Math.max(1, Math.floor(options.flushPhases ?? 10)),
      candleIntervalMs: options.candleIntervalMs ?? 1000,
      candleLagMs: options.candleLagMs ?? 6000,
      subscribeDeadlineMs: options.subscribeDeadlineMs ?? 5000,
      idleCloseMs: options.idleCloseMs ?? 75_000,
      clientId: options.clientId ?? false,
      heartbeatCounterStart: options.heartbeatCounterStart ?? 512_034,
      snapshotSize: options.snapshotSize ?? 100,
      jwtClock: options.jwtClock ?? systemClock,
    };
    this.#heartbeatCounter = this.#opts.heartbeatCounterStart;
    this.#lastFlushMs = new Array(this.#opts.flushPhases).fill(this.#clock());
  }

  /** The flush phase of `product` (0 … `flushPhases` − 1). */
  phaseOf(product: string): number {
    let phase = this.#phaseOf.get(product);
    if (phase === undefined) {
      phase = flushPhase(product, this.#opts.flushPhases);
      this.#phaseOf.set(product, phase);
    }
    return phase;
  }

  /** Switches `client_id` emission on or off for every later frame. */
  set clientId(on: boolean) {
    this.#opts.clientId = on;
  }

  /** Upgrades an HTTP request to a simulated Coinbase socket. */
  handle(req: Request): Response {
    const { socket, response } = Deno.upgradeWebSocket(req);
    const client = new SimClient(this.#nextId++, socket, {
      market: this.#market,
      clock: this.#clock,
      clientId: () => this.#opts.clientId,
    });
    socket.onopen = () => {
      this.#clients.add(client);
      this.#startTimers();
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

  #onMessage(c: SimClient, data: unknown): void {
    if (typeof data !== "string") return c.sendError("authentication failure");
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(data);
    } catch {
      return c.sendError("authentication failure");
    }
    if (msg === null || typeof msg !== "object" || Array.isArray(msg) || "channels" in msg) {
      return c.sendError("authentication failure");
    }
    const { type, channel, product_ids: ids, jwt } = msg;
    if (type !== "subscribe" && type !== "unsubscribe") {
      return c.sendError("authentication failure");
    }
    if (typeof channel !== "string" || !KNOWN_CHANNELS.has(channel)) {
      return c.sendError("authentication failure");
    }
    if (jwt !== undefined && !checkJwtShape(jwt, this.#opts.jwtClock())) {
      return c.sendError("authentication failure");
    }
    if (AUTH_CHANNELS.has(channel) && jwt === undefined) {
      return c.sendError("authentication failure");
    }
    if (ids !== undefined && (!Array.isArray(ids) || ids.some((x) => typeof x !== "string"))) {
      return c.sendError("authentication failure");
    }
    const known = ((ids ?? []) as string[]).filter((id) => this.#market.has(id));
    if (type === "subscribe") {
      c.subscribedAt ??= performance.now();
      if (channel === "heartbeats") c.heartbeats = true;
      else c.add(channel, known);
      this.#market.advance(this.#clock());
      if (channel === "market_trades") {
        for (const p of known) {
          const trades = this.#market.latestTrades(p, this.#opts.snapshotSize, this.#clock());
          c.send(
            "market_trades",
            `[{"type":"snapshot","trades":[${trades.map(tradeJson).join(",")}]}]`,
          );
        }
      } else if (channel === "candles") {
        // One snapshot frame per product, as recorded (like market_trades).
        for (const p of known) {
          const events = candleSnapshotEvents(
            this.#market,
            p,
            this.#clock(),
            this.#opts.candleLagMs,
          );
          if (events) c.send("candles", events);
        }
      }
    } else if (channel === "heartbeats") c.heartbeats = false;
    else c.remove(channel, ids === undefined ? undefined : known);
    c.send("subscriptions", `[{"subscriptions":${JSON.stringify(c.subscriptions())}}]`);
  }

  #startTimers(): void {
    if (this.#timers.length) return;
    const now = this.#clock();
    for (let i = 0; i < this.#lastFlushMs.length; i++) {
      this.#lastFlushMs[i] = Math.min(this.#lastFlushMs[i]!, now);
    }
    this.#timers.push(
      setInterval(() => this.#flush(), this.#opts.flushIntervalMs / this.#opts.flushPhases),
      setInterval(() => this.#heartbeat(), this.#opts.heartbeatIntervalMs),
      setInterval(() => this.#candles(), this.#opts.candleIntervalMs),
    );
  }

  /**
   * Sends each connection, for each product of this timer's phase it subscribes to, one frame
   * with that product's trades since the phase's last flush, newest first (none if it had none).
   */
  #flush(): void {
    this.#enforceDeadlines();
    const phase = this.#nextPhase;
    this.#nextPhase = (phase + 1) % this.#opts.flushPhases;
    const now = this.#clock();
    const from = this.#lastFlushMs[phase]!;
    if (now <= from) return;
    this.#market.advance(now);
    this.#lastFlushMs[phase] = now;
    /** Each product's update frame of this flush ("" without trades), built once. */
    const frames = new Map<string, { trades: SimTrade[]; events: string }>();
    for (const c of this.#clients) {
      for (const p of c.tradeProducts) {
        if (this.phaseOf(p) !== phase) continue;
        let frame = frames.get(p);
        if (!frame) {
          const trades = this.#market.trades(p, from, now).slice().reverse();
          const events = trades.length
            ? `[{"type":"update","trades":[${trades.map(tradeJson).join(",")}]}]`
            : "";
          frames.set(p, frame = { trades, events });
        }
        if (!frame.events) continue;
        if (c.withhold > 0) {
          c.withhold--;
          c.skipSequence(1);
          for (const t of frame.trades) this.withheldTrades.push(t);
          continue;
        }
        const text = c.send("market_trades", frame.events);
        if (c.stalledUntil <= performance.now()) c.lastUpdate = text;
      }
    }
  }

  #heartbeat(): void {
    const counter = ++this.#heartbeatCounter;
    const now = this.#clock();
    const uptime = counter + (now % 1000) / 1000;
    const events = `[{"current_time":"${goTimeString(now)} m=+${
      uptime.toFixed(9)
    }","heartbeat_counter":${counter}}]`;
    for (const c of this.#clients) if (c.heartbeats) c.send("heartbeats", events);
  }

  #candles(): void {
    const now = this.#clock();
    const changed = new Set<string>();
    const seen = new Set<string>();
    for (const c of this.#clients) {
      for (const p of c.candleProducts) {
        if (seen.has(p)) continue;
        seen.add(p);
        const sig = candleEvents(this.#market, [p], now, "update", this.#opts.candleLagMs) ?? "";
        if (sig && sig !== this.#lastCandle.get(p)) changed.add(p);
        this.#lastCandle.set(p, sig);
      }
    }
    if (!changed.size) return;
    for (const c of this.#clients) {
      const mine = [...c.candleProducts].filter((p) => changed.has(p));
      const events = mine.length
        ? candleEvents(this.#market, mine, now, "update", this.#opts.candleLagMs)
        : undefined;
      if (events) c.send("candles", events);
    }
  }

  #enforceDeadlines(): void {
    const now = performance.now();
    for (const c of this.#clients) {
      if (c.subscribedAt === undefined) {
        if (now - c.openedAt > this.#opts.subscribeDeadlineMs) c.close(4001, "subscribe timeout");
      } else if (!c.heartbeats && now - c.lastSentAt > this.#opts.idleCloseMs) {
        c.close(4002, "idle");
      }
    }
  }

  #targets(target?: FaultTarget): SimClient[] {
    const all = [...this.#clients];
    return target?.product ? all.filter((c) => c.tradeProducts.has(target.product!)) : all;
  }

  /** Fault: closes the matching sockets abruptly. Returns how many. */
  dropConnections(target?: FaultTarget): number {
    const hit = this.#targets(target);
    for (const c of hit) c.close(4000, "dropped by simulator");
    return hit.length;
  }

  /** Fault: sends nothing at all to the matching sockets for `ms` (sequence numbers still advance). */
  stall(ms: number, target?: FaultTarget): number {
    const hit = this.#targets(target);
    for (const c of hit) c.stalledUntil = performance.now() + ms;
    return hit.length;
  }

  /** Fault: sends `count` garbage frames (non-JSON, wrong shapes, invalid trades). */
  sendGarbage(count: number, target?: FaultTarget): number {
    const hit = this.#targets(target);
    for (const c of hit) {
      for (let i = 0; i < count; i++) {
        const g = GARBAGE[i % GARBAGE.length]!;
        if (g.raw !== undefined) c.sendRaw(g.raw);
        else c.send(g.channel!, g.events!);
      }
    }
    return hit.length;
  }

  /** Fault: silently skips the next `count` non-empty trade updates (a sequence gap; only REST has those trades). */
  withholdFrames(count: number, target?: FaultTarget): number {
    const hit = this.#targets(target);
    for (const c of hit) c.withhold += count;
    return hit.length;
  }

  /** Fault: jumps the sequence counter by `n` without losing data. */
  skipSequence(n: number, target?: FaultTarget): number {
    const hit = this.#targets(target);
    for (const c of hit) c.skipSequence(n);
    return hit.length;
  }

  /** Fault: resends the last trade update frame verbatim (same `sequence_num`). */
  duplicateLastFrame(target?: FaultTarget): number {
    const hit = this.#targets(target).filter((c) => c.lastUpdate !== undefined);
    for (const c of hit) c.sendRaw(c.lastUpdate!);
    return hit.length;
  }

  /** Fault: sends a new update frame replaying each product's `count` latest (already sent) trades. */
  replayTrades(count: number, target?: FaultTarget): number {
    const hit = this.#targets(target);
    for (const c of hit) {
      const old = [...c.tradeProducts].flatMap((p) =>
        this.#market.latestTrades(p, count, this.#lastFlushMs[this.phaseOf(p)]!)
      );
      old.sort((a, b) => b.timeUs - a.timeUs);
      c.send("market_trades", `[{"type":"update","trades":[${old.map(tradeJson).join(",")}]}]`);
    }
    return hit.length;
  }

  /** Fault: sends `{"type":"error","message":…}`; the socket stays open. */
  sendError(message: string, target?: FaultTarget): number {
    const hit = this.#targets(target);
    for (const c of hit) c.sendError(message);
    return hit.length;
  }

  /** Stops the timers and closes every socket, waiting for the closes to finish. */
  async close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await Promise.all([...this.#clients].map((c) => c.close(1001, "simulator closing")));
    this.#clients.clear();
  }
}

const KNOWN_CHANNELS = new Set([
  "heartbeats",
  "market_trades",
  "candles",
  "ticker",
  "ticker_batch",
  "status",
  "level2",
  "user",
  "futures_balance_summary",
]);
const AUTH_CHANNELS = new Set(["user", "futures_balance_summary"]);

/** A product's flush phase: FNV-1a of its id, modulo `phases`. */
export function flushPhase(product: string, phases: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < product.length; i++) {
    h ^= product.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % phases;
}
