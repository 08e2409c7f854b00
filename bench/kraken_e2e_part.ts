/**
 * @module
 * Part 2 with both exchanges (`deno task bench both`, `--only 2k`): the Coinbase simulator and
 * the Kraken simulator (each in its own process) → the service (`main.ts`, own process) with
 * `EXCHANGES=coinbase,kraken` on KV, 20 SSE clients (count-only, in a process of their own) on
 * every product of both exchanges' `ONE_MINUTE` candles. Reports the service's CPU per trade
 * against the bare-WebSocket floor, measured per exchange on the service's own connections
 * (`ws_floor_process.ts` for Coinbase, `kraken_ws_floor_process.ts` for Kraken).
 *
 * Limits are the real ones and the service's settings its defaults: Coinbase's simulator
 * enforces at most 10 requests in any sliding second and the service keeps its 8/s; Kraken's
 * simulator limits REST at 1/s (burst 3) and the service keeps `KRAKEN_REST_RATE=1`. Seeding at
 * 1 request/s costs a few requests per pair, so the load (part 2's 1,000 products × 5 trades/s)
 * is split with few Kraken pairs ({@linkcode BOTH}), or startup would take tens of minutes.
 */
import { E2E, freePort, keepTail, V8_FLAGS, waitHealthy } from "./e2e_part.ts";
import { startSimulatorProcess } from "./backfill_part.ts";
import { cpuMicros, loadClockTicks, readProc, rssBytes } from "./proc.ts";
import { type Scrape, scrape, total } from "./prometheus.ts";
import { num, type Row } from "./report.ts";
import { childEnv, DENO, JsonChild } from "./subprocess.ts";
import { loadConfig } from "../lib/config.ts";

