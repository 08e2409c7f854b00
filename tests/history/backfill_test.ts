import assert from "node:assert/strict";
import { type BackfillProgress, runBackfill } from "../../lib/history/backfill.ts";
import { parseGranularity } from "../../lib/candles/granularity.ts";
import { RestClient, RestError } from "../../lib/coinbase/rest.ts";
import { maxInWindow } from "../../lib/coinbase/simulator/rest.ts";
import { syncCatalogue } from "../../lib/history/catalogue.ts";
import { HistoryFetchError } from "../../lib/history/fetch_error.ts";
import type { CandleStore } from "../../lib/store/store.ts";
import { NOW_MS, type RestSim, startRestSim } from "../coinbase/_rest_server.ts";
import { openTestStore } from "../ingest/_store.ts";

const M1 = parseGranularity("1m");
const H1 = parseGranularity("1h");
const fast = { maxRetries: 6, backoffBaseMs: 1, backoffMaxMs: 5 };
const PRODUCTS = ["BTC-USD", "ETH-USD"];

/** Asserts the store holds exactly the simulator's completed ground truth from `fromSec` on. */
async function assertTruth(sim: RestSim, store: CandleStore, fromSec: number, nowSec: number) {
  for (const product of PRODUCTS) {
    for (const g of [M1, H1]) {
      const start = Math.floor(fromSec / g.seconds) * g.seconds;
      const lastComplete = Math.floor((nowSec - 5) / g.seconds) * g.seconds - g.seconds;
      const stored = await store.readCompleted(product, g.id, { start, limit: 5000 });
      const truth = sim.market.candles(product, g, start, lastComplete);
      assert.ok(truth.length > 0);
      assert.deepEqual(stored, truth, `${product} ${g.id}`);
    }
  }
}

Deno.test("runBackfill: two days of 1m and 1h for two products equal ground truth", async (t) => {
  let now = NOW_MS;
  const sim = startRestSim({ clock: () => now });
  const store = await openTestStore();
  try {
    const rest = new RestClient({ baseUrl: sim.baseUrl, ...fast }); // 8 req/s vs 10/s burst 12
    const nowSec = Math.floor(now / 1000);
    const fromSec = nowSec - 2 * 86400;
    const options = {
      rest,
      store,
      products: PRODUCTS,
      granularities: [M1, H1],
      fromSec,
      toSec: nowSec,
      clock: () => now,
    };
    const progress: BackfillProgress[] = [];
    const summary = await runBackfill({ ...options, onProgress: (p) => progress.push(p) });

    await t.step("stored candles are the truth, in-progress buckets excluded", async () => {
      const last1m = Math.floor((nowSec - 5) / 60) * 60 - 60;
      const last1h = Math.floor(nowSec / 3600) * 3600 - 3600;
      await assertTruth(sim, store, fromSec, nowSec);
      const [newest] = await store.readCompleted("BTC-USD", "ONE_MINUTE", { limit: 1 });
      assert.equal(newest!.start, last1m);
      const [newestH] = await store.readCompleted("BTC-USD", "ONE_HOUR", { limit: 1 });
      assert.equal(newestH!.start, last1h);
      assert.equal(await store.readCheckpoint("ETH-USD", "ONE_MINUTE"), last1m);
      assert.equal(await store.readCheckpoint("ETH-USD", "ONE_HOUR"), last1h);
    });

    await t.step("pages of ≤300 buckets, never rate-limited, ≤10 requests in any second", () => {
      const log = sim.handler.requests;
      assert.equal(summary.requests, log.length);
      assert.equal(log.length, 2 * Math.ceil((2 * 86400 / 60) / 300) + 2);
      assert.equal(summary.pagesDone, summary.pagesTotal);
      assert.equal(summary.aborted, false);
      assert.ok(log.every((r) => r.status === 200), "a request was refused");
      for (const r of log) {
        const g = r.query.granularity === "ONE_HOUR" ? 3600 : 60;
        assert.ok((Number(r.query.end) - Number(r.query.start)) / g + 1 <= 300, r.search);
      }
      const busiest = maxInWindow(log);
      assert.ok(busiest <= 10, `${busiest} requests in one second`);
      assert.ok(
        busiest >= 7,
        `only ${busiest} requests in the busiest second: far below the limit`,
      );
      assert.equal(progress.at(-1)!.pagesDone, summary.pagesTotal);
      const row = summary.rows.find((r) => r.product === "BTC-USD" && r.granularity === "ONE_HOUR");
      assert.equal(row!.candles, 48); // 15:00 two days ago … 14:00 today
    });

    await t.step("a re-run over the complete range fetches nothing", async () => {
      const before = sim.handler.requests.length;
      const again = await runBackfill(options);
      assert.equal(sim.handler.requests.length, before);
      assert.equal(again.candles, 0);
      assert.ok(again.rows.every((r) => r.skippedPages > 0 && r.pages === 0));
    });

    await t.step("ten minutes later, a re-run fetches only the newest edge", async () => {
      now += 10 * 60_000;
      const before = sim.handler.requests.length;
      const edge = await runBackfill({ ...options, toSec: Math.floor(now / 1000) });
      const requests = sim.handler.requests.slice(before);
      assert.equal(requests.length, 2);
      assert.ok(requests.every((r) => r.query.granularity === "ONE_MINUTE"));
      assert.equal(edge.candles, 20);
      await assertTruth(sim, store, fromSec, Math.floor(now / 1000));
    });
  } finally {
    await store.close();
    await sim.close();
  }
});

