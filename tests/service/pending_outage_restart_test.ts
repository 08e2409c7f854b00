/**
 * A kill -9 while a connection is down, before its reconnect reports the gap (DESIGN.md
 * invariant 1, issue 25 part 4): the socket is cut and every reconnect refused (a fault proxy in
 * front of the simulator's WebSocket), so the minute of the drop and the five minutes holding it
 * are stored as completed candles without the trades that followed; the repairer knows of no
 * window yet. The registry entry carries the outage (`pendingRepairs` from the connection's
 * `missingFromMs`), so the restart takes those products' minutes from REST again — seed tiles and
 * catch-up — and every stored candle of every granularity equals the simulator's truth.
 *
 * Both processes share an accelerated clock (`tests/helpers/clocked_service.ts`), 20× the wall
 * clock: a minute is 3 s. The first run starts at 12:50:10, so the restart completes the 12:00
 * hour (seeded from the store's minutes, then live).
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { bucketStart, GRANULARITIES, granularityById } from "../../lib/candles/granularity.ts";
import { demoProducts, startSimulator } from "../../lib/coinbase/simulator.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { sharedClock, sharedClockSpec } from "../helpers/clocked_service.ts";
import { FaultProxy } from "../helpers/fault_proxy.ts";
import { until } from "../helpers/service.ts";
import { type Child, spawn } from "../helpers/clocked_process.ts";

const SPEED = 20;
const START = Date.UTC(2026, 2, 14, 12, 50, 10);
const FIVE_MINUTE = granularityById("FIVE_MINUTE");

interface Status {
  status: string;
  startup?: string;
  connections: { state: string; missingFromMs?: number }[];
  repairs?: { pending: number };
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

Deno.test("SIGKILL while a connection is down, before its gap is reported, then a restart: no wrong candle", async () => {
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
  // The WebSocket goes through the proxy: `refuse` cuts it and refuses every reconnect.
  const ws = new FaultProxy(Number(new URL(sim.wsUrl).port));
  const ids = sim.market.products.map((p) => p.id);
  const env = {
    SPOT_TEST_CLOCK: spec,
    COINBASE_WS_URL: `ws://${ws.host}`,
    COINBASE_REST_URL: sim.restUrl,
    COINBASE_REST_RATE: "500",
    PRODUCTS: ids.join(","),
    STORE: "kv",
    KV_PATH: `${dir}/spot.kv`,
    FLUSH_INTERVAL_MS: "500",
    CATCHUP_HOURS: "2",
    // Beats every second (20 s of the market's): the startup windows, repaired, are off the
    // entry long before the drop, which must put the products back on it by itself.
    SHARD_HEARTBEAT_MS: "1000",
    HISTORY_DAYS: "0",
  };
  let second: Child | undefined;
  try {
    const first = await spawn(env);
    let dropMinute: number;
    try {
      await started(first);
      await until(() => clock() > START + 90_000, 20_000, "trading for a while");
      await until(
        () => (clock() / 1000) % 60 >= 5 && (clock() / 1000) % 60 < 30,
        5000,
        "mid-minute",
      );
      const s = await status(first.url);
      equal(s?.repairs?.pending, 0, "no repair pending before the drop");
      dropMinute = bucketStart(clock() / 1000, GRANULARITIES[0]!);
      await ws.setMode("refuse");
      // The drop's minute and the five minutes holding it complete and are stored.
      const fiveEnd = bucketStart(dropMinute, FIVE_MINUTE) + FIVE_MINUTE.seconds;
      await until(() => clock() > fiveEnd * 1000 + 15_000, 30_000, "the five minutes to end");
      const down = await status(first.url);
      ok(
        down?.connections.every((c) => c.state !== "subscribed" && c.missingFromMs !== undefined),
        `the connection is down and says so: ${JSON.stringify(down?.connections)}`,
      );
      equal(down?.repairs?.pending, 0, "the repairer knows of no window: the gap is unreported");
      equal((await first.end("SIGKILL")).signal, "SIGKILL");
    } catch (e) {
      await first.end("SIGKILL");
      throw e;
    }
    const killed = await openKvCandleStore(env.KV_PATH);
    try {
      const [entry] = await killed.readShards();
      for (const id of ids) {
        const from = entry?.pendingRepairs?.[id];
        ok(
          from !== undefined && from <= dropMinute && from >= dropMinute - 60,
          `${id} pending from the drop's minute ${dropMinute}: ${
            JSON.stringify(entry?.pendingRepairs)
          }`,
        );
      }
    } finally {
      killed.close();
    }

    await ws.setMode("pass");
    second = await spawn(env);
    await started(second);
    ok(
      second.log().includes("stopped with repairs pending"),
      `the restart knew of the outage\n${second.log().slice(-3000)}`,
    );
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
    } finally {
      store.close();
    }
  } finally {
    await second?.end("SIGKILL");
    await ws.close();
    await sim.close();
    await Deno.remove(dir, { recursive: true });
  }
});
