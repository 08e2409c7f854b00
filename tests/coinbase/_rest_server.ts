/**
 * @module
 * Test helper: the simulator's REST handler on a real port (Deno.serve on port 0) over a market
 * with history, with a fixed market clock unless one is given.
 */
import type { Clock } from "../../lib/clock.ts";
import { Market, type SimProductSpec } from "../../lib/simulator/market.ts";
import {
  createRestHandler,
  REST_PREFIX,
  type RestHandler,
  type RestHandlerOptions,
} from "../../lib/coinbase/simulator/rest.ts";

/** A fixed "now" for tests: 2026-03-14 15:09:26.123 UTC. */
export const NOW_MS = Date.UTC(2026, 2, 14, 15, 9, 26, 123);

export const PRODUCTS: SimProductSpec[] = [
  { id: "BTC-USD", price: 83000, tradesPerSecond: 5 },
  { id: "ETH-USD", price: 3200, tradesPerSecond: 3 },
  { id: "DOGE-USD", price: 0.18, tradesPerSecond: 0.05, tick: 0.00001 },
  { id: "BTC-EUR", price: 76000, tradesPerSecond: 1 },
  { id: "OLD-USD", price: 1.5, tradesPerSecond: 0, status: "delisted" },
];

export interface RestSim {
  market: Market;
  handler: RestHandler;
  /** API base including `/api/v3/brokerage`. */
  baseUrl: string;
  close(): Promise<void>;
}

/** Starts a simulator REST server. Market history covers `historyMs` before `NOW_MS`. */
export function startRestSim(
  options: RestHandlerOptions & { historyMs?: number; products?: SimProductSpec[] } = {},
): RestSim {
  const clock: Clock = options.clock ?? (() => NOW_MS);
  const market = new Market({
    products: options.products ?? PRODUCTS,
    seed: 7,
    startMs: NOW_MS,
    historyMs: options.historyMs ?? 3 * 86400_000,
    historyTradesPerSecond: 0.1,
  });
  market.advance(clock());
  const handler = createRestHandler(market, { ...options, clock });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, handler);
  return {
    market,
    handler,
    baseUrl: `http://127.0.0.1:${server.addr.port}${REST_PREFIX}`,
    close: () => server.shutdown(),
  };
}
