import { equal, match } from "node:assert/strict";
import type { CandleUpdate } from "../../lib/candles/candle.ts";
import { LiveHub } from "../helpers/live_hub.ts";
import { sseResponse } from "../../routes/sse.ts";

const update = (start: number, product = "BTC-USD"): CandleUpdate => ({
  product,
  granularity: "ONE_MINUTE",
  candle: { start, open: 1, high: 1, low: 1, close: 1, volume: 1 },
  complete: false,
});
const filter = { products: new Set(["BTC-USD"]), granularities: new Set(["ONE_MINUTE" as const]) };
const json = (u: CandleUpdate) => ({ product_id: u.product, ...u.candle });

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
  const hub = new LiveHub();
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
