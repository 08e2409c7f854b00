/**
 * @module
 * Part 4 of the bench, "cold start at the real limit" (issue #13): the simulator (own process)
 * with 1,000 products × 5 trades/s enforcing Coinbase's real public REST limit strictly (at most
 * 10 requests in any sliding second, 429 beyond), the service (`main.ts`, own process) with its
 * DEFAULT settings (REST rate, catch-up hours, flush interval), and 20 SSE clients on every
 * product's `ONE_MINUTE` candles in a third process, connecting as soon as the service listens.
 * Measured from the service's launch: when every product's first `ONE_MINUTE` candle reached an
 * SSE client, when `/health` left `starting`, the service's peak RSS (VmHWM), the REST requests
 * the simulator served. Runs: cold on an empty KV file, then warm on the same file (the
 * previous run's store), then the same two on the Firestore emulator.
 */
import { type Emulator, startEmulator } from "../tests/helpers/emulator.ts";
import { startSimulatorProcess } from "./backfill_part.ts";
import { CPU_PROF_DIR, freePort, keepTail, V8_FLAGS } from "./e2e_part.ts";
import { readProc, rssBytes } from "./proc.ts";
import { type Scrape, scrape } from "./prometheus.ts";
import { num, type Row } from "./report.ts";
import { childEnv, DENO, JsonChild } from "./subprocess.ts";

