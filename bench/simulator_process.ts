/**
 * @module
 * The bench's Coinbase: the simulator in its own process (so the service's RSS and CPU are its
 * own), plus the latency log of the end-to-end run, which lives here because the latency is
 * measured against this process's send times (the SSE clients are `sse_clients_process.ts`).
 *
 * Usage: `bench/simulator_process.ts <products> <tradesPerSecond> <historyTradesPerSecond>
 * <historyHours> <publicRestRatePerSecond> <publicRestBurst> [sliding]` (`sliding` = 1: the
 * strict limit, at most the rate in any sliding second, 429 beyond: Coinbase's real 10/s). Prints one JSON line
 * `{"wsUrl","restUrl","products"}` when listening, then reads JSON commands, one per line, on
 * stdin and answers each with one JSON line on stdout:
 *
 * - `{"cmd":"match","samples":[[product, start, volume, receiptMs], …]}` measures updates
 *   received by the SSE clients (`sse_clients_process.ts`);
 * - `{"cmd":"report"}` answers latency quantiles and counts since the last report;
 * - `{"cmd":"rest"}` answers the REST requests served since the last `rest` command
 *   (`{requests, rateLimited, maxPerSecond}`);
 * - stdin closing stops everything.
 *
 * Latency: the simulator sends a trade in the first `market_trades` flush of its product's
 * phase at or after its time, so this process records every flush time per phase (the `to` of
 * the market's `trades(…)` calls the flush makes), when that flush had handed all its frames to
 * the sockets (a microtask after the flush's timer callback), and each trade's cumulative
 * 1-minute volume. An SSE
 * `ONE_MINUTE` live update whose volume changed is matched to the trade that brought the
 * candle to that volume; latency = SSE receipt − when that trade's flush was sent (the
 * simulator's own generating and serialising is the harness's, reported apart).
 */
import { demoProducts, startSimulator } from "../lib/coinbase/simulator.ts";
import type { SimTrade } from "../lib/simulator/market.ts";
import { SseLatency } from "./sse_latency.ts";

const [products, tps, historyTps, historyHours, restRate, restBurst, sliding] = Deno.args.map(
  Number,
);
if (!(products! > 0 && tps! > 0 && historyTps! > 0 && historyHours! >= 0 && restRate! > 0)) {
  throw new Error(`Bad simulator_process arguments: ${Deno.args.join(" ")}`);
}

const specs = demoProducts(products!, { tradesPerSecond: tps });
const marketOptions = {
  products: specs,
  seed: 1,
  historyMs: historyHours! * 3600_000,
  historyTradesPerSecond: historyTps!,
  // 500 trades (100 s at 5/s) cover the ticker endpoint's answers and the feed's
  // snapshots; the default 20,000 held about 4 GB of trades at 1,000 products.
  maxTradesPerProduct: 500,
};
const publicLimit = {
  ratePerSecond: restRate!,
  burst: restBurst || restRate!,
  sliding: sliding === 1,
};
const sim = await startSimulator({ ...marketOptions, rest: { publicLimit } });

// The REST side the service is pointed at runs in a Worker (`simulator_rest_worker.ts` says
// why); the in-process one above stays for nothing but its own tests' sake.
const restWorker = new Worker(new URL("./simulator_rest_worker.ts", import.meta.url).href, {
  type: "module",
});
const restAnswers: ((value: unknown) => void)[] = [];
restWorker.onmessage = (e) => restAnswers.shift()?.(e.data);
function askRest<T>(msg: Record<string, unknown>): Promise<T> {
  return new Promise((resolve) => {
    restAnswers.push(resolve as (value: unknown) => void);
    restWorker.postMessage(msg);
  });
}
const { restUrl } = await askRest<{ restUrl: string }>({
  cmd: "start",
  ...marketOptions,
  startMs: sim.market.startMs,
  publicLimit,
});

const latency = new SseLatency((product) => sim.ws.phaseOf(product));
const market = sim.market;
const trades = market.trades.bind(market);
let lastFlush = NaN;
let lastPhase = NaN;
market.trades = (product: string, fromMs: number, toMs: number): SimTrade[] => {
  // One timer callback flushes one phase (two late ones may run within the same millisecond).
  const phase = sim.ws.phaseOf(product);
  if (toMs !== lastFlush || phase !== lastPhase) {
    lastPhase = phase;
    latency.flushed(phase, lastFlush = toMs);
    // Runs once the simulator's flush (a timer callback) has handed every frame to its socket.
    queueMicrotask(() => latency.sent(phase, toMs, performance.timeOrigin + performance.now()));
  }
  return trades(product, fromMs, toMs);
};
const advance = market.advance.bind(market);
market.advance = (nowMs: number): SimTrade[] => {
  const fresh = advance(nowMs);
  for (const t of fresh) latency.traded(t.product_id, t.timeUs / 1000, t.parsed.size);
  return fresh;
};

function reply(value: unknown): void {
  // deno-lint-ignore no-console
  console.log(JSON.stringify(value));
}

// The market generates its trades lazily, so the first flush would generate the whole history
// (hours × 1,000 products: tens of seconds with the process's event loop held, the service's
// first requests timing out). Coinbase has its history ready: generate it before saying so.
market.advance(Date.now());
reply({ wsUrl: sim.wsUrl, restUrl, products: market.products.map((p) => p.id) });

const decoder = new TextDecoder();
let buffered = "";
for await (const chunk of Deno.stdin.readable) {
  buffered += decoder.decode(chunk, { stream: true });
  let nl;
  while ((nl = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    if (!line) continue;
    const cmd = JSON.parse(line);
    if (cmd.cmd === "report") {
      reply(latency.report());
    } else if (cmd.cmd === "match") {
      for (const [product, start, volume, receiptMs] of cmd.samples) {
        latency.received(product, start, volume, receiptMs);
      }
      reply({ ok: true });
    } else if (cmd.cmd === "rest") {
      reply(await askRest({ cmd: "rest" }));
    } else {
      reply({ error: `unknown command ${line}` });
    }
  }
}
restWorker.postMessage({ cmd: "close" });
await sim.close();
