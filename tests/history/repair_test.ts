import assert from "node:assert/strict";
import { Aggregator } from "../../lib/candles/aggregator.ts";
import type { Candle, CandleUpdate } from "../../lib/candles/candle.ts";
import type { Granularity } from "../../lib/candles/granularity.ts";
import { RestError } from "../../lib/exchange/rest_error.ts";
import { Repairer, type RepairerOptions } from "../../lib/history/repair.ts";
import { REST_SETTLE_S } from "../../lib/history/seeding.ts";

const PRODUCT = "BTC-USD";
/** Seed cutoff: a minute boundary, epoch s. */
const C = Date.UTC(2026, 2, 14, 12, 0) / 1000;
const min = (n: number) => C + n * 60;

/** One REST 1-minute candle at minute `n` after the cutoff, distinct per minute. */
function restMinute(n: number): Candle {
  return {
    start: min(n),
    open: 100 + n,
    high: 110 + n,
    low: 90 + n,
    close: 105 + n,
    volume: 1 + n,
  };
}

interface Call {
  product: string;
  granularity: string;
  fromSec: number;
  toSec: number;
  atMs: number;
}

/**
 * A REST client that records every `candles` call and answers from `answer` (the REST truth of
 * every minute by default), or throws what `answer` throws.
 */
function fakeRest(now: () => number, answer?: (call: Call) => Candle[]) {
  const calls: Call[] = [];
  return {
    calls,
    candles(product: string, g: Granularity, fromSec: number, toSec: number): Promise<Candle[]> {
      const call = { product, granularity: g.id, fromSec, toSec, atMs: now() };
      calls.push(call);
      try {
        const out = answer ? answer(call) : [];
        if (!answer) {
          for (let s = fromSec; s <= toSec; s += 60) out.push(restMinute((s - C) / 60));
        }
        return Promise.resolve(out);
      } catch (e) {
        return Promise.reject(e);
      }
    },
  };
}

/** A repairer over a seeded aggregator whose clock is `time.now` (ms), 20 minutes after C. */
function setup(
  options: Partial<RepairerOptions> = {},
  answer?: (call: Call) => Candle[],
) {
  const time = { now: (C + 20 * 60) * 1000 };
  const clock = () => time.now;
  const aggregator = new Aggregator();
  aggregator.seed(PRODUCT, C, []);
  aggregator.tick(time.now);
  aggregator.drain();
  const rest = fakeRest(clock, answer);
  let repairedCalls = 0;
  const repairer = new Repairer({
    rest,
    aggregator,
    clock,
    onRepaired: () => repairedCalls++,
    random: () => 1, // the top of the jitter range: exact retry times
    ...options,
  });
  return { time, aggregator, rest, repairer, repairedCalls: () => repairedCalls };
}

const gap = (products: string[], fromMin: number, toMin: number, seconds = 0) => ({
  products,
  fromMs: min(fromMin) * 1000 + seconds * 1000,
  toMs: min(toMin) * 1000 + seconds * 1000,
  reason: "reconnect" as const,
});

const retryable = () =>
  new RestError("GET /candles failed after 7 attempts, last with 503", {
    method: "GET",
    path: "/market/products/BTC-USD/candles",
    status: 503,
    retryable: true,
  });

