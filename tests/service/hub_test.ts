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
  const hub = new Hub();
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
