/**
 * @module
 * The bench simulator's REST side in a Worker of its own (`simulator_process.ts` starts it):
 * Coinbase counts a request against its limit when its edge receives it, whatever its WebSocket
 * fan-out is doing, while a REST handler sharing the simulator's event loop stamps a request only
 * once that loop is free: a 100-ms flush of 1,000 products' frames bunched requests the service
 * had sent 125 ms apart into one second, and the strict limit answered 429 to what Coinbase
 * would have counted evenly. Here the REST side has its own event loop (its own thread) and its
 * own {@linkcode Market}, built from the same products, seed, start and history as the
 * WebSocket side's, so it answers the same candles (the market is deterministic).
 *
 * Messages in: `{cmd: "start", products, seed, startMs, historyMs, historyTradesPerSecond,
 * maxTradesPerProduct, publicLimit}` (answered `{restUrl}` when listening, its history
 * generated) and `{cmd: "rest"}` (answered `{requests, rateLimited, maxPerSecond}` since the
 * last one); `{cmd: "close"}` stops it.
 */
/// <reference lib="deno.worker" />
import { Market, type SimProductSpec } from "../lib/simulator/market.ts";
import { createRestHandler, type RestHandler } from "../lib/coinbase/simulator/rest.ts";
import { type BucketLimit, maxInWindow } from "../lib/coinbase/simulator/rest_limits.ts";
import { serveSimulator, type SimulatorServer } from "../lib/simulator/serve.ts";

interface Start {
  cmd: "start";
  products: SimProductSpec[];
  seed: number;
  startMs: number;
  historyMs: number;
  historyTradesPerSecond: number;
  maxTradesPerProduct: number;
  publicLimit: BucketLimit;
}

let rest: RestHandler | undefined;
let server: SimulatorServer | undefined;
let seen = 0;

self.onmessage = async (e: MessageEvent<Start | { cmd: "rest" | "close" }>) => {
  const msg = e.data;
  if (msg.cmd === "start") {
    const market = new Market({
      products: msg.products,
      seed: msg.seed,
      startMs: msg.startMs,
      historyMs: msg.historyMs,
      historyTradesPerSecond: msg.historyTradesPerSecond,
      maxTradesPerProduct: msg.maxTradesPerProduct,
    });
    market.advance(Date.now());
    rest = createRestHandler(market, { publicLimit: msg.publicLimit });
    server = serveSimulator(
      {},
      () => new Response("Not Found (the WebSocket is on the main simulator)\n", { status: 404 }),
      rest,
    );
    self.postMessage({ restUrl: `http://${server.host}/api/v3/brokerage` });
  } else if (msg.cmd === "rest") {
    const log = rest?.requests ?? [];
    const fresh = log.slice(seen);
    seen = log.length;
    self.postMessage({
      requests: fresh.length,
      rateLimited: fresh.filter((r) => r.forced === "rate-limit").length,
      maxPerSecond: maxInWindow(fresh, 1000),
    });
  } else if (msg.cmd === "close") {
    await server?.shutdown();
    self.close();
  }
};
