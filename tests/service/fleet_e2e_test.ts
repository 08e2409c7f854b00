/**
 * The fleet check with real shard processes (`main.ts` in subprocesses) sharing one store and
 * one simulator, heartbeats every 300 ms: the fleet on Deno KV (three shards, one stopped,
 * one deployed with the wrong SHARD_COUNT), and two shards on the Firestore emulator.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { demoProducts, type Simulator, startSimulator } from "../../lib/coinbase/simulator.ts";
import { productsForShard } from "../../lib/history/shard.ts";
import type { FleetProblem, FleetReport } from "../../lib/service/fleet.ts";
import { emulatorTest } from "../helpers/emulator.ts";
import { type ShardProcess, startShard } from "../helpers/shard_process.ts";

const PRODUCTS = demoProducts(16);
const IDS = PRODUCTS.map((p) => p.id);
/** The bound: both problems named within a minute. */
const WITHIN_MS = 60_000;

async function simulator(): Promise<Simulator> {
  return await startSimulator({
    products: PRODUCTS,
    historyMs: 3600_000,
    rest: { publicLimit: { ratePerSecond: 1000, burst: 1000 } },
  });
}

function shardEnv(sim: Simulator, store: Record<string, string>): Record<string, string> {
  return {
    COINBASE_WS_URL: sim.wsUrl,
    COINBASE_REST_URL: sim.restUrl,
    COINBASE_REST_RATE: "100",
    PRODUCTS: IDS.join(","),
    CATCHUP_HOURS: "0",
    SHARD_HEARTBEAT_MS: "300",
    ...store,
  };
}

async function fleetOf(shard: ShardProcess): Promise<FleetReport> {
  const res = await fetch(`${shard.url}/api/fleet`);
  if (!res.ok) {
    throw new Error(`${shard.id} /api/fleet answered ${res.status}: ${await res.text()}`);
  }
  return await res.json() as FleetReport;
}

/** Every shard's warnings, for a failure message. */
let fleetLogs: () => string = () => "";

function warnings(shards: ShardProcess[]): string {
  return shards.map((s) =>
    `--- ${s.id}:\n` +
    s.log().split("\n").filter((l) => /WARN|ERROR|FATAL/.test(l)).slice(-8).join("\n")
  ).join("\n");
}

/** Polls `shard`'s `/api/fleet` until `done` holds; returns the report and the time it took. */
async function waitFleet(
  shard: ShardProcess,
  done: (r: FleetReport) => boolean,
  what: string,
  timeoutMs = WITHIN_MS,
): Promise<{ report: FleetReport; ms: number }> {
  const start = Date.now();
  let last: FleetReport | undefined;
  while (Date.now() - start < timeoutMs) {
    last = await fleetOf(shard);
    if (done(last)) return { report: last, ms: Date.now() - start };
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `Timed out after ${timeoutMs} ms on ${shard.id} waiting for ${what}: ${
      JSON.stringify(last)
    }\n${fleetLogs()}`,
  );
}

/** Whether every shard in the report has written its product list (its first beat may not). */
function listed(r: FleetReport): boolean {
  return r.shards.every((s) => s.status === "stopped" || s.products.length > 0);
}

function problem(r: FleetReport, kind: FleetProblem["kind"]): FleetProblem | undefined {
  return r.problems.find((p) => p.kind === kind);
}

function served(...shards: [number, number][]): Set<string> {
  return new Set(shards.flatMap(([i, n]) => productsForShard(IDS, n, i)));
}

async function stopAll(shards: ShardProcess[]): Promise<void> {
  await Promise.all(shards.map((s) => s.stop()));
}

