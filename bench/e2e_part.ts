/**
 * @module
 * Part 2 of the bench: the simulator (own process) at 1,000 products × 5 trades/s → the service
 * (own process, `main.ts`) on KV, then on the Firestore emulator in the compat and
 * compact layouts, each with 20 SSE clients (in two processes of their own,
 * `sse_clients_process.ts`: the measured client alone in one) subscribed to every product's
 * `ONE_MINUTE` candles.
 * Measures trade-frame-to-SSE latency (see `sse_latency.ts`; the service's own
 * `spot_trade_to_sse_seconds` histogram alongside), RSS, CPU per trade and store writes.
 */
import { type Emulator, startEmulator } from "../tests/helpers/emulator.ts";
import { PUBLIC_LIMIT, startSimulatorProcess } from "./backfill_part.ts";
import { cpuMicros, loadClockTicks, readProc, rssBytes, threadCpuMicros } from "./proc.ts";
import { histogramQuantile, type Scrape, scrape, total } from "./prometheus.ts";
import { num, type Row } from "./report.ts";
import type { LatencyReport } from "./sse_latency.ts";
import { childEnv, DENO, JsonChild } from "./subprocess.ts";
import { loadConfig } from "../lib/config.ts";

/** The load of part 2. */
export const E2E = {
  products: 1000,
  tradesPerSecond: 5,
  /** `BENCH_E2E_CLIENTS` overrides it (to see what the fan-out costs; the goal is with 20). */
  sseClients: Number(Deno.env.get("BENCH_E2E_CLIENTS") ?? 20),
  /** Simulated history before the start (what seeding reads), at this trade rate. */
  historyHours: 0.25,
  historyTradesPerSecond: 2,
  flushIntervalMs: 1000,
};

/** Firestore list price, Standard edition, regional: $0.09 per 100,000 document writes. */
export const USD_PER_100K_WRITES = 0.09;

interface RunSpec {
  name: string;
  store: "kv" | "firestore";
  layout: "compat" | "compact";
  /** Seconds measured after startup. */
  windowS: number;
  /** Products the service serves (the first of the simulator's). */
  products: number;
}

const ALL_RUNS: RunSpec[] = [
  { name: "KV", store: "kv", layout: "compat", windowS: 120, products: 1000 },
  // 200 products: a shorter part (part 4 starts 1,000 on the emulator).
  { name: "Firestore compat", store: "firestore", layout: "compat", windowS: 60, products: 200 },
  { name: "Firestore compact", store: "firestore", layout: "compact", windowS: 60, products: 200 },
];
/** `BENCH_E2E_STORES=kv` runs only the KV run (a quicker trial or a profile). */
const RUNS = ALL_RUNS.filter((r) =>
  (Deno.env.get("BENCH_E2E_STORES") ?? "kv,firestore").split(",").includes(r.store)
);
/**
 * `BENCH_CPU_PROF=<dir>` runs the service with `--cpu-prof` and writes its V8 CPU profile there
 * (open it in Chrome DevTools' Performance panel); the CPU figures then include the profiler.
 */
export const CPU_PROF_DIR = Deno.env.get("BENCH_CPU_PROF");
/**
 * `BENCH_PERF=<dir>`: `perf record -e cpu-clock` of the service over each run's measured window
 * (`<dir>/<run>.perf.data`; `perf report -i … --sort comm,dso,sym`): the native side (socket
 * I/O, KV's SQLite, V8's collector threads) that a V8 CPU profile shows as idle.
 */
const PERF_DIR = Deno.env.get("BENCH_PERF") || undefined;
/**
 * `BENCH_SERVICE_LOG=<file>`: each run's service output (its log at `info`, and whatever V8
 * prints, e.g. `--trace-gc` given in `BENCH_V8_FLAGS`) is appended to the file.
 */
const SERVICE_LOG = Deno.env.get("BENCH_SERVICE_LOG") || undefined;
/**
 * `BENCH_SERVICE_ENV="NAME=value,NAME=value"`: settings added to the service's environment, for
 * diagnosis only (e.g. `HISTORY_DAYS=0` to see the live path without the history filler's first
 * pass); every row then names them, since the service no longer runs at its defaults.
 */
