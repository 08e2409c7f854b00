import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { Aggregator, seedPlan } from "../../lib/candles/aggregator.ts";
import type { CandleUpdate } from "../../lib/candles/candle.ts";
import { parseUnits } from "../../lib/candles/decimal.ts";
import { GRANULARITIES, ONE_MINUTE, parseGranularity } from "../../lib/candles/granularity.ts";
import type { Trade } from "../../lib/candles/trade.ts";

const T0 = Date.UTC(2026, 2, 14, 23, 58) / 1000; // two minutes before midnight
let nextId = 1;
function trade(sec: number, price: string, size = "1", id = nextId++): Trade {
  return {
    product: "BTC-USD",
    id,
    price: Number(price),
    size: parseUnits(size),
    timeMs: sec * 1000,
  };
}
const of = (us: CandleUpdate[], g: string, complete?: boolean) =>
  us.filter((u) => u.granularity === g && (complete === undefined || u.complete === complete));

Deno.test("add() builds the 1-minute candle from trades and rolls every granularity up", () => {
  const agg = new Aggregator();
  agg.add(trade(T0 + 1, "10"));
  agg.add(trade(T0 + 2, "12", "0.5"));
  agg.add(trade(T0 + 3, "9", "0.25"));
  const us = agg.drain();
  equal(us.length, 8);
  for (const u of us) {
    deepStrictEqual(u.candle, {
      start: Math.floor(T0 / parseGranularity(u.granularity).seconds) *
        parseGranularity(u.granularity).seconds,
      open: 10,
      high: 12,
      low: 9,
      close: 9,
      volume: 1.75,
    });
    equal(u.complete, false);
  }
});

Deno.test("add() closes the candle when a trade crosses the minute, and the day at midnight", () => {
  const agg = new Aggregator();
  agg.add(trade(T0 + 5, "10"));
  agg.add(trade(T0 + 65, "11"));
  let us = agg.drain();
  deepStrictEqual(of(us, "ONE_MINUTE", true).map((u) => u.candle.close), [10]);
  equal(of(us, "ONE_DAY", true).length, 0);
  agg.add(trade(T0 + 125, "12")); // 00:00:05 the next day
  us = agg.drain();
  const day = of(us, "ONE_DAY", true);
  equal(day.length, 1);
  deepStrictEqual(day[0]!.candle, {
    start: Date.UTC(2026, 2, 14) / 1000,
    open: 10,
    high: 11,
    low: 10,
    close: 11,
    volume: 2,
  });
  deepStrictEqual(of(us, "ONE_DAY", false)[0]!.candle.start, Date.UTC(2026, 2, 15) / 1000);
});

Deno.test("add() orders open and close by trade time, then trade id", () => {
  const agg = new Aggregator();
  agg.add(trade(T0 + 30, "20", "1", 500));
  agg.add(trade(T0 + 10, "10", "1", 400)); // earlier, arrives later
  agg.add(trade(T0 + 30, "25", "1", 499)); // same time, lower id: before 500
  const [u] = of(agg.drain(), "ONE_MINUTE");
  deepStrictEqual([u!.candle.open, u!.candle.close], [10, 20]);
});

Deno.test("add() ignores duplicate trade ids with bounded memory", () => {
  const agg = new Aggregator({ dedupeWindow: 64 });
  const t = trade(T0 + 1, "10");
  ok(agg.add(t));
  ok(!agg.add(t));
  equal(agg.stats.duplicates, 1);
  for (let i = 0; i < 200; i++) agg.add(trade(T0 + 2, "10"));
  ok(!agg.add(t), "an id older than the window is never counted twice");
  equal(agg.stats.tooLate, 1);
});

