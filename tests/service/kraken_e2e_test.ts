/**
 * Kraken end to end, on KV and on the Firestore emulator: the service serving Coinbase and
 * Kraken over one pipeline, fed by both simulators on one accelerated clock, through Kraken's
 * faults (a dropped connection, a stall, Cloudflare's 1001 close, a subscription gone silent)
 * while its WebSocket withholds 17 % of the trades throughout (several fills of one taker order
 * sharing a timestamp: only REST Trades has them). Afterwards every stored candle of every
 * product of both exchanges, at every granularity, must equal the simulators' truth: 0 wrong,
 * 0 lost, the withheld trades repaired. `/history?exchange=kraken` and
 * `/api/candles?exchange=kraken` answer the truth through the real app.
 */
import { deepStrictEqual, equal, match, notDeepStrictEqual, ok } from "node:assert/strict";
import type { Candle } from "../../lib/candles/candle.ts";
import {
  bucketStart,
  GRANULARITIES,
  granularityById,
  ONE_MINUTE,
} from "../../lib/candles/granularity.ts";
import { acceleratedClock } from "../../lib/clock.ts";
import { productOf } from "../../lib/exchange/market.ts";
import type { RepairRecord } from "../../lib/history/repair.ts";
import { FirestoreCandleStore } from "../../lib/store/firestore.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import type { CandleStore } from "../../lib/store/store.ts";
import { appOptions, createApp } from "../../routes/app.ts";
import { emulatorTest } from "../helpers/emulator.ts";
import { type KrakenHarness, startKrakenHarness, until } from "../helpers/kraken_harness.ts";

/** 3 min 10 s before midnight UTC: the day, 6 h, 2 h … all complete during the test. */
const START = Date.UTC(2026, 2, 14, 23, 56, 50);
const MIDNIGHT = Date.UTC(2026, 2, 15) / 1000;
const SPEED = 20;

const isKraken = (c: { id: string }) => c.id.startsWith("kraken-ws-");

/** A repair record is done: repaired (from REST or by a snapshot replay) or given up. */
const settled = (r: RepairRecord) => r.repairedAt !== undefined || r.gaveUpAt !== undefined;

/** The repair records of `ids` that are done now. */
function settledRepairs(h: KrakenHarness, ids: string[]): Set<RepairRecord> {
  return new Set(ids.flatMap((p) => h.service.repairHistory(p)).filter(settled));
}

/** Kraken's connections. */
function krakenConnections(h: KrakenHarness) {
  return h.service.connections().filter(isKraken);
}

/**
 * Waits until, for every product of `ids`, the windows (new since `settledBefore`) that cover
 * `atMs` are settled, none given up — a fault's window, alone or merged into a queued window of
 * withheld trades — and then until the stored 1-minute candles of those windows equal the
 * truth (the withheld trades of neighbouring windows are repaired within a few seconds, and the
 * writer lands corrections within a few flushes). Returns the minutes with trades compared.
 */
