/**
 * Issue 25 part 2 end to end: a shard down longer than `CATCHUP_HOURS` leaves no hole. Service A
 * (its own Deno KV file) runs to ready and stops; the clock shared by the simulator and the
 * services then jumps three hours (the catch-up bound is one); service B on the same store, with
 * `HISTORY_DAYS=1`, fills the store back to the horizon; every stored completed candle from the
 * horizon to the last complete bucket equals the simulator's truth; `/api/status`,
 * `historyFill()` and `/metrics` say so; and a restart (service C) resumes from the stored
 * watermarks, asking REST for (almost) nothing.
 *
 * The clock is accelerated (×20) and jumped while no service runs: the simulator's market
 * generates trades lazily up to whatever its clock says, so the three hours of downtime are
 * traded at the live rate on the simulator's next flush, as if they had passed.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { bucketStart, GRANULARITIES, ONE_MINUTE } from "../../lib/candles/granularity.ts";
import { acceleratedClock, type Clock } from "../../lib/clock.ts";
import { demoProducts, type Simulator, startSimulator } from "../../lib/coinbase/simulator.ts";
import type { FillProgress } from "../../lib/history/filler.ts";
import type { Service } from "../../lib/service/service.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import type { CandleStore } from "../../lib/store/store.ts";
import { startHarness, until } from "../helpers/service.ts";

/** Mid-morning UTC: no day boundary during the test; the horizon's day is wholly simulated. */
const START = Date.UTC(2026, 2, 14, 10, 0, 10);
const SPEED = 20;
const CATCHUP_HOURS = 1;
/** Longer than the catch-up bound: the startup catch-up alone leaves a hole. */
const DOWNTIME_MS = 3 * 3600_000;
const PRODUCTS = 5;

/** An accelerated clock that can also jump ahead (shared by the simulator and the services). */
function jumpingClock(speed: number, startMs: number): { now: Clock; jump(ms: number): void } {
  const base = acceleratedClock(speed, startMs);
  let offset = 0;
  return { now: () => base() + offset, jump: (ms) => offset += ms };
}

/** The value of the sample of `name` with exactly these labels (`""` for none). */
function sample(text: string, name: string, labels = ""): number {
  const escaped = labels.replace(/[{}]/g, (c) => `\\${c}`);
  const m = new RegExp(`^${name}${escaped} (\\S+)$`, "m").exec(text);
  ok(m, `no sample ${name}${labels} in:\n${text}`);
  return Number(m[1]);
}

/** Waits until the service's filler has finished every product (complete or failed). */
async function filled(service: Service, ids: string[], what: string): Promise<void> {
  await until(
    () => {
      const h = service.status().history;
      return h !== undefined && h.running && h.products.length === ids.length &&
        h.products.every((p) => p.state === "complete" || p.state === "failed");
    },
    40_000,
    what,
  );
}

/**
 * Compares every stored completed candle of every product and granularity from the bucket
 * holding the product's fill horizon to the last bucket complete at `stopMs` with the truth:
 * none missing, none wrong, none extra. Returns the number compared.
 */
async function compareWithTruth(
  store: CandleStore,
  sim: Simulator,
  horizons: Map<string, number>,
  stopMs: number,
): Promise<number> {
  let compared = 0;
  for (const [product, horizonSec] of horizons) {
    for (const g of GRANULARITIES) {
      const from = bucketStart(horizonSec, g);
      const to = bucketStart(stopMs / 1000, g) - g.seconds;
      if (to < from) continue;
      const stored = await store.readCompleted(product, g.id, {
        start: from,
        end: to,
        limit: 5000,
      });
      const truth = sim.market.candles(product, g, from, to);
      const bad = truth.findIndex((c, i) => JSON.stringify(c) !== JSON.stringify(stored[i]));
      deepStrictEqual(
        stored,
        truth,
        `${product} ${g.id} ${from}…${to}: first difference at index ${bad} (${
          JSON.stringify(truth[bad])
        } vs ${JSON.stringify(stored[bad])}) of ${truth.length} truth, ${stored.length} stored`,
      );
      compared += truth.length;
    }
  }
  return compared;
}

/** Each product's fill horizon (epoch s), from `historyFill`. */
function horizonsOf(service: Service, ids: string[]): Map<string, number> {
  return new Map(ids.map((id) => {
    const p = service.historyFill(id);
    ok(p?.horizonSec, `${id} has a fill horizon: ${JSON.stringify(p)}`);
    return [id, p.horizonSec];
  }));
}

