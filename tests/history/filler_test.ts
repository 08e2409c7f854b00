/// <reference lib="deno.unstable" />
import assert from "node:assert/strict";
import fc from "fast-check";
import { bucketStart, GRANULARITIES, type Granularity } from "../../lib/candles/granularity.ts";
import { RestClient } from "../../lib/coinbase/rest.ts";
import { type FillerStatus, HistoryFiller } from "../../lib/history/filler.ts";
import { RestPriority } from "../../lib/history/rest_priority.ts";
import {
  type FillWatermarks,
  MemoryFillWatermarks,
  readKvFillWatermark,
  writeKvFillWatermark,
} from "../../lib/store/fill_watermark.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import type { CandleDoc, CandleStore } from "../../lib/store/store.ts";
import { Registry } from "../../lib/service/prometheus.ts";
import { NOW_MS, type RestSim, startRestSim } from "../coinbase/_rest_server.ts";

const fast = { ratePerSecond: 500, maxRetries: 3, backoffBaseMs: 1, backoffMaxMs: 5 };
const unlimited = { publicLimit: { ratePerSecond: 10_000, burst: 10_000 } };
const DAY = 86400;

/** What the filler is to make complete: [lo, hi] per granularity, as it computes them. */
function ranges(nowMs: number, horizonDays: number, liveFromSec = Math.floor(nowMs / 1000)) {
  const nowSec = Math.floor(nowMs / 1000);
  const end = Math.min(liveFromSec, nowSec - 5);
  return GRANULARITIES.map((g) => ({
    g,
    lo: bucketStart(nowSec - horizonDays * DAY, g),
    hi: bucketStart(end, g) - g.seconds,
  }));
}

async function assertComplete(
  sim: RestSim,
  store: CandleStore,
  products: string[],
  nowMs: number,
  horizonDays: number,
) {
  for (const product of products) {
    for (const { g, lo, hi } of ranges(nowMs, horizonDays)) {
      const stored = await store.readCompleted(product, g.id, { start: lo, end: hi, limit: 5000 });
      assert.deepEqual(stored, sim.market.candles(product, g, lo, hi), `${product} ${g.id}`);
    }
  }
}

/** The simulator's truth, minus the buckets `hole` says, written to the store. */
async function writeTruth(
  sim: RestSim,
  store: CandleStore,
  products: string[],
  nowMs: number,
  horizonDays: number,
  hole: (product: string, g: Granularity, start: number) => boolean = () => false,
) {
  for (const product of products) {
    const docs: CandleDoc[] = [];
    for (const { g, lo, hi } of ranges(nowMs, horizonDays)) {
      for (const candle of sim.market.candles(product, g, lo, hi)) {
        if (!hole(product, g, candle.start)) docs.push({ product, granularity: g.id, candle });
      }
    }
    await store.writeCompleted(docs);
  }
}

function kvWatermarks(kv: Deno.Kv): FillWatermarks {
  return {
    readFillWatermark: (p, g) => readKvFillWatermark(kv, p, g),
    writeFillWatermark: (p, g, m) => writeKvFillWatermark(kv, p, g, m),
  };
}

interface Setup {
  sim: RestSim;
  store: CandleStore;
  products: string[];
  horizonDays: number;
  clock?: () => number;
  watermarks?: FillWatermarks;
  priority?: RestPriority;
  liveFromSec?: number;
}

/** Runs one filler over one pass and stops it. */
async function fill(s: Setup): Promise<{ status: FillerStatus; requests: number }> {
  const clock = s.clock ?? (() => NOW_MS);
  const before = s.sim.handler.requests.length;
  const filler = new HistoryFiller({
    rest: new RestClient({ baseUrl: s.sim.baseUrl, ...fast }),
    store: s.store,
    priority: s.priority ?? new RestPriority({ ratePerSecond: 1000, share: 1, quietMs: 0 }),
    products: () => s.products,
    horizonDays: s.horizonDays,
    clock,
    watermarks: s.watermarks ?? new MemoryFillWatermarks(),
    liveFromSec: s.liveFromSec,
    retry: { initialMs: 1, maxMs: 5 },
  });
  filler.start();
  await filler.whenPassed();
  const status = filler.status();
  await filler.stop();
  return { status, requests: s.sim.handler.requests.length - before };
}