Deno.test({
  name: "fleet on Deno KV: three shard processes, one stopped, one with the wrong SHARD_COUNT",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "fleet-kv-" });
    const sim = await simulator();
    const env = shardEnv(sim, { STORE: "kv", KV_PATH: join(dir, "fleet.kv") });
    const shards: ShardProcess[] = [];
    fleetLogs = () => warnings(shards);
    try {
      shards.push(
        ...await Promise.all([startShard(0, 3, env), startShard(1, 3, env), startShard(2, 4, env)]),
      );
      const [first, second, wrong] = shards as [ShardProcess, ShardProcess, ShardProcess];

      await t.step("every shard finds all three entries in the registry", async () => {
        for (const s of shards) {
          await waitFleet(s, (r) => r.shards.length === 3 && listed(r), "three registry entries");
        }
      });

      const code = await second.stop();
      const uncovered = IDS.filter((p) => !served([0, 3], [2, 4]).has(p)).sort();
      const doubled = IDS.filter((p) => served([0, 3]).has(p) && served([2, 4]).has(p)).sort();

      await t.step("1-of-3 stops on SIGTERM with exit code 0", () => {
        assert.equal(code, 0, second.log());
      });

      for (const s of [first, wrong]) {
        await t.step(
          `${s.id}'s /api/fleet names the stopped shard's products and the wrong count`,
          async () => {
            const { report, ms } = await waitFleet(
              s,
              (r) =>
                listed(r) && r.shards.find((x) => x.id === "1-of-3")?.status === "stopped" &&
                problem(r, "uncovered") !== undefined &&
                problem(r, "count_mismatch") !== undefined,
              "uncovered and count_mismatch",
            );
            const gap = problem(report, "uncovered")!;
            assert.deepEqual(gap.products, uncovered);
            assert.match(gap.message, /1-of-3 is stopped/);
            assert.match(gap.message, /2-of-3 has never reported/);
            const count = problem(report, "count_mismatch")!;
            assert.match(count.message, /redeploy 2-of-4 with SHARD_COUNT=3/);
            if (doubled.length > 0) {
              assert.deepEqual(problem(report, "double")?.products, doubled);
            }
            assert.ok(ms < WITHIN_MS, `named after ${ms} ms`);
          },
        );
      }

      await t.step(
        "/health of a shard stays about itself; /metrics counts the problems",
        async () => {
          const health = await fetch(`${first.url}/health`);
          const body = await health.json();
          assert.equal(health.status, 200, JSON.stringify(body));
          assert.ok(["starting", "healthy", "degraded"].includes(body.status));
          const metrics = await (await fetch(`${first.url}/metrics`)).text();
          assert.match(metrics, /spot_fleet_problems\{kind="uncovered"\} 1/);
          assert.match(metrics, /spot_fleet_problems\{kind="count_mismatch"\} 1/);
          assert.match(metrics, /spot_fleet_shards\{status="stopped"\} 1/);
        },
      );
    } finally {
      await stopAll(shards);
      await sim.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

emulatorTest(
  "fleet on the Firestore emulator: two shard processes with different SHARD_COUNTs",
  async (t, emulator) => {
    const sim = await simulator();
    const env = shardEnv(sim, {
      STORE: "firestore",
      FIRESTORE_EMULATOR_HOST: emulator.host,
      GOOGLE_CLOUD_PROJECT: emulator.projectId,
      FIRESTORE_LAYOUT: "compact",
    });
    const shards: ShardProcess[] = [];
    fleetLogs = () => warnings(shards);
    try {
      shards.push(...await Promise.all([startShard(0, 2, env), startShard(1, 3, env)]));
      const [first, wrong] = shards as [ShardProcess, ShardProcess];

      await t.step("both see the count mismatch and what nobody serves", async () => {
        for (const s of shards) {
          const { report } = await waitFleet(
            s,
            (r) => r.shards.length === 2 && listed(r) && problem(r, "count_mismatch") !== undefined,
            "count_mismatch",
          );
          const uncovered = IDS.filter((p) => !served([0, 2], [1, 3]).has(p)).sort();
          assert.deepEqual(problem(report, "uncovered")?.products, uncovered);
          assert.match(problem(report, "uncovered")!.message, /disagree on SHARD_COUNT/);
        }
      });

      await t.step("after 1-of-3 stops: no mismatch, its products uncovered too", async () => {
        assert.equal(await wrong.stop(), 0, wrong.log());
        const { report } = await waitFleet(
          first,
          (r) => r.shards.find((x) => x.id === "1-of-3")?.status === "stopped",
          "1-of-3 stopped",
        );
        assert.equal(problem(report, "count_mismatch"), undefined);
        const uncovered = IDS.filter((p) => !served([0, 2]).has(p)).sort();
        assert.deepEqual(problem(report, "uncovered")?.products, uncovered);
      });
    } finally {
      await stopAll(shards);
      await sim.close();
    }
  },
);