/**
 * Whether request `r` asked only for buckets before `product`'s oldest stored ONE_MINUTE candle
 * from `fromSec` on: what the backfill must ask again, since a bucket without trades is not stored.
 */
async function onlyBeforeOldest(
  store: Awaited<ReturnType<typeof openTestStore>>,
  product: string,
  fromSec: number,
  r: { query: Record<string, string> },
): Promise<boolean> {
  const [oldest] = await store.readCompleted(product, "ONE_MINUTE", { start: fromSec, limit: 1 });
  return oldest !== undefined && Number(r.query.end) < oldest.start;
}

Deno.test("runBackfill: an interrupted run resumes without refetching", async () => {
  const sim = startRestSim({ publicLimit: { ratePerSecond: 1000, burst: 1000 } });
  const store = await openTestStore();
  try {
    const rest = new RestClient({ baseUrl: sim.baseUrl, ratePerSecond: 200, ...fast });
    const nowSec = Math.floor(NOW_MS / 1000);
    const options = {
      rest,
      store,
      products: PRODUCTS,
      granularities: [M1, H1],
      fromSec: nowSec - 3 * 86400,
      toSec: nowSec,
      clock: () => NOW_MS,
      concurrency: 3,
    };
    const stop = new AbortController();
    const first = await runBackfill({
      ...options,
      signal: stop.signal,
      onProgress: (p) => p.pagesDone >= 9 && stop.abort(),
    });
    assert.equal(first.aborted, true);
    assert.ok(first.pagesDone >= 9 && first.pagesDone < first.pagesTotal);
    const checkpoints = new Map<string, number | undefined>();
    for (const p of PRODUCTS) {
      checkpoints.set(p, await store.readCheckpoint(p, "ONE_MINUTE"));
    }
    const before = sim.handler.requests.length;
    const second = await runBackfill(options);
    assert.equal(second.aborted, false);
    const requests = sim.handler.requests.slice(before);
    for (const r of requests.filter((r) => r.query.granularity === "ONE_MINUTE")) {
      const product = r.path.split("/").at(-2)!;
      const cp = checkpoints.get(product);
      if (cp === undefined || Number(r.query.start) > cp) continue;
      // Only buckets before the oldest stored candle may be asked again (a first minute without
      // trades stores nothing, so the run cannot tell it from a hole).
      assert.ok(
        await onlyBeforeOldest(store, product, options.fromSec, r),
        `refetched ${r.search}`,
      );
    }
    assert.ok(requests.length <= first.pagesTotal - first.pagesDone + 3);
    assert.ok(second.rows.some((r) => r.skippedPages > 0));
    await assertTruth(sim, store, options.fromSec, nowSec);
  } finally {
    await store.close();
    await sim.close();
  }
});

Deno.test("runBackfill survives 429 bursts with HTML bodies and 5xx", async () => {
  const sim = startRestSim({ publicLimit: { ratePerSecond: 1000, burst: 1000 } });
  const store = await openTestStore();
  try {
    const rest = new RestClient({ baseUrl: sim.baseUrl, ratePerSecond: 200, ...fast });
    const nowSec = Math.floor(NOW_MS / 1000);
    sim.handler.injectFaults({ kind: "429", count: 4, body: "html" });
    sim.handler.injectFaults({ kind: "5xx", count: 2, status: 503 });
    sim.handler.injectFaults({ kind: "429", count: 3, body: "html" });
    const summary = await runBackfill({
      rest,
      store,
      products: PRODUCTS,
      granularities: [M1, H1],
      fromSec: nowSec - 86400,
      toSec: nowSec,
      clock: () => NOW_MS,
    });
    assert.equal(summary.rateLimited, 7);
    assert.equal(summary.retries, 9);
    await assertTruth(sim, store, nowSec - 86400, nowSec);
  } finally {
    await store.close();
    await sim.close();
  }
});

