import { deepStrictEqual, equal, match } from "node:assert/strict";
import type { CandleUpdate } from "../../lib/candles/candle.ts";
import type { GranularityId } from "../../lib/candles/granularity.ts";
import { createApp } from "../../routes/app.ts";
import { FakeView, minuteCandles } from "../helpers/fake_view.ts";

const IDS = ["BTC-USD", "ETH-USD", "SOL-USD"];
/** 2026-03-14 12:00 UTC. */
const T0 = Date.UTC(2026, 2, 14, 12) / 1000;

function update(
  product: string,
  granularity: GranularityId,
  start: number,
  close: number,
): CandleUpdate {
  return {
    product,
    granularity,
    candle: { start, open: close, high: close, low: close, close, volume: 1 },
    complete: false,
  };
}

/** Reads SSE text from `reader` until `count` candle events arrived; returns their data. */
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
  return text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)));
}

Deno.test("API routes answer from the service view", async (t) => {
  const view = new FakeView(IDS);
  view.stored.set("BTC-USD|ONE_MINUTE", minuteCandles(T0, 100));
  view.liveCandles.set("BTC-USD|ONE_MINUTE", minuteCandles(T0 + 6000, 1)[0]!);
  const app = createApp(view);
  const get = async (path: string) => {
    const r = await app.request(path);
    return {
      status: r.status,
      body: r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text(),
    };
  };

  await t.step("/health answers the view's body and code", async () => {
    deepStrictEqual(await get("/health"), { status: 200, body: view.healthAnswer.body });
    view.healthAnswer = {
      code: 503,
      body: { ...view.healthAnswer.body, status: "unhealthy", reason: "store failing" },
    };
    const r = await get("/health");
    equal(r.status, 503);
    equal(r.body.reason, "store failing");
  });

  await t.step("/api/status is the view's status body", async () => {
    view.problemList = [{ product: "SOL-USD", message: "seeding failed: HTTP 404" }];
    const r = await get("/api/status");
    equal(r.status, 200);
    deepStrictEqual(r.body, JSON.parse(JSON.stringify(view.status())));
    deepStrictEqual(r.body.problems, view.problemList);
  });

  await t.step("/api/products lists the products served with catalogue fields", async () => {
    const r = await get("/api/products");
    deepStrictEqual(r.body.products.map((p: { product_id: string }) => p.product_id), IDS);
    deepStrictEqual(r.body.products[0], {
      product_id: "BTC-USD",
      base_currency: "BTC",
      quote_currency: "USD",
      status: "online",
      min_size: "",
      max_size: "",
      base_increment: "",
      quote_increment: "",
      display_name: "BTC/USD",
    });
  });

  await t.step("/api/candles returns the view's candles for the parsed range", async () => {
    const r = await get("/api/candles/btc-usd/ONE_MINUTE?limit=50");
    equal(r.status, 200);
    const cs = r.body.candles as { start: number; complete: boolean }[];
    equal(cs.length, 50);
    equal(cs.at(-1)!.start, T0 + 6000);
    equal(cs.at(-1)!.complete, false);
    equal(cs.filter((c) => c.complete).length, 49);
    deepStrictEqual(view.asked.at(-1), {
      product: "BTC-USD",
      granularity: "ONE_MINUTE",
      range: { start: undefined, end: undefined, limit: 50 },
    });
    const page = await get(`/api/candles/BTC-USD/1m?start=${T0 + 600}&end=${T0 + 900}&limit=3`);
    deepStrictEqual(
      page.body.candles.map((c: { start: number }) => c.start),
      [T0 + 600, T0 + 660, T0 + 720],
    );
    deepStrictEqual(view.asked.at(-1)?.range, { start: T0 + 600, end: T0 + 900, limit: 3 });
    await get("/api/candles/BTC-USD/FIVE_MINUTES");
    deepStrictEqual(view.asked.at(-1)?.granularity, "FIVE_MINUTE");
    equal(view.asked.at(-1)?.range.limit, 300, "the default limit");
  });

  await t.step("bad input is a 400 naming the parameter, never a 500", async () => {
    const cases: [string, RegExp][] = [
      ["/api/candles/NOPE-USD/1m", /product "NOPE-USD"/],
      ["/api/candles/BTC-USD/2m", /granularity "2m"/],
      ["/api/candles/BTC-USD/1m?start=abc", /start must be epoch seconds/],
      ["/api/candles/BTC-USD/1m?end=-5", /end must be epoch seconds/],
      ["/api/candles/BTC-USD/1m?start=200&end=100", /start \(200\) is after end \(100\)/],
      ["/api/candles/BTC-USD/1m?limit=5001", /limit must be an integer from 1 to 5000/],
      ["/api/candles/BTC-USD/1m?limit=0", /limit/],
      ["/api/stream", /products is required/],
      ["/api/stream?products=,", /products is empty/],
      ["/api/stream?products=NOPE-USD", /products "NOPE-USD"/],
      ["/api/stream?products=BTC-USD&granularities=1m,7m", /granularities "7m"/],
      ["/api/stream?products=BTC-USD&exchange=binance", /exchange "binance" is not one of/],
      ["/api/stream?products=ftx:BTC-USD", /products: exchange "ftx"/],
      ["/api/stream?products=kraken:BTC-USD", /products "kraken:BTC-USD"/],
    ];
    const asked = view.asked.length;
    for (const [path, message] of cases) {
      const r = await get(path);
      equal(r.status, 400, path);
      match(r.body.error, message, path);
    }
    equal(view.asked.length, asked, "no bad request reached the view");
    equal((await get("/nope")).status, 404);
  });

  await t.step(
    "/api/stream sends the 4 live candles first, then the 2 matching updates of 4",
    async () => {
      view.hub.publish([
        update("BTC-USD", "ONE_MINUTE", T0, 1),
        update("BTC-USD", "ONE_HOUR", T0, 2),
        update("ETH-USD", "ONE_MINUTE", T0, 3),
        update("ETH-USD", "ONE_HOUR", T0, 4),
        update("SOL-USD", "ONE_MINUTE", T0, 5),
        update("BTC-USD", "FIVE_MINUTE", T0, 6),
      ]);
      const r = await app.request("/api/stream?products=BTC-USD,eth-usd&granularities=1m,1h");
      equal(r.headers.get("content-type"), "text/event-stream; charset=utf-8");
      equal(view.hub.subscribers, 1, "the client is the only subscriber");
      const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
      view.hub.publish([
        update("SOL-USD", "ONE_MINUTE", T0 + 60, 7),
        update("BTC-USD", "ONE_MINUTE", T0 + 60, 8),
        update("BTC-USD", "ONE_DAY", T0, 9),
        update("ETH-USD", "ONE_HOUR", T0, 10),
      ]);
      const events = await readEvents(reader, 6);
      await reader.cancel();
      equal(events.length, 6);
      deepStrictEqual(events.map((e) => e.close), [1, 2, 3, 4, 8, 10]);
      deepStrictEqual(events[4], {
        product_id: "BTC-USD",
        exchange: "coinbase",
        granularity: "ONE_MINUTE",
        start: T0 + 60,
        open: 8,
        high: 8,
        low: 8,
        close: 8,
        volume: 1,
        complete: false,
      });
      equal(view.hub.subscribers, 0, "the client that went away unsubscribed");
    },
  );

  await t.step("/metrics is the view's exposition text", async () => {
    const r = await app.request("/metrics");
    equal(r.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    equal(await r.text(), view.metricsText);
  });
});
