/**
 * A stop (SIGTERM) or a kill (SIGKILL) while a gap repair is pending, then a restart (DESIGN.md
 * invariant 1, issue 25 part 4): the gap's minute was stored as a completed candle built from the
 * trades the feed delivered (some were withheld), and the repair could not run (REST hangs behind
 * a proxy). The registry entry carries the pending window (`pendingRepairs`); the restart takes
 * those minutes from REST again — seed tiles and catch-up — so every stored candle of every
 * granularity, and the hour the restart completes from its seeded live candle, equal the
 * simulator's truth.
 *
 * Both processes share an accelerated clock (`tests/helpers/clocked_service.ts`), 20× the wall
 * clock: a minute is 3 s. The first run starts at 12:50:10, so the restart completes the 12:00
 * hour (seeded from the store's minutes, then live).
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { bucketStart, GRANULARITIES } from "../../lib/candles/granularity.ts";
import { demoProducts, startSimulator } from "../../lib/coinbase/simulator.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { sharedClock, sharedClockSpec } from "../helpers/clocked_service.ts";
import { FaultProxy } from "../helpers/fault_proxy.ts";
import { until } from "../helpers/service.ts";
import { type Child, spawn } from "../helpers/clocked_process.ts";

const SPEED = 20;
const START = Date.UTC(2026, 2, 14, 12, 50, 10);

interface Status {
  status: string;
  startup?: string;
  repairs?: { pending: number; done: number };
}

async function status(url: string): Promise<Status | undefined> {
  const res = await fetch(`${url}/api/status`).catch(() => undefined);
  return res ? await res.json() : undefined;
}

async function started(child: Child): Promise<void> {
  await until(
    async () => {
      const s = await status(child.url);
      return s !== undefined && s.status !== "starting" && !s.startup;
    },
    30_000,
    `startup to finish\n${child.log().slice(-2000)}`,
  );
}

for (const signal of ["SIGTERM", "SIGKILL"] as const) {
  Deno.test(`${signal} with a repair pending, then a restart: no wrong candle`, async () => {
    const dir = await Deno.makeTempDir();
    const spec = sharedClockSpec(START, SPEED);
    const clock = sharedClock(spec);
    const sim = await startSimulator({
      products: demoProducts(3),
      clock,
      historyMs: 4 * 3600_000,
      historyTradesPerSecond: 0.2,
      rest: { publicLimit: { ratePerSecond: 1000, burst: 1000 } },
      ws: { heartbeatIntervalMs: 100, flushIntervalMs: 50 },
    });
    const restUrl = new URL(sim.restUrl);
    const proxy = new FaultProxy(Number(restUrl.port));
    const ids = sim.market.products.map((p) => p.id);
    const env = {
      SPOT_TEST_CLOCK: spec,
      COINBASE_WS_URL: sim.wsUrl,
      COINBASE_REST_URL: `http://${proxy.host}${restUrl.pathname}`,
      COINBASE_REST_RATE: "500",
      PRODUCTS: ids.join(","),
      STORE: "kv",
      KV_PATH: `${dir}/spot.kv`,
      FLUSH_INTERVAL_MS: "500",
      CATCHUP_HOURS: "2",
      // Beats every second (20 s of the market's): the startup windows, repaired, are off the
      // entry long before the gap, which must put its window there by itself.
      SHARD_HEARTBEAT_MS: "1000",
      HISTORY_DAYS: "0",
    };
    let second: Child | undefined;
    try {
      const first = await spawn(env);
      let gapMinute: number;
      try {
        await started(first);
        await until(() => clock() > START + 90_000, 20_000, "trading for a while");
        // REST hangs from now on: the repair of the gap cannot finish.
        await proxy.setMode("hang");
        await until(
          () => (clock() / 1000) % 60 >= 5 && (clock() / 1000) % 60 < 30,
          5000,
          "mid-minute",
        );
        gapMinute = bucketStart(clock() / 1000, GRANULARITIES[0]!);
        ok(sim.withholdFrames(3) > 0, "frames withheld");
        // The gap's minute completes, is stored (flushes every 500 ms real), and the next one too.
        await until(() => clock() > (gapMinute + 120) * 1000 + 15_000, 20_000, "two minutes");
        const s = await status(first.url);
        ok((s?.repairs?.pending ?? 0) > 0, `a repair is pending: ${JSON.stringify(s?.repairs)}`);
        const stored = await first.end(signal);
        if (signal === "SIGTERM") equal(stored.code, 0, first.log().slice(-2000));
        else equal(stored.signal, "SIGKILL");
      } catch (e) {
        await first.end("SIGKILL");
        throw e;
      }
      const left = await openKvCandleStore(env.KV_PATH);
      try {
        const [entry] = await left.readShards();
        if (signal === "SIGTERM") equal(entry?.status, "stopped");
        for (const id of ids) {
          const from = entry?.pendingRepairs?.[id];
          ok(
            from !== undefined && from <= gapMinute && from >= gapMinute - 60,
            `${id} pending from the gap's minute ${gapMinute}: ${
              JSON.stringify(entry?.pendingRepairs)
            }`,
          );
        }
      } finally {
        left.close();
      }
      await proxy.setMode("pass");
      second = await spawn(env);
      await started(second);
      ok(
        second.log().includes("stopped with repairs pending"),
        `the restart knew of the pending repair\n${second.log().slice(-3000)}`,
      );
      // The 12:00 hour, seeded at the restart from the store (and REST for the untrusted
      // minutes), completes live; then a minute more.
      await until(() => clock() > Date.UTC(2026, 2, 14, 13, 1, 10), 60_000, "the hour to end");
      const stopMs = clock();
      equal((await second.end("SIGTERM")).code, 0, second.log().slice(-2000));
      second = undefined;

      const store = await openKvCandleStore(env.KV_PATH);
      try {
        let compared = 0;
        for (const product of ids) {
          for (const g of GRANULARITIES) {
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
        ok(compared > 300, `compared ${compared} candles`);
        const hour = await store.readCompleted(ids[0]!, "ONE_HOUR", {
          start: bucketStart(START / 1000, GRANULARITIES[4]!),
          end: bucketStart(START / 1000, GRANULARITIES[4]!),
          limit: 1,
        });
        equal(hour.length, 1, "the hour the restart completed from its seed is compared");
      } finally {
        store.close();
      }
    } finally {
      await second?.end("SIGKILL");
      await proxy.close();
      await sim.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
