import { deepStrictEqual } from "node:assert/strict";
import { withLive } from "../../lib/service/view.ts";
import { minuteCandles } from "../helpers/fake_view.ts";

Deno.test("withLive() joins the stored candles and the live one of a range", async (t) => {
  // The store already answered the range; withLive() only decides about the live candle.
  const stored = minuteCandles(600, 5); // 600 … 840
  const [live] = minuteCandles(900, 1);
  const starts = (rows: { start: number; complete: boolean }[]) =>
    rows.map((r) => `${r.start}${r.complete ? "" : "*"}`);

  await t.step("the live candle follows the stored ones, marked incomplete", () => {
    deepStrictEqual(starts(withLive(stored, live, { limit: 10 })), [
      "600",
      "660",
      "720",
      "780",
      "840",
      "900*",
    ]);
  });
  await t.step("without start, the latest `limit` (the live one included)", () => {
    deepStrictEqual(starts(withLive(stored, live, { limit: 2 })), ["840", "900*"]);
  });
  await t.step("with start, the first `limit` from it", () => {
    deepStrictEqual(starts(withLive(stored, live, { start: 600, limit: 2 })), ["600", "660"]);
  });
  await t.step("a live candle outside the range or not after the stored ones is left out", () => {
    deepStrictEqual(starts(withLive(stored, live, { end: 840, limit: 10 })).at(-1), "840");
    deepStrictEqual(starts(withLive([], live, { start: 960, limit: 10 })), []);
    deepStrictEqual(
      starts(withLive(stored, { ...live!, start: 840 }, { limit: 10 })).at(-1),
      "840",
    );
  });
  await t.step("no stored candle: the live one alone", () => {
    deepStrictEqual(starts(withLive([], live, { start: 900, limit: 10 })), ["900*"]);
  });
});