/** The load of part 4. */
export const COLD = {
  /** `BENCH_COLD_PRODUCTS` overrides it for a quick trial of the part. */
  products: Number(Deno.env.get("BENCH_COLD_PRODUCTS") ?? 1000),
  tradesPerSecond: 5,
  sseClients: 20,
  /** Simulated history before the start, at this trade rate (what seeding and catch-up read). */
  historyHours: 2,
  historyTradesPerSecond: 0.5,
  /** Coinbase's public limit, enforced over any sliding second. */
  restLimit: 10,
  /**
   * Which stores' runs (cold, then warm) to make, in this order: `BENCH_COLD_STORES`, a comma
   * list of `kv` and `firestore` (`kv` alone for a quicker trial, `firestore` alone to look at
   * the emulator's runs without the KV runs before them).
   */
  stores: (Deno.env.get("BENCH_COLD_STORES") ?? "kv,firestore").split(",").map((s) => s.trim()),
  /**
   * `BENCH_SERVICE_LOG`: a file each run's service log is appended to, at `info` (else the
   * service logs at `warning` and only the tail is kept, for errors).
   */
  serviceLog: Deno.env.get("BENCH_SERVICE_LOG") || undefined,
  /** A run gives up waiting after this long. */
  limitS: 480,
  /** How long a run goes on after both marks (the writer stores the live state meanwhile). */
  afterS: 15,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Firsts {
  connectedAtMs: number | null;
  products: number;
  allAtMs: number | null;
}

interface RestCount {
  requests: number;
  rateLimited: number;
  maxPerSecond: number;
}

/** Peak resident set of `pid` since it started, bytes (VmHWM). */
async function peakRssBytes(pid: number): Promise<number> {
  const kb = (await readProc(`/proc/${pid}/status`)).match(/^VmHWM:\s*(\d+)\s*kB/m)?.[1];
  if (kb === undefined) throw new Error(`No VmHWM in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

/** Runs part 4; returns its rows and notes. */
export async function coldStartPart(
  progress: (line: string) => void,
): Promise<{ rows: Row[]; notes: string[] }> {
  progress(
    `cold: simulator with ${COLD.products} products × ${COLD.tradesPerSecond} trades/s, REST ` +
      `strictly ≤ ${COLD.restLimit} requests in any second …`,
  );
  const sim = await startSimulatorProcess({
    products: COLD.products,
    tps: COLD.tradesPerSecond,
    historyTps: COLD.historyTradesPerSecond,
    historyHours: COLD.historyHours,
    rest: { ratePerSecond: COLD.restLimit, burst: COLD.restLimit },
    sliding: true,
  });
  const dir = await Deno.makeTempDir({ prefix: "spot-bench-cold-" });
  const rows: Row[] = [];
  let emulator: Emulator | undefined;
  try {
    const kvPath = `${dir}/cold.kv`;
    if (COLD.stores.includes("kv")) {
      for (const phase of ["cold", "warm"] as const) {
        rows.push(
          ...await launch(`KV ${phase}`, phase, { STORE: "kv", KV_PATH: kvPath }, sim, progress),
        );
      }
    }
    if (!COLD.stores.includes("firestore")) return { rows, notes: [] };
    progress("cold: starting the Firestore emulator …");
    emulator = await startEmulator({ projectId: "demo-spot-bench-cold" });
    await emulator.clear();
    const env = {
      STORE: "firestore",
      GOOGLE_CLOUD_PROJECT: emulator.projectId,
      FIRESTORE_EMULATOR_HOST: emulator.host,
      KV_PATH: `${dir}/unused.kv`,
    };
    for (const phase of ["cold", "warm"] as const) {
      rows.push(...await launch(`Firestore ${phase}`, phase, env, sim, progress));
    }
  } finally {
    await sim.child.stop();
    await emulator?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const notes = [
    `Cold start at the real limit: the simulator (${COLD.products} products × ` +
    `${COLD.tradesPerSecond} trades/s, ${COLD.historyHours} h of history) answers 429 to any ` +
    `request beyond ${COLD.restLimit} in a sliding second; the service is \`main.ts\` with its ` +
    "default settings (only the URLs, `PRODUCTS`, `STORE`, `KV_PATH`/emulator and `PORT` set; " +
    "`COINBASE_REST_RATE` 8/s, `CATCHUP_HOURS` 6); 20 SSE clients in their own process on " +
    "`/api/stream?products=<all>&granularities=ONE_MINUTE`, connecting from launch. Times are " +
    "from the service's launch: 'every ONE_MINUTE at a client' is when the last of the products " +
    "first reached client 0 (each product trades every 0.2 s, so its first trade after the " +
    "subscription is at most a moment after the subscription); '/health leaves starting' is " +
    "when every product's live candles are seeded. 'warm' restarts on the store the cold run " +
    "left (stopped with SIGTERM " + `${COLD.afterS} s after both marks). Peak RSS is VmHWM of ` +
    "the service process. REST requests are those the simulator served while the service ran " +
    "(seeding, then catch-up and the startup repair in the background). A cold seed needs two " +
    "requests per product (the day's hours, the hour's minutes), or one when both fit in one " +
    "300-minute page of minutes, i.e. before 05:00 UTC: at 8 requests/s that is ~125 s more " +
    "for a cold start later in the day. The simulator counts a request when its own event " +
    "loop handles it, so its stalls can bunch requests the service sent at most 8 in any " +
    "second, ≥ 62.5 ms apart (the 429s and 'most in a second' above 8); a 429 pauses all of " +
    "the service's REST requests.",
  ];
  return { rows, notes };
}

async function launch(
  name: string,
  phase: "cold" | "warm",
  storeEnv: Record<string, string>,
  sim: { child: JsonChild; wsUrl: string; restUrl: string; products: string[] },
  progress: (line: string) => void,
): Promise<Row[]> {
  const products = sim.products.slice(0, COLD.products);
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  await sim.child.ask<RestCount>({ cmd: "rest" }, "REST count reset");
  const clients = new JsonChild([
    DENO,
    "run",
    "--allow-net=127.0.0.1",
    new URL("./sse_clients_process.ts", import.meta.url).pathname,
  ], { stdin: true });
  progress(`cold ${name}: launching the service …`);
  const t0 = Date.now();
  const child = new Deno.Command(DENO, {
    args: [
      "run",
      `--v8-flags=${V8_FLAGS}`,
      ...(CPU_PROF_DIR ? ["--cpu-prof", `--cpu-prof-dir=${CPU_PROF_DIR}`] : []),
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      new URL("../main.ts", import.meta.url).pathname,
    ],
    env: childEnv({
      COINBASE_WS_URL: sim.wsUrl,
      COINBASE_REST_URL: sim.restUrl,
      PRODUCTS: products.join(","),
      PORT: String(port),
      LOG_LEVEL: COLD.serviceLog ? "info" : "warning",
      ...storeEnv,
    }),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logTail = keepTail(child, COLD.serviceLog);
  let exited = false;
  child.status.then(() => exited = true);
  try {
    const url = `${base}/api/stream?products=${products.join(",")}&granularities=ONE_MINUTE`;
    await clients.ask(
      { cmd: "connect", url, clients: COLD.sseClients, expect: products.length },
      "SSE clients",
    );
    let healthyS: number | undefined;
    let restAtHealthy: RestCount | undefined;
    let firsts: Firsts = { connectedAtMs: null, products: 0, allAtMs: null };
    let lastNote = 0;
    let peakSeen = 0;
    /** When each product's connection was first seen subscribed (polled every 0.5 s). */
    const subscribedAt = new Map<string, number>();
    while ((healthyS === undefined || firsts.allAtMs === null)) {
      const s = (Date.now() - t0) / 1000;
      if (exited) throw new Error(`${name}: the service exited: ${logTail.text()}`);
      if (s > COLD.limitS) break;
      try {
        peakSeen = Math.max(peakSeen, await rssBytes(child.pid));
      } catch { /* not yet */ }
      if (healthyS === undefined) {
        try {
          const body = await (await fetch(`${base}/health`)).json();
          if (/startup failed/.test(String(body.reason ?? ""))) {
            throw new Error(`${name}: ${body.reason}`);
          }
          if (body.status !== "starting") {
            healthyS = (Date.now() - t0) / 1000;
            restAtHealthy = await sim.child.ask<RestCount>({ cmd: "rest" }, "REST count");
          } else if (s - lastNote >= 20) {
            lastNote = s;
            progress(
              `cold ${name}: starting (${s.toFixed(0)} s; ${firsts.products} products at a ` +
                `client) ${body.notes?.[0] ?? ""}`,
            );
          }
        } catch (e) {
          if (e instanceof Error && e.message.startsWith(name)) throw e;
          // Not listening yet.
        }
      }
      firsts = await clients.ask<Firsts>({ cmd: "firsts" }, "SSE firsts");
      try {
        const status = await (await fetch(`${base}/api/status`)).json();
        const at = Date.now();
        for (const c of status.connections ?? []) {
          if (c.state !== "subscribed") continue;
          for (const p of c.products as string[]) if (!subscribedAt.has(p)) subscribedAt.set(p, at);
        }
      } catch { /* not listening yet */ }
      await sleep(500);
    }
    // Per product: first ONE_MINUTE at the client − when its connection was seen subscribed
    // (every product trades every 0.2 s, so its first trade follows the subscription at once).
    const { times } = await clients.ask<{ times: Record<string, number> }>(
      { cmd: "firstTimes" },
      "SSE first times",
    );
    const missing = await describeMissing(products, times, subscribedAt, base, clients);
    const delays = products.flatMap((p) => {
      const sub = subscribedAt.get(p);
      const got = times[p];
      return sub === undefined || got === undefined ? [] : [Math.max(0, got - sub) / 1000];
    }).sort((a, b) => a - b);
    const delayP = (q: number) =>
      delays[Math.min(delays.length - 1, Math.ceil(q * delays.length) - 1)];
    const lastSubS = subscribedAt.size
      ? (Math.max(...subscribedAt.values()) - t0) / 1000
      : undefined;
    await sleep(COLD.afterS * 1000);
    const peak = await peakRssBytes(child.pid);
    const rssEnd = await rssBytes(child.pid);
    const status = await (await fetch(`${base}/api/status`)).json().catch(() => ({}));
    const restAfter = await sim.child.ask<RestCount>({ cmd: "rest" }, "REST count");
    const metrics = await scrape(base).catch(() => new Map() as Scrape);
    const stats = await clients.ask<{ openClients: number; endedClients: number }>(
      { cmd: "stats" },
      "SSE stats",
    );
    const P = `4 cold start ${name} (${products.length} products)`;
    const allS = firsts.allAtMs === null ? undefined : (firsts.allAtMs - t0) / 1000;
    const connS = firsts.connectedAtMs === null ? undefined : (firsts.connectedAtMs - t0) / 1000;
    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
    const healthGoal = phase === "cold" ? 300 : 60;
    progress(
      `cold ${name}: every ONE_MINUTE at a client ${allS?.toFixed(1) ?? "never"} s, healthy ` +
        `${healthyS?.toFixed(1) ?? "never"} s, peak RSS ${
          mb(peak)
        }, REST ${(restAtHealthy?.requests ?? 0)} + ${restAfter.requests}`,
    );
    const rows: Row[] = [
      {
        part: P,
        measure: `first ONE_MINUTE candle at an SSE client after the product's subscription, ` +
          `p50 / max over ${delays.length} products (0.5 s polling)`,
        value: delays.length
          ? `${delayP(0.5)!.toFixed(1)} / ${delays.at(-1)!.toFixed(1)} s`
          : "none",
        goal: "≤ 10 s after its first trade",
        met: delays.length === products.length && delays.at(-1)! <= 10,
      },
      {
        part: P,
        measure:
          `every product's first ONE_MINUTE at a client, s from launch (${firsts.products}/${products.length}; clients connected ${
            connS?.toFixed(1) ?? "-"
          } s; last connection subscribed ${
            lastSubS?.toFixed(1) ?? "-"
          } s: the feed opens one connection per second)`,
        value: allS === undefined ? `not within ${COLD.limitS} s` : `${allS.toFixed(1)} s`,
      },
      {
        part: P,
        measure: "`/health` leaves `starting`, s from launch",
        value: healthyS === undefined ? `not within ${COLD.limitS} s` : `${healthyS.toFixed(1)} s`,
        goal: `≤ ${healthGoal} s`,
        met: healthyS !== undefined && healthyS <= healthGoal,
      },
      {
        part: P,
        measure: `service peak RSS from launch (VmHWM; ${
          mb(rssEnd)
        } at the end, ${stats.openClients} clients open)`,
        value: mb(peak),
        goal: "< 200 MB",
        met: peak < 200 * 1024 * 1024,
      },
      {
        part: P,
        measure: "REST requests until `/health` left starting (429s; most in a second)",
        value: restAtHealthy
          ? `${
            num(restAtHealthy.requests)
          } (${restAtHealthy.rateLimited}; ${restAtHealthy.maxPerSecond})`
          : "-",
        goal: phase === "cold" ? `≤ ${2 * products.length}` : "little",
      },
      {
        part: P,
        measure: `REST requests after that, ${COLD.afterS} s+ (catch-up, startup repair; note: ${
          String(status.startup ?? "done").slice(0, 60)
        })`,
        value: `${num(restAfter.requests)} (${restAfter.rateLimited}; ${restAfter.maxPerSecond})`,
      },
    ];
    const late = (le: string) =>
      (metrics.get('spot_event_loop_lag_seconds_bucket{le="+Inf"}') ?? NaN) -
      (metrics.get(`spot_event_loop_lag_seconds_bucket{le="${le}"}`) ?? NaN);
    rows.push({
      part: P,
      measure: "event loop held: the service's 1-s ticks late by > 0.1 s / > 1 s, from launch " +
        "(`spot_event_loop_lag_seconds`)",
      value: `${late("0.1")} / ${late("1")}`,
    });
    if (missing) {
      rows.push({
        part: P,
        measure: "products without a first ONE_MINUTE at client 0 when the run stopped waiting " +
          "(how many were seen subscribed; their connections at that moment; the SSE clients)",
        value: missing,
      });
    }
    return rows;
  } finally {
    await clients.stop();
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

/**
 * When some products never reached client 0: which (the first 10), how many of them were seen
 * subscribed, the service's connections serving them (state, reconnects, last error) and how
 * many SSE clients are open or ended, so that a stalled run says where it stalled. Undefined
 * when every product arrived.
 */
async function describeMissing(
  products: string[],
  times: Record<string, number>,
  subscribedAt: Map<string, number>,
  base: string,
  clients: JsonChild,
): Promise<string | undefined> {
  const missing = products.filter((p) => times[p] === undefined);
  if (missing.length === 0) return undefined;
  const subscribed = missing.filter((p) => subscribedAt.has(p)).length;
  const status = await fetch(`${base}/api/status`).then((r) => r.json()).catch(() => ({}));
  const connections = ((status.connections ?? []) as {
    id: string;
    products: string[];
    state: string;
    reconnects: number;
    lastError?: string;
  }[]).filter((c) => c.products.some((p) => missing.includes(p)))
    .map((c) =>
      `${c.id} ${c.state}, ${c.reconnects} reconnects${
        c.lastError ? `, last error: ${c.lastError}` : ""
      }`
    );
  const stats = await clients.ask<{ openClients: number; endedClients: number }>(
    { cmd: "stats" },
    "SSE stats",
  );
  const text =
    `${missing.length}: ${missing.slice(0, 10).join(", ")}${
      missing.length > 10 ? ", …" : ""
    } (${subscribed} seen subscribed; ${connections.join("; ") || "no connection found"}; ` +
    `SSE clients ${stats.openClients} open, ${stats.endedClients} ended)`;
  return text.replaceAll("|", "/");
}
