/**
 * @module
 * The protocol-faithful Kraken stand-in for tests, demos and the bench: one `Deno.serve` on a
 * free port with the WebSocket v2 endpoint at `/v2` ({@linkcode KrakenWsSimulator}) and the
 * public REST API under `/0/public/` (`simulator/rest.ts`), both driven by one
 * {@linkcode Market} (`lib/simulator/market.ts`, Coinbase's simulator's too: one market model and
 * its trades are the ground truth) and one clock. Products are v2 symbols (`BTC/USD`); parsed
 * trades carry the service's market key (`kraken:BTC-USD`). Unlike Coinbase's market, Kraken's
 * has multi-fill taker orders (trades sharing a microsecond), which is where the WebSocket's
 * withheld trades come from.
 */
import type { Clock } from "../clock.ts";
import { systemClock } from "../clock.ts";
import { Market, type SimProductSpec } from "../simulator/market.ts";
import { demoProductSpecs, serveSimulator, syntheticBase } from "../simulator/serve.ts";
import { marketKey } from "../exchange/market.ts";
import {
  createKrakenRestHandler,
  type KrakenRestFault,
  type KrakenRestHandler,
  type KrakenRestOptions,
} from "./simulator/rest.ts";
import {
  type KrakenFaultTarget,
  type KrakenWsOptions,
  KrakenWsSimulator,
  type SystemStatus,
} from "./simulator/ws.ts";

export type { KrakenFaultTarget, KrakenRestFault, SimProductSpec, SystemStatus };
export { KrakenWsSimulator, Market };

/** Options for {@linkcode startKrakenSimulator}. */
export interface KrakenSimulatorOptions {
  /** Products with v2 symbols as ids. @default krakenDemoProducts(5) */
  products?: SimProductSpec[];
  /** @default 1 */
  seed?: number;
  /** Market time for trades and timestamps. @default systemClock */
  clock?: Clock;
  /** History generated before the clock's current time. @default 6 h */
  historyMs?: number;
  /** Trade rate per product during history. @default 0.1 */
  historyTradesPerSecond?: number;
  /** Raw trades kept per product (REST `Trades` reaches back this far). @default 200,000 */
  maxTradesPerProduct?: number;
  /** Share of trades that are further fills of a taker order (same microsecond). @default 0.3 */
  multiFillShare?: number;
  /**
   * Share of all trades the WebSocket withholds (at most `multiFillShare`; peers measured
   * about 0.17). @default 0
   */
  withholdShare?: number;
  /** WebSocket side: intervals, snapshot size, message rate, … */
  ws?: Omit<KrakenWsOptions, "market" | "clock" | "multiFillShare" | "withholdShare">;
  /** REST side: rate limit, its status code, … */
  rest?: Omit<KrakenRestOptions, "clock">;
  /** @default "127.0.0.1" */
  hostname?: string;
  /** @default 0 (a free port) */
  port?: number;
}

/** A running Kraken simulator. */
export interface KrakenSimulator {
  /** `ws://127.0.0.1:PORT/v2` */
  readonly wsUrl: string;
  /** `http://127.0.0.1:PORT` (the API is under `/0/public/`, as on `https://api.kraken.com`). */
  readonly restUrl: string;
  readonly market: Market;
  readonly ws: KrakenWsSimulator;
  readonly rest: KrakenRestHandler;
  /** Open WebSocket connections. */
  connections(): number;
  /** Fault: closes the matching sockets (code 4000). */
  dropConnections(target?: KrakenFaultTarget): number;
  /** Fault: Cloudflare's close, code 1001 "WebSocket proxy restarting". */
  restartProxy(target?: KrakenFaultTarget): number;
  /** Fault: no frames at all for `ms` on the matching sockets (what falls in it is lost). */
  stall(ms: number, target?: KrakenFaultTarget): number;
  /** Fault: `symbol`'s subscriptions (or its next `next` subscribes) deliver nothing. */
  silenceSubscription(symbol: string, options?: { next?: number }): number;
  /** Fault: the WebSocket withholds `share` of the trades (of `target.symbol`, or all). */
  withholdTrades(share: number, target?: KrakenFaultTarget): void;
  /** Fault: a `status` update with another `system` state. */
  setSystemStatus(system: SystemStatus, target?: KrakenFaultTarget): number;
  /** Fault: the next REST responses fail. */
  injectRestFaults(fault: KrakenRestFault): void;
  /** Stops everything; resolves when the port is free. */
  close(): Promise<void>;
}

/** The service's market key of a simulator symbol: `BTC/USD` → `kraken:BTC-USD`. */
export function simSymbolKey(symbol: string): string {
  return marketKey("kraken", symbol.replace("/", "-"));
}

/** Starts a Kraken simulator on a free local port. */
export function startKrakenSimulator(
  options: KrakenSimulatorOptions = {},
): Promise<KrakenSimulator> {
  const clock = options.clock ?? systemClock;
  const multiFillShare = options.multiFillShare ?? 0.3;
  const market = new Market({
    products: options.products ?? krakenDemoProducts(5),
    seed: options.seed ?? 1,
    startMs: clock(),
    historyMs: options.historyMs,
    historyTradesPerSecond: options.historyTradesPerSecond,
    maxTradesPerProduct: options.maxTradesPerProduct ?? 200_000,
    tradeProduct: simSymbolKey,
    multiFillShare,
  });
  const ws = new KrakenWsSimulator({
    ...options.ws,
    market,
    clock,
    multiFillShare,
    withholdShare: options.withholdShare ?? 0,
  });
  const rest = createKrakenRestHandler(market, { ...options.rest, clock });
  const server = serveSimulator({ ...options, wsPath: "/v2" }, (req) => ws.handle(req), rest);
  const host = server.host;
  return Promise.resolve({
    wsUrl: `ws://${host}/v2`,
    restUrl: `http://${host}`,
    market,
    ws,
    rest,
    connections: () => ws.connections(),
    dropConnections: (t) => ws.dropConnections(t),
    restartProxy: (t) => ws.restartProxy(t),
    stall: (ms, t) => ws.stall(ms, t),
    silenceSubscription: (s, o) => ws.silenceSubscription(s, o),
    withholdTrades: (share, t) => ws.withholdTrades(share, t),
    setSystemStatus: (s, t) => ws.setSystemStatus(s, t),
    injectRestFaults: (f) => rest.injectFaults(f),
    close: async () => {
      await ws.close();
      await server.shutdown();
    },
  });
}

const MAJORS: SimProductSpec[] = [
  { id: "BTC/USD", price: 83_000, tradesPerSecond: 5, tick: 0.1 },
  { id: "ETH/USD", price: 3_100, tradesPerSecond: 3, tick: 0.01 },
  { id: "ADA/USD", price: 0.72, tradesPerSecond: 1, tick: 0.000001 },
  { id: "DOGE/USD", price: 0.17, tradesPerSecond: 1, tick: 0.0000001 },
  { id: "SOL/USD", price: 140, tradesPerSecond: 2, tick: 0.01 },
];

/**
 * `n` Kraken product specs (v2 symbols) for demos and benches: the five majors with Kraken's
 * ticks first, then synthetic `X001/USD`, `X002/USD`, …; every third synthetic one is illiquid
 * (one trade a minute). `tradesPerSecond` overrides every product's rate.
 */
export function krakenDemoProducts(
  n: number,
  options: { tradesPerSecond?: number } = {},
): SimProductSpec[] {
  return demoProductSpecs(n, MAJORS, (k) => `${syntheticBase(k)}/USD`, options);
}