export const SERVICE_ENV: Record<string, string> = Object.fromEntries(
  (Deno.env.get("BENCH_SERVICE_ENV") ?? "").split(",").map((kv) => kv.trim()).filter(Boolean)
    .map((kv) => {
      const at = kv.indexOf("=");
      if (at <= 0) throw new Error(`BENCH_SERVICE_ENV: "${kv}" is not NAME=value`);
      return [kv.slice(0, at), kv.slice(at + 1)];
    }),
);
const SERVICE_ENV_NOTE = Object.keys(SERVICE_ENV).length === 0
  ? ""
  : `, with ${Object.entries(SERVICE_ENV).map(([k, v]) => `${k}=${v}`).join(" ")}`;
export const V8_FLAGS = Deno.env.get("BENCH_V8_FLAGS") ??
  "--max-semi-space-size=2,--max-old-space-size=384";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Completed candles per product-minute at 5 trades/s: every bucket of every granularity. */
const COMPLETIONS_PER_MINUTE = [60, 300, 900, 1800, 3600, 7200, 21600, 86400]
  .reduce((s, g) => s + 60 / g, 0);

/** Runs part 2; returns its rows and notes. */
export async function e2ePart(
  progress: (line: string) => void,
): Promise<{ rows: Row[]; notes: string[] }> {
  await loadClockTicks();
  progress(
    `e2e: simulator with ${E2E.products} products × ${E2E.tradesPerSecond} trades/s ` +
      `(${E2E.historyHours} h of history at ${E2E.historyTradesPerSecond}/s) …`,
  );
  const sim = await startSimulatorProcess({
    products: E2E.products,
    tps: E2E.tradesPerSecond,
    historyTps: E2E.historyTradesPerSecond,
    historyHours: E2E.historyHours,
    // Coinbase's public limit, and the service's own REST rate (8/s): the history filler's
    // share of it is what runs beside the live path in the window, as deployed.
    rest: PUBLIC_LIMIT,
  });
  const dir = await Deno.makeTempDir({ prefix: "spot-bench-e2e-" });
  let emulator: Emulator | undefined;
  const rows: Row[] = [];
  const skipped: string[] = [];
  try {
    // The bare client's CPU per trade: the machine's speed at the time, for the service's ratio.
    let floorUs: number | undefined;
    if (RUNS.length) {
      const floor = await floorRuns(sim, progress);
      rows.push(...floor.rows);
      floorUs = floor.bareUsPerTrade;
    }
    for (const run of RUNS) {
      if (run.store === "firestore" && !emulator) {
        progress("e2e: starting the Firestore emulator …");
        try {
          emulator = await startEmulator({ projectId: "demo-spot-bench" });
        } catch (e) {
          skipped.push(`${run.name}: ${(e as Error).message}`);
          continue;
        }
      }
      await emulator?.clear();
      rows.push(...await serviceRun(run, sim, dir, emulator, progress, floorUs));
    }
  } finally {
    await sim.child.stop();
    await emulator?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  if (skipped.length) throw new Error(`end-to-end runs not done: ${skipped.join("; ")}`);
  const notes = [
    `End to end: the simulator (${E2E.products} products × ${E2E.tradesPerSecond} trades/s, ` +
    "`market_trades` sent as Coinbase sends it: one frame per product every 100 ms on the " +
    "product's own phase) and the service each in their own process; " +
    `${E2E.sseClients} SSE clients (in processes of their own) on ` +
    "`/api/stream?products=<all 1,000>&granularities=ONE_MINUTE`. The service is " +
    "`main.ts` itself at its defaults (`COINBASE_REST_RATE` 8/s against the simulator's " +
    "public limit of 10/s, burst 12; `HISTORY_DAYS` 30), with `CATCHUP_HOURS=0` (a cold " +
    "store's 6-hour catch-up is startup work, ~4 more minutes of REST at 8/s) and `KV_PATH` " +
    "in a temp dir. Measurement starts when `/health` leaves `starting` (seeded) and the " +
    "startup's REST work is done (no repair pending: the seed cutoff → first subscription " +
    "windows), so the window has what a running shard has beside its live path: the history " +
    "filler at its quarter of the REST rate (2 pages/s). The Firestore " +
    "runs serve 200 of the 1,000 products to keep the part short (part 4 starts all 1,000 on " +
    "the emulator); writes are per product, so the layouts still compare.",
    "Latency is measured by the bench, not taken from the service: the simulator process " +
    "records each flush time, when that flush's frames had all been handed to the sockets (its " +
    "own generating and serialising, the harness's work, is reported apart and not counted), " +
    "and every trade's cumulative 1-minute volume; every SSE client " +
    `receives every update. ${E2E.sseClients - 1} of them, in one process, read the bytes off ` +
    "plain TCP sockets " +
    "and only count events (through `fetch` they cost that process ~45 % of a core, on the two " +
    "cores the service shares with the harness); the measured client, in a process of its own " +
    "(nothing else in its event loop, like a real remote client), reads through `fetch` and " +
    "subscribes after the others, so it is the last in the service's fan-out order " +
    "(each publish writes to the clients in subscription order: the worst place), and records " +
    "the receipt time (epoch ms, same machine clock) of " +
    "each changed live `ONE_MINUTE` update of every tenth product, sent every 5 s to the " +
    "simulator process, which matches it to the trade that brought the candle to " +
    "that volume and takes SSE receipt − when that trade's flush was sent (0.1 ms histogram; the first 2 s after each connect, the snapshot, are skipped). It includes " +
    "the WebSocket hop, parsing, aggregation, the hub, SSE framing and the HTTP hop. The " +
    "service's `spot_trade_to_sse_seconds` (frame received → update published to the hub) is " +
    "shown alongside, interpolated in its buckets.",
    "The floor rows: before the service starts, `bench/ws_floor_process.ts` opens the " +
    "service's connections to the same simulator (its default `PRODUCTS_PER_CONNECTION` each, `heartbeats` and " +
    `\`market_trades\`) and does nothing with a frame but count it, or \`JSON.parse\` it; its ` +
    `CPU over ${FLOOR_WINDOW_S} s per trade received is what Deno's WebSocket receive path ` +
    "costs before any of the service's own work.",
    "RSS is VmRSS of the service process (`/proc/<pid>/status`) when startup is done and at the " +
    "end of the window; CPU is utime+stime (`/proc/<pid>/stat`) over the window divided by the " +
    "window's `spot_trades_total` (it includes serving the SSE clients and the store writes). " +
    "Writes are `spot_store_writes_total` over the window per product-minute. The coalescing " +
    "bound is one write per live document per flush interval (compat: 8 documents, compact: 1) " +
    `plus each completed candle once (${COMPLETIONS_PER_MINUTE.toFixed(2)} per product-minute ` +
    "over the eight granularities). Cost: writes per product-day × " +
    `$${USD_PER_100K_WRITES} per 100,000 (Standard edition, regional list price); reads, ` +
    "storage and deletes are not included.",
  ];
  return { rows, notes };
}

/** Seconds each floor mode is measured. */
const FLOOR_WINDOW_S = 30;

/**
 * The floor under the service's CPU per trade: `ws_floor_process.ts` on the service's
 * connections (its default `PRODUCTS_PER_CONNECTION` products each), counting frames (`bare`) or also parsing them.
 */
async function floorRuns(
  sim: { wsUrl: string; products: string[] },
  progress: (line: string) => void,
): Promise<{ rows: Row[]; bareUsPerTrade: number }> {
  const rows: Row[] = [];
  let bareUsPerTrade = NaN;
  const products = sim.products.slice(0, E2E.products);
  // The service's default split (PRODUCTS_PER_CONNECTION).
  const perConnection = loadConfig(() => undefined).productsPerConnection;
  const connections = Math.ceil(products.length / perConnection);
  for (const mode of ["bare", "parse"] as const) {
    progress(`e2e floor: a ${mode} WebSocket client on ${connections} connections …`);
    const child = floorClient(sim.wsUrl, mode, perConnection, products);
    try {
      await child.next("floor client ready");
      await sleep(3000); // past the snapshots
      const c0 = await cpuMicros(child.pid);
      const n0 = await child.ask<{ frames: number; trades: number }>({}, "floor counts");
      await sleep(FLOOR_WINDOW_S * 1000);
      const c1 = await cpuMicros(child.pid);
      const n1 = await child.ask<
        { frames: number; trades: number; ageP50Ms: number; ageP99Ms: number }
      >({}, "floor counts");
      const frames = n1.frames - n0.frames;
      const trades = n1.trades - n0.trades;
      const cpu = c1 - c0;
      if (mode === "bare") bareUsPerTrade = cpu / trades;
      rows.push({
        part: `2 e2e floor (${products.length} products)`,
        measure: `a bare Deno WebSocket client on the service's ${connections} connections, ${
          mode === "bare" ? "counting frames" : "`JSON.parse` of every frame"
        }: CPU per trade (per frame; ${num(frames / FLOOR_WINDOW_S)} frames/s, ${
          num(trades / FLOOR_WINDOW_S)
        } trades/s)`,
        value: `${(cpu / trades).toFixed(1)} µs (${(cpu / frames).toFixed(1)} µs)`,
      }, {
        part: `2 e2e floor (${products.length} products)`,
        measure: `… the same client (${mode}): \`market_trades\` frame age at receipt p50 / p99 ` +
          "(receipt − the frame's own timestamp, taken as the simulator queues it: the hop " +
          "from the simulator, with nothing else in the receiving process)",
        value: `${n1.ageP50Ms.toFixed(1)} / ${n1.ageP99Ms.toFixed(1)} ms`,
      });
    } finally {
      await child.stop();
    }
  }
  return { rows, bareUsPerTrade };
}

/** A `ws_floor_process.ts` client on `products`, `perConnection` to a socket. */
function floorClient(
  wsUrl: string,
  mode: "bare" | "parse",
  perConnection: number,
  products: string[],
): JsonChild {
  return new JsonChild([
    DENO,
    "run",
    "--allow-net=127.0.0.1",
    new URL("./ws_floor_process.ts", import.meta.url).pathname,
    wsUrl,
    mode,
    String(perConnection),
    products.join(","),
  ], { stdin: true });
}

type FrameAges = { ageP50Ms: number; ageP99Ms: number };

async function serviceRun(
  run: RunSpec,
  sim: { child: JsonChild; wsUrl: string; restUrl: string; products: string[] },
  dir: string,
  emulator: Emulator | undefined,
  progress: (line: string) => void,
  floorUs?: number,
): Promise<Row[]> {
  const products = sim.products.slice(0, run.products);
  const sample = products.filter((_, i) => i % 10 === 0);
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    COINBASE_WS_URL: sim.wsUrl,
    COINBASE_REST_URL: sim.restUrl,
    PRODUCTS: products.join(","),
    KV_PATH: `${dir}/${run.name.replaceAll(" ", "_")}.kv`,
    PORT: String(port),
    FLUSH_INTERVAL_MS: String(E2E.flushIntervalMs),
    CATCHUP_HOURS: "0",
    STORE: run.store,
    FIRESTORE_LAYOUT: run.layout,
    LOG_LEVEL: SERVICE_LOG ? "info" : "warning",
    ...SERVICE_ENV,
  };
  if (emulator) {
    env.GOOGLE_CLOUD_PROJECT = emulator.projectId;
    env.FIRESTORE_EMULATOR_HOST = emulator.host;
  }
  progress(`e2e ${run.name}: starting the service (seeding ${products.length} products) …`);
  const child = new Deno.Command(DENO, {
    args: [
      "run",
      // As deployed (Dockerfile): a small young generation, old space capped for 512 MiB.
      // `BENCH_V8_FLAGS` replaces them, for trying other settings.
      `--v8-flags=${V8_FLAGS}`,
      ...(CPU_PROF_DIR ? ["--cpu-prof", `--cpu-prof-dir=${CPU_PROF_DIR}`] : []),
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      new URL("../main.ts", import.meta.url).pathname,
    ],
    env: childEnv(env),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logTail = keepTail(child, SERVICE_LOG);
  let clients: JsonChild | undefined;
  let readers: JsonChild | undefined;
  let probe: JsonChild | undefined;
  try {
    const label = `e2e ${run.name}`;
    const startupS = await waitHealthy(base, child, logTail, progress, label);
    const restQuietS = startupS + await waitStartupRest(base, child, logTail, progress, label);
    const t0 = performance.now();
    const rss0 = await rssBytes(child.pid);
    const cpu0 = await cpuMicros(child.pid);
    const m0 = await scrape(base);
    const url = `${base}/api/stream?products=${products.join(",")}&granularities=ONE_MINUTE`;
    // The 19 readers first, then the measured client in a process of its own: the last of the
    // 20 in the service's fan-out order (each publish writes to the clients in the order they
    // subscribed), with nothing else in its event loop when its chunk arrives.
    readers = sseClientsProcess();
    await readers.ask(
      { cmd: "connect", url, clients: E2E.sseClients - 1, countOnly: true },
      "SSE readers",
    );
    await untilOpen(readers, E2E.sseClients - 1);
    clients = sseClientsProcess();
    await clients.ask({ cmd: "connect", url, clients: 1, sample }, "SSE clients");
    const report = async (what: string) => {
      // The clients' receipts are matched against the simulator's send log in its process.
      const { samples } = await clients!.ask<{ samples: unknown[] }>({ cmd: "samples" }, what);
      await sim.child.ask({ cmd: "match", samples }, what);
      const r = await sim.child.ask<LatencyReport>({ cmd: "report" }, what);
      const s = await stats(clients!);
      const t = await stats(readers!);
      return {
        ...r,
        openClients: s.openClients + t.openClients,
        endedClients: s.endedClients + t.endedClients,
      };
    };
    // The probe: one more connection's worth of the same products (the service's ws-0 group),
    // received by a client that does nothing else, beside the loaded service: the frames' age
    // there is what the machine (simulator, scheduler) adds, apart from the service's own wait.
    const perConnection = loadConfig(() => undefined).productsPerConnection;
    probe = floorClient(sim.wsUrl, "bare", perConnection, products.slice(0, perConnection));
    await probe.next("probe client ready");
    progress(`e2e ${run.name}: running with ${E2E.sseClients} SSE clients for ${run.windowS} s …`);
    await sleep(10_000);
    await report("latency warm-up report");
    await probe.ask({}, "probe reset");
    const m1 = await scrape(base);
    const simCpu1 = await cpuMicros(sim.child.pid);
    const clientsCpu1 = await cpuMicros(clients.pid) + await cpuMicros(readers.pid);
    const threads1 = await threadCpuMicros(child.pid);
    const load1 = await loadAverage();
    const perf = PERF_DIR
      ? perfRecord(child.pid, `${PERF_DIR}/${run.name.replaceAll(" ", "_")}`)
      : undefined;
    const t1 = performance.now();
    // Samples are matched every 5 s, while the simulator still holds their trades.
    for (let left = run.windowS - 10; left > 0; left -= 5) {
      await sleep(Math.min(5, left) * 1000);
      const { samples } = await clients.ask<{ samples: unknown[] }>({ cmd: "samples" }, "samples");
      await sim.child.ask({ cmd: "match", samples }, "match");
      if (left % 30 === 0 && left > 5) {
        progress(`e2e ${run.name}: ${Math.round(run.windowS - left)} s …`);
      }
    }
    const threads2 = await threadCpuMicros(child.pid);
    const load2 = await loadAverage();
    await perf?.stop();
    const latency = await report("latency report");
    const probeAges = await probe.ask<FrameAges>({}, "probe frame ages");
    const m2 = await scrape(base);
    const windowMs = performance.now() - t1;
    const simShare = (await cpuMicros(sim.child.pid) - simCpu1) / 1000 / windowMs;
    const clientsShare =
      (await cpuMicros(clients.pid) + await cpuMicros(readers.pid) - clientsCpu1) / 1000 /
      windowMs;
    const cpu2 = await cpuMicros(child.pid);
    const rss2 = await rssBytes(child.pid);
    const elapsedS = (performance.now() - t0) / 1000;
    return rowsOf(run, {
      floorUs,
      startupS,
      restQuietS,
      elapsedS,
      rss0,
      rss2,
      cpuUs: cpu2 - cpu0,
      m0,
      m1,
      m2,
      latency,
      products: products.length,
      sampled: sample.length,
      simShare,
      clientsShare,
      probeAges,
      threads: [...threads2].map(([name, us]) => [name, us - (threads1.get(name) ?? 0)]),
      windowTrades: total(m2, "spot_trades_total") - total(m1, "spot_trades_total"),
      load: [load1, load2],
    });
  } finally {
    await probe?.stop();
    await clients?.stop();
    await readers?.stop();
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 20_000);
    await child.status;
    clearTimeout(timer);
    await logTail.done;
  }
}

/** A `sse_clients_process.ts` child. */
function sseClientsProcess(): JsonChild {
  return new JsonChild([
    DENO,
    "run",
    "--allow-net=127.0.0.1",
    new URL("./sse_clients_process.ts", import.meta.url).pathname,
  ], { stdin: true });
}

type ClientStats = { openClients: number; endedClients: number };

function stats(child: JsonChild): Promise<ClientStats> {
  return child.ask<ClientStats>({ cmd: "stats" }, "SSE client stats");
}

/** Waits until `n` of `child`'s clients stream (the service answered their requests). */
async function untilOpen(child: JsonChild, n: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await stats(child)).openClients >= n) return;
    await sleep(100);
  }
  throw new Error(`SSE readers: fewer than ${n} streaming after 30 s`);
}

