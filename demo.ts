/**
 * `deno task demo`: the very same service, fed by the local Coinbase simulator started in this
 * process, so it works offline. Environment variables still apply (`PORT`, `PRODUCTS`, …); the
 * Coinbase URLs point at the simulator and the KV file defaults to `./data/demo.kv`.
 */
import { demoProducts, startSimulator } from "./lib/coinbase/simulator.ts";
import { isProductId, processEnv } from "./lib/config.ts";
import { main } from "./main.ts";

const requested = processEnv("PRODUCTS")?.split(",").map((s) => s.trim().toUpperCase()).filter(
  isProductId,
);
const count = Number(processEnv("DEMO_PRODUCTS") ?? "12");
const products = requested?.length
  ? demoProducts(Math.max(count, requested.length)).map((p, i) => ({
    ...p,
    id: requested[i] ?? p.id,
  }))
  : demoProducts(count);
const simulator = await startSimulator({ products });
const overrides: Record<string, string> = {
  COINBASE_WS_URL: simulator.wsUrl,
  COINBASE_REST_URL: simulator.restUrl,
  PRODUCTS: products.map((p) => p.id).join(","),
  KV_PATH: processEnv("KV_PATH") ?? "./data/demo.kv",
};
const running = await main((name) => overrides[name] ?? processEnv(name));
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, async () => {
    await running.shutdown();
    await simulator.close();
    Deno.exit(0);
  });
}