Deno.test("runBackfill fails clearly on a persistent 4xx and stops the other pages", async () => {
  const sim = startRestSim({ publicLimit: { ratePerSecond: 1000, burst: 1000 } });
  const store = await openTestStore();
  try {
    const rest = new RestClient({ baseUrl: sim.baseUrl, ratePerSecond: 200, ...fast });
    const nowSec = Math.floor(NOW_MS / 1000);
    const error = await runBackfill({
      rest,
      store,
      products: ["NOPE-USD", "BTC-USD"],
      granularities: [M1],
      fromSec: nowSec - 30 * 86400,
      toSec: nowSec,
      clock: () => NOW_MS,
      concurrency: 2,
    }).then(() => undefined, (e) => e);
    assert.ok(error instanceof HistoryFetchError, String(error));
    assert.equal(error.product, "NOPE-USD");
    assert.equal(error.granularity, "ONE_MINUTE");
    assert.equal(error.retryable, false);
    assert.ok(error.toSec > error.fromSec, `window ${error.fromSec}…${error.toSec}`);
    assert.match(error.message, /^backfilling NOPE-USD ONE_MINUTE \S+…\S+ failed for good: /);
    assert.ok(error.cause instanceof RestError, String(error.cause));
    assert.equal(error.cause.status, 404);
    assert.ok(sim.handler.requests.length < 10, `${sim.handler.requests.length} requests`);
  } finally {
    await store.close();
    await sim.close();
  }
});

Deno.test("syncCatalogue writes online and delisted products", async () => {
  const sim = startRestSim({ publicLimit: { ratePerSecond: 1000, burst: 1000 } });
  const store = await openTestStore();
  try {
    const rest = new RestClient({ baseUrl: sim.baseUrl, ratePerSecond: 200 });
    const result = await syncCatalogue({ rest, store, clock: () => NOW_MS });
    assert.deepEqual(result, { online: 4, delisted: 1 });
    const entries = await store.readCatalogue();
    const old = entries.find((e) => e.product_id === "OLD-USD");
    assert.deepEqual(old, {
      product_id: "OLD-USD",
      base_currency: "OLD",
      quote_currency: "USD",
      status: "delisted",
      min_size: "0.00000001",
      max_size: old!.max_size,
      last_updated: NOW_MS,
    });
    assert.match(old!.max_size, /^\d+$/);
    assert.equal(entries.find((e) => e.product_id === "BTC-USD")!.status, "online");
  } finally {
    await store.close();
    await sim.close();
  }
});

Deno.test("runBackfill: a catch-up after a gap does not move the checkpoint over the hole", async () => {
  const sim = startRestSim({ publicLimit: { ratePerSecond: 1000, burst: 1000 } });
  const store = await openTestStore();
  try {
    const rest = new RestClient({ baseUrl: sim.baseUrl, ratePerSecond: 200, ...fast });
    const nowSec = Math.floor(NOW_MS / 1000);
    const base = { rest, store, products: ["BTC-USD"], granularities: [M1], clock: () => NOW_MS };
    // An old ingest, then (after an outage) a bounded catch-up of the last 6 hours.
    await runBackfill({ ...base, fromSec: nowSec - 3 * 86400, toSec: nowSec - 2 * 86400 });
    const old = await store.readCheckpoint("BTC-USD", "ONE_MINUTE");
    assert.equal(old, Math.floor((nowSec - 2 * 86400) / 60) * 60);
    await runBackfill({ ...base, fromSec: nowSec - 6 * 3600, toSec: nowSec, resume: false });
    assert.equal(await store.readCheckpoint("BTC-USD", "ONE_MINUTE"), old);
    // The next ingest over the whole range fills the hole and only the hole.
    const before = sim.handler.requests.length;
    await runBackfill({ ...base, fromSec: nowSec - 3 * 86400, toSec: nowSec });
    const refetched = sim.handler.requests.slice(before);
    for (const r of refetched) {
      assert.ok(
        Number(r.query.start) > old! ||
          await onlyBeforeOldest(store, "BTC-USD", nowSec - 3 * 86400, r),
        `refetched ${r.search}`,
      );
    }
    const stored = await store.readCompleted("BTC-USD", "ONE_MINUTE", {
      start: nowSec - 3 * 86400 - 60,
      limit: 5000,
    });
    const first = stored[0]!.start;
    assert.deepEqual(stored, sim.market.candles("BTC-USD", M1, first, stored.at(-1)!.start));
    assert.ok(stored.length > 4000);
    assert.equal(
      await store.readCheckpoint("BTC-USD", "ONE_MINUTE"),
      Math.floor((nowSec - 5) / 60) * 60 - 60,
    );
  } finally {
    await store.close();
    await sim.close();
  }
});