/** Sum of a progress field over every product. */
function total(service: Service, ids: string[], field: "requests" | "candlesWritten"): number {
  return ids.reduce((n, id) => n + service.historyFill(id)![field], 0);
}

Deno.test("a shard down longer than CATCHUP_HOURS leaves no hole: the history filler completes the store to the truth, and a restart resumes from its watermarks", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "history-fill-e2e-" });
  const path = `${dir}/spot.kv`;
  const clock = jumpingClock(SPEED, START);
  const sim = await startSimulator({
    products: demoProducts(PRODUCTS),
    clock: clock.now,
    // More than the horizon (a day) back from B's start three hours later.
    historyMs: 26 * 3600_000,
    historyTradesPerSecond: 0.2,
    rest: { publicLimit: { ratePerSecond: 1000, burst: 1000 } },
    ws: { heartbeatIntervalMs: 100, flushIntervalMs: 50 },
  });
  const env = { CATCHUP_HOURS: String(CATCHUP_HOURS) };
  const filling = { ...env, HISTORY_DAYS: "1" };
  try {
    // A: the filler off (the harness's default), so the store holds only A's catch-up and live.
    const a = await startHarness({
      clock: clock.now,
      store: await openKvCandleStore(path),
      sim,
      env,
    });
    const ids = a.ids;
    let aStopMs: number;
    try {
      await a.service.ready();
      equal(a.service.status().history?.running, false, "A runs no filler");
      // Let the startup repair (seed cutoff → first subscription) land before stopping: a stop
      // while it is pending stores the cutoff's minute without the trades it was to add, and
      // nothing later corrects a stored candle (the catch-up and the filler fill only missing
      // ones). That is a bug of its own, outside the filler (see the commit message).
      await until(
        () =>
          ids.every((id) =>
            a.service.repairHistory(id).some((r) => r.reason === "startup" && r.repairedAt)
          ),
        20_000,
        "A's startup repair",
      );
    } finally {
      aStopMs = clock.now();
      await a.close();
    }
    clock.jump(DOWNTIME_MS);

    await t.step("the downtime left a hole the startup catch-up cannot bridge", async () => {
      const store = await openKvCandleStore(path);
      try {
        const nowSec = Math.floor(clock.now() / 1000);
        // B's catch-up will reach back an hour from its cutoff (now, give or take a minute).
        const beyondBound = nowSec - CATCHUP_HOURS * 3600 - 120;
        for (const id of ids) {
          const inHole = await store.readCompleted(id, ONE_MINUTE.id, {
            start: Math.ceil(aStopMs / 60_000) * 60,
            end: beyondBound,
            limit: 5000,
          });
          equal(inHole.length, 0, `${id}: nothing stored between A's stop and B's bound`);
          ok(sim.market.candles(id, ONE_MINUTE, aStopMs / 1000, beyondBound).length > 60);
        }
      } finally {
        await store.close();
      }
    });

    // B: same store, HISTORY_DAYS=1.
    const b = await startHarness({
      clock: clock.now,
      store: await openKvCandleStore(path),
      sim,
      env: filling,
    });
    let horizons!: Map<string, number>;
    let bStopMs: number;
    let bRequests = 0;
    const bStarted = performance.now();
    try {
      await b.service.ready();
      await filled(b.service, ids, "B's filler to finish every product");
      // deno-lint-ignore no-console
      console.log(
        `B filled ${ids.length} products in ${Math.round(performance.now() - bStarted)} ms`,
      );
      horizons = horizonsOf(b.service, ids);
      bRequests = total(b.service, ids, "requests");

      await t.step("status().history and historyFill() say every product is complete", () => {
        const h = b.service.status().history!;
        equal(h.horizonDays, 1);
        equal(h.running, true);
        equal(h.persistent, true, "KV keeps the watermarks");
        equal(h.complete, ids.length, JSON.stringify(h));
        for (const id of ids) {
          const p: FillProgress = b.service.historyFill(id)!;
          equal(p.state, "complete", JSON.stringify(p));
          deepStrictEqual(p.holes, [], `${id} has no holes`);
          equal(p.errors, 0, `${id}: ${p.lastError}`);
          equal(p.checkedShare, 1);
          equal(p.fillingNow, null);
          // Complete back to the horizon's minute (the finest granularity's first bucket).
          equal(p.completeBackToSec, bucketStart(p.horizonSec!, ONE_MINUTE), JSON.stringify(p));
          ok(p.horizonSec! <= clock.now() / 1000 - 86400 + 60, "the horizon is a day back");
          // Everything before A's catch-up bound (an hour before A's start) was the filler's to
          // write: at least every minute there the truth has.
          const beforeA = sim.market.candles(
            id,
            ONE_MINUTE,
            bucketStart(p.horizonSec!, ONE_MINUTE),
            START / 1000 - CATCHUP_HOURS * 3600 - 120,
          ).length;
          ok(beforeA > 500, `${id}: ${beforeA} truth minutes before A's bound`);
          ok(p.candlesWritten >= beforeA, `${id}: wrote ${p.candlesWritten} ≥ ${beforeA}`);
          ok(p.requests > 0);
          const row = h.products.find((r) => r.product === id)!;
          deepStrictEqual(row, {
            product: id,
            state: "complete",
            completeBackTo: new Date(p.completeBackToSec! * 1000).toISOString(),
            holes: 0,
            checkedPct: 100,
            candlesWritten: p.candlesWritten,
            requests: p.requests,
            lastError: null,
          });
        }
      });

      await t.step("the spot_history_fill_* metrics count what the filler did", async () => {
        const text = await b.service.metrics();
        equal(sample(text, "spot_history_fill_requests_total"), bRequests);
        equal(
          sample(text, "spot_history_fill_candles_total"),
          total(b.service, ids, "candlesWritten"),
        );
        equal(sample(text, "spot_history_fill_errors_total"), 0);
        ok(sample(text, "spot_history_fill_deferred_total") >= 0);
        equal(sample(text, "spot_history_fill_products", '{state="complete"}'), ids.length);
        for (const state of ["pending", "filling", "failed"]) {
          equal(sample(text, "spot_history_fill_products", `{state="${state}"}`), 0, state);
        }
        for (const reason of ["no_trades", "rest_empty", "rest_refused"]) {
          equal(sample(text, "spot_history_fill_holes", `{reason="${reason}"}`), 0, reason);
        }
      });
    } finally {
      // Buckets that ended more than the grace plus a tick before the stop were completed.
      bStopMs = clock.now() - 5000;
      await b.close();
    }

    await t.step("every stored candle from the horizon on equals the truth", async () => {
      const store = await openKvCandleStore(path);
      try {
        const n = await compareWithTruth(store, sim, horizons, bStopMs);
        // A day of minutes per product, plus the coarser ones.
        ok(n > ids.length * 1440, `compared ${n} candles`);
      } finally {
        await store.close();
      }
    });

    // C: a restart on the same store resumes from the stored watermarks.
    const c = await startHarness({
      clock: clock.now,
      store: await openKvCandleStore(path),
      sim,
      env: filling,
    });
    let cStopMs: number;
    try {
      await c.service.ready();
      await filled(c.service, ids, "C's filler to finish every product");
      await t.step("the restart asks REST for (almost) nothing for the filler", async () => {
        const cRequests = total(c.service, ids, "requests");
        // deno-lint-ignore no-console
        console.log(`filler REST requests: B ${bRequests}, C (restart) ${cRequests}`);
        // At most a page per product whose newer part holds a minute nobody traded in (the
        // store cannot tell an empty bucket from a missing one).
        ok(cRequests <= ids.length, `C asked ${cRequests} pages (B asked ${bRequests})`);
        ok(bRequests >= 10 * ids.length, `B asked ${bRequests} pages`);
        equal(total(c.service, ids, "candlesWritten"), 0, "nothing was missing");
        equal(sample(await c.service.metrics(), "spot_history_fill_requests_total"), cRequests);
        const h = c.service.status().history!;
        equal(h.complete, ids.length, JSON.stringify(h));
        for (const id of ids) {
          const p = c.service.historyFill(id)!;
          deepStrictEqual(p.holes, []);
          equal(p.completeBackToSec, bucketStart(p.horizonSec!, ONE_MINUTE));
        }
      });
    } finally {
      cStopMs = clock.now() - 5000;
      await c.close();
    }

    await t.step("after the restart, the store still equals the truth", async () => {
      const store = await openKvCandleStore(path);
      try {
        ok(await compareWithTruth(store, sim, horizons, cStopMs) > ids.length * 1440);
      } finally {
        await store.close();
      }
    });
  } finally {
    await sim.close();
    await Deno.remove(dir, { recursive: true });
  }
});
