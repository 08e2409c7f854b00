import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { bucketStart, GRANULARITIES } from "../../lib/candles/granularity.ts";
import { acceleratedClock } from "../../lib/clock.ts";
import type { Market } from "../../lib/coinbase/simulator.ts";
import { FirestoreCandleStore } from "../../lib/store/firestore.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import type { CandleStore } from "../../lib/store/store.ts";
import { emulatorTest } from "../helpers/emulator.ts";
import { startHarness, until } from "../helpers/service.ts";

/** 3 min 10 s before midnight UTC: the day, 6 h, 2 h … all complete during the test. */
const START = Date.UTC(2026, 2, 14, 23, 56, 50);
const SPEED = 20;

async function compareWithTruth(store: CandleStore, market: Market, ids: string[], stopMs: number) {
  let compared = 0;
  for (const product of ids) {
    for (const g of GRANULARITIES) {
      // History caught up (CATCHUP_HOURS=2) plus everything the live path completed; for the
      // day, the bucket that began a day before the service started.
      const from = g.id === "ONE_DAY"
        ? bucketStart(START / 1000, g)
        : bucketStart(START / 1000 - 2 * 3600, g);
      const lastComplete = bucketStart(stopMs / 1000, g) - g.seconds;
      const stored = await store.readCompleted(product, g.id, {
        start: from,
        end: lastComplete,
        limit: 5000,
      });
      const truth = market.candles(product, g, from, lastComplete);
      const bad = truth.filter((c, i) => JSON.stringify(c) !== JSON.stringify(stored[i]));
      deepStrictEqual(
        stored,
        truth,
        `${product} ${g.id}: first difference at ${bad[0]?.start} of ${truth.length}`,
      );
      compared += truth.length;
    }
  }
  return compared;
}

/** Runs the fault scenario against a store, then compares everything stored with the truth. */
async function scenario(t: Deno.TestContext, open: () => Promise<CandleStore>) {
  const clock = acceleratedClock(SPEED, START);
  const h = await startHarness({ clock, store: await open() });
  let stopMs = 0;
  try {
    equal(h.service.health().body.status, "starting");
    await until(() => h.service.phase === "running", 30_000, "startup (seeding)");
    equal(h.service.health().code, 200);
    // /health leaves `starting` once seeded; history catch-up may still be running: let it end,
    // and let the startup repair (cutoff → every connection subscribed) run before any fault, so
    // that the faults' repair windows are their own.
    await h.service.ready();
    await until(
      () =>
        h.ids.every((id) =>
          h.service.repairHistory(id).some((r) => r.reason === "startup" && r.repairedAt)
        ),
      20_000,
      "the startup repair",
    );

    await t.step("a dropped connection reconnects and resubscribes", async () => {
      const before = h.service.connections()[0]!.reconnects;
      h.sim.dropConnections();
      await until(() => h.service.connections()[0]!.reconnects > before, 5000, "a reconnect");
      await until(
        () => h.service.connections().every((c) => c.state === "subscribed"),
        5000,
        "resubscribed",
      );
    });

    await t.step("a stall shows as degraded in /health, then recovers", async () => {
      h.sim.stall(1500);
      let sawDegraded = false;
      await until(
        () => {
          const s = h.service.health().body.status;
          if (s === "degraded") sawDegraded = true;
          return sawDegraded && s === "healthy";
        },
        8000,
        "degraded then healthy",
      );
    });

    await t.step("a withheld frame is counted as a sequence gap", async () => {
      const gaps = h.service.connections()[0]!.sequenceGaps;
      await until(() => h.sim.withholdFrames(2) > 0, 2000, "a connection to withhold on");
      await until(() => h.service.connections()[0]!.sequenceGaps > gaps, 5000, "the sequence gap");
    });

    await t.step("a duplicate frame and replayed trades are counted as duplicates", async () => {
      const duplicates = h.service.status().feed!.duplicates;
      await until(() => h.sim.duplicateLastFrame() > 0, 2000, "a frame to duplicate");
      ok(h.sim.replayTrades(50) > 0);
      await until(
        () => h.service.status().feed!.duplicates > duplicates,
        2000,
        "the duplicates dropped",
      );
    });

    // Let the clock pass midnight and every repair settle.
    await until(() => clock() > Date.UTC(2026, 2, 15, 0, 1, 10), 20_000, "midnight plus a minute");
    await until(() => h.service.status().repairs!.pending === 0, 10_000, "repairs");
    for (const id of h.ids) {
      // Overlapping windows merge, so the withheld frame's may have joined the reconnect's.
      const repaired = h.service.repairHistory(id).filter((r) => r.repairedAt !== undefined);
      const reasons = new Set(repaired.map((r) => r.reason));
      ok(reasons.has("startup") && reasons.has("reconnect"), `${id}: ${[...reasons]}`);
    }
  } finally {
    // Buckets that ended more than the grace plus a tick before the stop were completed.
    stopMs = clock() - 5000;
    await h.close();
  }
  const reopened = await open();
  try {
    const n = await compareWithTruth(reopened, h.sim.market, h.ids, stopMs);
    ok(n > 500, `compared ${n} candles`);
  } finally {
    await reopened.close();
  }
}

Deno.test("service end to end on KV: drop, stall, withheld frame and duplicate replay leave every candle exact", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await scenario(t, () => openKvCandleStore(`${dir}/spot.kv`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

emulatorTest(
  "service end to end on Firestore (emulator): the same faults leave every candle exact",
  async (t, emulator) => {
    await scenario(
      t,
      () =>
        Promise.resolve(
          new FirestoreCandleStore({ emulatorHost: emulator.host, projectId: emulator.projectId }),
        ),
    );
  },
);
