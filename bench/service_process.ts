/**
 * @module
 * The service for the end-to-end bench: `main.ts`'s wiring (config from the environment → store
 * → REST client → service → HTTP server, SIGTERM flushes and exits) with one difference: the
 * REST client's rate is `BENCH_REST_RATE` requests/s (default: the client's own 8/s), so that
 * seeding 1,000 products at startup takes seconds against the bench simulator (whose REST limit
 * the bench raises to match) instead of ten minutes. Everything after startup is unchanged.
 */
import { loadConfig, processEnv } from "../lib/config.ts";
import { RestClient } from "../lib/coinbase/rest.ts";
import { setupLogging } from "../lib/log.ts";
import { Service } from "../lib/service.ts";
import { openStore } from "../lib/store/open.ts";
import { createApp } from "../routes/app.ts";

const config = loadConfig(processEnv);
await setupLogging({ level: config.logLevel, format: config.logFormat });
const store = await openStore(config);
const rate = Deno.env.get("BENCH_REST_RATE");
const rest = new RestClient({
  baseUrl: config.coinbaseRestUrl,
  key: config.coinbaseKey,
  ratePerSecond: rate ? Number(rate) : undefined,
});
const service = new Service({ config, store, rest });
const app = createApp(service);
const server = Deno.serve(
  { port: config.port, hostname: "127.0.0.1", onListen: () => {} },
  app.fetch,
);
service.start();
let stopping = false;
Deno.addSignalListener("SIGTERM", async () => {
  if (stopping) return;
  stopping = true;
  await service.stop(8000);
  await server.shutdown();
  Deno.exit(0);
});