async function faultRepairedToTruth(
  h: KrakenHarness,
  clock: () => number,
  ids: string[],
  settledBefore: Set<RepairRecord>,
  atMs: number,
): Promise<number> {
  const atSec = atMs / 1000;
  const covering = (p: string) =>
    h.service.repairHistory(p).filter((r) =>
      !settledBefore.has(r) && r.fromSec <= atSec && atSec < r.toSec
    );
  await until(
    () => ids.every((p) => covering(p).length > 0 && covering(p).every(settled)),
    20_000,
    "a settled window over the fault per Kraken product",
  );
  for (const p of ids) {
    for (const r of covering(p)) equal(r.gaveUpAt, undefined, `${p} repair gave up: ${r.error}`);
  }
  const deadline = Date.now() + 20_000;
  for (;;) {
    let compared = 0;
    let mismatch: { stored: unknown; truth: unknown; what: string } | undefined;
    for (const p of ids) {
      const windows = covering(p);
      const from = Math.min(...windows.map((r) => r.fromSec));
      // Only completed minutes: a replayed window may end in the minute still running.
      const last = Math.min(
        Math.max(...windows.map((r) => r.toSec)) - 60,
        bucketStart(clock() / 1000, ONE_MINUTE) - 60,
      );
      const truth = h.truth(p, ONE_MINUTE, from, last);
      const stored = await h.store.readCompleted(p, "ONE_MINUTE", {
        start: from,
        end: last,
        limit: 5000,
      });
      if (JSON.stringify(stored) !== JSON.stringify(truth)) {
        mismatch = { stored, truth, what: `${p} minutes ${from}…${last}` };
        break;
      }
      compared += truth.length;
    }
    if (!mismatch) return compared;
    if (Date.now() > deadline) deepStrictEqual(mismatch.stored, mismatch.truth, mismatch.what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Compares every stored completed candle of `ids` at every granularity with the truth, each
 * product up to `limitSec[product]` (buckets ending by then); returns the candles compared.
 */
async function compareWithTruth(
  h: KrakenHarness,
  store: CandleStore,
  ids: string[],
  cutoffSec: Map<string, number>,
  limitSec: Map<string, number>,
): Promise<number> {
  let compared = 0;
  for (const product of ids) {
    for (const g of GRANULARITIES) {
      // History caught up (CATCHUP_HOURS=2 before the product's seed cutoff) plus everything
      // the live path completed; for the day, the bucket that began a day before the start.
      const from = g.id === "ONE_DAY"
        ? bucketStart(START / 1000, g)
        : bucketStart(cutoffSec.get(product)! - 2 * 3600, g);
      const lastComplete = bucketStart(limitSec.get(product)!, g) - g.seconds;
      const stored = await store.readCompleted(product, g.id, {
        start: from,
        end: lastComplete,
        limit: 5000,
      });
      const truth = h.truth(product, g, from, lastComplete);
      const bad = truth.findIndex((c, i) => JSON.stringify(c) !== JSON.stringify(stored[i]));
      deepStrictEqual(
        stored,
        truth,
        `${product} ${g.id}: first difference at ${truth[bad]?.start} of ${truth.length}`,
      );
      compared += truth.length;
    }
  }
  return compared;
}

/**
 * Runs `check` until it passes, at most `ms`: a repair settled a moment ago may still be on its
 * way to the store (the writer lands it within a few flushes). The last failure is thrown.
 */
async function eventually(check: () => Promise<void>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The clients' shape of a candle (`/history`). */
function historyShape(c: Candle) {
  return {
    timestamp: c.start * 1000,
    open: c.open,
    high: c.high,
    low: c.low,
    close: c.close,
    volume: c.volume,
  };
}

/** Runs the Kraken fault scenario against a store, then compares everything with the truth. */
async function scenario(t: Deno.TestContext, open: () => Promise<CandleStore>) {
  const clock = acceleratedClock(SPEED, START);
  const h = await startKrakenHarness({ clock, store: await open() });
  const kids = h.krakenIds;
  const cutoffSec = new Map<string, number>();
  const limitSec = new Map<string, number>();
  /** Each fault: when it struck, the products it hit, the windows settled before it. */
  const faults: { what: string; atMs: number; ids: string[]; before: Set<RepairRecord> }[] = [];
  const strike = (what: string, ids: string[], fault: () => void) => {
    faults.push({ what, atMs: clock(), ids, before: settledRepairs(h, ids) });
    fault();
  };
  try {
    deepStrictEqual(kids, ["kraken:BTC-USD", "kraken:ETH-USD", "kraken:ADA-USD"]);
    equal(h.service.health().body.status, "starting");
    await until(() => h.service.phase === "running", 30_000, "startup (seeding) of both");
    // The seed cutoff is the minute products were resolved in: no later than this one.
    const runningSec = bucketStart(clock() / 1000, ONE_MINUTE);
    equal(h.service.health().code, 200);
    await h.service.ready();
    // Coinbase's startup window is a record of its own; Kraken's merges into the window of the
    // trades its first snapshots withheld (queued first), so it is covered by the fault checks.
    await until(
      () =>
        h.coinbaseIds.every((id) =>
          h.service.repairHistory(id).some((r) => r.reason === "startup" && r.repairedAt)
        ),
      20_000,
      "Coinbase's startup repair",
    );
    for (const id of h.ids) {
      const startup = h.service.repairHistory(id).find((r) => r.reason === "startup");
      cutoffSec.set(id, startup?.fromSec ?? runningSec);
    }
    deepStrictEqual(
      h.service.products().map((p) => p.productId).sort(),
      [...h.ids].sort(),
      "both exchanges' products are served",
    );
    equal(krakenConnections(h).length, 1);
    const reconnects = () => krakenConnections(h)[0]!.reconnects;
    const resubscribed = () =>
      until(
        () => krakenConnections(h).every((c) => c.state === "subscribed"),
        5000,
        "resubscribed",
      );

    await t.step("the WebSocket withholds trades and each jump is a sequence gap", async () => {
      await until(
        () => h.kraken.ws.withheldTrades.length > 0 && krakenConnections(h)[0]!.sequenceGaps > 0,
        10_000,
        "withheld trades and sequence gaps",
      );
    });

    await t.step("a dropped connection reconnects and resubscribes", async () => {
      const before = reconnects();
      strike("drop", kids, () => equal(h.kraken.dropConnections(), 1));
      await until(() => reconnects() > before, 5000, "a reconnect");
      await resubscribed();
    });

    await t.step("a stall shows as degraded in /health, then recovers", async () => {
      const before = reconnects();
      strike("stall", kids, () => equal(h.kraken.stall(1500), 1));
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
      ok(reconnects() > before, "the stale socket was reopened");
    });

    await t.step("a 1001 close (proxy restarting) reconnects", async () => {
      const before = reconnects();
      strike("1001", kids, () => equal(h.kraken.restartProxy(), 1));
      await until(() => reconnects() > before, 5000, "a reconnect");
      await resubscribed();
    });

    await t.step("a silent subscription is resubscribed by the watchdog", async () => {
      const key = "kraken:ETH-USD";
      const before = reconnects();
      await until(() => (h.service.lastTradeAgeS(key) ?? 99) < 2, 5000, "ETH trading");
      strike("silence", [key], () => equal(h.kraken.silenceSubscription("ETH/USD"), 1));
      // ETH trades 3/s (60 a real second): 10 market seconds without one is the silence.
      await until(() => h.service.lastTradeAgeS(key)! > 10, 5000, "ETH silent");
      // The silenced subscription never delivers again: trades only come on a new one.
      await until(() => h.service.lastTradeAgeS(key)! < 5, 10_000, "ETH trading again");
      equal(reconnects(), before, "resubscribed on the same socket");
    });

    await t.step("every fault's window is repaired to the truth", async () => {
      for (const f of faults) {
        const minutes = await faultRepairedToTruth(h, clock, f.ids, f.before, f.atMs);
        ok(minutes > 0, `${f.what}: the repaired windows held trades`);
      }
    });

    // Let the clock pass midnight, and every window up to there settle: the last windows of
    // withheld trades are always still queued (the WebSocket keeps withholding), so each
    // product is compared up to its oldest window not yet settled.
    await until(() => clock() > (MIDNIGHT + 10) * 1000, 30_000, "midnight");
    const unsettledFrom = (id: string) =>
      Math.floor(Math.min(
        clock() / 1000 - 10,
        ...h.service.repairHistory(id).filter((r) => !settled(r)).map((r) => r.fromSec),
      ));
    await until(
      () => h.ids.every((id) => unsettledFrom(id) >= MIDNIGHT),
      30_000,
      "every window up to midnight repaired",
    );

    await t.step("no window gave up; withheld trades and gaps were counted", () => {
      for (const id of h.ids) {
        const records = h.service.repairHistory(id);
        ok(records.length > 0, `${id} has repair windows`);
        ok(records.every((r) => r.gaveUpAt === undefined), `${id}: ${JSON.stringify(records)}`);
      }
      const [c] = krakenConnections(h);
      ok(c!.sequenceGaps >= 5, `${c!.sequenceGaps} sequence gaps`);
      ok(c!.reconnects >= 3, `${c!.reconnects} reconnects (drop, stall, 1001)`);
      ok(h.kraken.ws.withheldTrades.length >= 20, `${h.kraken.ws.withheldTrades.length} withheld`);
      const repaired = kids.flatMap((id) => h.service.repairHistory(id))
        .filter((r) => r.reason === "sequence" && (r.minutesReplaced ?? 0) > 0);
      ok(repaired.length > 0, "sequence windows replaced minutes from REST");
    });

    await t.step("/metrics counts Kraken's sequence gaps and reconnects", async () => {
      const text = await h.service.metrics();
      match(text, /^spot_feed_sequence_gaps_total(?:\{[^}]*\})? [1-9]/m);
      match(text, /^spot_feed_reconnects_total(?:\{[^}]*\})? [1-9]/m);
    });

    const app = createApp(h.service, appOptions(h.config));
    const get = async (path: string) => {
      const res = await app.request(path);
      return { status: res.status, body: await res.json() };
    };

    await t.step("/history?exchange=kraken answers the truth", () =>
      eventually(async () => {
        const product = "kraken:BTC-USD";
        const limit = unsettledFrom(product);
        for (const id of ["ONE_MINUTE", "FIVE_MINUTE", "ONE_HOUR"] as const) {
          const g = granularityById(id);
          const from = bucketStart(cutoffSec.get(product)! - 3600, g);
          const last = bucketStart(limit, g) - g.seconds;
          const res = await get(
            `/history?symbol=BTC-USD&granularity=${id}&start_time=${from * 1000}&end_time=${
              last * 1000
            }&exchange=kraken`,
          );
          equal(res.status, 200, JSON.stringify(res.body));
          const truth = h.truth(product, g, from, last).map(historyShape);
          ok(truth.length > 0, `${id}: truth has candles`);
          deepStrictEqual(res.body.candles, truth, `/history ${id}`);
        }
        // Coinbase's default is unchanged: the same symbol without exchange= is Coinbase's.
        const g = ONE_MINUTE;
        const from = cutoffSec.get("BTC-USD")!;
        const last = bucketStart(unsettledFrom("BTC-USD"), g) - 60;
        const cb = await get(
          `/history?symbol=BTC-USD&granularity=ONE_MINUTE&start_time=${from * 1000}&end_time=${
            last * 1000
          }`,
        );
        const coinbaseTruth = h.truth("BTC-USD", g, from, last).map(historyShape);
        deepStrictEqual(cb.body.candles, coinbaseTruth);
        notDeepStrictEqual(
          h.truth(product, g, from, last).map(historyShape),
          coinbaseTruth,
          "the two exchanges' BTC-USD differ (the comparison can tell them apart)",
        );
      }));

    await t.step("/api/candles?exchange=kraken answers the truth", () =>
      eventually(async () => {
        for (const product of kids) {
          const limit = unsettledFrom(product);
          const from = cutoffSec.get(product)! - 1800;
          const last = bucketStart(limit, ONE_MINUTE) - 60;
          const truth = h.truth(product, ONE_MINUTE, from, last).map((c) => ({
            ...c,
            complete: true,
          }));
          const bare = productOf(product);
          const res = await get(
            `/api/candles/${bare}/ONE_MINUTE?exchange=kraken&start=${from}&end=${last}&limit=1000`,
          );
          equal(res.status, 200, JSON.stringify(res.body));
          deepStrictEqual(res.body.candles, truth, `/api/candles ${product}`);
          // The market key form answers the same.
          const keyed = await get(
            `/api/candles/${product}/ONE_MINUTE?start=${from}&end=${last}&limit=1000`,
          );
          deepStrictEqual(keyed.body.candles, truth, `/api/candles ${product} by key`);
        }
      }));

    await t.step("an unknown exchange is a 400 naming exchange", async () => {
      const h400 = await get(
        `/history?symbol=BTC-USD&granularity=ONE_MINUTE&start_time=${START}&end_time=${
          START + 60_000
        }&exchange=binance`,
      );
      equal(h400.status, 400);
      match(h400.body.error, /exchange/);
      match(h400.body.error, /binance/);
      const a400 = await get(`/api/candles/BTC-USD/ONE_MINUTE?exchange=binance`);
      equal(a400.status, 400);
      match(a400.body.error, /exchange/);
      match(a400.body.error, /binance/);
    });

    for (const id of h.ids) limitSec.set(id, unsettledFrom(id));
  } finally {
    await h.close();
  }
  // Withheld trades inside the compared range: those the repairs had to bring back.
  const withheld = h.kraken.ws.withheldTrades.filter((tr) => {
    const key = tr.parsed.product;
    const sec = tr.timeUs / 1e6;
    return sec >= (cutoffSec.get(key) ?? Infinity) && sec < (limitSec.get(key) ?? 0);
  });
  ok(withheld.length >= 20, `${withheld.length} withheld trades in the compared range`);
  const reopened = await open();
  try {
    const n = await compareWithTruth(h, reopened, h.ids, cutoffSec, limitSec);
    ok(n > 500, `compared ${n} candles`);
  } finally {
    await reopened.close();
  }
}

Deno.test("Kraken end to end on KV: drop, stall, 1001, silent subscription and withheld trades leave every candle exact", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await scenario(t, () => openKvCandleStore(`${dir}/spot.kv`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

emulatorTest(
  "Kraken end to end on Firestore (emulator): the same faults leave every candle exact",
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
