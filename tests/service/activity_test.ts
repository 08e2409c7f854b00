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
