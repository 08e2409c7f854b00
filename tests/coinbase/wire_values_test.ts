import assert from "node:assert/strict";
import fc from "fast-check";
import { parseUnits } from "../../lib/candles/decimal.ts";
import { isPositiveUnits, parseRfc3339 } from "../../lib/coinbase/wire_values.ts";

Deno.test("isPositiveUnits agrees with parseUnits(s) > 0", async (t) => {
  const accepts = (s: string) => {
    const u = parseUnits(s);
    return typeof u === "bigint" ? u > 0n : u > 0;
  };
  await t.step("examples", () => {
    for (
      const s of [
        "0.00150000",
        "12",
        "3.5",
        "0.00000001",
        "0.000000010",
        "123456789012.5",
        "0",
        "0.00000000",
        "0.000000001",
        ".5",
        "5.",
        "1.2.3",
        "-1",
        "1e3",
        "",
        " 1",
      ]
    ) assert.equal(isPositiveUnits(s), accepts(s), s);
  });
  await t.step("random decimals", () => {
    const digits = fc.string({ unit: fc.constantFrom("0", "1", "9", ".", "x"), maxLength: 14 });
    fc.assert(fc.property(digits, (s) => isPositiveUnits(s) === accepts(s)), { numRuns: 5000 });
  });
});

Deno.test("parseRfc3339 matches Date.parse across days (its day cache never leaks)", () => {
  const instant = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) });
  fc.assert(
    fc.property(fc.array(instant, { minLength: 1, maxLength: 5 }), (times) => {
      for (const ms of times) {
        const iso = new Date(ms).toISOString();
        assert.equal(parseRfc3339(iso), ms, iso);
        assert.equal(parseRfc3339(iso.replace("Z", "+01:30")), ms - 90 * 60_000);
      }
    }),
    { numRuns: 2000 },
  );
  assert.ok(Number.isNaN(parseRfc3339("2026-13-01T00:00:00Z")));
  assert.equal(
    parseRfc3339("2026-03-14T15:09:28.201551Z"),
    Date.UTC(2026, 2, 14, 15, 9, 28, 201) + 0.551,
  );
});
