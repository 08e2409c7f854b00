/**
 * @module
 * The protocol-faithful Coinbase stand-in used by tests, `deno task demo` and the bench: one
 * `Deno.serve` on a free port that upgrades WebSocket requests to the {@linkcode WsSimulator}
 * and routes HTTP requests under `/api/v3/brokerage` to the REST handler, both driven by one
 * {@linkcode Market} and one clock. Wire behaviour lives in `simulator/ws.ts` and
 * `simulator/rest.ts`; trade generation in `lib/simulator/market.ts` (the market model both simulators share).
 */
import type { Clock } from "../clock.ts";
import { systemClock } from "../clock.ts";
import { Market, type SimProductSpec } from "../simulator/market.ts";
import { demoProductSpecs, serveSimulator, syntheticBase } from "../simulator/serve.ts";
import { createRestHandler, type RestHandler, type RestHandlerOptions } from "./simulator/rest.ts";
import { type FaultTarget, WsSimulator, type WsSimulatorOptions } from "./simulator/ws.ts";

export type { FaultTarget, SimProductSpec };
export { Market };

/** Options for {@linkcode startSimulator}. */
export interface SimulatorOptions {
  /** @default demoProducts(5) */
  products?: SimProductSpec[];
  /** @default 1 */
  seed?: number;
  /** Market time for trades and timestamps. @default systemClock */
  clock?: Clock;
  /** History generated before the clock's current time. @default 6 h */
  historyMs?: number;
  /** Trade rate per product during history. @default 0.1 */
  historyTradesPerSecond?: number;
  /**
   * Recent trades kept per product (for the `ticker` endpoint, snapshots and replays); older ones
   * are forgotten, the 1-minute truth is kept. @default 20,000
   */
  maxTradesPerProduct?: number;
  /** WebSocket side: intervals, deadlines, `client_id`, … */
  ws?: Omit<WsSimulatorOptions, "market" | "clock">;
  /** REST side: rate limits, key verification, … */
  rest?: Omit<RestHandlerOptions, "clock">;
  /** @default "127.0.0.1" */
  hostname?: string;
  /** @default 0 (a free port) */
  port?: number;
}

/** A running simulator. */
export interface Simulator {
  /** `ws://127.0.0.1:PORT` */
  readonly wsUrl: string;
  /** `http://127.0.0.1:PORT/api/v3/brokerage` */
  readonly restUrl: string;
  readonly market: Market;
  readonly ws: WsSimulator;
  readonly rest: RestHandler;
  /** Open WebSocket connections. */
  connections(): number;
  /** Fault: closes the matching sockets. */
  dropConnections(target?: FaultTarget): number;
  /** Fault: no frames at all for `ms` on the matching sockets. */
  stall(ms: number, target?: FaultTarget): number;
  /** Fault: `count` garbage frames. */
  sendGarbage(count: number, target?: FaultTarget): number;
  /** Fault: skip the next `count` trade updates (their trades only REST knows). */
  withholdFrames(count: number, target?: FaultTarget): number;
  /** Fault: jump `sequence_num` by `n`. */
  skipSequence(n: number, target?: FaultTarget): number;
  /** Fault: resend the last trade update verbatim. */
  duplicateLastFrame(target?: FaultTarget): number;
  /** Fault: send old trades again in a new update. */
  replayTrades(count: number, target?: FaultTarget): number;
  /** Fault: an `error` frame. */
  sendError(message: string, target?: FaultTarget): number;
  /** Stops everything; resolves when the port is free. */
  close(): Promise<void>;
}

/** Starts a simulator on a free local port. */
export function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const clock = options.clock ?? systemClock;
  const market = new Market({
    products: options.products ?? demoProducts(5),
    seed: options.seed ?? 1,
    startMs: clock(),
    historyMs: options.historyMs,
    historyTradesPerSecond: options.historyTradesPerSecond,
    maxTradesPerProduct: options.maxTradesPerProduct,
  });
  const ws = new WsSimulator({ ...options.ws, market, clock });
  const rest = createRestHandler(market, { ...options.rest, clock });
  const server = serveSimulator(options, (req) => ws.handle(req), rest);
  const host = server.host;
  return Promise.resolve({
    wsUrl: `ws://${host}`,
    restUrl: `http://${host}/api/v3/brokerage`,
    market,
    ws,
    rest,
    connections: () => ws.connections(),
    dropConnections: (t) => ws.dropConnections(t),
    stall: (ms, t) => ws.stall(ms, t),
    sendGarbage: (n, t) => ws.sendGarbage(n, t),
    withholdFrames: (n, t) => ws.withholdFrames(n, t),
    skipSequence: (n, t) => ws.skipSequence(n, t),
    duplicateLastFrame: (t) => ws.duplicateLastFrame(t),
    replayTrades: (n, t) => ws.replayTrades(n, t),
    sendError: (m, t) => ws.sendError(m, t),
    close: async () => {
      await ws.close();
      await server.shutdown();
    },
  });
}

const MAJORS: SimProductSpec[] = [
  { id: "BTC-USD", price: 83_000, tradesPerSecond: 5 },
  { id: "ETH-USD", price: 3_100, tradesPerSecond: 3 },
  { id: "ADA-USD", price: 0.72, tradesPerSecond: 1, tick: 0.0001 },
  { id: "DOGE-USD", price: 0.17, tradesPerSecond: 1, tick: 0.00001 },
  { id: "SOL-USD", price: 140, tradesPerSecond: 2 },
];

/**
 * `n` product specs for demos and benches: the five majors first, then synthetic `X001-USD`,
 * `X002-USD`, …; every third synthetic product is illiquid (one trade a minute).
 * `tradesPerSecond` overrides every product's rate (the bench uses 5).
 */
export function demoProducts(
  n: number,
  options: { tradesPerSecond?: number } = {},
): SimProductSpec[] {
  return demoProductSpecs(n, MAJORS, (k) => `${syntheticBase(k)}-USD`, options);
}
