import assert from "node:assert/strict";
import fc from "fast-check";
import { parseRfc3339, parseRfc3339At } from "../../lib/coinbase/wire_values.ts";

Deno.test("parseRfc3339() reads RFC 3339 with 0–9 fractional digits", () => {
  const base = Date.UTC(2026, 2, 14, 15, 9, 28);
  assert.deepEqual(
    [
      "2026-03-14T15:09:28Z",
      "2026-03-14T15:09:28.5Z",
      "2026-03-14T15:09:28.39625135Z",
      "2026-03-14T15:09:28.201551Z",
      "2026-03-14T15:09:28.999999999Z",
      "2026-03-14T17:09:28.25+02:00",
      "2026-03-14T13:39:28-01:30",
    ].map(parseRfc3339),
    [base, base + 500, base + 396, base + 201, base + 999, base + 250, base],
  );
  for (
    const bad of [
      "",
      "2026-03-14",
      "2026-03-14T15:09:28.Z",
      "2026-03-14T15:09:28.x1Z",
      "2026-03-14T15:09:28Zx",
      "2026-03-14T15:09:28.2",
      "2026-03-14 15:09:28.5Z",
      "2026-13-01T00:00:00Z",
      "2026-02-29T00:00:00Z",
      "2026-03-14T24:00:00Z",
      "2026-03-14T15:60:00Z",
      "2026-03-14T15:09:28+2:00",
      "2026-03-14T15:09:28+02:60",
      "yesterday",
    ]
  ) {
    assert.ok(Number.isNaN(parseRfc3339(bad)), bad);
  }
  assert.equal(parseRfc3339("2024-02-29T00:00:00Z"), Date.UTC(2024, 1, 29), "a leap day");
});

/** An RFC 3339 text of `ms` with `digits` fractional digits and an offset of `offsetMin`. */
function rfc3339(ms: number, subMs: number, digits: number, offsetMin: number): string {
  const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 19);
  const frac = (String(ms % 1000).padStart(3, "0") + String(subMs).padStart(6, "0"))
    .slice(0, digits);
  const sign = offsetMin < 0 ? "-" : "+";
  const abs = Math.abs(offsetMin);
  const zone = offsetMin === 0 && digits % 2 === 0
    ? "Z"
    : `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${
      String(abs % 60).padStart(2, "0")
    }`;
  return digits ? `${local}.${frac}${zone}` : `${local}${zone}`;
}

Deno.test("parseRfc3339() equals Date.parse on random instants, fractions and offsets", () => {
  const instant = fc.record({
    ms: fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2100, 0, 1) }),
    subMs: fc.integer({ min: 0, max: 999_999 }),
    digits: fc.integer({ min: 0, max: 9 }),
    offsetMin: fc.oneof(fc.constant(0), fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 })),
  });
  fc.assert(
    // Several per run, so the cached date-time prefix is exercised across instants.
    fc.property(fc.array(instant, { minLength: 1, maxLength: 5 }), (xs) => {
      for (const { ms, subMs, digits, offsetMin } of xs) {
        const text = rfc3339(ms, subMs, digits, offsetMin);
        const want = Date.parse(text);
        assert.ok(!Number.isNaN(want), text);
        assert.equal(parseRfc3339(text), want, text);
        const truncated = digits >= 3 ? ms : ms - ms % 10 ** (3 - digits);
        assert.equal(want, truncated, `Date.parse drops sub-millisecond digits: ${text}`);
      }
    }),
    { numRuns: 3000 },
  );
});

Deno.test("parseRfc3339At() reads a time inside a longer text as parseRfc3339 reads it alone", () => {
  const time = fc.oneof(
    fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2100, 0, 1) })
      .map((ms) => new Date(ms).toISOString()),
    fc.string({
      unit: fc.constantFrom("0", "2", "9", "-", ":", "T", ".", "Z", "+"),
      maxLength: 30,
    }),
  );
  fc.assert(
    fc.property(time, fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), (t, pre, post) => {
      const text = `${pre}${t}${post}`;
      assert.equal(
        Object.is(parseRfc3339At(text, pre.length, pre.length + t.length), parseRfc3339(t)),
        true,
        JSON.stringify(text),
      );
    }),
    { numRuns: 3000 },
  );
});
