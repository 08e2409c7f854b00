import { deepStrictEqual, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { addUnits, parseUnits, parseUnitsAt, unitsToNumber } from "../../lib/candles/decimal.ts";

Deno.test("parseUnits() reads decimals exactly to 8 places", () => {
  deepStrictEqual(
    ["0.00150000", "12", "3.5", "1.000000000", "123456789012.12345678"].map(parseUnits),
    [150000, 1200000000, 350000000, 100000000, 12345678901212345678n],
  );
  for (const bad of ["", "-1", ".5", "5.", "1e5", "1.0000000001", "1.2.3", "abc"]) {
    ok(Number.isNaN(parseUnits(bad)), bad);
  }
});

Deno.test("addUnits() sums exactly, switching to BigInt past 2^53", () => {
  fc.assert(
    fc.property(fc.array(fc.bigInt({ min: 0n, max: 10n ** 20n }), { maxLength: 50 }), (xs) => {
      const sum = xs.reduce((a, b) => a + b, 0n);
      const got = xs.reduce(
        (a, x) => addUnits(a, x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x),
        0 as number | bigint,
      );
      equal(BigInt(got), sum);
      const text = `${sum / 100_000_000n}.${String(sum % 100_000_000n).padStart(8, "0")}`;
      equal(unitsToNumber(got), Number(text), "the nearest double to the exact decimal");
    }),
    { numRuns: 1000 },
  );
});

Deno.test("parseUnits() equals an exact BigInt reading of random decimals", () => {
  const reference = (s: string): bigint | undefined => {
    const m = /^(\d+)(?:\.(\d+))?$/.exec(s);
    if (!m) return undefined;
    const frac = m[2] ?? "";
    if (/[1-9]/.test(frac.slice(8))) return undefined;
    return BigInt(m[1]!) * 100_000_000n + BigInt(frac.slice(0, 8).padEnd(8, "0"));
  };
  const decimal = fc.oneof(
    fc.tuple(fc.stringMatching(/^\d{1,22}$/), fc.stringMatching(/^\d{0,12}$/))
      .map(([i, f]) => f ? `${i}.${f}` : i),
    fc.string({ unit: fc.constantFrom("0", "1", "9", ".", "-", "e"), maxLength: 14 }),
  );
  fc.assert(
    fc.property(decimal, (s) => {
      const want = reference(s);
      const got = parseUnits(s);
      if (want === undefined) ok(Number.isNaN(got), s);
      else {
        equal(BigInt(got), want, s);
        equal(typeof got, want <= BigInt(Number.MAX_SAFE_INTEGER) ? "number" : "bigint", s);
      }
    }),
    { numRuns: 5000 },
  );
});

Deno.test("parseUnitsAt() reads a decimal inside a longer text as parseUnits reads it alone", () => {
  const decimal = fc.oneof(
    fc.tuple(fc.stringMatching(/^\d{1,22}$/), fc.stringMatching(/^\d{0,12}$/))
      .map(([i, f]) => f ? `${i}.${f}` : i),
    fc.string({ unit: fc.constantFrom("0", "1", "9", ".", "-", "e"), maxLength: 14 }),
  );
  const around = fc.string({ unit: fc.constantFrom("0", "5", ".", '"', ","), maxLength: 4 });
  fc.assert(
    fc.property(decimal, around, around, (s, pre, post) => {
      const got = parseUnitsAt(`${pre}${s}${post}`, pre.length, pre.length + s.length);
      deepStrictEqual(got, parseUnits(s), JSON.stringify([pre, s, post]));
    }),
    { numRuns: 5000 },
  );
});
