import assert from "node:assert/strict";
import type { Candle, CandleUpdate } from "../../lib/candles/candle.ts";
import type { GranularityId } from "../../lib/candles/granularity.ts";
import type { CandleDoc, CandleStore } from "../../lib/store/store.ts";
import { CandleWriter, type DroppedCandle, type Timers } from "../../lib/store/writer.ts";

const T0 = 1773500700;

function update(
  start: number,
  close: number,
  options: { complete?: boolean; granularity?: GranularityId; product?: string } = {},
): CandleUpdate {
  const candle: Candle = {
    start,
    open: 100,
    high: Math.max(100, close),
    low: Math.min(100, close),
    close,
    volume: close / 1000,
  };
  return {
    product: options.product ?? "BTC-USD",
    granularity: options.granularity ?? "ONE_MINUTE",
    candle,
    complete: options.complete ?? false,
  };
}

/** A store that records calls, and fails or holds them on demand. */
class FakeStore implements CandleStore {
  readonly kind = "kv" as const;
  layout?: string;
  calls: { op: "live" | "completed"; docs: CandleDoc[] }[] = [];
  failures = 0;
  hold: PromiseWithResolvers<void> | undefined;
  live = new Map<string, Candle>();
  completed = new Map<string, Candle>();

  async writeLive(docs: CandleDoc[]) {
    await this.#call("live", docs);
    // Copied, as real stores serialise them: the writer refills its live documents later.
    for (const d of docs) this.live.set(`${d.product}|${d.granularity}`, { ...d.candle });
  }
  async writeCompleted(docs: CandleDoc[]) {
    await this.#call("completed", docs);
    for (const d of docs) this.completed.set(`${d.granularity}|${d.candle.start}`, d.candle);
  }
  async #call(op: "live" | "completed", docs: CandleDoc[]) {
    this.calls.push({ op, docs: structuredClone(docs) });
    if (this.hold) await this.hold.promise;
    if (this.failures > 0) {
      this.failures--;
      throw new Error(`Cannot write to the fake store: unavailable`);
    }
  }
  liveCalls() {
    return this.calls.filter((c) => c.op === "live");
  }
  readCompleted = () => Promise.reject(new Error("unused"));
  latestCompletedStart = () => Promise.reject(new Error("unused"));
  readLive = () => Promise.reject(new Error("unused"));
  readLiveMany = () => Promise.reject(new Error("unused"));
  readCompletedMany = () => Promise.reject(new Error("unused"));
  latestCompletedStarts = () => Promise.reject(new Error("unused"));
  readCatalogue = () => Promise.reject(new Error("unused"));
  writeCatalogue = () => Promise.reject(new Error("unused"));
  writeProducts = () => Promise.reject(new Error("unused"));
  readProducts = () => Promise.reject(new Error("unused"));
  deletePluralDocuments = () => Promise.reject(new Error("unused"));
  readCheckpoint = () => Promise.reject(new Error("unused"));
  writeCheckpoint = () => Promise.reject(new Error("unused"));
  writeShard = () => Promise.reject(new Error("unused"));
  readShards = () => Promise.reject(new Error("unused"));
  ping = () => Promise.resolve();
  close = () => Promise.resolve();
}

