/**
 * Entry point of the service (`deno task start`): config → store → REST client → service
 * (feed, aggregator, hub, writer) → HTTP server. SIGTERM and SIGINT stop intake, flush the
 * writer within Cloud Run's grace and exit 0. Wiring only; the pieces live in `lib/` and
 * `routes/`.
 */
import { ConfigError, type Env, loadConfig, processEnv } from "./lib/config.ts";
import { RestClient } from "./lib/coinbase/rest.ts";
import { getLogger, setupLogging } from "./lib/log.ts";
import { shardIdentity, ShardRegistry, shardSnapshot } from "./lib/service/registry.ts";
import { Service } from "./lib/service/service.ts";
import { openStore } from "./lib/store/open.ts";
import { createApp } from "./routes/app.ts";

const log = getLogger(["spot", "main"]);

/** A running service and its HTTP server. */
export interface Running {
  service: Service;
  registry: ShardRegistry;
  server: Deno.HttpServer<Deno.NetAddr>;
  /** Stops intake, flushes, closes; resolves when everything is closed. */
  shutdown(): Promise<void>;
}

/** Starts the service with the configuration read from `env`. */
export async function main(env: Env = processEnv): Promise<Running> {
  let config;
  try {
    config = loadConfig(env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    await setupLogging({ level: "info", format: "pretty" });
    log.fatal("Bad configuration: {message}", { message: e.message, variable: e.variable });
    Deno.exit(2);
  }
  await setupLogging({ level: config.logLevel, format: config.logFormat });
  const store = await openStore(config);
  const rest = new RestClient({
    baseUrl: config.coinbaseRestUrl,
    key: config.coinbaseKey,
    ratePerSecond: config.coinbaseRestRate,
  });
  const service = new Service({ config, store, rest });
  const registry = new ShardRegistry({
    store,
    identity: shardIdentity(config, service.startedAt),
    snapshot: () => shardSnapshot(service),
    intervalMs: config.shardHeartbeatMs,
  });
  registry.addMetrics(service.metrics.registry);
  const app = createApp(service, {
    fleet: { report: () => registry.fleet(), self: registry.id },
  });
  const server = Deno.serve({
    port: config.port,
    hostname: "0.0.0.0",
    onListen: ({ port }) =>
      log.info("Listening on http://localhost:{port}/ ({store} store, {products})", {
        port,
        store: config.store,
        products: config.products === "all" ? "all products" : config.products.join(","),
      }),
  }, app.fetch);
  service.start();
  registry.start();
  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      log.info("Shutting down: stopping intake and flushing the writer");
      // The registry entry is marked stopped first (the service closes the store), waiting at
      // most 2 s for it, so that the writer keeps 7 s of Cloud Run's 10 s grace.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([registry.stop(), new Promise((r) => timer = setTimeout(r, 2000))]);
      clearTimeout(timer);
      await service.stop(7000);
      await server.shutdown();
    })();
  return { service, registry, server, shutdown };
}

if (import.meta.main) {
  const running = await main();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, async () => {
      await running.shutdown();
      Deno.exit(0);
    });
  }
}
