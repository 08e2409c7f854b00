/**
 * Issue 25 part 1 end to end: any shard answers `/history` and `/api/candles` for every
 * product. Two shards (`SHARD_COUNT=2`, `SHARD_INDEX` 0 and 1) run in this process on one
 * simulator and one accelerated clock, each behind the real app (`createApp(service,
 * appOptions(config))`).
 *
 * On the Firestore emulator (the store the fleet shares), in both live-document layouts, each
 * shard's answer for the other shard's products must equal the owner's own answer.
 *
 * The rule for the live candle: the owner answers it from memory, updated by every trade, while
 * another shard reads the owner's live document, written at most once per flush interval, so the
 * two may differ by what one flush interval of trades changes. The test compares them at a quiet
 * moment instead: the shared clock is paused (no trade, no candle completion, on the simulator or
 * in either service), both writers are drained, and then every answer must be identical: the
 * same completed candles, and the same live candle, marked the same way (`complete: false` on
 * `/api/candles`, last on both routes).
 *
 * On Deno KV (each shard its own store) the other shard's products are a 404 (`/history`) or a
 * 400 (`/api/candles`); the message names the owning shard once the registry knows it, which
 * it can only when the shards share the KV file (the registry lives in the store).
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { GRANULARITIES } from "../../lib/candles/granularity.ts";
import { acceleratedClock, type Clock } from "../../lib/clock.ts";
import { demoProducts, type Simulator, startSimulator } from "../../lib/coinbase/simulator.ts";
import { loadConfig } from "../../lib/config.ts";
import { productsForShard } from "../../lib/history/shard.ts";
import type { CandleRow } from "../../lib/service/view.ts";
import { FirestoreCandleStore, type FirestoreLayout } from "../../lib/store/firestore.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import type { CandleStore } from "../../lib/store/store.ts";
import { appOptions, createApp } from "../../routes/app.ts";
import { emulatorTest } from "../helpers/emulator.ts";
import { type Harness, startHarness, until } from "../helpers/service.ts";

const START = Date.UTC(2026, 2, 14, 10, 0, 10);
const SPEED = 20;
const PRODUCTS = 6;
const IDS = demoProducts(PRODUCTS).map((p) => p.id);
const SERVED = [productsForShard(IDS, 2, 0), productsForShard(IDS, 2, 1)] as const;

/** An accelerated clock that can be paused (no trades, no completions) and resumed. */
function pausableClock(speed: number, startMs: number) {
  const base = acceleratedClock(speed, startMs);
  let pausedAt: number | undefined;
  let lost = 0;
  const now: Clock = () => pausedAt ?? base() - lost;
  return {
    now,
    pause: () => pausedAt = now(),
    resume: () => {
      lost = base() - pausedAt!;
      pausedAt = undefined;
    },
  };
}

interface Shard {
  h: Harness;
  app: ReturnType<typeof createApp>;
  id: string;
}

async function startShards(
  sim: Simulator,
  clock: Clock,
  stores: [CandleStore, CandleStore],
  env: Record<string, string> = {},
): Promise<[Shard, Shard]> {
  const shards: Shard[] = [];
  for (const index of [0, 1]) {
    const shardEnv: Record<string, string> = {
      SHARD_COUNT: "2",
      SHARD_INDEX: String(index),
      SHARD_HEARTBEAT_MS: "300",
      CATCHUP_HOURS: "1",
      ...env,
    };
    const h = await startHarness({
      clock,
      store: stores[index]!,
      sim,
      products: PRODUCTS,
      env: shardEnv,
    });
    const app = createApp(h.service, appOptions(loadConfig((name) => shardEnv[name])));
    shards.push({ h, app, id: `${index}-of-2` });
  }
  return shards as [Shard, Shard];
}

/** Waits until both shards are ready; each serves its half of the products. */
async function ready(shards: Shard[]): Promise<void> {
  await Promise.all(shards.map((s) => s.h.service.ready()));
  for (const [i, s] of shards.entries()) {
    deepStrictEqual(s.h.service.products().map((p) => p.productId).sort(), [...SERVED[i]!].sort());
  }
}

