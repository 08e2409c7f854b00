import assert from "node:assert/strict";
import { parseFlushIntervals } from "../../lib/config.ts";
import {
  estimateDailyWrites,
  HISTORY_WRITES_PER_PRODUCT_DAY,
  writeCostPerDayUsd,
} from "../../lib/store/cost.ts";

Deno.test("estimateDailyWrites() with one interval for every granularity", () => {
  assert.equal(HISTORY_WRITES_PER_PRODUCT_DAY, 1440 + 288 + 96 + 48 + 24 + 12 + 4 + 1);
  const compat = estimateDailyWrites("compat", 1000);
  assert.equal(compat.liveWritesPerDay, 8 * 86_400);
  assert.equal(compat.totalWritesPerDay, 691_200 + 1913);
  assert.ok(Math.abs(compat.usdPerDay - 0.6238) < 1e-4, `${compat.usdPerDay}`);
  const compact = estimateDailyWrites("compact", 1000);
  assert.equal(compact.liveWritesPerDay, 86_400);
});

Deno.test("estimateDailyWrites() uses each granularity's own interval", () => {
  const intervals = parseFlushIntervals("ONE_MINUTE=1000,default=5000");
  const compat = estimateDailyWrites("compat", intervals);
  // 1m: 86,400 writes; the seven others 17,280 each.
  assert.equal(compat.liveWritesPerDay, 86_400 + 7 * 17_280);
  assert.equal(compat.totalWritesPerDay, 207_360 + 1913);
  // $0.188 instead of $0.624 per product and day: 3.3× fewer writes.
  assert.ok(Math.abs(compat.usdPerDay - 0.18835) < 1e-5, `${compat.usdPerDay}`);
  // Compact: one product document per cycle of the shortest interval.
  assert.equal(estimateDailyWrites("compact", intervals).liveWritesPerDay, 86_400);
  const slow = estimateDailyWrites("compact", parseFlushIntervals("5000"));
  assert.equal(slow.liveWritesPerDay, 17_280);
});

Deno.test("writeCostPerDayUsd() is $0.09 per 100k writes", () => {
  assert.ok(Math.abs(writeCostPerDayUsd(1) - 0.0778) < 1e-4);
});
