import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { Hono } from "hono";
import type { Candle } from "../../lib/candles/candle.ts";
import { bucketStart, type GranularityId, ONE_MINUTE } from "../../lib/candles/granularity.ts";
import { acceleratedClock } from "../../lib/clock.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { createApp } from "../../routes/app.ts";
import { onError } from "../../routes/errors.ts";
import {
  type HistoryRange,
  type HistorySource,
  installHistory,
  MAX_HISTORY_CANDLES,
} from "../../routes/history.ts";
import { startHarness, until } from "../helpers/service.ts";

/** 2026-03-14 12:00 UTC in epoch seconds. */
const T0 = Date.UTC(2026, 2, 14, 12, 0, 0) / 1000;

/** A fake source: `n` one-minute candles of BTC-USD from T0, the last one "live". */
function fakeSource(n: number) {
  const calls: { product: string; granularity: GranularityId; range: HistoryRange }[] = [];
  const all: Candle[] = Array.from({ length: n }, (_, i) => ({
    start: T0 + i * 60,
    open: 100 + i,
    high: 110 + i,
    low: 90 + i,
    close: 105 + i,
    volume: 0.5 + i,
  }));
  const served = ["BTC-USD", "ETH-USD", "kraken:BTC-USD"];
  const source: HistorySource = {
    candles(product, granularity, range) {
      if (!served.includes(product)) {
        return Promise.resolve({ notServed: `"${product}" is not served by this instance` });
      }
      calls.push({ product, granularity, range });
      return Promise.resolve(
        all.filter((c) => c.start >= range.startSec && c.start <= range.endSec).slice(
          0,
          range.limit,
        ),
      );
    },
  };
  const app = new Hono();
  app.onError(onError);
  installHistory(app, source);
  const get = async (query: string) => {
    const r = await app.request(`/history?${query}`);
    return { status: r.status, body: await r.json() };
  };
  return { calls, get };
}

const ms = (sec: number) => sec * 1000;

