import assert from "node:assert/strict";
import { renderToString } from "preact-render-to-string";
import { h } from "preact";
import type { Candle } from "../../lib/candles/candle.ts";
import { granularityById } from "../../lib/candles/granularity.ts";
import { TradeActivity } from "../../lib/service/activity.ts";
import { ProductTable } from "../../islands/product_table.tsx";
import { FakeView } from "../helpers/fake_view.ts";
import { overviewRows } from "../../routes/dashboard/overview.tsx";

const ONE_MINUTE = granularityById("ONE_MINUTE");
const T = 1_796_000_000; // a minute start, epoch s

function candle(start: number, close: number): Candle {
  return { start, open: close - 1, high: close + 1, low: close - 2, close, volume: 3 };
}

Deno.test("TradeActivity.lastPrice() is the last trade's price", () => {
  let now = T * 1000;
  const activity = new TradeActivity(() => now);
  assert.equal(activity.lastPrice("ETH-USD"), undefined);
  activity.traded("ETH-USD", 100);
  now += 5000;
  activity.traded("ETH-USD", 101);
  now += 7000;
  assert.equal(activity.lastPrice("ETH-USD"), 101);
  assert.equal(activity.lastTradeAgeS("ETH-USD"), 7);
});

Deno.test("overviewRows() gives quiet products their last close", async (t) => {
  const view = new FakeView(["BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD"]);
  view.liveCandles.set("BTC-USD|ONE_MINUTE", candle(T, 80000));
  view.liveCandles.set("SOL-USD|ONE_DAY", candle(T - (T % 86400), 150));
  view.tradeAges.set("ETH-USD", 300);
  view.tradePrices.set("ETH-USD", 3000);
  const rows = overviewRows(view, ONE_MINUTE);

  await t.step("traded in this interval: the live candle, no last close", () => {
    assert.equal(rows[0]!.candle?.close, 80000);
    assert.equal(rows[0]!.lastClose, undefined);
  });
  await t.step("quiet: the last trade's price with its age, else today's close", () => {
    assert.deepEqual(rows[1]!.lastClose, { close: 3000, ageS: 300 });
    assert.deepEqual(rows[2]!.lastClose, { close: 150 });
    assert.equal(rows[3]!.lastClose, undefined);
  });

  await t.step("server-rendered table: filtered and sorted from the query", () => {
    const html = renderToString(h(ProductTable, {
      rows,
      granularity: "1m",
      granularities: ["1m", "5m"],
      query: { q: "usd", sort: "close", dir: "desc" },
    }));
    const order = [...html.matchAll(/data-product="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(order, ["BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD"]);
    assert.match(html, /<tr data-product="ETH-USD">.*?class="num close stale"[^>]*>3,000\.00</);
    assert.match(html, /<tr data-product="ETH-USD">.*?5 min 0 s<\/td><\/tr>/);
    assert.match(html, /aria-sort="descending"><a href="\/\?q=usd&amp;sort=close&amp;dir=asc"/);
    const eth = renderToString(h(ProductTable, {
      rows,
      granularity: "1m",
      granularities: ["1m", "5m"],
      query: { q: "et", sort: "product", dir: "asc" },
    }));
    assert.deepEqual([...eth.matchAll(/data-product="([^"]+)"/g)].map((m) => m[1]), ["ETH-USD"]);
    assert.match(eth, /1 of 4 products match “et”/);
    assert.match(eth, /name="q" value="et"/);
  });
});
