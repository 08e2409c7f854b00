import assert from "node:assert/strict";
import { granularityById } from "../../lib/candles/granularity.ts";
import { Market, MEAN_TRADE_SIZE } from "../../lib/simulator/market.ts";

const START_MS = Date.UTC(2026, 10, 29, 12, 0, 0);
const MINUTE = granularityById("ONE_MINUTE");

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function stats(market: Market, product: string, fromMs: number, toMs: number) {
  const candles = market.candles(product, MINUTE, fromMs / 1000, toMs / 1000 - 60);
  const minutes = (toMs - fromMs) / 60_000;
  const volumes = candles.map((c) => c.volume);
  return {
    /** Mean volume over every minute of the window, empty minutes counted as 0. */
    volumePerMinute: volumes.reduce((a, b) => a + b, 0) / minutes,
    /** Mean |close − open| / open of the minutes that traded. */
    move: mean(candles.map((c) => Math.abs(c.close - c.open) / c.open)),
    candles: candles.length,
  };
}

Deno.test("Market: history and live trading look like one market", async (t) => {
  const products = [
    { id: "BTC-USD", price: 83000, tradesPerSecond: 4 },
    { id: "ETH-USD", price: 3200, tradesPerSecond: 2 },
  ];
  const market = new Market({
    products,
    seed: 7,
    startMs: START_MS,
    historyMs: 6 * 3600_000,
    historyTradesPerSecond: 0.1,
  });
  market.advance(START_MS + 60 * 60_000);

  for (const spec of products) {
    const history = stats(market, spec.id, START_MS - 6 * 3600_000, START_MS);
    const live = stats(market, spec.id, START_MS, START_MS + 60 * 60_000);
    const expected = spec.tradesPerSecond * 60 * MEAN_TRADE_SIZE;

    await t.step(`${spec.id}: volume per minute of history and live within 15 %`, () => {
      assert.ok(history.candles > 300 && live.candles === 60, "both windows traded");
      const ratio = history.volumePerMinute / live.volumePerMinute;
      assert.ok(
        ratio > 0.85 && ratio < 1.15,
        `history ${history.volumePerMinute.toFixed(1)}/min vs live ${
          live.volumePerMinute.toFixed(1)
        }/min (ratio ${ratio.toFixed(2)})`,
      );
    });

    await t.step(
      `${spec.id}: both near rate × 60 × mean size (${expected}/min) within 15 %`,
      () => {
        for (const v of [history.volumePerMinute, live.volumePerMinute]) {
          assert.ok(Math.abs(v / expected - 1) < 0.15, `${v.toFixed(1)} vs ${expected}`);
        }
      },
    );

    await t.step(`${spec.id}: the typical move per minute is of one size (within 2×)`, () => {
      const ratio = history.move / live.move;
      assert.ok(ratio > 0.5 && ratio < 2, `history ${history.move} vs live ${live.move}`);
    });
  }
});

Deno.test("Market: with history at the live rate, trades are not merged", () => {
  const market = new Market({
    products: [{ id: "A-USD", price: 10, tradesPerSecond: 0.1 }],
    startMs: START_MS,
    historyMs: 3600_000,
    historyTradesPerSecond: 0.1,
  });
  const trades = market.advance(START_MS);
  assert.ok(trades.length > 200, `${trades.length} history trades`);
  assert.ok(trades.every((t) => Number(t.size) <= 5), "every size within one live draw");
});

Deno.test("Market: two markets built alike answer alike however their generation is cut", () => {
  const options = {
    products: [
      { id: "BTC-USD", price: 83000, tradesPerSecond: 5 },
      { id: "ETH-USD", price: 3200, tradesPerSecond: 3 },
      { id: "X001-USD", price: 7, tradesPerSecond: 0.5, tick: 0.001 },
    ],
    seed: 42,
    startMs: START_MS,
    historyMs: 2 * 3600_000,
    historyTradesPerSecond: 0.5,
    multiFillShare: 0.2,
  };
  const once = new Market(options);
  const steps = new Market(options);
  const endMs = START_MS + 10 * 60_000;
  once.advance(endMs);
  // The other in uneven steps, asking one product's trades in between (as a WebSocket flush does).
  for (let t = START_MS - 3600_000, i = 0; t < endMs; t += 1000 + (i++ % 7) * 3000) {
    steps.advance(t);
    steps.trades("ETH-USD", t - 1000, t);
  }
  steps.advance(endMs);
  for (const { id } of options.products) {
    assert.deepEqual(
      steps.trades(id, START_MS - 3600_000, endMs),
      once.trades(id, START_MS - 3600_000, endMs),
      id,
    );
    assert.deepEqual(
      steps.candles(id, MINUTE, (START_MS - 7200_000) / 1000, endMs / 1000 - 60),
      once.candles(id, MINUTE, (START_MS - 7200_000) / 1000, endMs / 1000 - 60),
      id,
    );
  }
});