Deno.test("Repairer.schedule merges gap windows per product", async (t) => {
  await t.step("a gap becomes whole minutes: from its minute to the end of its last", () => {
    const { repairer } = setup();
    repairer.schedule(gap([PRODUCT], 3, 5, 30));
    const [rec] = repairer.history(PRODUCT);
    assert.deepEqual([rec!.fromSec, rec!.toSec], [min(3), min(6)]);
    assert.equal(repairer.pending, 1);
  });
  await t.step("overlapping and touching windows of one product merge into one", () => {
    const { repairer } = setup({ maxMergedMinutes: 15 });
    repairer.schedule(gap([PRODUCT], 3, 5));
    repairer.schedule(gap([PRODUCT], 4, 8)); // overlaps
    repairer.schedule(gap([PRODUCT], 9, 10)); // touches [3, 9)
    repairer.schedule(gap([PRODUCT], 1, 2)); // touches [3, 11) from below
    assert.equal(repairer.pending, 1);
    const history = repairer.history(PRODUCT);
    assert.equal(history.length, 1);
    assert.deepEqual([history[0]!.fromSec, history[0]!.toSec], [min(1), min(11)]);
  });
  await t.step("a window stops growing at maxMergedMinutes: a gap every minute is repaired", () => {
    const { repairer } = setup(); // the default: 3 minutes
    // Kraken's withheld fills: a sequence gap in every minute, each touching the one before.
    for (let m = 1; m <= 9; m++) repairer.schedule(gap([PRODUCT], m, m));
    assert.deepEqual(
      repairer.history(PRODUCT).map((r) => [r.fromSec, r.toSec]),
      [[min(1), min(4)], [min(4), min(7)], [min(7), min(10)]],
    );
    // A gap inside a queued window asks nothing more.
    repairer.schedule(gap([PRODUCT], 5, 5));
    assert.equal(repairer.pending, 3);
  });
  await t.step("disjoint windows and other products stay separate", () => {
    const { repairer } = setup();
    repairer.schedule(gap([PRODUCT], 1, 2));
    repairer.schedule(gap([PRODUCT], 6, 7)); // [6, 8) vs [1, 3): apart
    repairer.schedule(gap([PRODUCT, "ETH-USD"], 12, 12));
    assert.equal(repairer.pending, 4);
    assert.deepEqual(
      repairer.history(PRODUCT).map((r) => [r.fromSec, r.toSec]),
      [[min(1), min(3)], [min(6), min(8)], [min(12), min(13)]],
    );
    assert.deepEqual(repairer.history("ETH-USD").map((r) => [r.fromSec, r.toSec]), [
      [min(12), min(13)],
    ]);
  });
});

Deno.test("Repairer records replayed products without asking REST", async () => {
  const { repairer, rest, time } = setup();
  repairer.schedule({ ...gap(["ETH-USD"], 3, 5, 30), replayed: [PRODUCT] });
  const [rec] = repairer.history(PRODUCT);
  assert.deepEqual(rec, {
    product: PRODUCT,
    reason: "reconnect",
    fromSec: min(3),
    toSec: min(6),
    detectedAt: time.now,
    repairedAt: time.now,
    minutesReplaced: 0,
    attempts: 0,
    replayed: true,
  });
  assert.equal(repairer.replayed, 1);
  assert.equal(repairer.pending, 1, "only ETH-USD waits for REST");
  time.now = (min(6) + REST_SETTLE_S + 1) * 1000;
  await repairer.run();
  assert.deepEqual(rest.calls.map((c) => c.product), ["ETH-USD"]);
  assert.equal(repairer.repaired, 1);
});

