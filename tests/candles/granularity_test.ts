import assert from "node:assert/strict";
import { GRANULARITIES, parseGranularity } from "../../lib/candles/granularity.ts";

Deno.test("granularity ids are Coinbase's singular names", () => {
  assert.deepEqual(GRANULARITIES.map((g) => g.id), [
    "ONE_MINUTE",
    "FIVE_MINUTE",
    "FIFTEEN_MINUTE",
    "THIRTY_MINUTE",
    "ONE_HOUR",
    "TWO_HOUR",
    "SIX_HOUR",
    "ONE_DAY",
  ]);
});

Deno.test("parseGranularity accepts ids, short names and the seed service's plurals", () => {
  const cases: [string, string][] = [
    ["FIVE_MINUTE", "FIVE_MINUTE"],
    ["FIVE_MINUTES", "FIVE_MINUTE"],
    ["five_minutes", "FIVE_MINUTE"],
    ["5m", "FIVE_MINUTE"],
    ["FIFTEEN_MINUTES", "FIFTEEN_MINUTE"],
    ["THIRTY_MINUTES", "THIRTY_MINUTE"],
    ["TWO_HOURS", "TWO_HOUR"],
    ["SIX_HOURS", "SIX_HOUR"],
    ["1d", "ONE_DAY"],
    ["ONE_HOUR", "ONE_HOUR"],
  ];
  for (const [input, id] of cases) assert.equal(parseGranularity(input).id, id, input);
  for (const bad of ["ONE_HOURS", "ONE_MINUTES", "ONE_DAYS", "2m", "", "HOUR"]) {
    assert.throws(() => parseGranularity(bad), /granularity/, bad);
  }
});
