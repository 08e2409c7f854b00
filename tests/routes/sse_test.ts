import { deepStrictEqual, equal, match, throws } from "node:assert/strict";
import fc from "fast-check";
import type { CandleUpdate } from "../../lib/candles/candle.ts";
import { LiveHub } from "../helpers/live_hub.ts";
import { candleEvent, candleEventData, sseResponse, streamProducts } from "../../routes/sse.ts";

const update = (start: number, product = "BTC-USD"): CandleUpdate => ({
  product,
  granularity: "ONE_MINUTE",
  candle: { start, open: 1, high: 1, low: 1, close: 1, volume: 1 },
  complete: false,
});
const filter = { products: new Set(["BTC-USD"]), granularities: new Set(["ONE_MINUTE" as const]) };
const json = (u: CandleUpdate) => JSON.stringify({ product_id: u.product, ...u.candle });

Deno.test("sseResponse() sends the live candles first, then matching updates only", async () => {
  const hub = new LiveHub();
  hub.publish([update(60), update(60, "ETH-USD")]);
  const res = sseResponse(hub, filter, json);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  hub.publish([update(120, "ETH-USD"), update(120)]);
  let text = "";
  while ((text.match(/event: candle/g) ?? []).length < 2) text += (await reader.read()).value;
  match(
    text,
    /data: \{"product_id":"BTC-USD","start":60,.*\n\nevent: candle\ndata: \{"product_id":"BTC-USD","start":120/s,
  );
  equal(text.includes("ETH-USD"), false);
  await reader.cancel();
  equal(hub.subscribers, 0, "a client that goes away unsubscribes");
});

Deno.test("sseResponse() drops a client that does not read instead of buffering without bound", async () => {
  const hub = new LiveHub({ coalesceMs: 0 });
  const res = sseResponse(hub, filter, json, 5);
  for (let i = 0; i < 20; i++) hub.publish([update(60 * i)]);
  equal(hub.subscribers, 0, "the slow client was dropped");
  // What was buffered is still readable, then the stream ends.
  const text = await new Response(res.body).text();
  equal((text.match(/event: candle/g) ?? []).length <= 6, true);
});

Deno.test("Hub.closeAll() ends open streams (shutdown does not wait on them)", async () => {
  const hub = new LiveHub();
  const res = sseResponse(hub, filter, json);
  hub.closeAll();
  equal(hub.subscribers, 0);
  await new Response(res.body).text(); // resolves: the stream is closed
});

Deno.test("sseResponse() bounds a client's buffer in events, however the hub batches them", async () => {
  const hub = new LiveHub({ coalesceMs: 50 });
  const res = sseResponse(hub, filter, json, 5);
  // One publish, out at the end of the turn, then the window's: two chunks of 3 and 4 events.
  hub.publish([update(60), update(120), update(180)]);
  await Promise.resolve();
  for (let i = 4; i < 8; i++) hub.publish([update(60 * i)]);
  equal(hub.subscribers, 1, "still within its 5 events");
  hub.flush();
  hub.publish([update(600)]);
  hub.flush();
  equal(hub.subscribers, 0, "3 + 4 events buffered: the next delivery drops it");
  await res.body!.cancel();
});

Deno.test("candleEventData() is JSON.stringify(candleEvent()), with the exchange", async (t) => {
  const candle = {
    start: 1773500700,
    open: 70123.45,
    high: 70200,
    low: 1e-7,
    close: 0.1 + 0.2,
    volume: 12.34567891,
  };
  await t.step("a Coinbase product keeps its id and says coinbase", () => {
    const u: CandleUpdate = {
      product: "BTC-USD",
      granularity: "ONE_MINUTE",
      candle,
      complete: false,
    };
    const text = candleEventData(u);
    equal(text, JSON.stringify(candleEvent(u)));
    equal(
      text,
      '{"product_id":"BTC-USD","exchange":"coinbase","granularity":"ONE_MINUTE",' +
        '"start":1773500700,"open":70123.45,"high":70200,"low":1e-7,' +
        '"close":0.30000000000000004,"volume":12.34567891,"complete":false}',
    );
  });
  await t.step("a Kraken market key is split into the stored id and the exchange", () => {
    const u: CandleUpdate = {
      product: "kraken:ETH-EUR",
      granularity: "ONE_DAY",
      candle,
      complete: true,
    };
    deepStrictEqual(JSON.parse(candleEventData(u)), {
      product_id: "ETH-EUR",
      exchange: "kraken",
      granularity: "ONE_DAY",
      ...candle,
      complete: true,
    });
  });
  await t.step("random candles serialise as JSON.stringify does", () => {
    fc.assert(fc.property(
      fc.record({
        start: fc.integer({ min: 0, max: 4_000_000_000 }),
        open: fc.double({ min: 1e-12, max: 1e12, noNaN: true }),
        high: fc.double({ min: 1e-12, max: 1e12, noNaN: true }),
        low: fc.double({ min: 1e-12, max: 1e12, noNaN: true }),
        close: fc.double({ min: 1e-12, max: 1e12, noNaN: true }),
        volume: fc.double({ min: 0, max: 1e12, noNaN: true }),
      }),
      fc.constantFrom("BTC-USD", "kraken:BTC-USD", "A1-B2"),
      fc.boolean(),
      (c, product, complete) => {
        const u: CandleUpdate = { product, granularity: "SIX_HOUR", candle: c, complete };
        equal(candleEventData(u), JSON.stringify(candleEvent(u)));
      },
    ));
  });
});

Deno.test("streamProducts() reads market keys and bare ids on exchange=", () => {
  deepStrictEqual([...streamProducts("BTC-USD, eth-usd,,")], ["BTC-USD", "ETH-USD"]);
  deepStrictEqual([...streamProducts("kraken:btc-usd,BTC-USD")], ["kraken:BTC-USD", "BTC-USD"]);
  deepStrictEqual([...streamProducts("KRAKEN:BTC-USD")], ["kraken:BTC-USD"]);
  deepStrictEqual([...streamProducts("BTC-USD,coinbase:ETH-USD", "kraken")], [
    "kraken:BTC-USD",
    "ETH-USD",
  ]);
  deepStrictEqual([...streamProducts("BTC-USD", "coinbase")], ["BTC-USD"]);
  throws(() => streamProducts("BTC-USD", "binance"), /exchange "binance" is not one of/);
  throws(() => streamProducts("ftx:BTC-USD"), /products: exchange "ftx" is not one of/);
  throws(() => streamProducts("kraken:"), /products "kraken:" names no product/);
});

Deno.test("sseResponse() streams a Kraken market as its stored id and exchange, apart from Coinbase's", async () => {
  const hub = new LiveHub();
  const res = sseResponse(hub, {
    products: streamProducts("BTC-USD", "kraken"),
    granularities: new Set(["ONE_MINUTE" as const]),
  });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  hub.publish([update(60), update(60, "kraken:BTC-USD")]);
  let text = "";
  while (!text.includes("event: candle")) text += (await reader.read()).value;
  await reader.cancel();
  const events = text.split("\n").filter((l) => l.startsWith("data: ")).map((l) =>
    JSON.parse(l.slice(6))
  );
  deepStrictEqual(events, [{
    product_id: "BTC-USD",
    exchange: "kraken",
    granularity: "ONE_MINUTE",
    start: 60,
    open: 1,
    high: 1,
    low: 1,
    close: 1,
    volume: 1,
    complete: false,
  }]);
});
