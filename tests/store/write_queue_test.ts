import assert from "node:assert/strict";
import type { Candle, CandleUpdate } from "../../lib/candles/candle.ts";
import { type LiveSource, WriteQueue } from "../../lib/store/write_queue.ts";

const candle = (start: number, close: number, volume = 1): Candle => ({
  start,
  open: 1,
  high: Math.max(1, close),
  low: Math.min(1, close),
  close,
  volume,
});
/** A live source reading `get`'s candles (copied into the queue's document, as the aggregator does). */
const source =
  (get: (product: string, g: number) => Candle | undefined): LiveSource => (product, g, into) => {
    const c = get(product, g);
    if (c) Object.assign(into, c);
    return c !== undefined;
  };
const update = (c: Candle, complete = false): CandleUpdate => ({
  product: "BTC-USD",
  granularity: "ONE_MINUTE",
  candle: c,
  complete,
});

Deno.test("WriteQueue with a live source writes the source's current candle, holding only marks", () => {
  let current: Candle | undefined = candle(60, 5);
  const asked: [string, number][] = [];
  const q = new WriteQueue(source((product, g) => {
    asked.push([product, g]);
    return current;
  }));
  q.push(update(candle(60, 2)));
  q.push(update(candle(60, 3)));
  assert.equal(q.liveSize, 1);
  assert.equal(q.superseded, 1);
  let batch = q.take(10);
  assert.deepEqual(batch.live, [{
    product: "BTC-USD",
    granularity: "ONE_MINUTE",
    candle: current,
  }]);
  assert.deepEqual(asked, [["BTC-USD", 0]], "read once, when taken");
  q.markWritten(batch.live);

  // Marked again but unchanged at the source: not written again.
  q.push(update(candle(60, 5)));
  batch = q.take(10);
  assert.deepEqual(batch.live, []);
  assert.equal(q.unchanged, 1);

  // A completion is written as it is (the source has no open candle after it).
  const done = candle(60, 6, 2);
  current = undefined;
  q.push(update(done, true));
  batch = q.take(10);
  assert.deepEqual(batch.completed.map((d) => d.candle), [done]);
  assert.deepEqual(batch.live.map((d) => d.candle), [done]);
  q.markWritten(batch.live);

  // Nothing at the source (withheld until seeded, or dropped): nothing written, mark cleared.
  q.push(update(candle(120, 7)));
  assert.deepEqual(q.take(10).live, []);
  assert.equal(q.liveSize, 0);

  // Never back to an older bucket than written.
  q.push(update(candle(0, 9)));
  assert.equal(q.liveSize, 0);
});

Deno.test("WriteQueue puts a failed live value back unless a newer one is pending", () => {
  let current = candle(60, 2);
  const q = new WriteQueue(source(() => current));
  q.push(update(candle(60, 2)));
  const failed = q.take(10);
  q.requeue(failed);
  assert.deepEqual(q.take(10).live, failed.live, "put back");
  q.push(update(candle(60, 2)));
  const again = q.take(10);
  current = candle(60, 3);
  q.push(update(current));
  q.requeue(again);
  assert.deepEqual(q.take(10).live.map((d) => d.candle), [current], "the newer value wins");
});

Deno.test("WriteQueue.markLive queues a live document by name, its value read when taken", () => {
  let current: Candle | undefined = candle(3600, 7);
  const q = new WriteQueue(
    source((product, g) => product === "ETH-USD" && g === 4 ? current : undefined),
  );
  q.markLive("ETH-USD", 4, 3600);
  q.markLive("ETH-USD", 4, 3600);
  assert.equal(q.liveSize, 1);
  let batch = q.take(10);
  assert.deepEqual(batch.live, [{ product: "ETH-USD", granularity: "ONE_HOUR", candle: current }]);
  q.markWritten(batch.live);
  // An older bucket never regresses the document.
  q.markLive("ETH-USD", 4, 0);
  assert.equal(q.liveSize, 0);
  current = candle(7200, 8);
  q.markLive("ETH-USD", 4, 7200);
  batch = q.take(10);
  assert.deepEqual(batch.live.map((d) => d.candle), [current]);
  assert.throws(() => new WriteQueue().markLive("ETH-USD", 4, 0), /live source/);
});

Deno.test("WriteQueue.takeInSlices pauses between slices of products and takes each product once", async () => {
  const products = Array.from({ length: 400 }, (_, i) => `P${i}-USD`);
  const value = new Map(products.map((p) => [p, candle(60, 1)]));
  const q = new WriteQueue(source((product) => value.get(product)));
  for (const p of products) q.markLive(p, 0, 60);
  let pauses = 0;
  const batch = await q.takeInSlices(10_000, 150, () => {
    pauses++;
    if (pauses === 1) {
      // Between slices: a product already taken changes (queued for the next take), and one
      // not yet taken changes (taken with its newer value).
      value.set("P0-USD", candle(60, 2));
      q.markLive("P0-USD", 0, 60);
      value.set("P399-USD", candle(60, 3));
      q.markLive("P399-USD", 0, 60);
    }
    return Promise.resolve();
  });
  assert.equal(pauses, 2, "after 150 and 300 products");
  assert.equal(batch.live.length, 400);
  assert.equal(new Set(batch.live.map((d) => d.product)).size, 400, "each product once");
  assert.equal(batch.live.find((d) => d.product === "P0-USD")!.candle.close, 1);
  assert.equal(batch.live.find((d) => d.product === "P399-USD")!.candle.close, 3);
  q.markWritten(batch.live);
  assert.equal(q.liveSize, 1);
  assert.deepEqual(q.take(10).live.map((d) => [d.product, d.candle.close]), [["P0-USD", 2]]);
});

Deno.test("WriteQueue reads a live document's values into one object per document, refilled on each take", () => {
  let current = candle(60, 2);
  const q = new WriteQueue(source(() => current));
  q.markLive("BTC-USD", 0, 60);
  const first = q.take(10).live;
  assert.deepEqual(first.map((d) => d.candle), [candle(60, 2)]);
  q.markWritten(first);
  current = candle(120, 3);
  q.markLive("BTC-USD", 0, 120);
  const second = q.take(10).live;
  assert.equal(second[0], first[0], "the same document object: nothing allocated per read");
  assert.deepEqual(second.map((d) => d.candle), [candle(120, 3)]);
  // What was recorded as written is the first value: an equal later read is still written once.
  q.markLive("BTC-USD", 0, 120);
  q.markWritten(second);
  assert.deepEqual(q.take(10).live, [], "unchanged since written");
  assert.equal(q.unchanged, 1);
});