Deno.test("Repairer.run replaces settled windows with REST's minutes", async (t) => {
  const { time, aggregator, rest, repairer, repairedCalls } = setup();
  repairer.schedule(gap([PRODUCT], 5, 7));
  repairer.schedule(gap([PRODUCT], 18, 19)); // ends at min(20): not settled yet
  await t.step("a window is fetched once its end is REST_SETTLE_S old, not before", async () => {
    // As the service's tick does: the aggregator's clock moves, then repairs run.
    time.now = (min(20) + REST_SETTLE_S) * 1000 - 1;
    aggregator.tick(time.now);
    await repairer.run();
    assert.deepEqual(rest.calls.map((c) => c.fromSec), [min(5)]);
    time.now += 1;
    aggregator.tick(time.now);
    await repairer.run();
    assert.deepEqual(rest.calls.map((c) => c.fromSec), [min(5), min(18)]);
  });
  await t.step("each call asks for the window's 1-minute candles, last start inclusive", () => {
    assert.deepEqual(
      rest.calls.map((c) => [c.product, c.granularity, c.fromSec, c.toSec]),
      [[PRODUCT, "ONE_MINUTE", min(5), min(7)], [PRODUCT, "ONE_MINUTE", min(18), min(19)]],
    );
  });
  let updates: CandleUpdate[] = [];
  await t.step("the repaired minutes equal REST's, as completed corrections", () => {
    updates = aggregator.drain();
    const minutes = updates.filter((u) => u.granularity === "ONE_MINUTE");
    assert.deepEqual(
      minutes.map((u) => u.candle).sort((a, b) => a.start - b.start),
      [5, 6, 7, 18, 19].map(restMinute),
    );
    assert.ok(minutes.every((u) => u.complete && u.correction), "complete corrections");
    assert.equal(repairedCalls(), 2);
  });
  await t.step("the completed 5-minute candle holding them is corrected to their fold", () => {
    const five = updates.filter((u) =>
      u.granularity === "FIVE_MINUTE" && u.candle.start === min(5)
    );
    assert.equal(five.length, 1);
    // [5, 10) holds minutes 5, 6 and 7 and no trades: open of 5, close of 7, extremes, Σ volume.
    assert.deepEqual(five[0]!.candle, {
      start: min(5),
      open: 105,
      high: 117,
      low: 95,
      close: 112,
      volume: 6 + 7 + 8,
    });
    assert.ok(five[0]!.complete && five[0]!.correction);
  });
  await t.step("the history records what each repair did", () => {
    const [first, second] = repairer.history(PRODUCT);
    assert.equal(repairer.pending, 0);
    assert.equal(repairer.repaired, 2);
    assert.deepEqual(
      [first!.minutesReplaced, first!.attempts, first!.error, first!.gaveUpAt],
      [3, 1, undefined, undefined],
    );
    assert.equal(first!.repairedAt, (min(20) + REST_SETTLE_S) * 1000 - 1);
    assert.equal(second!.minutesReplaced, 2);
    assert.equal(second!.repairedAt, (min(20) + REST_SETTLE_S) * 1000);
  });
  await t.step("a repaired window is not fetched again", async () => {
    time.now += 60_000;
    await repairer.run();
    assert.equal(rest.calls.length, 2);
  });
});

Deno.test("Repairer retries a retryable failure with backoff, then succeeds", async (t) => {
  let failures = 2;
  const { time, rest, repairer } = setup({}, (call) => {
    if (failures-- > 0) throw retryable();
    return [restMinute((call.fromSec - C) / 60)];
  });
  repairer.schedule(gap([PRODUCT], 2, 2));
  const t0 = time.now;
  const callTimes = async (untilMs: number) => {
    for (; time.now <= t0 + untilMs; time.now += 100) await repairer.run();
    return rest.calls.map((c) => c.atMs - t0);
  };
  await t.step("retries wait 2 s, then 4 s (backoff of the first and second failure)", async () => {
    assert.deepEqual(await callTimes(10_000), [0, 2000, 6000]);
  });
  await t.step("the failure was recorded, then cleared by the success", () => {
    const [rec] = repairer.history(PRODUCT);
    assert.equal(rec!.attempts, 3);
    assert.equal(rec!.error, undefined);
    assert.equal(rec!.minutesReplaced, 1);
    assert.equal(repairer.pending, 0);
    assert.equal(repairer.failed, 0);
  });
});