interface Measured {
  /** The bare floor client's CPU per trade in this part (µs). */
  floorUs?: number;
  startupS: number;
  /** Seconds from launch until the startup's REST repairs were done (the window starts then). */
  restQuietS: number;
  elapsedS: number;
  rss0: number;
  rss2: number;
  cpuUs: number;
  m0: Scrape;
  m1: Scrape;
  m2: Scrape;
  latency: LatencyReport & { openClients: number; endedClients: number };
  products: number;
  sampled: number;
  /** CPU of the simulator process over the window, in cores. */
  simShare: number;
  /** CPU of the SSE clients' two processes over the window, in cores. */
  clientsShare: number;
  /** Frame ages at the probe client over the window. */
  probeAges: FrameAges;
  /** The service's CPU (µs) over the window by thread name. */
  threads: [string, number][];
  /** Trades counted over the window (after the warm-up). */
  windowTrades: number;
  /** The machine's 1-minute load average at the window's start and end. */
  load: [number, number];
}

/** The 1-minute load average (`/proc/loadavg`): how busy the shared machine was. */
async function loadAverage(): Promise<number> {
  return Number((await readProc("/proc/loadavg")).split(" ")[0]);
}

/** `perf record` of `pid` into `<base>.perf.data` until `stop()`. */
function perfRecord(pid: number, base: string): { stop(): Promise<void> } {
  const child = new Deno.Command("perf", {
    args: [
      "record",
      "-e",
      "cpu-clock",
      "-F",
      "499",
      "-g",
      "-p",
      String(pid),
      "-o",
      `${base}.perf.data`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    async stop() {
      try {
        child.kill("SIGINT");
      } catch { /* already gone */ }
      await child.status;
    },
  };
}

/** A counter's growth from the service's start (seeded) to the window's end. */
function delta(m: Measured, name: string): number {
  return total(m.m2, name) - total(m.m0, name);
}

function rowsOf(run: RunSpec, m: Measured): Row[] {
  const P = `2 e2e ${run.name} (${m.products} products${SERVICE_ENV_NOTE})`;
  const trades = total(m.m2, "spot_trades_total") - total(m.m0, "spot_trades_total");
  const writes = total(m.m2, "spot_store_writes_total") - total(m.m0, "spot_store_writes_total");
  const productMinutes = m.products * m.elapsedS / 60;
  const perProductMinute = writes / productMinutes;
  const liveDocs = run.layout === "compact" ? 1 : 8;
  const bound = liveDocs * 60_000 / E2E.flushIntervalMs + COMPLETIONS_PER_MINUTE;
  const perDay = perProductMinute * 1440;
  const usd = perDay * USD_PER_100K_WRITES / 100_000;
  const q = (p: number) => histogramQuantile(m.m1, m.m2, "spot_trade_to_sse_seconds", p) * 1000;
  const lag = (p: number) => histogramQuantile(m.m1, m.m2, "spot_event_loop_lag_seconds", p) * 1000;
  const age = (p: number) =>
    histogramQuantile(m.m1, m.m2, "spot_trade_frame_age_seconds", p) * 1000;
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
  const l = m.latency;
  return [
    {
      part: P,
      measure: `load: trades counted/s over ${m.elapsedS.toFixed(0)} s (seeded ${
        m.startupS.toFixed(0)
      } s after launch, startup repairs done at ${
        m.restQuietS.toFixed(0)
      } s; the machine's load average ${m.load[0].toFixed(1)} → ${
        m.load[1].toFixed(1)
      } on ${navigator.hardwareConcurrency} cores)`,
      value: num(trades / m.elapsedS),
    },
    {
      part: P,
      measure: `trade frame sent → SSE receipt p50 (bench-measured on ${m.sampled} products: ` +
        `${num(l.matched)} updates, ${num(l.unmatched)} unmatched; ${l.openClients} clients ` +
        `open; simulator process at ${(100 * m.simShare).toFixed(0)} % of a core, its own ` +
        `work per flush ${l.flushWorkP50Ms.toFixed(0)} ms p50 (not counted); clients ` +
        `processes at ${(100 * m.clientsShare).toFixed(0)} %)`,
      value: `${l.p50Ms.toFixed(1)} ms`,
      goal: "< 5 ms",
      met: l.p50Ms < 5,
    },
    {
      part: P,
      measure: "trade frame sent → SSE receipt p99 (bench-measured)",
      value: `${l.p99Ms.toFixed(1)} ms (max ${l.maxMs.toFixed(0)} ms)`,
      goal: "< 20 ms",
      met: l.p99Ms < 20,
    },
    {
      part: P,
      measure: "`spot_trade_to_sse_seconds` p50 / p99 (service's histogram: frame handed " +
        "to the service → published, the rest of its event-loop turn included)",
      value: `${q(0.5).toFixed(1)} / ${q(0.99).toFixed(1)} ms`,
    },
    {
      part: P,
      measure: "`spot_trade_frame_age_seconds` p50 / p99 (service's histogram: the simulator's " +
        "frame timestamp, taken as it queues the frame, → the service handling it: the " +
        "WebSocket hop, both event loops)",
      value: `${age(0.5).toFixed(1)} / ${age(0.99).toFixed(1)} ms`,
    },
    {
      part: P,
      measure: "… the same frames' age at a probe beside the service (a bare client on one " +
        "more connection with the service's first connection's products, in its own process, " +
        "over the same window) p50 / p99: what the machine adds, not the service",
      value: `${m.probeAges.ageP50Ms.toFixed(1)} / ${m.probeAges.ageP99Ms.toFixed(1)} ms`,
    },
    {
      part: P,
      measure: "`spot_event_loop_lag_seconds` p99 / max bucket (the 1-s tick's lateness: how " +
        "long the event loop was held)",
      value: `${lag(0.99).toFixed(1)} / ${lag(1).toFixed(0)} ms`,
    },
    { part: P, measure: "service RSS when started (seeded)", value: mb(m.rss0) },
    {
      part: P,
      measure: `service RSS after ${m.elapsedS.toFixed(0)} s of load`,
      value: mb(m.rss2),
      goal: "< 150 MB",
      met: m.rss2 < 150 * 1024 * 1024,
    },
    { part: P, measure: "service CPU per trade", value: `${(m.cpuUs / trades).toFixed(1)} µs` },
    ...(m.floorUs === undefined ? [] : [{
      part: P,
      measure: "… ÷ the bare client's CPU per trade in the floor row (the machine's speed at " +
        "the time factored out: compare this across runs, not the µs)",
      value: `${(m.cpuUs / trades / m.floorUs).toFixed(2)}×`,
    }]),
    {
      part: P,
      measure: "… by thread, over the window after the warm-up (main: JavaScript and the ops " +
        "the event loop runs; tokio: Deno's I/O and blocking-task threads; V8 workers: the " +
        "collector's helpers), µs per trade",
      value: m.threads.filter(([, us]) => us / m.windowTrades >= 0.5)
        .sort((a, b) => b[1] - a[1])
        .map(([name, us]) => `${name} ${(us / m.windowTrades).toFixed(1)}`).join(", "),
    },
    {
      part: P,
      measure: "background work in the same window: the history filler's REST pages and the " +
        "missing candles it wrote (`spot_history_fill_*`; its first pass over a fresh shard " +
        "runs at a quarter of the REST rate for a long while, HISTORY_DAYS back)",
      value: `${num(delta(m, "spot_history_fill_requests_total"))} pages, ${
        num(delta(m, "spot_history_fill_candles_total"))
      } candles`,
    },
    {
      part: P,
      measure: `store writes per product-minute (${run.layout} layout; bound ${bound.toFixed(1)}; ${
        num(total(m.m2, "spot_store_pending_writes"))
      } pending at the end)`,
      value: perProductMinute.toFixed(1),
      goal: `≤ ${bound.toFixed(1)}`,
      met: perProductMinute <= bound,
    },
    {
      part: P,
      measure: `projected Firestore cost per product-day (${num(perDay)} writes)`,
      value: `$${usd.toFixed(4)}`,
    },
  ];
}

/** How {@linkcode pollService} polls. */
export interface PollOptions {
  /** Names the service in progress lines (`e2e KV`). */
  label: string;
  /** What it waits for, as in "still {what}" (`starting`). */
  what: string;
  /** Whether the wait is over (may throw while the service does not listen yet). */
  done: () => Promise<boolean>;
  /** The progress line's detail, asked for every 15 s. */
  note: () => Promise<string>;
  /** @default 600 */
  limitS?: number;
  /** @default 1000 */
  everyMs?: number;
  /** Seconds are counted from here (`performance.now()`). @default the call */
  startedAt?: number;
}

/**
 * Polls the service until `done()`, with a progress line every 15 s, failing with the service's
 * log tail when it exits or after `limitS`; returns the seconds since `startedAt`.
 */
export async function pollService(
  child: Deno.ChildProcess,
  log: { text(): string },
  progress: (line: string) => void,
  o: PollOptions,
): Promise<number> {
  const started = o.startedAt ?? performance.now();
  const limitS = o.limitS ?? 600;
  let exited = false;
  child.status.then(() => exited = true);
  let lastNote = 0;
  while (true) {
    if (exited) throw new Error(`the service exited while ${o.what}: ${log.text()}`);
    const s = (performance.now() - started) / 1000;
    if (s > limitS) {
      throw new Error(`the service was still ${o.what} after ${limitS} s: ${log.text()}`);
    }
    if (await o.done().catch(() => false)) return s;
    if (s - lastNote >= 15) {
      lastNote = s;
      const note = await o.note().catch(() => "");
      progress(`${o.label}: ${o.what} (${s.toFixed(0)} s) ${note}`);
    }
    await sleep(o.everyMs ?? 1000);
  }
}

/** Waits until `/health` leaves `starting` (every product seeded); returns the seconds. */
export function waitHealthy(
  base: string,
  child: Deno.ChildProcess,
  log: { text(): string },
  progress: (line: string) => void,
  label: string,
  options: Pick<PollOptions, "limitS" | "startedAt"> = {},
): Promise<number> {
  return pollService(child, log, progress, {
    label,
    what: "starting",
    // 1,000 products at 8 requests/s: ~125 s, or ~250 s after 05:00 UTC (two pages each).
    limitS: 600,
    everyMs: 500,
    ...options,
    done: async () => (await (await fetch(`${base}/health`)).json()).status !== "starting",
    note: async () => (await (await fetch(`${base}/api/status`)).json()).startup ?? "",
  });
}

/**
 * Waits until the startup's REST repairs (seed cutoff → first subscription, one request per
 * product at the service's 8/s) are done, so that the window measures a running shard; returns
 * the seconds it waited.
 */
function waitStartupRest(
  base: string,
  child: Deno.ChildProcess,
  log: { text(): string },
  progress: (line: string) => void,
  label: string,
): Promise<number> {
  let pending = NaN;
  let quiet = 0;
  return pollService(child, log, progress, {
    label,
    what: "repairing its startup windows",
    done: async () => {
      pending = total(await scrape(base), "spot_repairs_pending");
      // Two quiet scrapes in a row: a product's repair may be scheduled just after another's ended.
      quiet = pending === 0 ? quiet + 1 : 0;
      return quiet >= 2;
    },
    note: () => Promise.resolve(`${pending} pending`),
  });
}

export function keepTail(
  child: Deno.ChildProcess,
  copyTo?: string,
): { text(): string; done: Promise<void> } {
  let tail = "";
  const file = copyTo ? Deno.openSync(copyTo, { create: true, append: true }) : undefined;
  const keep = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      file?.writeSync(chunk);
      tail = (tail + decoder.decode(chunk, { stream: true })).slice(-3000);
    }
  };
  const done = Promise.all([keep(child.stdout), keep(child.stderr)]).then(() => file?.close());
  return { text: () => tail.trim().split("\n").slice(-8).join(" | "), done };
}

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
