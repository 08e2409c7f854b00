import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { acceleratedClock } from "../../lib/clock.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { createApp } from "../../routes/app.ts";
import { startHarness, until } from "../helpers/service.ts";

Deno.test("API routes against the running service", async (t) => {
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
    await until(() => h.service.phase === "running", 30_000, "startup");

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

    await t.step("/api/status lists every connection with its counters", async () => {
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
    });

    await t.step("/api/products lists the products served with catalogue fields", async () => {
      const r = await get("/api/products");
      deepStrictEqual(r.body.products.map((p: { product_id: string }) => p.product_id), h.ids);
      equal(r.body.products[0].status, "online");
      equal(r.body.products[0].base_currency, "BTC");
    });

    await t.step(
      "/api/candles returns history plus the live candle, oldest first, paged by start",
      async () => {
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
        const ranged = await get(
          `/api/candles/BTC-USD/1h?start=${cs[0].start - 7200}&end=${cs[0].start}`,
        );
        ok(ranged.body.candles.every((c: { start: number }) => c.start <= cs[0].start));
      },
    );

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
        ["/api/stream?products=NOPE-USD", /products "NOPE-USD"/],
        ["/api/stream?products=BTC-USD&granularities=1m,7m", /granularities "7m"/],
      ];
      for (const [path, message] of cases) {
        const r = await get(path);
        equal(r.status, 400, path);
        match(r.body.error, message, path);
      }
      equal((await get("/nope")).status, 404);
    });

    await t.step("/api/stream sends the live candles first, then updates", async () => {
      const r = await app.request("/api/stream?products=BTC-USD,ETH-USD&granularities=1m,1h");
      equal(r.headers.get("content-type"), "text/event-stream; charset=utf-8");
      const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while ((text.match(/event: candle/g) ?? []).length < 6) {
        text += (await reader.read()).value ?? "";
      }
      await reader.cancel();
      const events = text.split("\n").filter((l) => l.startsWith("data: ")).map((l) =>
        JSON.parse(l.slice(6))
      );
      const first = new Set(events.slice(0, 4).map((e) => `${e.product_id}|${e.granularity}`));
      deepStrictEqual([...first].sort(), [
        "BTC-USD|ONE_HOUR",
        "BTC-USD|ONE_MINUTE",
        "ETH-USD|ONE_HOUR",
        "ETH-USD|ONE_MINUTE",
      ]);
      for (const e of events) {
        deepStrictEqual(Object.keys(e).sort(), [
          "close",
          "complete",
          "granularity",
          "high",
          "low",
          "open",
          "product_id",
          "start",
          "volume",
        ]);
      }
      await until(
        () => h.service.hub.subscribers === 1,
        2000,
        "the dashboard's own subscriber only",
      ); // activity tracker
    });

    await t.step("/metrics is Prometheus text with trade and write counters", async () => {
      const r = await app.request("/metrics");
      const text = await r.text();
      match(text, /^# TYPE spot_trades_total counter$/m);
      match(text, /^spot_trade_to_sse_seconds_bucket\{le="0.01"\} \d+$/m);
      ok(Number(text.match(/^spot_trades_total (\d+)$/m)![1]) > 0);
    });
  } finally {
    await h.close();
  }
});