async function get(shard: Shard, path: string): Promise<{ status: number; body: unknown }> {
  const res = await shard.app.request(path);
  return { status: res.status, body: await res.json() };
}

function historyPath(product: string, g: string, startSec: number, endSec: number): string {
  return `/history?symbol=${product}&granularity=${g}&start_time=${startSec * 1000}` +
    `&end_time=${endSec * 1000}`;
}

function simulator(clock: Clock): Promise<Simulator> {
  return startSimulator({
    products: demoProducts(PRODUCTS),
    clock,
    historyMs: 26 * 3600_000,
    historyTradesPerSecond: 0.2,
    rest: { publicLimit: { ratePerSecond: 1000, burst: 1000 } },
    ws: { heartbeatIntervalMs: 100, flushIntervalMs: 50 },
  });
}

async function stopAll(shards: Shard[]): Promise<void> {
  await Promise.all(shards.map((s) => s.h.close()));
}

/** Runs both shards on the emulator with `layout` and compares the answers at a quiet moment. */
async function sameAnswers(
  t: Deno.TestContext,
  emulatorHost: string,
  projectId: string,
  layout: FirestoreLayout,
) {
  const clock = pausableClock(SPEED, START);
  const sim = await simulator(clock.now);
  const store = () => new FirestoreCandleStore({ emulatorHost, projectId, layout });
  const shards = await startShards(sim, clock.now, [store(), store()], {
    STORE: "firestore",
    FIRESTORE_LAYOUT: layout,
  });
  try {
    await ready(shards);
    // A completed minute or two of live trading on both shards.
    const readyAt = clock.now();
    await until(() => clock.now() > readyAt + 100_000, 20_000, "live minutes");

    clock.pause();
    const nowSec = Math.floor(clock.now() / 1000);
    // Frames the simulator sent before the pause are still landing: quiet once no trade has
    // arrived, nothing is pending and nothing was written on either shard for 500 ms (ten
    // flush intervals).
    const state = () =>
      JSON.stringify(shards.map((s) => {
        const st = s.h.service.status();
        return [st.aggregator?.trades, st.store?.pendingWrites, st.store?.writesTotal];
      }));
    let last = state();
    await until(
      async () => {
        await new Promise((r) => setTimeout(r, 500));
        const now = state();
        const still = now === last &&
          shards.every((s) => s.h.service.status().store?.pendingWrites === 0);
        last = now;
        return still;
      },
      15_000,
      "both shards quiet (no trade landing, nothing pending or written)",
    );

    for (const [i, asker] of shards.entries()) {
      const owner = shards[1 - i]!;
      await t.step(
        `${layout}: ${asker.id} answers ${owner.id}'s products as ${owner.id} does`,
        async () => {
          let compared = 0;
          for (const product of SERVED[1 - i]!) {
            for (const g of GRANULARITIES) {
              const paths = [
                historyPath(product, g.id, nowSec - 86400, nowSec + g.seconds),
                `/api/candles/${product}/${g.id}?start=${nowSec - 86400}&end=${
                  nowSec + g.seconds
                }&limit=5000`,
              ];
              // The latest candles (no range, the default limit), by the short name.
              if (g.seconds === 60) paths.push(`/api/candles/${product}/${g.short}`);
              for (const path of paths) {
                const mine = await get(owner, path);
                const theirs = await get(asker, path);
                equal(mine.status, 200, `${owner.id} ${path}: ${JSON.stringify(mine.body)}`);
                equal(theirs.status, 200, `${asker.id} ${path}: ${JSON.stringify(theirs.body)}`);
                deepStrictEqual(theirs.body, mine.body, `${asker.id} vs ${owner.id} ${path}`);
                const candles = (mine.body as { candles: unknown[] }).candles;
                ok(candles.length > 0, `${path} has candles`);
                compared += candles.length;
                if (path.startsWith("/api/")) {
                  // Not vacuous: the live candle is there, last, and marked as such.
                  const rows = candles as CandleRow[];
                  equal(rows.at(-1)!.complete, false, `${path}: the live candle last`);
                  ok(rows.slice(0, -1).every((r) => r.complete), path);
                  if (g.seconds === 60) ok(rows.length > 60, `${path}: ${rows.length} rows`);
                }
              }
            }
          }
          ok(compared > 200 * SERVED[1 - i]!.length, `compared ${compared} candles`);
        },
      );
    }
    clock.resume();
  } finally {
    await stopAll(shards);
    await sim.close();
  }
}