/** The load: part 2's 1,000 products × 5 trades/s, split between the exchanges. */
export const BOTH = {
  coinbaseProducts: Number(Deno.env.get("BENCH_BOTH_COINBASE") ?? 950),
  krakenProducts: Number(Deno.env.get("BENCH_BOTH_KRAKEN") ?? 50),
  tradesPerSecond: E2E.tradesPerSecond,
  historyHours: E2E.historyHours,
  coinbaseHistoryTps: E2E.historyTradesPerSecond,
  /** Kraken's history rate: ~450 trades a pair, so seeding is ~3 requests a pair at 1/s. */
  krakenHistoryTps: 0.5,
  sseClients: E2E.sseClients,
  /** `BENCH_BOTH_WINDOW_S` / `BENCH_BOTH_FLOOR_S` shorten them (a quicker trial). */
  windowS: Number(Deno.env.get("BENCH_BOTH_WINDOW_S") ?? 120),
  floorWindowS: Number(Deno.env.get("BENCH_BOTH_FLOOR_S") ?? 30),
  /** The Kraken feed's default `symbolsPerConnection`. */
  krakenPerConnection: 50,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the two-exchange part; returns its rows and notes. */
export async function krakenE2ePart(
  progress: (line: string) => void,
): Promise<{ rows: Row[]; notes: string[] }> {
  await loadClockTicks();
  progress(
    `both: Coinbase simulator ${BOTH.coinbaseProducts} products, Kraken simulator ` +
      `${BOTH.krakenProducts} pairs, × ${BOTH.tradesPerSecond} trades/s …`,
  );
  const cb = await startSimulatorProcess({
    products: BOTH.coinbaseProducts,
    tps: BOTH.tradesPerSecond,
    historyTps: BOTH.coinbaseHistoryTps,
    historyHours: BOTH.historyHours,
    rest: { ratePerSecond: 10, burst: 10 },
    sliding: true,
  });
  const kr = new JsonChild([
    DENO,
    "run",
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-env",
    new URL("./kraken_simulator_process.ts", import.meta.url).pathname,
    ...[BOTH.krakenProducts, BOTH.tradesPerSecond, BOTH.krakenHistoryTps, BOTH.historyHours]
      .map(String),
  ], { stdin: true });
  const dir = await Deno.makeTempDir({ prefix: "spot-bench-both-" });
  const P = `2k e2e both exchanges KV (${BOTH.coinbaseProducts} Coinbase + ` +
    `${BOTH.krakenProducts} Kraken products)`;
  const rows: Row[] = [];
  try {
    const krSim = await kr.next<{ wsUrl: string; restUrl: string; products: string[] }>(
      "starting the Kraken simulator",
    );
    const perConnection = loadConfig(() => undefined).productsPerConnection;
    // The floors, per exchange, on the service's connections.
    const floors: Record<string, { bare: Floor; parse: Floor }> = {};
    for (const ex of ["coinbase", "kraken"] as const) {
      const f: Partial<Record<"bare" | "parse", Floor>> = {};
      for (const mode of ["bare", "parse"] as const) {
        progress(`both floor: ${ex} ${mode} …`);
        f[mode] = await floor(
          ex === "coinbase"
            ? floorChild("ws_floor_process.ts", cb.wsUrl, mode, perConnection, cb.products)
            : floorChild(
              "kraken_ws_floor_process.ts",
              krSim.wsUrl,
              mode,
              BOTH.krakenPerConnection,
              krSim.products,
            ),
        );
        const fl = f[mode]!;
        rows.push({
          part: P,
          measure: `floor, ${ex}: a bare Deno WebSocket client on the service's ${
            ex === "coinbase"
              ? `${Math.ceil(cb.products.length / perConnection)} Coinbase connections`
              : `${
                Math.ceil(krSim.products.length / BOTH.krakenPerConnection)
              } Kraken connection(s)`
          }, ${mode === "bare" ? "counting frames" : "`JSON.parse` of every frame"}: CPU per ` +
            `trade (per frame; ${num(fl.frames / BOTH.floorWindowS)} frames/s, ${
              num(fl.trades / BOTH.floorWindowS)
            } trades/s)`,
          value: `${(fl.cpuUs / fl.trades).toFixed(1)} µs (${
            (fl.cpuUs / fl.frames).toFixed(1)
          } µs)`,
        });
      }
      floors[ex] = f as { bare: Floor; parse: Floor };
    }
    // The combined bare floor: both exchanges' bare clients' CPU over their trades.
    const bareUs = (floors.coinbase!.bare.cpuUs + floors.kraken!.bare.cpuUs) /
      (floors.coinbase!.bare.trades + floors.kraken!.bare.trades);
    const krShare = floors.kraken!.bare.trades /
      (floors.coinbase!.bare.trades + floors.kraken!.bare.trades);
    rows.push({
      part: P,
      measure: `floor, both: the bare clients' CPU per trade over both exchanges' trades ` +
        `(Kraken ${(100 * krShare).toFixed(1)} % of the trades)`,
      value: `${bareUs.toFixed(1)} µs`,
    });
    rows.push(
      ...await serviceRun(P, cb, kr, krSim, dir, progress, bareUs, floors),
    );
  } finally {
    await cb.child.stop();
    await kr.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const notes = [
    `Both exchanges (part 2k): the Coinbase simulator (${BOTH.coinbaseProducts} products × ` +
    `${BOTH.tradesPerSecond} trades/s, at most 10 REST requests in any sliding second, 429 ` +
    `beyond) and the Kraken simulator (${BOTH.krakenProducts} pairs × ${BOTH.tradesPerSecond} ` +
    "trades/s, its defaults: v2 `trade` updates every 50 ms per pair, REST 1 request/s with a " +
    "burst of 3, nothing withheld), each in its own process, and the service (`main.ts`, " +
    "`EXCHANGES=coinbase,kraken`, KV, its default REST rates: Coinbase 8/s, Kraken 1/s; env " +
    `\`FLUSH_INTERVAL_MS=${E2E.flushIntervalMs}\`, \`CATCHUP_HOURS=0\` as in part 2) with ` +
    `${BOTH.sseClients} count-only SSE clients on every product of both exchanges. Part 2's ` +
    "1,000 products × 5 trades/s split with few Kraken pairs: at Kraken's 1 request/s, seeding " +
    `costs ~3 requests a pair (${BOTH.historyHours} h of history at ` +
    `${BOTH.krakenHistoryTps} trades/s: the day's trades / 1000 + 2), so 500 Kraken pairs would ` +
    "take ~25 minutes to start. CPU per trade is the service's utime+stime over the window " +
    "(after 10 s of warm-up) divided by `spot_trades_total` over it; the service runs both " +
    "feeds in one process, so its CPU is not split by exchange: the floors are, each on the " +
    "service's own connections to its simulator (Coinbase: `PRODUCTS_PER_CONNECTION` products " +
    "a socket; Kraken: the feed's 50 pairs a socket), and the ratio divides by the two bare " +
    "floors' CPU over their trades together.",
  ];
  return { rows, notes };
}

interface Floor {
  frames: number;
  trades: number;
  cpuUs: number;
}

function floorChild(
  file: string,
  wsUrl: string,
  mode: "bare" | "parse",
  perConnection: number,
  products: string[],
): JsonChild {
  return new JsonChild([
    DENO,
    "run",
    "--allow-net=127.0.0.1",
    new URL(`./${file}`, import.meta.url).pathname,
    wsUrl,
    mode,
    String(perConnection),
    products.join(","),
  ], { stdin: true });
}

async function floor(child: JsonChild): Promise<Floor> {
  try {
    await child.next("floor client ready");
    await sleep(3000); // past the snapshots
    const c0 = await cpuMicros(child.pid);
    const n0 = await child.ask<{ frames: number; trades: number }>({}, "floor counts");
    await sleep(BOTH.floorWindowS * 1000);
    const c1 = await cpuMicros(child.pid);
    const n1 = await child.ask<{ frames: number; trades: number }>({}, "floor counts");
    return { frames: n1.frames - n0.frames, trades: n1.trades - n0.trades, cpuUs: c1 - c0 };
  } finally {
    await child.stop();
  }
}

async function serviceRun(
  P: string,
  cb: { child: JsonChild; wsUrl: string; restUrl: string; products: string[] },
  kr: JsonChild,
  krSim: { wsUrl: string; restUrl: string; products: string[] },
  dir: string,
  progress: (line: string) => void,
  bareUs: number,
  floors: Record<string, { bare: Floor; parse: Floor }>,
): Promise<Row[]> {
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    EXCHANGES: "coinbase,kraken",
    COINBASE_WS_URL: cb.wsUrl,
    COINBASE_REST_URL: cb.restUrl,
    PRODUCTS: cb.products.join(","),
    KRAKEN_WS_URL: krSim.wsUrl,
    KRAKEN_REST_URL: krSim.restUrl,
    KRAKEN_PRODUCTS: krSim.products.join(","),
    KV_PATH: `${dir}/both.kv`,
    PORT: String(port),
    FLUSH_INTERVAL_MS: String(E2E.flushIntervalMs),
    CATCHUP_HOURS: "0",
    STORE: "kv",
    LOG_LEVEL: "warning",
  };
  progress(
    `both: starting the service (seeding ${cb.products.length} Coinbase products at 8/s and ` +
      `${krSim.products.length} Kraken pairs at 1/s) …`,
  );
  const launched = performance.now();
  const child = new Deno.Command(DENO, {
    args: [
      "run",
      `--v8-flags=${V8_FLAGS}`,
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
  const logTail = keepTail(child);
  let readers: JsonChild | undefined;
  try {
    await kr.ask({ cmd: "rest" }, "Kraken REST counts");
    const startupS = await waitHealthy(base, child, logTail, progress, "both", {
      limitS: 900,
      startedAt: launched,
    });
    const krRest = await kr.ask<{ requests: number; rateLimited: number }>(
      { cmd: "rest" },
      "Kraken REST counts",
    );
    const rss0 = await rssBytes(child.pid);
    const ids = [...cb.products, ...krSim.products.map((s) => `kraken:${s.replace("/", "-")}`)];
    const url = `${base}/api/stream?products=${ids.join(",")}&granularities=ONE_MINUTE`;
    readers = new JsonChild([
      DENO,
      "run",
      "--allow-net=127.0.0.1",
      new URL("./sse_clients_process.ts", import.meta.url).pathname,
    ], { stdin: true });
    await readers.ask(
      { cmd: "connect", url, clients: BOTH.sseClients, countOnly: true },
      "SSE readers",
    );
    progress(`both: running with ${BOTH.sseClients} SSE clients for ${BOTH.windowS} s …`);
    await sleep(10_000);
    const m1 = await scrape(base);
    const cpu1 = await cpuMicros(child.pid);
    const load1 = await loadAverage();
    const t1 = performance.now();
    await sleep((BOTH.windowS - 10) * 1000);
    const cpu2 = await cpuMicros(child.pid);
    const m2 = await scrape(base);
    const load2 = await loadAverage();
    const windowS = (performance.now() - t1) / 1000;
    const rss2 = await rssBytes(child.pid);
    const stats = await readers.ask<{ events: number; openClients: number }>(
      { cmd: "stats" },
      "SSE stats",
    );
    const trades = total(m2, "spot_trades_total") - total(m1, "spot_trades_total");
    const perTrade = (cpu2 - cpu1) / trades;
    const expected = (floors.coinbase!.bare.trades + floors.kraken!.bare.trades) /
      BOTH.floorWindowS;
    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
    return [
      {
        part: P,
        measure: `load: trades counted/s over the ${windowS.toFixed(0)} s window (the floors ` +
          `received ${num(expected)}/s; ${stats.openClients} SSE clients open; the machine's ` +
          `load average ${load1.toFixed(1)} → ${load2.toFixed(1)} on ` +
          `${navigator.hardwareConcurrency} cores)`,
        value: num(trades / windowS),
      },
      {
        part: P,
        measure: `startup: \`/health\` leaves \`starting\`, s from launch (Kraken REST requests ` +
          `until then: ${krRest.requests}, ${krRest.rateLimited} rate-limited)`,
        value: `${startupS.toFixed(0)} s`,
      },
      { part: P, measure: "service RSS when started (seeded)", value: mb(rss0) },
      { part: P, measure: `service RSS after the window`, value: mb(rss2) },
      {
        part: P,
        measure: "service CPU per trade (both exchanges)",
        value: `${perTrade.toFixed(1)} µs`,
      },
      {
        part: P,
        measure: "… ÷ the bare clients' CPU per trade over both exchanges (floor, both)",
        value: `${(perTrade / bareUs).toFixed(2)}×`,
      },
      ...lagRow(P, m1, m2),
    ];
  } finally {
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

/** Frames, sequence gaps and reconnects of both feeds over the window (the service's counters). */
function lagRow(P: string, m1: Scrape, m2: Scrape): Row[] {
  const d = (name: string) => total(m2, name) - total(m1, name);
  return [{
    part: P,
    measure: "feed frames received / sequence gaps / reconnects over the window (both feeds)",
    value: `${num(d("spot_feed_frames_total"))} / ${num(d("spot_feed_sequence_gaps_total"))} / ${
      num(d("spot_feed_reconnects_total"))
    }`,
  }];
}

async function loadAverage(): Promise<number> {
  return Number((await readProc("/proc/loadavg")).split(" ")[0]);
}
