/**
 * Test entry: the service as `main.ts` runs it (config from the environment, the store it names,
 * REST, the HTTP app), in a process of its own, on an accelerated clock that a test process can
 * share: `SPOT_TEST_CLOCK=startMs,originMs,speed` makes the clock `startMs + (Date.now() −
 * originMs) × speed`, the same function of the wall clock in every process. Short test
 * intervals (ticks, feed backoff), as `tests/helpers/service.ts` uses in process. Logs
 * `Listening on http://localhost:PORT/` once it listens; SIGTERM stops it as `main.ts` does.
 */
import { type Clock } from "../../lib/clock.ts";
import { loadConfig } from "../../lib/config.ts";
import { RestClient } from "../../lib/coinbase/rest.ts";
import { setupLogging } from "../../lib/log.ts";
import { Service } from "../../lib/service/service.ts";
import { openStore } from "../../lib/store/open.ts";
import { appOptions, createApp } from "../../routes/app.ts";

/** The clock of `SPOT_TEST_CLOCK` (see the module comment). */
export function sharedClock(spec: string): Clock {
  const [startMs, originMs, speed] = spec.split(",").map(Number) as [number, number, number];
  return () => Math.floor(startMs + (Date.now() - originMs) * speed);
}

/** `SPOT_TEST_CLOCK` for a clock equal to `startMs` now, running `speed` times the wall clock. */
export function sharedClockSpec(startMs: number, speed: number): string {
  return `${startMs},${Date.now()},${speed}`;
}

if (import.meta.main) {
  const env = (name: string) => Deno.env.get(name);
  const config = loadConfig(env);
  await setupLogging({ level: config.logLevel, format: config.logFormat });
  const clock = sharedClock(env("SPOT_TEST_CLOCK")!);
  const store = await openStore(config);
  const rest = new RestClient({
    baseUrl: config.coinbaseRestUrl,
    ratePerSecond: config.coinbaseRestRate,
    backoffBaseMs: 20,
    backoffMaxMs: 200,
  });
  const service = new Service({
    config,
    store,
    rest,
    clock,
    tickMs: 50,
    feed: { staleAfterMs: 600, connectIntervalMs: 20, backoff: { initialMs: 50, maxMs: 400 } },
  });
  const app = createApp(service, appOptions(config));
  const server = Deno.serve({
    port: config.port,
    hostname: "127.0.0.1",
    // deno-lint-ignore no-console
    onListen: ({ port }) => console.log(`Listening on http://localhost:${port}/`),
  }, app.fetch);
  service.start();
  Deno.addSignalListener("SIGTERM", async () => {
    await service.stop(8000);
    await server.shutdown();
    Deno.exit(0);
  });
}
