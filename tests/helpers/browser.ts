/**
 * @module
 * Browser test support: Debian's Chromium through `playwright-core` (ignored with a reason when
 * it is missing, failing instead under `REQUIRE_BROWSER=1`), and a dashboard fixture — the real
 * service on a temporary KV store, fed by the simulator, served by `createApp` behind a
 * {@linkcode DropProxy} so a test can cut the browser off as a restart would.
 */
import type { Browser, Page } from "playwright-core";
import { demoProducts, type Simulator, startSimulator } from "../../lib/coinbase/simulator.ts";
import { RestClient } from "../../lib/coinbase/rest.ts";
import { loadConfig } from "../../lib/config.ts";
import type { CandleStore } from "../../lib/store/store.ts";
import { Service } from "../../lib/service/service.ts";
import { openStore } from "../../lib/store/open.ts";
import { appOptions, createApp } from "../../routes/app.ts";
import { DropProxy } from "./drop_proxy.ts";

/** Debian's Chromium. */
export const CHROMIUM_PATH = "/usr/bin/chromium";
/** Launch flags that work in containers and keep Chromium off the network. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
/** Where browser tests save screenshots (gitignored). */
export const SCREENSHOT_DIR = new URL("../../.screenshots/", import.meta.url);

/**
 * Whether browser tests should be ignored here, and why. Under `REQUIRE_BROWSER=1` a missing
 * Chromium is not a reason: the test runs and fails.
 */
export function browserMissing(): string | undefined {
  try {
    Deno.statSync(CHROMIUM_PATH);
    return undefined;
  } catch {
    if (Deno.env.get("REQUIRE_BROWSER") === "1") return undefined;
    const reason = `${CHROMIUM_PATH} not found (apt-get install chromium; ` +
      "REQUIRE_BROWSER=1 makes this a failure)";
    // deno-lint-ignore no-console
    console.warn(`Ignoring browser tests: ${reason}`);
    return reason;
  }
}

/** Launches headless Chromium; fails with a clear message when it is not installed. */
export async function launchBrowser(): Promise<Browser> {
  try {
    Deno.statSync(CHROMIUM_PATH);
  } catch {
    throw new Error(`Cannot launch Chromium: ${CHROMIUM_PATH} is missing (REQUIRE_BROWSER=1)`);
  }
  // playwright-core's bundled `is-wsl` probes /proc/sys/fs/binfmt_misc/WSLInterop when it is
  // imported; under Deno that path needs --allow-all (NotCapable, not `false`). With this
  // variable set the probe is deferred to a function nobody calls on Linux, so the narrow test
  // permissions suffice. Hence the dynamic import.
  Deno.env.set("__IS_WSL_TEST__", "1");
  const { chromium } = await import("playwright-core");
  return await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/** Runs `deno task build` (the island bundle the pages load). */
export async function buildIslands(): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "build"],
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(
      `Cannot build the island bundle (deno task build exited ${out.code}):\n${text}`,
    );
  }
}

/** Options for {@linkcode startDashboard}. */
export interface DashboardOptions {
  /** Simulated products (the five majors first). @default 6 */
  products?: number;
  /** @default 3 */
  productsPerConnection?: number;
  /** `DASHBOARD_PASSWORD`, if any. */
  password?: string;
  /** Reconnect backoff of the feed, real ms (long enough for a 2 s poll to see it). */
  reconnectMs?: number;
  /** Live trades per second of every simulated product (default: the demo's rates). */
  tradesPerSecond?: number;
  /** `SHARD_INDEX` and `SHARD_COUNT`. @default {index: 0, count: 1} */
  shard?: { index: number; count: number };
  /** Shard registry heartbeat, ms (`SHARD_HEARTBEAT_MS`). @default 15000 */
  registryMs?: number;
}

/** A running dashboard and everything behind it. */
export interface Dashboard {
  /** `http://127.0.0.1:PORT` (through the drop proxy). */
  url: string;
  /** Product ids served, in simulator order. */
  products: string[];
  service: Service;
  /** The store the service writes (the fleet test adds a neighbour's registry entry). */
  store: CandleStore;
  simulator: Simulator;
  proxy: DropProxy;
  close(): Promise<void>;
}

/** Builds the island bundle, then starts simulator, service and HTTP server. */
export async function startDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
  await buildIslands();
  const specs = demoProducts(options.products ?? 6, { tradesPerSecond: options.tradesPerSecond });
  const simulator = await startSimulator({
    products: specs,
    historyMs: 2 * 3600_000,
  });
  const dir = await Deno.makeTempDir({ prefix: "spot-dashboard-" });
  const env: Record<string, string> = {
    PRODUCTS: specs.map((p) => p.id).join(","),
    COINBASE_WS_URL: simulator.wsUrl,
    COINBASE_REST_URL: simulator.restUrl,
    KV_PATH: `${dir}/spot.kv`,
    PRODUCTS_PER_CONNECTION: String(options.productsPerConnection ?? 3),
    CATCHUP_HOURS: "1",
    SHARD_INDEX: String(options.shard?.index ?? 0),
    SHARD_COUNT: String(options.shard?.count ?? 1),
    ...(options.registryMs ? { SHARD_HEARTBEAT_MS: String(options.registryMs) } : {}),
    ...(options.password ? { DASHBOARD_PASSWORD: options.password } : {}),
  };
  const config = loadConfig((name) => env[name]);
  const store = await openStore(config);
  const service = new Service({
    config,
    store,
    rest: new RestClient({ baseUrl: config.coinbaseRestUrl }),
    feed: options.reconnectMs
      ? {
        backoff: { initialMs: options.reconnectMs, maxMs: options.reconnectMs },
        random: () => 1,
      }
      : undefined,
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    createApp(service, appOptions(config)).fetch,
  );
  service.start();
  const proxy = new DropProxy(server.addr.port);
  return {
    url: `http://127.0.0.1:${proxy.port}`,
    products: specs.map((p) => p.id),
    service,
    store,
    simulator,
    proxy,
    async close() {
      await proxy.close();
      await service.stop(2000);
      await server.shutdown();
      await simulator.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Saves a full-page screenshot as `.screenshots/{name}.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, SCREENSHOT_DIR).pathname, fullPage: true });
}

/** Collects what the page reports going wrong: script errors and CSP violations. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Uncaught/i.test(m.text())) {
      problems.push(`console: ${m.text()}`);
    }
  });
  return problems;
}