Deno.test("tick() completes candles on time with no trade, after the grace", () => {
  const agg = new Aggregator({ graceMs: 2000 });
  agg.add(trade(T0 + 5, "10"));
  agg.drain();
  agg.tick((T0 + 61) * 1000);
  equal(of(agg.drain(), "ONE_MINUTE", true).length, 0);
  agg.tick((T0 + 62) * 1000);
  deepStrictEqual(of(agg.drain(), "ONE_MINUTE", true).map((u) => u.candle.start), [T0]);
  agg.tick((T0 + 122) * 1000); // midnight + 2 s: the day, 6 h, 2 h, 1 h, 30 m, 15 m and 5 m close
  const us = agg.drain();
  deepStrictEqual(
    us.filter((u) => u.complete).map((u) => u.granularity),
    GRANULARITIES.slice(1).map((g) => g.id),
  );
});

Deno.test("a late trade corrects the completed candles it belongs to", () => {
  const agg = new Aggregator();
  agg.add(trade(T0 + 5, "10", "1", 10));
  agg.add(trade(T0 + 65, "11", "1", 12));
  agg.drain();
  agg.add(trade(T0 + 50, "30", "2", 11)); // belongs to the completed first minute
  const us = agg.drain();
  const fixed = us.filter((u) => u.correction);
  deepStrictEqual(fixed.map((u) => [u.granularity, u.candle.high, u.candle.volume]), [[
    "ONE_MINUTE",
    30,
    3,
  ]]);
  // The open 5-minute candle holds both minutes and the late trade, counted once.
  deepStrictEqual(of(us, "FIVE_MINUTE", false)[0]!.candle.volume, 4);
  equal(agg.stats.late, 1);
});

Deno.test("a trade older than the retention is left to repair, not half-applied", () => {
  const agg = new Aggregator({ retentionMs: 5 * 60_000 });
  agg.add(trade(T0 + 5, "10"));
  agg.add(trade(T0 + 600, "11"));
  agg.drain();
  ok(!agg.add(trade(T0 + 6, "12")));
  equal(agg.stats.tooLate, 1);
  deepStrictEqual(agg.drain(), []);
});

Deno.test("completed candles leave memory after the retention", () => {
  const agg = new Aggregator({ retentionMs: 60_000 });
  for (let m = 0; m < 24 * 60; m++) agg.add(trade(T0 + m * 60, "1"));
  agg.tick((T0 + 24 * 3600) * 1000);
  agg.drain();
  agg.repair("BTC-USD", T0, T0 + 600, [{
    start: T0,
    open: 5,
    high: 5,
    low: 5,
    close: 5,
    volume: 9,
  }]);
  deepStrictEqual(agg.drain(), [], "an old minute is forgotten: nothing to correct");
});

Deno.test("seed() loads the in-progress hour and day; trades before the cutoff are not counted twice", () => {
  const cutoff = T0 + 60; // 23:59
  const hhmm = (sec: number) => new Date(sec * 1000).toISOString().slice(11, 16);
  deepStrictEqual(
    seedPlan(cutoff).map((p) => [p.granularity.short, hhmm(p.startSec), hhmm(p.endSec)]),
    [
      ["1h", "00:00", "22:00"],
      ["1m", "23:00", "23:58"],
    ],
  );
  const agg = new Aggregator();
  agg.seed("BTC-USD", cutoff, [
    {
      granularity: "SIX_HOUR",
      candle: {
        start: cutoff - 59 * 60 - 18 * 3600,
        open: 5,
        high: 50,
        low: 4,
        close: 7,
        volume: 100,
      },
    },
    {
      granularity: "ONE_MINUTE",
      candle: { start: T0, open: 7, high: 8, low: 6, close: 8, volume: 0.5 },
    },
  ]);
  ok(!agg.add(trade(T0 + 30, "99")), "a trade before the cutoff is already in the seed");
  agg.add(trade(cutoff + 1, "9", "1.5"));
  const day = of(agg.drain(), "ONE_DAY", false).at(-1)!.candle;
  deepStrictEqual(day, {
    start: Date.UTC(2026, 2, 14) / 1000,
    open: 5,
    high: 50,
    low: 4,
    close: 9,
    volume: 102,
  });
  throws(() => agg.seed("BTC-USD", cutoff + 1, []), /minute boundary/);
});

