import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { bucketStart, GRANULARITIES, ONE_MINUTE } from "../../lib/candles/granularity.ts";
import { acceleratedClock } from "../../lib/clock.ts";
import type { Market } from "../../lib/coinbase/simulator.ts";
import type { RepairRecord } from "../../lib/history/repair.ts";
import { FirestoreCandleStore } from "../../lib/store/firestore.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import type { CandleStore } from "../../lib/store/store.ts";
import { emulatorTest } from "../helpers/emulator.ts";
import { findPromtool, promtoolCheck } from "../helpers/promtool.ts";
import { type Harness, startHarness, until } from "../helpers/service.ts";

/** 3 min 10 s before midnight UTC: the day, 6 h, 2 h … all complete during the test. */
const START = Date.UTC(2026, 2, 14, 23, 56, 50);
const SPEED = 20;

async function compareWithTruth(
  store: CandleStore,
  market: Market,
  ids: string[],
  stopMs: number,
  cutoffSec: number,
) {
  let compared = 0;
  for (const product of ids) {
    for (const g of GRANULARITIES) {
      // History caught up (CATCHUP_HOURS=2 before the seed cutoff, which comes a few accelerated
      // seconds after START: startup first checks PRODUCTS with Coinbase) plus everything the
      // live path completed; for the day, the bucket that began a day before the service started.
      const from = g.id === "ONE_DAY"
        ? bucketStart(START / 1000, g)
        : bucketStart(cutoffSec - 2 * 3600, g);
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

/** The repair records of every product that are done (repaired or given up) now. */
function settledRepairs(h: Harness): Set<RepairRecord> {
  return new Set(
    h.ids.flatMap((p) => h.service.repairHistory(p))
      .filter((r) => r.repairedAt !== undefined || r.gaveUpAt !== undefined),
  );
}

/**
 * Waits until every product has a repair window opened (or widened, while pending) since
 * `settledBefore` was taken and all of them are repaired (or replayed by the subscription
 * snapshot), then until the stored 1-minute candles
 * of each window equal the simulator's truth (the writer lands corrections within a few
 * flushes). Returns the number of minutes with trades compared.
 */
async function repairedToTruth(h: Harness, settledBefore: Set<RepairRecord>): Promise<number> {
  const windows = () =>
    h.ids.flatMap((p) => h.service.repairHistory(p).filter((r) => !settledBefore.has(r)));
  await until(
    () => {
      const w = windows();
      return h.ids.every((p) => w.some((r) => r.product === p)) &&
        w.every((r) => r.repairedAt !== undefined || r.gaveUpAt !== undefined);
    },
    15_000,
    "a repaired window per product",
  );
  for (const r of windows()) {
    equal(r.gaveUpAt, undefined, `${r.product} repair gave up: ${r.error}`);
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    let compared = 0;
    let mismatch: { stored: unknown; truth: unknown; what: string } | undefined;
    for (const r of windows()) {
      const last = r.toSec - 60;
      const truth = h.sim.market.candles(r.product, ONE_MINUTE, r.fromSec, last);
      const stored = await h.store.readCompleted(r.product, "ONE_MINUTE", {
        start: r.fromSec,
        end: last,
        limit: 5000,
      });
      if (JSON.stringify(stored) !== JSON.stringify(truth)) {
        mismatch = { stored, truth, what: `${r.product} minutes ${r.fromSec}…${last}` };
        break;
      }
      compared += truth.length;
    }
    if (!mismatch) return compared;
    if (Date.now() > deadline) deepStrictEqual(mismatch.stored, mismatch.truth, mismatch.what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Metric names `/metrics` must keep (dashboards and alerts use them). */
const METRIC_NAMES = [
  "spot_trades_total",
  "spot_candles_completed_total",
  "spot_feed_gaps_total",
  "spot_trade_to_sse_seconds",
  "spot_event_loop_lag_seconds",
  "spot_trade_frame_gap_seconds",
  "spot_trade_frame_age_seconds",
  "spot_feed_frames_total",
  "spot_feed_reconnects_total",
  "spot_feed_sequence_gaps_total",
  "spot_feed_rejected_trades_total",
  "spot_feed_garbage_frames_total",
  "spot_connections",
  "spot_aggregator_duplicates_total",
  "spot_aggregator_late_trades_total",
  "spot_repairs_total",
  "spot_repairs_pending",
  "spot_store_writes_total",
  "spot_store_write_failures_total",
  "spot_store_pending_writes",
  "spot_sse_subscribers",
];

/** The value of the first sample of `name` (with any labels). */
function sample(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  ok(m, `no sample of ${name}`);
  return Number(m[1]);
}

/** Runs the fault scenario against a store, then compares everything stored with the truth. */
async function scenario(t: Deno.TestContext, open: () => Promise<CandleStore>) {
  const clock = acceleratedClock(SPEED, START);
  const h = await startHarness({ clock, store: await open() });
  let stopMs = 0;
  let cutoffSec = 0;
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
    // The startup repair window begins at the seed cutoff's minute.
    cutoffSec = h.service.repairHistory(h.ids[0]!).find((r) => r.reason === "startup")!.fromSec;

    await t.step(
      "a dropped connection reconnects and resubscribes; its gap ends right",
      async () => {
        // The snapshots replay the gap (no REST) when they reach back over it, else REST repairs
        // it; either way every window must end equal to the truth.
        const before = h.service.connections()[0]!.reconnects;
        const settled = settledRepairs(h);
        h.sim.dropConnections();
        await until(() => h.service.connections()[0]!.reconnects > before, 5000, "a reconnect");
        await until(
          () => h.service.connections().every((c) => c.state === "subscribed"),
          5000,
          "resubscribed",
        );
        const minutes = await repairedToTruth(h, settled);
        ok(minutes > 0, "the repaired windows held trades");
      },
    );

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
      const settled = settledRepairs(h);
      await until(() => h.sim.withholdFrames(2) > 0, 2000, "a connection to withhold on");
      await until(() => h.service.connections()[0]!.sequenceGaps > gaps, 5000, "the sequence gap");
      const minutes = await repairedToTruth(h, settled);
      ok(minutes > 0, "the repaired windows held trades");
    });

    await t.step("a duplicate frame and replayed trades are dropped as duplicates", async () => {
      const duplicates = h.service.status().aggregator!.duplicates;
      await until(() => h.sim.duplicateLastFrame() > 0, 2000, "a frame to duplicate");
      ok(h.sim.replayTrades(50) > 0);
      await until(
        () => h.service.status().aggregator!.duplicates > duplicates,
        2000,
        "the duplicates dropped",
      );
    });

    // Let the clock pass midnight and every repair settle.
    await until(() => clock() > Date.UTC(2026, 2, 15, 0, 1, 10), 20_000, "midnight plus a minute");
    await until(() => h.service.status().repairs!.pending === 0, 10_000, "repairs");
    for (const id of h.ids) {
      // Overlapping windows merge (the drop's may join startup's): every window was repaired.
      const records = h.service.repairHistory(id);
      ok(records.length > 0, `${id} has repair windows`);
      ok(records.every((r) => r.repairedAt !== undefined), `${id}: ${JSON.stringify(records)}`);
    }

    await t.step("/metrics has a sample of every metric, counting the faults", async () => {
      const text = await h.service.metrics();
      for (const name of METRIC_NAMES) {
        match(text, new RegExp(`^${name}(?:_bucket|_count)?(?:\\{[^}]*\\})? \\S+$`, "m"), name);
      }
      ok(sample(text, "spot_trades_total") > 0, "trades");
      ok(sample(text, "spot_feed_frames_total") > 0, "frames");
      ok(sample(text, "spot_trade_frame_age_seconds_count") > 0, "frame ages");
      ok(sample(text, "spot_feed_reconnects_total") >= 1, "reconnects");
      ok(sample(text, "spot_feed_sequence_gaps_total") >= 1, "sequence gaps");
      ok(sample(text, "spot_repairs_total") >= 2, "repairs");
      match(text, /^spot_feed_gaps_total\{reason="reconnect"\} [1-9]/m);
    });

    const promtool = findPromtool();
    await t.step({
      name: "/metrics passes promtool check metrics",
      ignore: !promtool && Deno.env.get("REQUIRE_PROMTOOL") !== "1",
      fn: async () => {
        ok(promtool, "REQUIRE_PROMTOOL=1 but no promtool on PATH");
        const result = await promtoolCheck(await h.service.metrics(), promtool);
        deepStrictEqual(result, { code: 0, output: "" });
      },
    });
  } finally {
    // Buckets that ended more than the grace plus a tick before the stop were completed.
    stopMs = clock() - 5000;
    await h.close();
  }
  const reopened = await open();
  try {
    const n = await compareWithTruth(reopened, h.sim.market, h.ids, stopMs, cutoffSec);
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
