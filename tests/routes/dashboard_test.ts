import assert from "node:assert/strict";
import type { CandleUpdate } from "../../lib/candles/candle.ts";
import { systemClock } from "../../lib/clock.ts";
import { Hub } from "../../lib/service/hub.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { TradeActivity } from "../../routes/dashboard/activity.ts";
import { createApp } from "../../routes/app.ts";
import { startHarness, until } from "../helpers/service.ts";

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

Deno.test("dashboard pages render live numbers on the server", async (t) => {
  const store = await openKvCandleStore(":memory:");
  const h = await startHarness({
    clock: systemClock,
    store,
    products: 4,
    historyMs: 2 * 3600_000,
    env: { CATCHUP_HOURS: "1" },
  });
  try {
    const app = createApp(h.service);
    await until(() => h.service.phase === "running", 20_000, "the service to start");
    await until(
      () => h.ids.every((id) => h.service.hub.liveCandle(id, "ONE_MINUTE") !== undefined),
      10_000,
      "a live candle of every product",
    );

    await t.step("the overview lists products, connections and numbers", async () => {
      const res = await app.request("/");
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("cache-control"), "no-store");
      assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/);
      const html = await res.text();
      assertNoInlineScript(html);
      for (const id of h.ids) {
        assert.match(
          html,
          new RegExp(`<tr data-product="${id}">.*?class="num close">[\\d,]+\\.\\d+<`, "s"),
        );
      }
      const props = islandProps(html);
      const status = props.get("overview-status") as {
        initial: { connections: { products: string[] }[]; store: { kind: string } };
      };
      assert.deepEqual(
        status.initial.connections.flatMap((c) => c.products).sort(),
        [...h.ids].sort(),
      );
      assert.equal(status.initial.store.kind, "kv");
      const table = props.get("product-table") as {
        rows: { product: string }[];
        granularity: string;
      };
      assert.deepEqual(table.rows.map((r) => r.product), h.ids);
      assert.equal(table.granularity, "1m");
      assert.match(html, /<tr data-connection="[^"]+" data-state="subscribed">/);
    });

    await t.step("?g= picks the granularity; an unknown one falls back with a notice", async () => {
      const hourly = islandProps(await (await app.request("/?g=ONE_HOUR")).text());
      assert.equal((hourly.get("product-table") as { granularity: string }).granularity, "1h");
      const html = await (await app.request("/?g=7m")).text();
      assert.match(html, /Unknown granularity &quot;7m&quot;: showing 1m/);
    });

    await t.step("the product page has candles, the switcher and the repair history", async () => {
      const id = h.ids[0]!;
      const res = await app.request(`/products/${id.toLowerCase()}?g=5m`);
      assert.equal(res.status, 200);
      const html = await res.text();
      assertNoInlineScript(html);
      const chart = islandProps(html).get("product-chart") as {
        product: string;
        granularity: string;
        candles: { start: number; complete: boolean }[];
      };
      assert.equal(chart.product, id);
      assert.equal(chart.granularity, "5m");
      assert.ok(chart.candles.length > 10, `${chart.candles.length} candles`);
      assert.ok(chart.candles.every((c, i, a) => i === 0 || a[i - 1]!.start < c.start));
      assert.match(html, /<a href="\?g=5m" aria-current="page">5m<\/a>/);
      assert.match(html, /<table class="candles stack"/);
      assert.match(html, /Gaps and repairs/);
      assert.match(html, /data-reason="startup"/, "the startup window is in the history");
    });

    await t.step("an unknown product is a 404 page listing what is served", async () => {
      const res = await app.request("/products/NOPE-USD");
      assert.equal(res.status, 404);
      const html = await res.text();
      assert.match(html, /Unknown product &quot;NOPE-USD&quot;/);
      for (const id of h.ids) assert.match(html, new RegExp(`href="/products/${id}"`));
    });

    await t.step("static files: CSS served, escapes and unknown files refused", async () => {
      const css = await app.request("/static/dashboard.css");
      assert.equal(css.status, 200);
      assert.match(css.headers.get("content-type") ?? "", /^text\/css/);
      await css.body?.cancel();
      for (
        const path of ["/static/..%2Fdeno.json", "/static/.env.css", "/static/x/../../main.ts"]
      ) {
        const res = await app.request(path);
        assert.equal(res.status, 404, path);
        await res.body?.cancel();
      }
      const missing = await app.request("/static/build/nope.js");
      assert.equal(missing.status, 404);
      assert.match((await missing.json()).error, /deno task build/);
    });
  } finally {
    await h.close();
  }
});

Deno.test("TradeActivity counts trades, not seeds, clock closes or corrections", () => {
  const hub = new Hub();
  let now = 1_000_000;
  const activity = new TradeActivity(hub, () => now);
  const update = (start: number, volume: number, more: Partial<CandleUpdate> = {}) =>
    hub.publish([{
      product: "BTC-USD",
      granularity: "ONE_MINUTE",
      candle: { start, open: 1, high: 1, low: 1, close: 1, volume },
      complete: false,
      ...more,
    }]);
  update(60, 1); // the seed
  assert.equal(activity.lastTradeAgeS("BTC-USD"), undefined);
  now += 1000;
  update(60, 2);
  assert.equal(activity.lastTradeAgeS("BTC-USD"), 0);
  now += 5000;
  update(60, 2, { complete: true }); // closed by the clock
  update(60, 9, { complete: true, correction: true });
  update(120, 0); // an empty new minute
  assert.equal(activity.lastTradeAgeS("BTC-USD"), 5);
  update(120, 0.5);
  assert.equal(activity.lastTradeAgeS("BTC-USD"), 0);
  activity.close();
  assert.equal(hub.subscribers, 0);
});