Deno.test("expectSeed(): ONE_MINUTE flows before the seed; coarser buckets wait for it", async (t) => {
  const cutoff = T0 + 60; // 23:59
  const agg = new Aggregator();
  agg.expectSeed("BTC-USD", cutoff);
  agg.add(trade(cutoff + 5, "10", "1"));
  await t.step("the first live trade publishes ONE_MINUTE only", () => {
    const out = agg.drain();
    deepStrictEqual(out.map((u) => u.granularity), ["ONE_MINUTE"]);
    equal(agg.isSeeded("BTC-USD"), false);
    equal(agg.live("BTC-USD", parseGranularity("ONE_DAY")), undefined);
    // The store writer's read: nothing to write, its candle untouched.
    const into = { start: 1, open: 2, high: 3, low: 4, close: 5, volume: 6 };
    equal(agg.liveInto("BTC-USD", parseGranularity("ONE_DAY").index, into), false);
    deepStrictEqual(into, { start: 1, open: 2, high: 3, low: 4, close: 5, volume: 6 });
    equal(agg.liveInto("BTC-USD", 0, into), true);
    deepStrictEqual(into, agg.live("BTC-USD", parseGranularity("ONE_MINUTE")));
  });
  // The 5-minute bucket that began before the cutoff completes while it waits: withheld.
  const fiveStart = Math.floor(cutoff / 300) * 300;
  agg.add(trade(fiveStart + 300 + 1, "12", "1"));
  await t.step("a bucket that began before the cutoff completes without being emitted", () => {
    const out = agg.drain();
    ok(!out.some((u) => u.granularity === "FIVE_MINUTE" && u.candle.start === fiveStart));
    ok(
      out.some((u) => u.granularity === "FIVE_MINUTE" && u.candle.start === fiveStart + 300),
      "the next 5-minute bucket, begun after the cutoff, flows at once",
    );
  });
  agg.seed("BTC-USD", cutoff, [{
    granularity: "ONE_MINUTE",
    candle: { start: fiveStart, open: 7, high: 8, low: 6, close: 8, volume: 0.5 },
  }]);
  await t.step("the seed completes the withheld bucket with its tiles and live part", () => {
    const out = agg.drain();
    const five = out.find((u) => u.granularity === "FIVE_MINUTE" && u.complete);
    deepStrictEqual(five?.candle, {
      start: fiveStart,
      open: 7,
      high: 10,
      low: 6,
      close: 10,
      volume: 1.5,
    });
    ok(agg.isSeeded("BTC-USD"));
  });
});

Deno.test("seedPlan() tiles the day up to the cutoff without overlap", () => {
  for (
    const cutoff of [
      Date.UTC(2026, 0, 1, 15, 37) / 1000,
      Date.UTC(2026, 0, 1) / 1000,
      Date.UTC(2026, 0, 1, 23, 59) / 1000,
    ]
  ) {
    const covered: number[] = [];
    for (const { granularity, startSec, endSec } of seedPlan(cutoff)) {
      for (let s = startSec; s <= endSec; s += granularity.seconds) {
        covered.push(s, s + granularity.seconds);
      }
    }
    const spans = covered.reduce((n, _, i) => i % 2 ? n + covered[i]! - covered[i - 1]! : n, 0);
    equal(spans, cutoff % 86400, `cutoff ${cutoff}`);
  }
});

Deno.test("repair() replaces lost minutes from REST and corrects the coarser candles", () => {
  const agg = new Aggregator();
  agg.add(trade(T0 + 5, "10", "1"));
  // minute T0+60 was lost in a disconnect
  agg.add(trade(T0 + 125, "12", "1"));
  agg.drain();
  const replaced = agg.repair("BTC-USD", T0, T0 + 180, [
    { start: T0, open: 10, high: 10, low: 10, close: 10, volume: 0.5 }, // smaller than live: a lagging cache, ignored
    { start: T0 + 60, open: 20, high: 21, low: 3, close: 4, volume: 2 },
  ]);
  deepStrictEqual(replaced, [T0 + 60]);
  const us = agg.drain();
  const day = of(us, "ONE_DAY").find((u) => u.candle.start === Date.UTC(2026, 2, 14) / 1000)!;
  equal(day.correction, true);
  deepStrictEqual(day.candle, {
    start: Date.UTC(2026, 2, 14) / 1000,
    open: 10,
    high: 21,
    low: 3,
    close: 4,
    volume: 3,
  });
  ok(of(us, "ONE_MINUTE").some((u) => u.candle.start === T0 + 60 && u.correction));
});

