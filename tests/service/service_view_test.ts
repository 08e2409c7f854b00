import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { acceleratedClock } from "../../lib/clock.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { createApp } from "../../routes/app.ts";
import { startHarness, until } from "../helpers/service.ts";

/** Reads SSE text until `count` candle events arrived; returns their data. */
async function readEvents(
  reader: ReadableStreamDefaultReader<string>,
  count: number,
): Promise<Record<string, unknown>[]> {
  let text = "";
  while ((text.match(/event: candle/g) ?? []).length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  return text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)))
    .slice(0, count);
}

Deno.test("Service as the app's view: the API and pages on the running service", async (t) => {
  const clock = acceleratedClock(10, Date.UTC(2026, 2, 14, 12, 0, 3));
  const h = await startHarness({
    clock,
    store: await openKvCandleStore(":memory:"),
    products: 3,
    historyMs: 3 * 3600_000,
  });
  const app = createApp(h.service);
  const get = async (path: string) => {
    const r = await app.request(path);
    return {
      status: r.status,
      body: r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text(),
    };
  };
  try {
    await h.service.ready();
    equal(h.service.phase, "running");

    await t.step("/health answers 200 with the contract's fields", async () => {
      const r = await get("/health");
      equal(r.status, 200);
      deepStrictEqual(Object.keys(r.body).filter((k) => k !== "reason").sort(), [
        "connections",
        "lastMessageAgeS",
        "status",
        "store",
        "uptimeS",
      ]);
      deepStrictEqual(r.body.connections, { connected: 1, total: 1 });
    });

    await t.step("/api/status lists the connection, no problem and no SSE client", async () => {
      const r = await get("/api/status");
      equal(r.status, 200);
      const [c] = r.body.connections;
      for (
        const k of [
          "id",
          "products",
          "state",
          "connectedSince",
          "reconnects",
          "lastMessageAgeS",
          "maxGapS",
          "sequenceGaps",
          "tradesPerS",
        ]
      ) {
        ok(k in c, k);
      }
      deepStrictEqual(c.products, h.ids);
      deepStrictEqual(r.body.problems, []);
      equal(r.body.sseSubscribers, 0);
      equal(r.body.products, 3);
    });

    await t.step("/api/products lists the products served with catalogue fields", async () => {
      const r = await get("/api/products");
      deepStrictEqual(r.body.products.map((p: { product_id: string }) => p.product_id), h.ids);
      equal(r.body.products[0].status, "online");
      equal(r.body.products[0].base_currency, "BTC");
    });

    await t.step("/api/candles returns stored history plus the live candle, paged", async () => {
      const r = await get("/api/candles/BTC-USD/ONE_MINUTE?limit=50");
      equal(r.status, 200);
      const cs = r.body.candles;
      equal(cs.length, 50);
      ok(cs.every((c: { start: number }, i: number) => i === 0 || c.start > cs[i - 1].start));
      equal(cs.at(-1).complete, false);
      ok(cs.slice(0, -1).every((c: { complete: boolean }) => c.complete));
      const page = await get(`/api/candles/BTC-USD/1m?start=${cs[10].start}&limit=5`);
      deepStrictEqual(
        page.body.candles.map((c: { start: number }) => c.start),
        cs.slice(10, 15).map((c: { start: number }) => c.start),
      );
    });

    await t.step(
      "/api/stream sends 4 live candles first and counts as one SSE subscriber",
      async () => {
        const r = await app.request("/api/stream?products=BTC-USD,ETH-USD&granularities=1m,1h");
        const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
        const events = await readEvents(reader, 4);
        deepStrictEqual(events.map((e) => `${e.product_id}|${e.granularity}`).sort(), [
          "BTC-USD|ONE_HOUR",
          "BTC-USD|ONE_MINUTE",
          "ETH-USD|ONE_HOUR",
          "ETH-USD|ONE_MINUTE",
        ]);
        match(await (await app.request("/metrics")).text(), /^spot_sse_subscribers 1$/m);
        await reader.cancel();
        match(await (await app.request("/metrics")).text(), /^spot_sse_subscribers 0$/m);
      },
    );

    await t.step("/metrics counts the trades taken", async () => {
      const text = await (await app.request("/metrics")).text();
      match(text, /^# TYPE spot_trades_total counter$/m);
      ok(Number(text.match(/^spot_trades_total (\d+)$/m)![1]) > 0);
    });

    await t.step("the overview shows every product's live close and last trade", async () => {
      await until(
        () => h.ids.every((id) => h.service.lastTradeAgeS(id) !== undefined),
        10_000,
        "a trade of every product",
      );
      const html = await (await app.request("/")).text();
      for (const id of h.ids) {
        match(
          html,
          new RegExp(`<tr data-product="${id}">.*?class="num close">[\\d,]+\\.\\d+<`, "s"),
        );
      }
    });

    await t.step(
      "the product page charts stored candles and lists the startup repair",
      async () => {
        const res = await app.request(`/products/${h.ids[0]}?g=5m`);
        equal(res.status, 200);
        const html = await res.text();
        const m = html.match(/data-island-props="product-chart">(.*?)<\/script>/s);
        const chart = JSON.parse(m![1]!) as { candles: { start: number }[] };
        ok(chart.candles.length > 10, `${chart.candles.length} candles`);
        match(html, /data-reason="startup"/);
      },
    );
  } finally {
    await h.close();
  }
});
