/**
 * `deno task demo`: the very same service, fed by the local Coinbase simulator started in this
 * process (and, with `EXCHANGES=coinbase,kraken`, the Kraken simulator beside it), so it works
 * offline. Environment variables still apply (`PORT`, `PRODUCTS`, …); the exchanges' URLs point
 * at the simulators and the KV file defaults to `./data/demo.kv`. The Kraken simulator withholds
 * 17 % of the trades from its WebSocket, as peers measured on the real one: the service repairs
 * them from REST Trades (the product page lists the repairs).
 */
import { demoProducts, startSimulator } from "./lib/coinbase/simulator.ts";
import { isProductId, parseExchanges, processEnv } from "./lib/config.ts";
import { krakenDemoProducts, startKrakenSimulator } from "./lib/kraken/simulator.ts";
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
const exchanges = parseExchanges(processEnv("EXCHANGES"));
const kraken = exchanges.includes("kraken")
  ? await startKrakenSimulator({
    products: krakenDemoProducts(Number(processEnv("DEMO_KRAKEN_PRODUCTS") ?? "5")),
    withholdShare: 0.17,
  })
  : undefined;
if (kraken) {
  overrides.KRAKEN_WS_URL = kraken.wsUrl;
  overrides.KRAKEN_REST_URL = kraken.restUrl;
  overrides.KRAKEN_PRODUCTS = kraken.market.products.map((p) => p.id).join(",");
}
const running = await main((name) => overrides[name] ?? processEnv(name));
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, async () => {
    await running.shutdown();
    await simulator.close();
    await kraken?.close();
    Deno.exit(0);
  });
}
