import { equal } from "node:assert/strict";
import { TradeActivity } from "../../lib/service/activity.ts";

Deno.test("TradeActivity.lastTradeAgeS() is the time since the product's last trade", () => {
  let now = 1_000_000;
  const activity = new TradeActivity(() => now);
  equal(activity.lastTradeAgeS("BTC-USD"), undefined);
  activity.traded("BTC-USD");
  now += 5000;
  equal(activity.lastTradeAgeS("BTC-USD"), 5);
  equal(activity.lastTradeAgeS("ETH-USD"), undefined);
  activity.traded("BTC-USD");
  equal(activity.lastTradeAgeS("BTC-USD"), 0);
});

Deno.test("TradeActivity.lastPrice() is the last price given; forget() drops time and price", () => {
  let now = 1_000_000;
  const activity = new TradeActivity(() => now);
  activity.traded("BTC-USD");
  equal(activity.lastPrice("BTC-USD"), undefined, "no price given yet");
  activity.traded("BTC-USD", 97_000.5);
  now += 1000;
  activity.traded("BTC-USD", 97_001.25);
  activity.traded("BTC-USD");
  equal(activity.lastPrice("BTC-USD"), 97_001.25, "a trade without a price keeps the last one");
  equal(activity.lastTradeAgeS("BTC-USD"), 0);
  equal(activity.lastPrice("ETH-USD"), undefined);
  activity.forget("BTC-USD");
  equal(activity.lastPrice("BTC-USD"), undefined);
  equal(activity.lastTradeAgeS("BTC-USD"), undefined);
});

Deno.test("TradeActivity.traded() takes the time it was seen when given (the frame's receipt)", () => {
  let now = 1_000_000;
  const activity = new TradeActivity(() => now);
  activity.traded("BTC-USD", 1, now - 3000);
  equal(activity.lastTradeAgeS("BTC-USD"), 3);
  now += 1000;
  equal(activity.lastTradeAgeS("BTC-USD"), 4);
});
