import assert from "node:assert/strict";
import { renderToString } from "preact-render-to-string";
import { h } from "preact";
import type { Candle } from "../../lib/candles/candle.ts";
import { granularityById } from "../../lib/candles/granularity.ts";
import { Hub } from "../../lib/service/hub.ts";
import { ProductTable } from "../../islands/product_table.tsx";
import { TradeActivity } from "../../routes/dashboard/activity.ts";
import { overviewRows } from "../../routes/dashboard/overview.tsx";

const ONE_MINUTE = granularityById("ONE_MINUTE");
const ONE_DAY = granularityById("ONE_DAY");
const T = 1_796_000_000; // a minute start, epoch s

function candle(start: number, close: number): Candle {
  return { start, open: close - 1, high: close + 1, low: close - 2, close, volume: 3 };
}

Deno.test("TradeActivity.lastClose() keeps the last 1-minute close and its age", () => {
  const hub = new Hub();
  let now = T * 1000 + 5000;
  const activity = new TradeActivity(hub, () => now);
  const publish = (start: number, close: number, volume: number, complete = false) =>
    hub.publish([{
      product: "ETH-USD",
      granularity: "ONE_MINUTE",
      candle: { ...candle(start, close), volume },
      complete,
    }]);
  assert.equal(activity.lastClose("ETH-USD"), undefined);
  publish(T, 100, 1); // the seed: a close from the start of its minute
  assert.deepEqual(activity.lastClose("ETH-USD"), { close: 100, ageS: 5 });
  now += 2000;
  publish(T, 101, 2); // a trade
  assert.deepEqual(activity.lastClose("ETH-USD"), { close: 101, ageS: 0 });
  now += 70_000;
  publish(T, 101, 2, true); // the clock closes the minute: same close, same age
  assert.deepEqual(activity.lastClose("ETH-USD"), { close: 101, ageS: 70 });
  activity.close();
});

Deno.test("overviewRows() gives quiet products their last close", async (t) => {
  const sources = {
    products: [
      { productId: "BTC-USD", baseCurrency: "BTC", quoteCurrency: "USD" },
      { productId: "ETH-USD", baseCurrency: "ETH", quoteCurrency: "USD" },
      { productId: "SOL-USD", baseCurrency: "SOL", quoteCurrency: "USD" },
      { productId: "ADA-USD", baseCurrency: "ADA", quoteCurrency: "USD" },
    ],
    live: (p: string, g: { id: string }) =>
      p === "BTC-USD"
        ? candle(T, 80000)
        : p === "SOL-USD" && g.id === "ONE_DAY"
        ? candle(T - (T % 86400), 150)
        : undefined,
    lastTradeAgeS: (p: string) => p === "ETH-USD" ? 300 : undefined,
    lastClose: (p: string) => p === "ETH-USD" ? { close: 3000, ageS: 300 } : undefined,
  };
  const rows = overviewRows(sources, ONE_MINUTE);

  await t.step("traded in this interval: the live candle, no last close", () => {
    assert.equal(rows[0]!.candle?.close, 80000);
    assert.equal(rows[0]!.lastClose, undefined);
  });
  await t.step("quiet: the last 1-minute close with its age, else today's close", () => {
    assert.deepEqual(rows[1]!.lastClose, { close: 3000, ageS: 300 });
    assert.deepEqual(rows[2]!.lastClose, { close: 150 });
    assert.equal(rows[3]!.lastClose, undefined);
    assert.equal(sources.live("SOL-USD", ONE_DAY)?.close, 150);
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