/** Timers driven by hand: `advance(ms)` runs what is due, in order. */
class FakeTimers implements Timers {
  now = Date.UTC(2026, 2, 14, 15, 5);
  #next = 1;
  #due = new Map<number, { at: number; fn: () => void }>();
  clock = () => this.now;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.#next++;
    this.#due.set(id, { at: this.now + ms, fn });
    return id;
  };
  clearTimeout = (id: unknown) => {
    this.#due.delete(id as number);
  };
  async advance(ms: number) {
    const until = this.now + ms;
    for (;;) {
      const [id, first] = [...this.#due].sort((a, b) => a[1].at - b[1].at)[0] ?? [];
      if (!first || first.at > until) break;
      this.#due.delete(id!);
      this.now = first.at;
      first.fn();
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
    this.now = until;
  }
}

function setup(options: { maxPending?: number; layout?: string; random?: () => number } = {}) {
  const time = new FakeTimers();
  const store = new FakeStore();
  store.layout = options.layout;
  const writer = new CandleWriter(store, {
    flushIntervalMs: 1000,
    clock: time.clock,
    timers: time,
    maxPending: options.maxPending,
    // The top of the backoff's jitter range, so retry times are exact.
    random: options.random ?? (() => 1),
  });
  return { time, store, writer };
}

Deno.test("CandleWriter live documents", async (t) => {
  await t.step("N updates to one document within an interval become one write", async () => {
    const { time, store, writer } = setup();
    for (let i = 1; i <= 100; i++) writer.push(update(T0, 100 + i));
    await writer.tick();
    assert.equal(store.calls.length, 1);
    assert.deepEqual(store.calls[0]!.docs.map((d) => d.candle.close), [200]);
    for (let i = 1; i <= 50; i++) writer.push(update(T0, 300 + i));
    await time.advance(999);
    await writer.tick();
    assert.equal(store.calls.length, 1, "no second write within the interval");
    await time.advance(1);
    await writer.tick();
    assert.deepEqual(store.calls.map((c) => c.docs.length), [1, 1]);
    assert.equal(store.live.get("BTC-USD|ONE_MINUTE")!.close, 350);
    assert.equal(writer.stats().superseded, 148);
  });

  await t.step("a cycle that took 3 intervals is followed by a 3-interval pause", async () => {
    const { time, store, writer } = setup();
    writer.push(update(T0, 101));
    store.hold = Promise.withResolvers();
    const cycle = writer.tick();
    await time.advance(3000);
    store.hold.resolve();
    store.hold = undefined;
    await cycle;
    writer.push(update(T0, 102));
    await time.advance(2999);
    await writer.tick();
    assert.equal(store.calls.length, 1, "the store's client gets at most half the time");
    await time.advance(1);
    await writer.tick();
    assert.equal(store.calls.length, 2);
  });

  await t.step("one call per cycle carries every changed document", async () => {
    const { store, writer } = setup();
    for (const granularity of ["ONE_MINUTE", "FIVE_MINUTE", "ONE_DAY"] as const) {
      for (const product of ["BTC-USD", "ETH-USD"]) {
        writer.push(update(T0 - (T0 % 86400), 101, { granularity, product }));
      }
    }
    await writer.tick();
    assert.equal(store.calls.length, 1);
    assert.equal(store.calls[0]!.docs.length, 6);
  });

  await t.step("an unchanged value is not written again", async () => {
    const { time, store, writer } = setup();
    writer.push(update(T0, 101));
    await writer.tick();
    writer.push(update(T0, 102));
    writer.push(update(T0, 101)); // back to what is stored
    await time.advance(1000);
    await writer.tick();
    assert.equal(store.calls.length, 1);
    assert.equal(writer.stats().skippedUnchanged, 1);
    assert.equal(writer.stats().pending, 0);
  });

  await t.step("live never goes back to an older bucket", async () => {
    const { time, store, writer } = setup();
    writer.push(update(T0 + 60, 101));
    await writer.tick();
    writer.push(update(T0, 150, { complete: true })); // a late correction of the previous minute
    await time.advance(1000);
    await writer.tick();
    assert.equal(store.live.get("BTC-USD|ONE_MINUTE")!.start, T0 + 60);
    assert.equal(store.completed.get(`ONE_MINUTE|${T0}`)!.close, 150);
  });

  await t.step("a completion updates its live document with the final values", async () => {
    const { store, writer } = setup();
    writer.push(update(T0, 101));
    writer.push(update(T0, 102, { complete: true }));
    await writer.tick();
    assert.equal(store.live.get("BTC-USD|ONE_MINUTE")!.close, 102);
    assert.equal(store.completed.get(`ONE_MINUTE|${T0}`)!.close, 102);
  });

  await t.step("compact layout counts one billed write per product", async () => {
    const { time, writer } = setup({ layout: "compact" });
    for (const granularity of ["ONE_MINUTE", "FIVE_MINUTE", "ONE_DAY"] as const) {
      writer.push(update(T0 - (T0 % 86400), 101, { granularity }));
    }
    await writer.tick();
    await time.advance(1000);
    assert.equal(writer.stats().liveWritesTotal, 1);
    assert.equal(writer.stats().writesPerS, 1);
  });
});

Deno.test("CandleWriter completed candles and failures", async (t) => {
  await t.step("completed candles are written once each, oldest first", async () => {
    const { store, writer } = setup();
    for (let i = 0; i < 5; i++) writer.push(update(T0 + 60 * i, 100 + i, { complete: true }));
    writer.push(update(T0 + 60, 999, { complete: true })); // a correction before the write
    await writer.tick();
    const completedCalls = store.calls.filter((c) => c.op === "completed");
    assert.equal(completedCalls.length, 1);
    assert.deepEqual(completedCalls[0]!.docs.map((d) => [d.candle.start - T0, d.candle.close]), [
      [0, 100],
      [60, 999],
      [120, 102],
      [180, 103],
      [240, 104],
    ]);
  });

  await t.step("a retry of stale data never lands after fresher data", async () => {
    const { time, store, writer } = setup();
    store.failures = 1;
    writer.push(update(T0, 101));
    await writer.tick(); // fails with 101
    writer.push(update(T0, 102));
    await time.advance(1000);
    await writer.tick(); // writes 102 only
    await time.advance(5000);
    await writer.tick();
    const closes = store.liveCalls().map((c) => c.docs[0]!.candle.close);
    assert.deepEqual(closes, [101, 102], "101 failed, then only 102");
    assert.equal(store.live.get("BTC-USD|ONE_MINUTE")!.close, 102);
  });

  await t.step("a value superseded while its failing write was in flight is dropped", async () => {
    const { time, store, writer } = setup();
    store.failures = 1;
    store.hold = Promise.withResolvers();
    writer.push(update(T0, 101));
    const inFlight = writer.tick();
    writer.push(update(T0, 102));
    store.hold.resolve();
    store.hold = undefined;
    await inFlight;
    await time.advance(1000);
    await writer.tick();
    assert.deepEqual(store.liveCalls().map((c) => c.docs[0]!.candle.close), [101, 102]);
    assert.equal(writer.stats().pending, 0);
  });

  /** Times (ms after the first) of the store calls while `failures` calls fail. */
  async function attemptTimes(random: () => number, failures: number): Promise<number[]> {
    const { time, store, writer } = setup({ random });
    store.failures = failures;
    writer.push(update(T0, 101));
    const attemptsAt: number[] = [];
    const t0 = time.now;
    for (let ms = 0; ms <= 20_000; ms += 100) {
      const before = store.calls.length;
      await writer.tick();
      if (store.calls.length > before) attemptsAt.push(time.now - t0);
      await time.advance(100);
    }
    assert.equal(store.live.get("BTC-USD|ONE_MINUTE")!.close, 101);
    return attemptsAt;
  }

  await t.step("failures back off exponentially (top of the jitter range)", async () => {
    assert.deepEqual(await attemptTimes(() => 1, 4), [0, 1000, 3000, 7000, 15000]);
  });

  await t.step("a jittered retry never comes sooner than the flush interval", async () => {
    assert.deepEqual(await attemptTimes(() => 0, 4), [0, 1000, 2000, 3000, 4000]);
    assert.deepEqual(await attemptTimes(() => 0.5, 4), [0, 1000, 2000, 4000, 8000]);
  });

  await t.step("stats report failures, the last error and failing-since", async () => {
    const { time, store, writer } = setup();
    store.failures = 2;
    writer.push(update(T0, 101, { complete: true }));
    const startedAt = time.now;
    await writer.tick();
    await time.advance(1000);
    await writer.tick();
    let stats = writer.stats();
    assert.equal(stats.failures, 2);
    assert.equal(stats.failingSinceMs, startedAt);
    assert.equal(stats.failingForMs, time.now - startedAt);
    assert.match(stats.lastError!.message, /^writeCompleted: Cannot write to the fake store/);
    assert.equal(stats.pending, 2);
    await time.advance(2000);
    await writer.tick();
    stats = writer.stats();
    assert.equal(stats.failingSinceMs, null);
    assert.equal(stats.pending, 0);
    assert.equal(stats.writesTotal, 2);
  });

  await t.step("completed candles are never dropped below the cap", async () => {
    const { time, store, writer } = setup({ maxPending: 30 });
    store.failures = 1000;
    for (let i = 0; i < 30; i++) {
      writer.push(update(T0 + 60 * i, 100 + i, { complete: true }));
      await writer.tick();
      await time.advance(1000);
    }
    const stats = writer.stats();
    assert.deepEqual([stats.pendingCompleted, stats.droppedTotal, stats.overCapacity], [
      30,
      0,
      false,
    ]);
    store.failures = 0;
    assert.deepEqual(await writer.flush(1000), { pending: 0, timedOut: false });
    assert.equal(store.completed.size, 30);
  });

  await t.step("past the cap the oldest completed candles are dropped and reported", async () => {
    const { time, store, writer } = setup({ maxPending: 10 });
    const reported: DroppedCandle[][] = [];
    writer.onDropped((docs) => reported.push(docs));
    store.failures = 1000;
    for (let i = 0; i < 25; i++) {
      writer.push(update(T0 + 60 * i, 100 + i, { complete: true }));
      writer.push(update(T0 + 60 * (i + 1), 100 + i));
      await writer.tick();
      await time.advance(1000);
    }
    let stats = writer.stats();
    assert.ok(stats.pendingCompleted <= 10, `${stats.pendingCompleted} queued`);
    assert.equal(stats.pendingLive, 1, "one live document, coalesced");
    assert.equal(stats.overCapacity, true);
    const dropped = reported.flat();
    assert.equal(dropped.length, stats.droppedTotal);
    assert.equal(dropped.length, 25 - stats.pendingCompleted);
    // The oldest ones, in order: a failed batch goes back to the front of the queue.
    assert.deepEqual(
      dropped.map((d) => d.startSec),
      Array.from({ length: dropped.length }, (_, i) => T0 + 60 * i),
    );
    assert.deepEqual(dropped[0], { product: "BTC-USD", granularity: "ONE_MINUTE", startSec: T0 });
    store.failures = 0;
    assert.deepEqual(await writer.flush(1000), { pending: 0, timedOut: false });
    stats = writer.stats();
    assert.equal(stats.overCapacity, false, "back under the cap once written");
    // Everything not dropped landed; the dropped ones are the refill's to write.
    for (let i = 0; i < 25; i++) {
      const landed = store.completed.has(`ONE_MINUTE|${T0 + 60 * i}`);
      assert.equal(landed, i >= dropped.length, `minute ${i}`);
    }
  });

  await t.step("pushHistory counts towards the cap too", async () => {
    const { writer } = setup({ maxPending: 5 });
    const reported: DroppedCandle[][] = [];
    writer.onDropped((docs) => reported.push(docs));
    writer.pushHistory(
      Array.from({ length: 8 }, (_, i) => ({
        product: "ETH-USD",
        granularity: "ONE_HOUR" as const,
        candle: update(T0 + 3600 * i, 100).candle,
      })),
    );
    await Promise.resolve();
    assert.deepEqual(reported.flat().map((d) => d.startSec), [T0, T0 + 3600, T0 + 7200]);
    assert.equal(reported.length, 1, "one report per batch of drops");
    assert.equal(writer.stats().pendingCompleted, 5);
  });
});

Deno.test("CandleWriter start, flush and stop", async (t) => {
  await t.step("start() writes once per interval; stop() flushes", async () => {
    const { time, store, writer } = setup();
    writer.start();
    for (let i = 0; i < 30; i++) {
      writer.push(update(T0, 100 + i));
      await time.advance(100);
    }
    assert.equal(store.calls.length, 3);
    writer.push(update(T0, 500, { complete: true }));
    assert.deepEqual(await writer.stop(8000), { pending: 0, timedOut: false });
    assert.equal(store.completed.size, 1);
    assert.equal(store.live.get("BTC-USD|ONE_MINUTE")!.close, 500);
  });

  await t.step("flush() ignores the interval and retries within its deadline", async () => {
    const store = new FakeStore();
    const writer = new CandleWriter(store, { flushIntervalMs: 60_000 }); // real timers
    writer.push(update(T0, 101));
    await writer.tick();
    store.failures = 2;
    writer.push(update(T0, 102, { complete: true }));
    assert.deepEqual(await writer.flush(5000), { pending: 0, timedOut: false });
    assert.deepEqual(store.calls.map((c) => c.op), [
      "live",
      "completed", // failed
      "completed", // failed
      "completed",
      "live",
    ]);
    assert.equal(store.live.get("BTC-USD|ONE_MINUTE")!.close, 102);
  });

  await t.step("flush() returns at its deadline when the store hangs", async () => {
    const store = new FakeStore();
    const writer = new CandleWriter(store, { flushIntervalMs: 1000 }); // real timers
    store.hold = Promise.withResolvers();
    writer.push(update(T0, 101, { complete: true }));
    const started = performance.now();
    const result = await writer.flush(150);
    const took = performance.now() - started;
    assert.deepEqual(result, { pending: 2, timedOut: true }); // completed + live, in flight
    assert.ok(took >= 140 && took < 1000, `returned after ${took} ms`);
    store.hold.resolve();
    assert.deepEqual(await writer.flush(1000), { pending: 0, timedOut: false });
  });

  await t.step("the projected cost follows the write rate at $0.09 per 100k", async () => {
    const { time, writer } = setup();
    for (let s = 0; s < 60; s++) {
      for (const granularity of ["ONE_MINUTE", "FIVE_MINUTE"] as const) {
        writer.push(update(T0, 100 + s, { granularity }));
      }
      await writer.tick();
      await time.advance(1000);
    }
    const stats = writer.stats();
    assert.ok(stats.writesPerS > 1.95 && stats.writesPerS <= 2, `${stats.writesPerS}/s`);
    const expected = stats.writesPerS * 86400 * 0.09 / 100_000;
    assert.ok(Math.abs(stats.projectedCostPerDayUsd - expected) < 1e-9);
    assert.ok(Math.abs(stats.projectedCostPerDayUsd - 0.1555) < 0.003, "≈ $0.16/day at 2/s");
  });
});

Deno.test("CandleWriter per-granularity flush intervals", async (t) => {
  const intervals = {
    ONE_MINUTE: 1000,
    FIVE_MINUTE: 5000,
    FIFTEEN_MINUTE: 5000,
    THIRTY_MINUTE: 5000,
    ONE_HOUR: 5000,
    TWO_HOUR: 5000,
    SIX_HOUR: 5000,
    ONE_DAY: 5000,
  };
  const setupIntervals = (layout?: string) => {
    const time = new FakeTimers();
    const store = new FakeStore();
    store.layout = layout;
    const writer = new CandleWriter(store, {
      flushIntervalMs: intervals,
      clock: time.clock,
      timers: time,
      random: () => 1,
    });
    return { time, store, writer };
  };
  /** Pushes a changed value of the 1m and 1h documents every 100 ms for `ms`. */
  const trade = async (
    time: FakeTimers,
    writer: CandleWriter,
    ms: number,
    product = "BTC-USD",
  ) => {
    for (let i = 0; i < ms / 100; i++) {
      const close = 100 + (time.now % 100_000) / 100;
      writer.push(update(T0, close, { product }));
      writer.push(update(T0 - 1200, close, { granularity: "ONE_HOUR", product }));
      await writer.tick();
      await time.advance(100);
    }
  };
  const writesOf = (store: FakeStore, g: GranularityId) =>
    store.liveCalls().flatMap((c) => c.docs).filter((d) => d.granularity === g).length;

  await t.step("ONE_MINUTE=1000,default=5000: 1m once a second, 1h once per 5 s", async () => {
    const { time, store, writer } = setupIntervals();
    await trade(time, writer, 20_000);
    assert.equal(writesOf(store, "ONE_MINUTE"), 20);
    assert.equal(writesOf(store, "ONE_HOUR"), 4);
    // The hour rides along with a minute's cycle: no extra calls.
    assert.equal(store.liveCalls().length, 20);
    assert.deepEqual(writer.stats().flushIntervalsMs, intervals);
  });

  await t.step("a coarse document waits its interval; flush() writes it at once", async () => {
    const { time, store, writer } = setupIntervals();
    await trade(time, writer, 1000);
    assert.equal(writesOf(store, "ONE_HOUR"), 1);
    writer.push(update(T0 - 1200, 999, { granularity: "ONE_HOUR" }));
    await time.advance(1000);
    await writer.tick();
    assert.equal(writesOf(store, "ONE_HOUR"), 1, "not due yet");
    assert.equal(writer.stats().pendingLive, 1);
    await writer.flush(1000);
    assert.equal(writesOf(store, "ONE_HOUR"), 2);
    assert.equal(store.live.get("BTC-USD|ONE_HOUR")!.close, 999);
  });

  await t.step(
    "completed candles are written every cycle, whatever their granularity",
    async () => {
      const { time, store, writer } = setupIntervals();
      await trade(time, writer, 1000);
      writer.push(update(T0 - 3600, 120, { granularity: "ONE_HOUR", complete: true }));
      await time.advance(1000);
      await writer.tick();
      assert.equal(store.completed.get(`ONE_HOUR|${T0 - 3600}`)?.close, 120);
    },
  );

  await t.step("compact layout: one billed write per product per 1 s cycle", async () => {
    const { time, writer } = setupIntervals("compact");
    for (let i = 0; i < 600; i++) {
      for (const product of ["BTC-USD", "ETH-USD"]) {
        writer.push(update(T0, 100 + i, { product }));
        writer.push(update(T0 - 1200, 100 + i, { granularity: "ONE_HOUR", product }));
      }
      await writer.tick();
      await time.advance(100);
    }
    // 60 cycles × 2 products; the hours share the cycles (every 5th).
    assert.equal(writer.stats().liveWritesTotal, 120);
  });

  await t.step("the cost ceiling follows the intervals", async () => {
    const { time, writer } = setupIntervals();
    await trade(time, writer, 1000, "BTC-USD");
    await trade(time, writer, 1000, "ETH-USD");
    const stats = writer.stats();
    assert.equal(stats.liveProducts, 2);
    // compat: 86,400 (1m) + 7 × 17,280 live writes + 1,913 completed per product per day.
    const perProduct = 86_400 + 7 * 17_280 + 1913;
    const expected = 2 * perProduct * 0.09 / 100_000;
    assert.ok(
      Math.abs(stats.costCeilingPerDayUsd - expected) < 1e-9,
      `${stats.costCeilingPerDayUsd} vs ${expected}`,
    );
  });
});