Deno.test("GET /history on a fake source", async (t) => {
  await t.step(
    "answers ms timestamps and OHLCV numbers, oldest first, bounds inclusive",
    async () => {
      const { get, calls } = fakeSource(10);
      const r = await get(
        `symbol=BTC-USD&granularity=ONE_MINUTE&start_time=${ms(T0 + 60)}&end_time=${
          ms(T0 + 180)
        }&exchange=coinbase`,
      );
      equal(r.status, 200);
      deepStrictEqual(r.body, {
        candles: [1, 2, 3].map((i) => ({
          timestamp: ms(T0 + i * 60),
          open: 100 + i,
          high: 110 + i,
          low: 90 + i,
          close: 105 + i,
          volume: 0.5 + i,
        })),
      });
      deepStrictEqual(calls, [{
        product: "BTC-USD",
        granularity: "ONE_MINUTE",
        range: { startSec: T0 + 60, endSec: T0 + 180, limit: MAX_HISTORY_CANDLES },
      }]);
    },
  );

  await t.step("unaligned ms bounds select the bucket starts inside them", async () => {
    const { get, calls } = fakeSource(10);
    const r = await get(
      `symbol=BTC-USD&granularity=1m&start_time=${ms(T0 + 60) + 1}&end_time=${
        ms(T0 + 240) - 1
      }&exchange=coinbase`,
    );
    deepStrictEqual(r.body.candles.map((c: { timestamp: number }) => c.timestamp), [
      ms(T0 + 120),
      ms(T0 + 180),
    ]);
    deepStrictEqual(calls[0]!.range, { startSec: T0 + 120, endSec: T0 + 180, limit: 5000 });
  });

  await t.step("granularity accepts the singular id, the plural and the short form", async () => {
    const { get, calls } = fakeSource(1);
    for (const g of ["FIVE_MINUTE", "FIVE_MINUTES", "5m"]) {
      const r = await get(
        `symbol=BTC-USD&granularity=${g}&start_time=${ms(T0)}&end_time=${ms(T0 + 600)}`,
      );
      equal(r.status, 200, g);
    }
    deepStrictEqual(calls.map((c) => c.granularity), ["FIVE_MINUTE", "FIVE_MINUTE", "FIVE_MINUTE"]);
  });

  await t.step("evaluators are accepted and ignored; symbol case does not matter", async () => {
    const { get } = fakeSource(3);
    const with_ = await get(
      `symbol=btc-usd&granularity=ONE_MINUTE&start_time=${ms(T0)}&end_time=${
        ms(T0 + 120)
      }&exchange=coinbase&evaluators=rsi&evaluators=moving-averages`,
    );
    const without = await get(
      `symbol=BTC-USD&granularity=ONE_MINUTE&start_time=${ms(T0)}&end_time=${
        ms(T0 + 120)
      }&exchange=coinbase`,
    );
    equal(with_.status, 200);
    equal(with_.body.candles.length, 3);
    deepStrictEqual(with_.body, without.body);
  });

  await t.step("exactly 5,000 buckets answer; 5,001 is a 400 naming the range", async () => {
    const { get } = fakeSource(1);
    const end = T0 + (MAX_HISTORY_CANDLES - 1) * 60;
    equal(
      (await get(`symbol=BTC-USD&granularity=1m&start_time=${ms(T0)}&end_time=${ms(end)}`)).status,
      200,
    );
    const r = await get(
      `symbol=BTC-USD&granularity=1m&start_time=${ms(T0)}&end_time=${ms(end + 60)}`,
    );
    equal(r.status, 400);
    match(r.body.error, /start_time .* end_time .* spans 5001 ONE_MINUTE candles, more than 5000/);
  });

  await t.step("an unserved symbol is a 404 naming it", async () => {
    const { get, calls } = fakeSource(1);
    const r = await get(`symbol=DOGE-USD&granularity=1m&start_time=${ms(T0)}&end_time=${ms(T0)}`);
    equal(r.status, 404);
    match(r.body.error, /symbol "DOGE-USD" is not served/);
    equal(calls.length, 0);
  });

  await t.step("exchange=kraken asks for the Kraken pair, not Coinbase's", async () => {
    const { get, calls } = fakeSource(3);
    const r = await get(
      `symbol=btc-usd&granularity=1m&start_time=${ms(T0)}&end_time=${ms(T0 + 60)}&exchange=Kraken`,
    );
    equal(r.status, 200);
    equal(r.body.candles.length, 2);
    deepStrictEqual(calls.map((c) => c.product), ["kraken:BTC-USD"]);
    const missing = await get(
      `symbol=ETH-USD&granularity=1m&start_time=${ms(T0)}&end_time=${ms(T0)}&exchange=kraken`,
    );
    equal(missing.status, 404);
    match(missing.body.error, /^symbol "kraken:ETH-USD" is not served/); // the source names it
  });

  await t.step("bad input is a 400 naming the parameter", async () => {
    const { get, calls } = fakeSource(1);
    const ok_ = `start_time=${ms(T0)}&end_time=${ms(T0 + 60)}`;
    const cases: [string, RegExp][] = [
      [`granularity=1m&${ok_}`, /^symbol is required/],
      [`symbol=BTC_USD&granularity=1m&${ok_}`, /^symbol "BTC_USD" is not a product id/],
      [`symbol=BTC-USD&${ok_}`, /^granularity is required/],
      [`symbol=BTC-USD&granularity=7m&${ok_}`, /^granularity "7m" is not one of/],
      [`symbol=BTC-USD&granularity=1m&end_time=${ms(T0)}`, /^start_time is required/],
      [`symbol=BTC-USD&granularity=1m&start_time=${ms(T0)}`, /^end_time is required/],
      [
        `symbol=BTC-USD&granularity=1m&start_time=soon&end_time=${ms(T0)}`,
        /^start_time must be epoch milliseconds/,
      ],
      [
        `symbol=BTC-USD&granularity=1m&start_time=${ms(T0)}&end_time=-5`,
        /^end_time must be epoch milliseconds/,
      ],
      [
        `symbol=BTC-USD&granularity=1m&start_time=${ms(T0 + 60)}&end_time=${ms(T0)}`,
        /^start_time \(\d+\) is after end_time/,
      ],
      [`symbol=BTC-USD&granularity=1m&${ok_}&exchange=binance`, /^exchange "binance"/],
    ];
    for (const [query, error] of cases) {
      const r = await get(query);
      equal(r.status, 400, query);
      match(r.body.error, error, query);
    }
    equal(calls.length, 0);
  });

  await t.step("a range holding no bucket start answers no candles", async () => {
    const { get, calls } = fakeSource(3);
    const r = await get(
      `symbol=BTC-USD&granularity=1h&start_time=${ms(T0) + 1}&end_time=${ms(T0 + 600)}`,
    );
    deepStrictEqual([r.status, r.body], [200, { candles: [] }]);
    // The source is asked (it says whether the symbol is served) with the empty range.
    ok(calls.every((c) => c.range.endSec < c.range.startSec));
  });
});