Deno.test("Repairer gives up", async (t) => {
  await t.step("at once on a final error (retryable: false), naming it", async () => {
    const { time, rest, repairer } = setup({}, () => {
      throw new RestError("GET /candles failed with 404 NOT_FOUND (product BTC-USD)", {
        method: "GET",
        path: "/market/products/BTC-USD/candles",
        status: 404,
        retryable: false,
      });
    });
    repairer.schedule(gap([PRODUCT], 2, 3));
    await repairer.run();
    time.now += 120_000;
    await repairer.run();
    assert.equal(rest.calls.length, 1);
    assert.equal(repairer.pending, 0);
    assert.equal(repairer.failed, 1);
    const [rec] = repairer.history(PRODUCT);
    assert.equal(rec!.attempts, 1);
    assert.match(rec!.error!, /404 NOT_FOUND/);
    assert.equal(rec!.gaveUpAt, time.now - 120_000);
    assert.equal(rec!.repairedAt, undefined);
  });
  await t.step("after maxAttempts retryable failures", async () => {
    const { time, rest, repairer } = setup({ maxAttempts: 3 }, () => {
      throw retryable();
    });
    repairer.schedule(gap([PRODUCT], 2, 3));
    for (let i = 0; i < 100; i++, time.now += 1000) await repairer.run();
    assert.equal(rest.calls.length, 3);
    assert.equal(repairer.pending, 0);
    assert.equal(repairer.failed, 1);
    const [rec] = repairer.history(PRODUCT);
    assert.equal(rec!.attempts, 3);
    assert.match(rec!.error!, /last with 503/);
    assert.equal(rec!.gaveUpAt, rest.calls[2]!.atMs);
  });
  await t.step("an error without `retryable` is retried (only false is final)", async () => {
    const { time, rest, repairer } = setup({ maxAttempts: 2 }, () => {
      throw new TypeError('Coinbase candles response has no "candles" array');
    });
    repairer.schedule(gap([PRODUCT], 2, 3));
    for (let i = 0; i < 10; i++, time.now += 1000) await repairer.run();
    assert.equal(rest.calls.length, 2);
    assert.equal(repairer.failed, 1);
  });
});

Deno.test("Repairer keeps the last 20 records per product, oldest first", () => {
  const { repairer } = setup();
  for (let i = 0; i < 25; i++) repairer.schedule(gap([PRODUCT], 100 + 3 * i, 100 + 3 * i));
  const history = repairer.history(PRODUCT);
  assert.equal(repairer.pending, 25);
  assert.equal(history.length, 20);
  assert.deepEqual(
    history.map((r) => r.fromSec),
    Array.from({ length: 20 }, (_, i) => min(100 + 3 * (i + 5))),
  );
  assert.deepEqual(repairer.history("ETH-USD"), []);
});

Deno.test("Repairer.run stops at an aborted signal without counting a failure", async () => {
  const abort = new AbortController();
  const { rest, repairer } = setup({}, () => {
    abort.abort();
    throw new DOMException("aborted", "AbortError");
  });
  repairer.schedule(gap([PRODUCT], 2, 2));
  repairer.schedule(gap([PRODUCT], 6, 6));
  await repairer.run(abort.signal);
  assert.equal(rest.calls.length, 1, "the second window was not tried");
  assert.equal(repairer.failed, 0);
  assert.equal(repairer.pending, 2);
  assert.equal(repairer.history(PRODUCT)[0]!.error, undefined);
});

Deno.test("Repairer.pendingStarts: the oldest queued start per product, and windows repaired since", async () => {
  let now = min(0) * 1000;
  const rest = fakeRest(() => now);
  const repairer = new Repairer({
    rest,
    aggregator: new Aggregator(),
    clock: () => now,
    onRepaired: () => {},
  });
  assert.equal(repairer.pendingStarts().size, 0);
  repairer.schedule({
    products: [PRODUCT],
    fromMs: min(2) * 1000,
    toMs: min(2) * 1000 + 5,
    reason: "sequence",
  });
  repairer.schedule({
    products: [PRODUCT, "ETH-USD"],
    fromMs: min(7) * 1000,
    toMs: min(7) * 1000,
    reason: "reconnect",
  });
  repairer.schedule({
    products: [],
    replayed: ["SOL-USD"],
    fromMs: min(1) * 1000,
    toMs: min(1) * 1000,
    reason: "reconnect",
  });
  assert.deepEqual(
    [...repairer.pendingStarts()].sort(),
    [["BTC-USD", min(2)], ["ETH-USD", min(7)]],
    "replayed windows are not pending",
  );
  // Every window repaired (REST replaces the empty live minutes): none queued any more.
  now = (min(8) + REST_SETTLE_S) * 1000;
  const repairedAt = now;
  await repairer.run();
  assert.equal(repairer.pending, 0);
  assert.equal(repairer.pendingStarts().size, 0);
  assert.deepEqual(
    [...repairer.pendingStarts(repairedAt)].sort(),
    [["BTC-USD", min(2)], ["ETH-USD", min(7)]],
    "held while their corrections may not be stored",
  );
  assert.equal(repairer.pendingStarts(repairedAt + 1).size, 0);
});