Deno.test("a trade of a minute repaired from REST is not counted again when it arrives later", () => {
  const agg = new Aggregator();
  agg.add(trade(T0 + 5, "10", "1", 100));
  agg.add(trade(T0 + 125, "12", "1", 103));
  // REST knows two more trades of minute T0+60 (ids 101, 102) that the feed never delivered.
  agg.repair("BTC-USD", T0 + 60, T0 + 120, [{
    start: T0 + 60,
    open: 11,
    high: 11,
    low: 11,
    close: 11,
    volume: 2,
  }]);
  const day = agg.drain().findLast((u) =>
    u.granularity === "ONE_DAY" && u.candle.start === Date.UTC(2026, 2, 14) / 1000
  );
  equal(day?.candle.volume, 3, "the repaired minute's two trades are in the day");
  // A later reconnect's snapshot replays one of them: REST already counted it.
  ok(!agg.add(trade(T0 + 70, "11", "1", 101)));
  equal(agg.stats.repaired, 1);
  deepStrictEqual(agg.drain(), []);
});

Deno.test("snapshot() lists every open candle", () => {
  const agg = new Aggregator();
  agg.add(trade(T0, "1"));
  equal(agg.snapshot().length, 8);
  deepStrictEqual(agg.live("BTC-USD", ONE_MINUTE)?.close, 1);
});

Deno.test("memory stays flat over a day of trades: completed candles leave after the retention", () => {
  const agg = new Aggregator({ retentionMs: 30 * 60_000 });
  const products = ["BTC-USD", "ETH-USD", "SOL-USD"];
  const peaks: number[] = [];
  for (let s = 0; s < 86_400; s += 5) {
    for (const product of products) agg.add({ ...trade(T0 + 120 + s, "1"), product });
    if (s % 60 === 0) agg.tick((T0 + 120 + s) * 1000);
    agg.drain();
    if (s % 3600 === 0) peaks.push(agg.retained());
  }
  // 30 retained minutes plus a few coarse candles per product, whatever the hour.
  const bound = products.length * (31 + 6 + 3 + 2 + 1 + 1 + 1 + 1);
  for (const n of peaks.slice(1)) ok(n <= bound, `${n} retained candles > ${bound}`);
});

Deno.test("volume has no floating-point drift over a day of trades", () => {
  const agg = new Aggregator();
  for (let i = 0; i < 86_400; i++) agg.add(trade(T0 + 120 + i, "1", "0.1"));
  agg.tick((T0 + 120 + 2 * 86_400) * 1000);
  const day = agg.drain().find((u) => u.granularity === "ONE_DAY" && u.complete)!;
  equal(day.candle.volume, 8640); // a float sum of 0.1 drifts to 8639.99999999…
});

Deno.test("drain(mask) emits only the masked live candles; the others wait for a later drain", () => {
  const agg = new Aggregator();
  agg.add(trade(T0 + 5, "10", "1"));
  const minuteOnly = agg.drain(1 << ONE_MINUTE.index);
  deepStrictEqual(minuteOnly.map((u) => u.granularity), ["ONE_MINUTE"]);
  agg.add(trade(T0 + 6, "11", "1"));
  const all = agg.drain();
  deepStrictEqual(all.map((u) => u.granularity), GRANULARITIES.map((g) => g.id));
  equal(all.at(-1)!.candle.close, 11, "the pending ones carry their latest value");
  deepStrictEqual(agg.drain(), [], "nothing left");
});