Deno.test("HistoryFiller fills random holes at every granularity to the simulator's truth", async () => {
  const sim = startRestSim({ ...unlimited, historyMs: 4 * DAY * 1000 });
  const products = ["BTC-USD", "DOGE-USD"];
  const horizonDays = 3;
  try {
    // A complete store still costs a request per page with a bucket nobody traded in (the store
    // cannot tell an empty bucket from a missing one): the baseline.
    const complete = await openKvCandleStore(":memory:");
    await writeTruth(sim, complete, products, NOW_MS, horizonDays);
    const baseline = await fill({ sim, store: complete, products, horizonDays });
    await complete.close();
    const base = (p: string) => baseline.status.products.find((x) => x.product === p)!.requests;
    assert.ok(baseline.status.products.every((p) => p.candlesWritten === 0));
    const holeArb = fc.record({
      product: fc.constantFrom(...products),
      g: fc.integer({ min: 0, max: GRANULARITIES.length - 1 }),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      buckets: fc.integer({ min: 1, max: 700 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(holeArb, { minLength: 0, maxLength: 6 }), async (holes) => {
        const store = await openKvCandleStore(":memory:");
        try {
          const span = ranges(NOW_MS, horizonDays);
          const cut = holes.map((h) => {
            const { g, lo, hi } = span[h.g]!;
            const from = lo + Math.floor(h.at * ((hi - lo) / g.seconds)) * g.seconds;
            return { ...h, gran: g, from, to: from + (h.buckets - 1) * g.seconds };
          });
          await writeTruth(
            sim,
            store,
            products,
            NOW_MS,
            horizonDays,
            (p, g, t) =>
              cut.some((h) => h.product === p && h.gran === g && t >= h.from && t <= h.to),
          );
          const { status, requests } = await fill({ sim, store, products, horizonDays });
          await assertComplete(sim, store, products, NOW_MS, horizonDays);
          assert.ok(status.products.every((p) => p.state === "complete"));
          assert.ok(status.products.every((p) => p.holes.length === 0), JSON.stringify(status));
          // Each hole costs at most the pages it spans beyond the complete store's baseline.
          for (const product of products) {
            const mine = cut.filter((h) => h.product === product);
            const p = status.products.find((p) => p.product === product)!;
            const bound = base(product) +
              mine.reduce((n, h) => n + Math.ceil(h.buckets / 300) + 1, 0);
            assert.ok(p.requests <= bound, `${p.requests} requests for ${mine.length} holes`);
          }
          const back = Math.max(...span.map((r) => r.lo));
          assert.ok(status.products.every((p) => p.completeBackToSec === back));
          assert.ok(status.products.every((p) => p.checkedShare === 1));
          assert.equal(requests, status.products.reduce((n, p) => n + p.requests, 0));
        } finally {
          await store.close();
        }
      }),
      { numRuns: 12, seed: 25 },
    );
  } finally {
    await sim.close();
  }
});

Deno.test("HistoryFiller records a product too new as no_trades and asks nothing before its first day", async () => {
  const sim = startRestSim({ ...unlimited, historyMs: 2 * DAY * 1000 });
  const store = await openKvCandleStore(":memory:");
  try {
    const { status } = await fill({ sim, store, products: ["ETH-USD"], horizonDays: 6 });
    const [p] = status.products;
    const firstDay = bucketStart(Math.floor(NOW_MS / 1000) - 2 * DAY, GRANULARITIES.at(-1)!);
    const lo = bucketStart(Math.floor(NOW_MS / 1000) - 6 * DAY, GRANULARITIES.at(-1)!);
    assert.equal(p!.state, "complete");
    assert.deepEqual(p!.holes, [
      { granularity: "ONE_DAY", fromSec: lo, toSec: firstDay - DAY, reason: "no_trades" },
    ]);
    assert.equal(p!.completeBackToSec, firstDay);
    for (const r of sim.handler.requests) {
      if (r.query.granularity === "ONE_DAY") continue;
      assert.ok(Number(r.query.end) >= firstDay, `asked for ${r.search} before the first day`);
    }
    await assertComplete(sim, store, ["ETH-USD"], NOW_MS, 6);
  } finally {
    await store.close();
    await sim.close();
  }
});

Deno.test("HistoryFiller resumes from its watermark and fills an outage longer than the catch-up bound", async (t) => {
  let now = NOW_MS;
  const sim = startRestSim({ ...unlimited, historyMs: 4 * DAY * 1000, clock: () => now });
  const kv = await Deno.openKv(":memory:");
  const store = await openKvCandleStore(kv);
  const products = ["BTC-USD", "DOGE-USD"];
  const watermarks = kvWatermarks(kv);
  const reads = { n: 0 };
  const counted = new Proxy(store, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (prop === "readCompleted") reads.n++;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  try {
    await t.step("the first pass fills a store holding a day with a hole", async () => {
      await writeTruth(sim, store, products, now, 1, (_, g, s) => {
        const mid = Math.floor(now / 1000) - 12 * 3600;
        return s >= mid && s < mid + 3600 && g.seconds < 3600;
      });
      const { status } = await fill({ sim, store, products, horizonDays: 2, watermarks });
      assert.ok(status.products.every((p) => p.state === "complete"));
      assert.ok(status.products.some((p) => p.candlesWritten > 0));
      await assertComplete(sim, store, products, now, 2);
      const mark = await readKvFillWatermark(kv, "BTC-USD", "ONE_MINUTE");
      assert.ok(mark);
      assert.equal(mark.throughSec, ranges(now, 2)[0]!.hi);
    });

    await t.step("a restart at once asks REST nothing and reads only the day candles", async () => {
      reads.n = 0;
      const { requests, status } = await fill({
        sim,
        store: counted,
        products,
        horizonDays: 2,
        watermarks,
      });
      assert.equal(requests, 0);
      assert.equal(reads.n, products.length, "read more than the day candles");
      assert.ok(status.products.every((p) => p.state === "complete" && p.checkedShare === 1));
    });

    await t.step("after 10 h down (catch-up bound 6 h) it fills only what is newer", async () => {
      const stoppedSec = ranges(now, 2)[0]!.hi;
      now += 10 * 3600_000;
      sim.market.advance(now);
      // The restarted shard's catch-up would fill its last 6 h; the 4 h before stay a hole.
      const catchUpFrom = Math.floor(now / 1000) - 6 * 3600;
      await writeTruth(sim, store, products, now, 1, (_, __, s) => s < catchUpFrom);
      const before = sim.handler.requests.length;
      const { status } = await fill({
        sim,
        store,
        products,
        horizonDays: 2,
        watermarks,
        clock: () => now,
      });
      const asked = sim.handler.requests.slice(before);
      assert.ok(asked.length > 0);
      for (const r of asked) {
        assert.ok(Number(r.query.end) > stoppedSec - DAY, `refetched old history: ${r.search}`);
      }
      assert.ok(status.products.every((p) => p.state === "complete"));
      await assertComplete(sim, store, products, now, 2);
    });
  } finally {
    await store.close();
    kv.close();
    await sim.close();
  }
});

Deno.test("HistoryFiller gives up on a product REST refuses, records it, fills the others", async () => {
  const sim = startRestSim({ ...unlimited, historyMs: 2 * DAY * 1000 });
  const store = await openKvCandleStore(":memory:");
  try {
    const { status } = await fill({
      sim,
      store,
      products: ["NOPE-USD", "BTC-USD"],
      horizonDays: 1,
    });
    const nope = status.products.find((p) => p.product === "NOPE-USD")!;
    assert.equal(nope.state, "failed");
    assert.equal(nope.holes.length, 1);
    assert.equal(nope.holes[0]!.reason, "rest_refused");
    assert.equal(nope.completeBackToSec, null);
    assert.ok(nope.lastError);
    assert.equal(status.products.find((p) => p.product === "BTC-USD")!.state, "complete");
    await assertComplete(sim, store, ["BTC-USD"], NOW_MS, 1);
  } finally {
    await store.close();
    await sim.close();
  }
});

Deno.test("HistoryFiller sends nothing while live work is in flight, then fills", async () => {
  const sim = startRestSim({ ...unlimited, historyMs: 2 * DAY * 1000 });
  const store = await openKvCandleStore(":memory:");
  const priority = new RestPriority({ ratePerSecond: 1000, share: 1, quietMs: 0 });
  try {
    let release = () => {};
    const live = priority.live(() => new Promise<void>((r) => release = r));
    const filler = new HistoryFiller({
      rest: new RestClient({ baseUrl: sim.baseUrl, ...fast }),
      store,
      priority,
      products: () => ["BTC-USD"],
      horizonDays: 1,
      clock: () => NOW_MS,
      watermarks: new MemoryFillWatermarks(),
    });
    filler.start();
    const passed = filler.whenPassed();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(sim.handler.requests.length, 0, "sent while live work was in flight");
    assert.equal(filler.progress("BTC-USD")!.state, "filling");
    release();
    await live;
    await passed;
    assert.ok(sim.handler.requests.length > 0);
    assert.equal(priority.stats.deferred, 1);
    await assertComplete(sim, store, ["BTC-USD"], NOW_MS, 1);

    const registry = new Registry();
    filler.addMetrics(registry);
    const text = await registry.render();
    for (
      const name of [
        "spot_history_fill_requests_total",
        "spot_history_fill_candles_total",
        "spot_history_fill_errors_total",
        "spot_history_fill_deferred_total 1",
        'spot_history_fill_products{state="complete"} 1',
        'spot_history_fill_holes{reason="no_trades"} 0',
      ]
    ) assert.ok(text.includes(name), `${name} missing from\n${text}`);
    await filler.stop();
  } finally {
    await store.close();
    await sim.close();
  }
});

Deno.test("RestPriority spaces background calls to its share and waits for quiet", async () => {
  let now = 0;
  const slept: number[] = [];
  const priority = new RestPriority({
    ratePerSecond: 8,
    share: 0.25,
    quietMs: 1000,
    clock: () => now,
    sleep: (ms) => {
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
  });
  assert.equal(priority.spacingMs, 500);
  const starts: number[] = [];
  await Promise.all(
    [1, 2, 3].map(() => priority.background(() => Promise.resolve(starts.push(now)))),
  );
  assert.deepEqual(starts, [0, 500, 1000]);
  await priority.live(() => Promise.resolve());
  await priority.background(() => Promise.resolve(starts.push(now)));
  assert.equal(starts.at(-1), 2000, "did not wait quietMs after the live call");
  assert.equal(priority.stats.deferred, 1);
  const stop = new AbortController();
  let release = () => {};
  const live = priority.live(() => new Promise<void>((r) => release = r));
  const waiting = priority.background(() => Promise.resolve(), stop.signal);
  stop.abort();
  await assert.rejects(waiting);
  release();
  await live;
  assert.ok(slept.every((ms) => ms > 0));
});