emulatorTest(
  "any shard answers /history and /api/candles for every product on the shared Firestore store, as the owner does",
  async (t, emulator) => {
    for (const layout of ["compat", "compact"] as const) {
      await sameAnswers(t, emulator.host, emulator.projectId, layout);
      await emulator.clear();
    }
  },
);

/** Asks `asker` for one of `owner`'s products; both routes refuse it with `message`. */
async function refused(asker: Shard, product: string, message: RegExp): Promise<void> {
  const nowSec = Math.floor(Date.now() / 1000);
  const history = await get(asker, historyPath(product, "ONE_MINUTE", nowSec - 3600, nowSec));
  equal(history.status, 404, JSON.stringify(history.body));
  match((history.body as { error: string }).error, message);
  const api = await get(asker, `/api/candles/${product}/ONE_MINUTE`);
  equal(api.status, 400, JSON.stringify(api.body));
  match((api.body as { error: string }).error, message);
}

Deno.test("on Deno KV a shard refuses another shard's products, naming the owner once its registry knows it", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "any-shard-kv-" });
  const clock = pausableClock(SPEED, START);
  const sim = await simulator(clock.now);
  try {
    await t.step("each shard its own KV file: 404 / 400, no owner to name", async () => {
      const stores: [CandleStore, CandleStore] = [
        await openKvCandleStore(`${dir}/0.kv`),
        await openKvCandleStore(`${dir}/1.kv`),
      ];
      const shards = await startShards(sim, clock.now, stores, { STORE: "kv" });
      try {
        await ready(shards);
        for (const [i, asker] of shards.entries()) {
          const own = SERVED[i]![0]!;
          const nowSec = Math.floor(clock.now() / 1000);
          equal(
            (await get(asker, historyPath(own, "ONE_MINUTE", nowSec - 600, nowSec))).status,
            200,
          );
          equal((await get(asker, `/api/candles/${own}/ONE_MINUTE`)).status, 200);
          // The registry lives in the store: this shard's own KV file knows no other shard.
          for (const product of SERVED[1 - i]!) {
            await refused(asker, product, /is not served by this instance \(see \/api\/products\)/);
          }
        }
      } finally {
        await stopAll(shards);
      }
    });

    await t.step("the shards share a KV file: the message names the owning shard", async () => {
      const path = `${dir}/shared.kv`;
      const stores: [CandleStore, CandleStore] = [
        await openKvCandleStore(path),
        await openKvCandleStore(path),
      ];
      const shards = await startShards(sim, clock.now, stores, { STORE: "kv" });
      try {
        await ready(shards);
        for (const [i, asker] of shards.entries()) {
          const owner = shards[1 - i]!;
          // Once the owner's heartbeat has listed its products.
          await until(
            async () => await asker.h.service.ownerOf(SERVED[1 - i]![0]!) === owner.id,
            10_000,
            `${asker.id}'s registry to know ${owner.id}`,
          );
          for (const product of SERVED[1 - i]!) {
            await refused(
              asker,
              product,
              new RegExp(`"${product}" is served by shard ${owner.id}, not this one: ask it`),
            );
          }
        }
      } finally {
        await stopAll(shards);
      }
    });
  } finally {
    await sim.close();
    await Deno.remove(dir, { recursive: true });
  }
});
