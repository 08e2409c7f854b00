import assert from "node:assert/strict";
import { createApp } from "../../routes/app.ts";
import { FakeView, minuteCandles } from "../helpers/fake_view.ts";

const IDS = ["BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD"];
const T0 = Date.UTC(2026, 2, 14, 12) / 1000;

/** The JSON of every island data block in `html`, by island name. */
function islandProps(html: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (
    const m of html.matchAll(
      /<script type="application\/json" data-island-props="([^"]+)">(.*?)<\/script>/gs,
    )
  ) {
    out.set(m[1]!, JSON.parse(m[2]!));
  }
  return out;
}

/** Every `<script>` tag is an external module or a JSON data block: nothing for the CSP to run. */
function assertNoInlineScript(html: string): void {
  for (const [tag] of html.matchAll(/<script\b[^>]*>/g)) {
    assert.match(tag, /\bsrc="\/static\/build\/islands\.js"|type="application\/json"/, tag);
  }
}

function fakeView(): FakeView {
  const view = new FakeView(IDS);
  IDS.forEach((id, i) => {
    const [live] = minuteCandles(T0 + 60 * i, 1);
    view.liveCandles.set(`${id}|ONE_MINUTE`, { ...live!, close: 1234.5 + i });
    view.liveCandles.set(`${id}|ONE_HOUR`, { ...live!, start: T0, close: 2000 + i });
  });
  view.tradeAges.set("BTC-USD", 3);
  view.stored.set(
    "BTC-USD|FIVE_MINUTE",
    minuteCandles(T0 - 300 * 40, 40).map((c, i) => ({
      ...c,
      start: T0 - 300 * (40 - i),
    })),
  );
  view.liveCandles.set("BTC-USD|FIVE_MINUTE", { ...minuteCandles(T0, 1)[0]!, close: 777 });
  view.connections = [{
    id: "c1",
    products: IDS,
    state: "subscribed",
    connectedSince: T0 * 1000,
    reconnects: 2,
    lastMessageAgeS: 0.2,
    maxGapS: 1.5,
    sequenceGaps: 1,
    tradesPerS: 4.2,
    unknownProducts: [],
  }];
  view.repairs.set("BTC-USD", [{
    product: "BTC-USD",
    reason: "startup",
    fromSec: T0 - 60,
    toSec: T0,
    detectedAt: T0 * 1000,
    repairedAt: T0 * 1000 + 5000,
    minutesReplaced: 1,
    attempts: 1,
  }, {
    product: "BTC-USD",
    reason: "reconnect",
    fromSec: T0,
    toSec: T0 + 60,
    detectedAt: T0 * 1000 + 20_000,
    repairedAt: T0 * 1000 + 20_000,
    minutesReplaced: 0,
    attempts: 0,
    replayed: true,
  }]);
  return view;
}

Deno.test("dashboard pages render the view's numbers on the server", async (t) => {
  const view = fakeView();
  const app = createApp(view);

  await t.step("the overview lists products, live closes and connections", async () => {
    const res = await app.request("/");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    const html = await res.text();
    assertNoInlineScript(html);
    IDS.forEach((id, i) => {
      assert.match(
        html,
        new RegExp(`<tr data-product="${id}">.*?class="num close">1,${234 + i}\\.50?<`, "s"),
      );
    });
    const props = islandProps(html);
    const status = props.get("overview-status") as { initial: unknown };
    assert.deepEqual(status.initial, JSON.parse(JSON.stringify(view.status())));
    const table = props.get("product-table") as {
      rows: { product: string; lastTradeAgeS?: number }[];
      granularity: string;
    };
    assert.deepEqual(table.rows.map((r) => r.product), IDS);
    assert.equal(table.rows[0]!.lastTradeAgeS, 3);
    assert.equal(table.rows[1]!.lastTradeAgeS, undefined);
    assert.equal(table.granularity, "1m");
    assert.match(html, /<tr data-connection="c1" data-state="subscribed">/);
  });

  await t.step("the overview lists the products with problems", async () => {
    view.problemList = [{ product: "ADA-USD", message: "seeding failed: HTTP 404 not found" }];
    const html = await (await app.request("/")).text();
    assert.match(html, /Products with problems/);
    assert.match(
      html,
      /<li data-problem="ADA-USD"><a href="\/products\/ADA-USD">ADA-USD<\/a>: seeding failed: HTTP 404 not found<\/li>/,
    );
  });

  await t.step("?g= picks the granularity; an unknown one falls back with a notice", async () => {
    const hourly = islandProps(await (await app.request("/?g=ONE_HOUR")).text());
    const table = hourly.get("product-table") as {
      granularity: string;
      rows: { candle: { close: number } }[];
    };
    assert.equal(table.granularity, "1h");
    assert.deepEqual(table.rows.map((r) => r.candle.close), [2000, 2001, 2002, 2003]);
    const html = await (await app.request("/?g=7m")).text();
    assert.match(html, /Unknown granularity &quot;7m&quot;: showing 1m/);
  });

  await t.step("the product page has the view's candles and the repair history", async () => {
    const res = await app.request("/products/btc-usd?g=5m");
    assert.equal(res.status, 200);
    const html = await res.text();
    assertNoInlineScript(html);
    const chart = islandProps(html).get("product-chart") as {
      product: string;
      granularity: string;
      candles: { start: number; close: number; complete: boolean }[];
    };
    assert.equal(chart.product, "BTC-USD");
    assert.equal(chart.granularity, "5m");
    assert.equal(chart.candles.length, 41);
    assert.deepEqual(chart.candles.at(-1), {
      ...minuteCandles(T0, 1)[0],
      close: 777,
      complete: false,
    });
    assert.equal(chart.candles.filter((c) => c.complete).length, 40);
    assert.deepEqual(view.asked.at(-1), {
      product: "BTC-USD",
      granularity: "FIVE_MINUTE",
      range: { limit: 300 },
    });
    assert.match(html, /<a href="\?g=5m" aria-current="page">5m<\/a>/);
    assert.match(html, /Gaps and repairs/);
    assert.match(html, /<tr data-reason="startup"[^>]*>.*?class="badge ok">repaired</s);
    assert.match(html, /<tr data-reason="reconnect"[^>]*>.*?class="badge ok">replayed</s);
  });

  await t.step("the product page of a product with a problem says what it is", async () => {
    const html = await (await app.request("/products/ADA-USD")).text();
    assert.match(html, /<p class="problem bad" role="alert">seeding failed: HTTP 404 not found/);
  });

  await t.step("an unknown product is a 404 page listing what is served", async () => {
    const res = await app.request("/products/NOPE-USD");
    assert.equal(res.status, 404);
    const html = await res.text();
    assert.match(html, /Unknown product &quot;NOPE-USD&quot;/);
    for (const id of IDS) assert.match(html, new RegExp(`href="/products/${id}"`));
  });

  await t.step("pages open no subscription of their own", () => {
    assert.equal(view.hub.subscribers, 0);
  });

  await t.step("static files: CSS served, escapes and unknown files refused", async () => {
    const css = await app.request("/static/dashboard.css");
    assert.equal(css.status, 200);
    assert.match(css.headers.get("content-type") ?? "", /^text\/css/);
    await css.body?.cancel();
    for (const path of ["/static/..%2Fdeno.json", "/static/.env.css", "/static/x/../../main.ts"]) {
      const res = await app.request(path);
      assert.equal(res.status, 404, path);
      await res.body?.cancel();
    }
    const missing = await app.request("/static/build/nope.js");
    assert.equal(missing.status, 404);
    assert.match((await missing.json()).error, /deno task build/);
  });
});
