import { equal } from "node:assert/strict";
import fc from "fast-check";
import { type IdCheck, TradeIdWindow } from "../../lib/candles/dedupe.ts";

/** The plain meaning: every id seen, and the newest; the window is `size` ids behind it. */
function reference(size: number) {
  const seen = new Set<number>();
  let max = -1;
  return (id: number): IdCheck => {
    if (max >= 0 && id <= max - size) return "too_old";
    if (seen.has(id)) return "duplicate";
    seen.add(id);
    if (id > max) max = id;
    return "new";
  };
}

Deno.test("TradeIdWindow answers like a set of every id seen, within its window", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(32, 64, 96),
      fc.integer({ min: 0, max: 1_000 }),
      // Steps from the last id: mostly forward by small amounts (a live stream), some replays
      // back into (or beyond) the window, and some jumps past it.
      fc.array(
        fc.oneof(
          { weight: 6, arbitrary: fc.integer({ min: 0, max: 3 }) },
          { weight: 3, arbitrary: fc.integer({ min: -120, max: 0 }) },
          { weight: 1, arbitrary: fc.integer({ min: 30, max: 200 }) },
        ),
        { minLength: 50, maxLength: 400, size: "max" },
      ),
      (size, first, steps) => {
        const window = new TradeIdWindow(size);
        const ref = reference(size);
        let id = first;
        for (const step of steps) {
          id = Math.max(0, id + step);
          equal(window.check(id), ref(id), `id ${id}`);
        }
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("TradeIdWindow: an id exactly one window behind the newest is too old; one less is kept", () => {
  const window = new TradeIdWindow(32);
  equal(window.check(100), "new");
  equal(window.check(69), "new");
  equal(window.check(68), "too_old");
  equal(window.check(69), "duplicate");
  equal(window.check(132), "new", "advancing a whole window forgets the slot's old id");
  equal(window.check(100), "too_old");
  equal(window.check(101), "new");
});
