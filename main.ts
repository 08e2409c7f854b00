/**
 * Entry point of the service (`deno task start`): config → store → exchanges (feed + REST
 * client each) → service (aggregator, hub, writer) → HTTP server. SIGTERM and SIGINT stop intake, flush the
 * writer within Cloud Run's grace and exit 0. Wiring only; the pieces live in `lib/` and
 * `routes/`.
 */
import { ConfigError, type Env, loadConfig, processEnv } from "./lib/config.ts";
import { getLogger, setupLogging } from "./lib/log.ts";
import { createExchanges } from "./lib/service/exchanges.ts";
import { Service } from "./lib/service/service.ts";
import { openStore } from "./lib/store/open.ts";
import { appOptions, createApp } from "./routes/app.ts";

const log = getLogger(["spot", "main"]);

/** A running service and its HTTP server. */
export interface Running {
  service: Service;
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
  const service = new Service({ config, store, exchanges: createExchanges(config) });
  const app = createApp(service, appOptions(config));
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      port: config.port,
      hostname: "0.0.0.0",
      onListen: ({ port }) =>
        log.info("Listening on http://localhost:{port}/ ({store} store, {products})", {
          port,
          store: config.store,
          products: config.exchanges.map((e) => {
            const p = e === "kraken" ? config.kraken.products : config.products;
            return `${e}: ${p === "all" ? "all products" : p.join(",")}`;
          }).join("; "),
        }),
    }, app.fetch);
  } catch (e) {
    if (!(e instanceof Deno.errors.AddrInUse) && !(e instanceof Deno.errors.PermissionDenied)) {
      throw e;
    }
    log.fatal("Cannot listen on port {port}: {error}; set PORT to a free port", {
      port: config.port,
      error: (e as Error).message,
    });
    await store.close();
    Deno.exit(1);
  }
  service.start();
  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      log.info("Shutting down: stopping intake and flushing the writer");
      await service.stop(8000);
      await server.shutdown();
    })();
  service.ready().catch(async (e) => {
    // The service logged the failure; bad configuration (e.g. PRODUCTS naming ids Coinbase does
    // not know) ends the process, as a bad variable does. Anything else stays on /health.
    if (!(e instanceof ConfigError)) return;
    log.fatal("Bad configuration: {message}", { message: e.message, variable: e.variable });
    await shutdown();
    Deno.exit(2);
  });
  return { service, server, shutdown };
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
