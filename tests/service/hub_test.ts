import { deepStrictEqual, equal, ok } from "node:assert/strict";
import type { CandleUpdate } from "../../lib/candles/candle.ts";
import { Hub } from "../../lib/service/hub.ts";

const update = (product: string, granularity: CandleUpdate["granularity"]): CandleUpdate => ({
  product,
  granularity,
  candle: { start: 1773500700, open: 1, high: 2, low: 0.5, close: 1.5, volume: 3 },
  complete: false,
});

Deno.test("Hub filters once per distinct filter and hands equal filters the same batch", async (t) => {
  const hub = new Hub({ coalesceMs: 0 });
  const got: CandleUpdate[][][] = [[], [], []];
  const minuteOfBtc = () => ({
    products: new Set(["BTC-USD"]),
    granularities: new Set(["ONE_MINUTE"] as const),
  });
  hub.subscribe(minuteOfBtc(), (u) => got[0]!.push(u));
  hub.subscribe(minuteOfBtc(), (u) => got[1]!.push(u));
  const stop = hub.subscribe(
    { granularities: new Set(["ONE_DAY"] as const) },
    (u) => got[2]!.push(u),
  );
  hub.publish([
    update("BTC-USD", "ONE_MINUTE"),
    update("ETH-USD", "ONE_MINUTE"),
    update("ETH-USD", "ONE_DAY"),
  ]);
  await t.step("each subscriber gets what its filter matches", () => {
    deepStrictEqual(got[0]!.flat().map((u) => u.product), ["BTC-USD"]);
    deepStrictEqual(got[2]!.flat().map((u) => `${u.product} ${u.granularity}`), [
      "ETH-USD ONE_DAY",
    ]);
  });
  await t.step("subscribers with equal filters share one array", () => {
    ok(got[0]![0] === got[1]![0]);
  });
  await t.step("unsubscribing stops delivery; the group of the others lives on", () => {
    stop();
    hub.publish([update("BTC-USD", "ONE_MINUTE"), update("SOL-USD", "ONE_DAY")]);
    equal(got[2]!.length, 1);
    equal(got[0]!.length, 2);
    equal(hub.subscribers, 2);
  });
});

Deno.test("Hub.granularityMask says which granularities some subscriber wants", () => {
  const hub = new Hub();
  equal(hub.granularityMask, 0);
  const a = hub.subscribe({ granularities: new Set(["ONE_MINUTE"] as const) }, () => {});
  const b = hub.subscribe({ granularities: new Set(["ONE_DAY"] as const) }, () => {});
  equal(hub.granularityMask, 1 | (1 << 7));
  b();
  equal(hub.granularityMask, 1);
  a();
  equal(hub.granularityMask, 0);
});

Deno.test("Hub coalesces a busy window's publishes into one delivery", async (t) => {
  const hub = new Hub({ coalesceMs: 30 });
  const got: CandleUpdate[][] = [];
  hub.subscribe({ granularities: new Set(["ONE_MINUTE"] as const) }, (u) => got.push(u));
  await t.step("after a quiet window a publish goes out at the end of its turn", async () => {
    hub.publish([update("BTC-USD", "ONE_MINUTE")]);
    hub.publish([update("ETH-USD", "ONE_MINUTE")]);
    equal(got.length, 0, "not in the middle of the turn");
    await Promise.resolve();
    deepStrictEqual(got.map((b) => b.map((u) => u.product)), [["BTC-USD", "ETH-USD"]]);
  });
  await t.step("publishes within the window wait for its end and go out together", async () => {
    const t0 = performance.now();
    hub.publish([update("SOL-USD", "ONE_MINUTE")]);
    hub.publish([update("SOL-USD", "ONE_DAY"), update("ADA-USD", "ONE_MINUTE")]);
    await Promise.resolve();
    equal(got.length, 1, "the window is still open");
    while (got.length < 2) await new Promise((r) => setTimeout(r, 5));
    ok(performance.now() - t0 >= 20, "it waited for the window");
    deepStrictEqual(got[1]!.map((u) => u.product), ["SOL-USD", "ADA-USD"]);
    equal(hub.published, 5);
  });
  await t.step("a new subscriber gets nothing published before it subscribed", () => {
    hub.publish([update("DOT-USD", "ONE_MINUTE")]);
    const late: CandleUpdate[][] = [];
    hub.subscribe({ granularities: new Set(["ONE_MINUTE"] as const) }, (u) => late.push(u));
    deepStrictEqual(got.at(-1)!.map((u) => u.product), ["DOT-USD"], "went out first");
    hub.publish([update("XRP-USD", "ONE_MINUTE")]);
    hub.flush();
    deepStrictEqual(late.map((b) => b.map((u) => u.product)), [["XRP-USD"]]);
  });
  await t.step("closeAll() delivers what waits, then ends the subscriptions", () => {
    hub.publish([update("LTC-USD", "ONE_MINUTE")]);
    hub.closeAll();
    deepStrictEqual(got.at(-1)!.map((u) => u.product), ["LTC-USD"]);
    equal(hub.subscribers, 0);
  });
});
