/**
 * Kill -9 (issue 25 part 4): a real service process, trading against the simulator, is killed
 * with SIGKILL mid-minute (no drain runs: what the writer held is lost), restarted on the same
 * store, and every stored candle is compared with the simulator's truth.
 *
 * Both processes share an accelerated clock (`tests/helpers/clocked_service.ts`), 20× the wall
 * clock: a minute is 3 s. The writer's flush intervals are seconds of real time (its cycles run
 * every 5 s: 100 s of market time), so at the kill the completions since the last cycle (in
 * about nine runs out of ten the minute just ended among them, every granularity) are in memory
 * only, and the restart's seeding and catch-up must bring them back from REST.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { bucketStart, GRANULARITIES } from "../../lib/candles/granularity.ts";
import { demoProducts, startSimulator } from "../../lib/coinbase/simulator.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { sharedClock, sharedClockSpec } from "../helpers/clocked_service.ts";
import { until } from "../helpers/service.ts";
import { type Child, spawn } from "../helpers/clocked_process.ts";

const SPEED = 20;
/** 12:03:10 UTC: the service starts 10 s into a minute. */
const START = Date.UTC(2026, 2, 14, 12, 3, 10);

async function status(url: string): Promise<{ status: string; startup?: string }> {
  const res = await fetch(`${url}/api/status`);
  return await res.json();
}

/** Waits until startup is done (seeded and history caught up). */
async function started(child: Child): Promise<void> {
  await until(
    async () => {
      const s = await status(child.url).catch(() => undefined);
      return s !== undefined && s.status !== "starting" && !s.startup;
    },
    30_000,
    `startup to finish\n${child.log().slice(-2000)}`,
  );
}

Deno.test("kill -9 mid-minute, then a restart: no hole, no wrong candle", async () => {
  const dir = await Deno.makeTempDir();
  const spec = sharedClockSpec(START, SPEED);
  const clock = sharedClock(spec);
  const sim = await startSimulator({
    products: demoProducts(4),
    clock,
    historyMs: 4 * 3600_000,
    historyTradesPerSecond: 0.2,
    rest: { publicLimit: { ratePerSecond: 1000, burst: 1000 } },
    ws: { heartbeatIntervalMs: 100, flushIntervalMs: 50 },
  });
  const ids = sim.market.products.map((p) => p.id);
  const env = {
    SPOT_TEST_CLOCK: spec,
    COINBASE_WS_URL: sim.wsUrl,
    COINBASE_REST_URL: sim.restUrl,
    COINBASE_REST_RATE: "500",
    PRODUCTS: ids.join(","),
    STORE: "kv",
    KV_PATH: `${dir}/spot.kv`,
    FLUSH_INTERVAL_MS: "ONE_MINUTE=5000,default=8000",
    CATCHUP_HOURS: "2",
    SHARD_HEARTBEAT_MS: "500",
  };
  let second: Child | undefined;
  try {
    const first = await spawn(env);
    let killedAt: number;
    try {
      await started(first);
      // Trade for a while, then kill 10 s (market time) into a minute: the minute just ended
      // is complete in the aggregator, and most likely still queued in the writer.
      await until(() => clock() > START + 120_000, 20_000, "two minutes of trading");
      await until(
        () => {
          const s = (clock() / 1000) % 60;
          return s >= 10 && s < 12;
        },
        5_000,
        "10 s into a minute",
      );
      killedAt = clock();
      equal((await first.end("SIGKILL")).signal, "SIGKILL");
    } catch (e) {
      await first.end("SIGKILL");
      throw e;
    }
    // Down for 30 s of market time: the restart comes in the next minute.
    await until(() => clock() > killedAt + 30_000, 5_000, "the outage");
    second = await spawn(env);
    await started(second);
    // Every minute the outage spanned completes, and a five-minute bucket after it.
    await until(
      () => clock() > (bucketStart(killedAt / 1000, GRANULARITIES[1]!) + 600) * 1000,
      30_000,
      "the outage's five minutes and the next to complete",
    );
    const stopMs = clock();
    const code = (await second.end("SIGTERM")).code;
    equal(code, 0, second.log().slice(-2000));
    second = undefined;

    const store = await openKvCandleStore(env.KV_PATH);
    try {
      let compared = 0;
      for (const product of ids) {
        for (const g of GRANULARITIES) {
          // History the first run caught up (2 h before its start), then everything completed
          // before the stop (buckets that ended more than the clock's 5 s grace and a tick ago).
          const from = g.id === "ONE_DAY"
            ? bucketStart(START / 1000, g)
            : bucketStart(START / 1000 - 2 * 3600, g) + g.seconds;
          const last = bucketStart((stopMs - 6000) / 1000, g) - g.seconds;
          if (last < from) continue;
          const stored = await store.readCompleted(product, g.id, {
            start: from,
            end: last,
            limit: 5000,
          });
          const truth = sim.market.candles(product, g, from, last);
          const bad = truth.find((c, i) => JSON.stringify(c) !== JSON.stringify(stored[i]));
          deepStrictEqual(
            stored,
            truth,
            `${product} ${g.id}: first difference at ${bad?.start} of ${truth.length}`,
          );
          compared += truth.length;
        }
      }
      ok(compared > 500, `compared ${compared} candles`);
    } finally {
      store.close();
    }
  } finally {
    await second?.end("SIGKILL");
    await sim.close();
    await Deno.remove(dir, { recursive: true });
  }
});
