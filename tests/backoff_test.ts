import assert from "node:assert/strict";
import fc from "fast-check";
import { backoffDelay, isFinalError } from "../lib/backoff.ts";
import { RestError } from "../lib/exchange/rest_error.ts";

const policy = { initialMs: 1000, maxMs: 30_000 };

Deno.test("backoffDelay is capped exponential with full jitter", async (t) => {
  await t.step("with the top of the jitter range the ceiling doubles per attempt", () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, policy, () => 1));
    assert.deepEqual(ceilings, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });
  await t.step("the delay is the random share of the ceiling (full jitter)", () => {
    assert.equal(backoffDelay(3, policy, () => 0), 0);
    assert.equal(backoffDelay(3, policy, () => 0.25), 1000);
    assert.equal(backoffDelay(3, policy, () => 0.5), 2000);
  });
  await t.step("any attempt and random value stays within [0, min(max, initial·2^(n−1))]", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 5000 })),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (attempt, r, initialMs, extra) => {
          const p = { initialMs, maxMs: initialMs + extra };
          const d = backoffDelay(attempt, p, () => r);
          // 2^(attempt−1) may be Infinity here; 0 · Infinity is NaN, hence the zero case.
          const ceiling = initialMs === 0 ? 0 : Math.min(p.maxMs, initialMs * 2 ** (attempt - 1));
          return Number.isFinite(d) && d >= 0 && d <= ceiling && Math.abs(d - r * ceiling) < 1e-6;
        },
      ),
    );
  });
  await t.step("the default random source spreads delays over the range", () => {
    const delays = Array.from({ length: 200 }, () => backoffDelay(2, policy));
    assert.ok(delays.every((d) => d >= 0 && d <= 2000));
    assert.ok(new Set(delays).size > 100, "delays are not all equal");
    assert.ok(delays.some((d) => d < 1000) && delays.some((d) => d > 1000));
  });
  await t.step("bad attempts and policies are a RangeError naming them", () => {
    assert.throws(() => backoffDelay(0, policy), /attempt must be an integer ≥ 1, got 0/);
    assert.throws(() => backoffDelay(1.5, policy), /attempt/);
    assert.throws(
      () => backoffDelay(1, { initialMs: 10, maxMs: 5 }),
      /initialMs 10, maxMs 5/,
    );
  });
});

Deno.test("isFinalError: only errors saying retryable === false are final", async (t) => {
  const rest = (status: number, retryable: boolean) =>
    new RestError("x", { method: "GET", path: "/p", status, retryable });
  await t.step("a RestError marked not retryable is final", () => {
    assert.equal(isFinalError(rest(404, false)), true);
  });
  await t.step("a retryable RestError, a plain Error and non-objects are not", () => {
    assert.equal(isFinalError(rest(503, true)), false);
    assert.equal(isFinalError(new Error("boom")), false);
    assert.equal(isFinalError("boom"), false);
    assert.equal(isFinalError(null), false);
  });
  await t.step("any object with retryable: false counts (the shared convention)", () => {
    assert.equal(isFinalError(Object.assign(new Error("x"), { retryable: false })), true);
  });
});
