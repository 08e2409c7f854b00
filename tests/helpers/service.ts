/**
 * Test harness: the real service fed by the simulator, on an accelerated clock shared by both,
 * with short intervals, so minutes pass in seconds. Used by the end-to-end and route tests.
 */
import { type Clock } from "../../lib/clock.ts";
import { loadConfig } from "../../lib/config.ts";
import { RestClient, type RestClientOptions } from "../../lib/coinbase/rest.ts";
import { demoProducts, type Simulator, startSimulator } from "../../lib/coinbase/simulator.ts";
import { Service, type ServiceOptions } from "../../lib/service/service.ts";
import type { CandleStore } from "../../lib/store/store.ts";

/** Polls `cond` every 20 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Options for {@linkcode startHarness}. */
export interface HarnessOptions {
  clock: Clock;
  store: CandleStore;
  products?: number;
  env?: Record<string, string>;
  historyMs?: number;
  /** Builds the REST client from the options the harness would use (tests inject faults). */
  rest?: (options: RestClientOptions) => RestClient;
  /** Overrides of the harness's feed options (e.g. slower connection pacing). */
  feed?: ServiceOptions["feed"];
  /** Waits of the startup retry loop (real ms). @default the abort-aware sleep */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Real ms between catalogue refreshes. @default hourly */
  catalogueRefreshMs?: number;
  /** The writer's cap and retry backoff (outage tests scale them). @default the writer's */
  writer?: ServiceOptions["writer"];
  /** Trades per product in the simulator's subscription snapshots. @default 100 (Coinbase's) */
  snapshotSize?: number;
  /**
   * The simulator of an earlier harness, to run another service on (a restart): its products
   * are used, and {@linkcode Harness.close} leaves it running.
   */
  sim?: Simulator;
}

/** A simulator and a service wired to it. */
export interface Harness {
  sim: Simulator;
  service: Service;
  /** The store the service writes (open until {@linkcode Harness.close}). */
  store: CandleStore;
  ids: string[];
  close(): Promise<void>;
}

/** Starts the simulator and the service (not waiting for startup to finish). */
export async function startHarness(o: HarnessOptions): Promise<Harness> {
  const products = demoProducts(o.products ?? 5);
  const sim = o.sim ?? await startSimulator({
    products,
    clock: o.clock,
    historyMs: o.historyMs ?? 26 * 3600_000,
    historyTradesPerSecond: 0.2,
    rest: { publicLimit: { ratePerSecond: 1000, burst: 1000 } },
    ws: { heartbeatIntervalMs: 100, flushIntervalMs: 50, snapshotSize: o.snapshotSize },
  });
  const ids = products.map((p) => p.id);
  const env: Record<string, string> = {
    COINBASE_WS_URL: sim.wsUrl,
    COINBASE_REST_URL: sim.restUrl,
    PRODUCTS: ids.join(","),
    FLUSH_INTERVAL_MS: "50",
    CATCHUP_HOURS: "2",
    // The history filler has its own tests (it walks 30 days back by default).
    HISTORY_DAYS: "0",
    ...o.env,
  };
  const config = loadConfig((name) => env[name]);
  const restOptions: RestClientOptions = {
    baseUrl: sim.restUrl,
    ratePerSecond: 500,
    backoffBaseMs: 20,
    backoffMaxMs: 200,
  };
  const rest = o.rest?.(restOptions) ?? new RestClient(restOptions);
  const service = new Service({
    config,
    store: o.store,
    rest,
    clock: o.clock,
    tickMs: 50,
    sleep: o.sleep,
    catalogueRefreshMs: o.catalogueRefreshMs,
    writer: o.writer,
    feed: {
      staleAfterMs: 600,
      connectIntervalMs: 20,
      backoff: { initialMs: 50, maxMs: 400 },
      // The top of the backoff's jitter: a reconnect waits a visible 50 ms, not a random 0–50.
      random: () => 1,
      ...o.feed,
    },
  });
  service.start();
  return {
    sim,
    service,
    store: o.store,
    ids,
    close: async () => {
      await service.stop(5000);
      if (!o.sim) await sim.close();
    },
  };
}
