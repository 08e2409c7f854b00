import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { ONE_MINUTE } from "../../lib/candles/granularity.ts";
import { demoProducts, startSimulator } from "../../lib/coinbase/simulator.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { until } from "../helpers/service.ts";

Deno.test("main.ts on SIGTERM flushes every completed candle and the live state, then exits 0", async () => {
  const products = demoProducts(3);
  const sim = await startSimulator({
    products,
    historyMs: 2 * 3600_000,
    historyTradesPerSecond: 1,
    rest: { publicLimit: { ratePerSecond: 1000, burst: 1000 } },
  });
  const dir = await Deno.makeTempDir();
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      "main.ts",
    ],
    env: {
      PORT: String(port),
      COINBASE_WS_URL: sim.wsUrl,
      COINBASE_REST_URL: sim.restUrl,
      PRODUCTS: products.map((p) => p.id).join(","),
      KV_PATH: `${dir}/spot.kv`,
      CATCHUP_HOURS: "1",
      FLUSH_INTERVAL_MS: "200",
      LOG_LEVEL: "warning",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  let sigtermAt = 0;
  try {
    await until(
      async () => {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/health`);
          const body = await r.json();
          return body.status === "healthy";
        } catch {
          return false;
        }
      },
      80_000,
      "the service to be healthy",
    );
    // An open SSE client must not hold the shutdown up.
    const sse = await fetch(`http://127.0.0.1:${port}/api/stream?products=BTC-USD`);
    // Let at least one live minute complete.
    const firstFull = Math.floor(Date.now() / 60_000) * 60_000 + 60_000;
    await until(() => Date.now() > firstFull + 3000, 70_000, "a minute to complete");
    sigtermAt = Date.now();
    child.kill("SIGTERM");
    const status = await child.status;
    const [, stderr] = await output;
    equal(status.code, 0, stderr);
    ok(Date.now() - sigtermAt < 10_000, "within Cloud Run's 10 s grace");
    await sse.body?.cancel();
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await sim.close();
  }
  const store = await openKvCandleStore(`${dir}/spot.kv`);
  try {
    const lastDone = Math.floor((sigtermAt - 3000) / 60_000) * 60 - 60;
    for (const p of products) {
      const stored = await store.readCompleted(p.id, "ONE_MINUTE", {
        start: lastDone - 600,
        end: lastDone,
        limit: 100,
      });
      deepStrictEqual(stored, sim.market.candles(p.id, ONE_MINUTE, lastDone - 600, lastDone), p.id);
      const live = await store.readLive(p.id);
      equal(live.length, 8, `${p.id} has all eight live documents`);
    }
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