Deno.test("GET /history pages through a day of 1-minute candles equal to the simulator's truth", async () => {
  const start = Date.UTC(2026, 2, 14, 12, 0, 20);
  const clock = acceleratedClock(10, start);
  const h = await startHarness({
    clock,
    store: await openKvCandleStore(":memory:"),
    products: 1,
    historyMs: 26 * 3600_000,
    env: { CATCHUP_HOURS: "25" },
  });
  try {
    await until(() => h.service.phase === "running", 60_000, "startup (seeding)");
    // History catch-up goes on after /health leaves `starting`: the day must be in first.
    await h.service.ready();
    const app = createApp(h.service);
    const product = h.ids[0]!;
    const from = bucketStart(start / 1000 - 24 * 3600, ONE_MINUTE);
    const lastComplete = bucketStart(start / 1000, ONE_MINUTE) - 60;
    // Page the way rs-charts does: 200 buckets a call, from the last timestamp on.
    const got: { timestamp: number }[] = [];
    let pageStart = from;
    let pages = 0;
    while (pageStart <= lastComplete) {
      const pageEnd = Math.min(pageStart + 199 * 60, lastComplete);
      const r = await app.request(
        `/history?symbol=${product}&granularity=ONE_MINUTE&start_time=${ms(pageStart)}&end_time=${
          ms(pageEnd)
        }&exchange=coinbase`,
      );
      equal(r.status, 200);
      got.push(...(await r.json()).candles);
      pageStart = pageEnd + 60;
      pages++;
    }
    const truth = h.sim.market.candles(product, ONE_MINUTE, from, lastComplete).map((c) => ({
      timestamp: c.start * 1000,
      open: c.open,
      high: c.high,
      low: c.low,
      close: c.close,
      volume: c.volume,
    }));
    ok(truth.length > 1400, `a day of minutes has ${truth.length} candles with trades`);
    equal(pages, 8);
    deepStrictEqual(got, truth);

    // The open minute comes too, as the last candle, once a trade made it.
    await until(
      () => h.service.liveCandle(product, ONE_MINUTE) !== undefined,
      10_000,
      "a live minute",
    );
    const live = h.service.liveCandle(product, ONE_MINUTE)!;
    const r = await app.request(
      `/history?symbol=${product}&granularity=1m&start_time=${ms(live.start - 120)}&end_time=${
        ms(live.start + 60)
      }&exchange=coinbase`,
    );
    const body = await r.json();
    const after = h.service.liveCandle(product, ONE_MINUTE)!;
    // The clock runs 10× fast: the minute may have rolled over between the two reads.
    ok(
      [live.start * 1000, after.start * 1000].includes(body.candles.at(-1).timestamp),
      `last candle ${body.candles.at(-1).timestamp} is the live minute ${live.start * 1000}`,
    );
  } finally {
    await h.close();
  }
});
