import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import {
  decodeLiveEntry,
  encodeLiveEntry,
  liveEntryKey,
  openKvCandleStore,
} from "../../lib/store/kv.ts";
import { GRANULARITIES } from "../../lib/candles/granularity.ts";
import { candle, doc, runContract } from "./contract.ts";

async function wipe(kv: Deno.Kv): Promise<void> {
  for await (const entry of kv.list({ prefix: [] })) await kv.delete(entry.key);
}

Deno.test("KvCandleStore contract", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "kv-store-" });
  const store = await openKvCandleStore(join(dir, "nested", "spot.kv"));
  const kv = await Deno.openKv(join(dir, "nested", "spot.kv"));
  try {
    await runContract(t, store, () => wipe(kv));
  } finally {
    kv.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvCandleStore uses the Firestore path segments as keys, number last", async () => {
  const kv = await Deno.openKv(":memory:");
  const store = await openKvCandleStore(kv);
  try {
    await store.writeCompleted([doc("BTC-USD", "ONE_MINUTE", candle(1773500700, 2))]);
    await store.writeLive([doc("BTC-USD", "FIVE_MINUTE", candle(1773500700, 3))]);
    const keys = [];
    for await (const entry of kv.list({ prefix: [] })) keys.push(entry);
    const completed = keys.find((e) => e.key.includes("history"))!;
    assert.deepEqual(completed.key, [
      "exchanges",
      "coinbase",
      "products",
      "BTC-USD",
      "history",
      "ONE_MINUTE",
      "candles",
      1773500700000,
    ]);
    assert.deepEqual(completed.value, {
      ...{ open: 102, high: 104.5, low: 100.75, close: 102.5, volume: 0.12345678 * 2 },
      first_timestamp: 1773500700000,
      last_timestamp: 1773500759999,
    });
    // Live candles: one entry per product holding every granularity (DESIGN.md "Stored data").
    const live = keys.find((e) => e.key.includes("live"))!;
    assert.deepEqual(live.key, ["exchanges", "coinbase", "products", "BTC-USD", "live"]);
    // Packed: 8 × 7 float64, FIVE_MINUTE (index 1) in the second slot, the others empty.
    assert.ok(live.value instanceof Uint8Array);
    assert.equal(live.value.byteLength, 8 * 7 * 8);
    const values = decodeLiveEntry(live.value);
    const c = candle(1773500700, 3);
    assert.deepEqual([...values.subarray(7, 13)], [
      c.start,
      c.open,
      c.high,
      c.low,
      c.close,
      c.volume,
    ]);
    assert.ok(Math.abs(values[13]! - Date.now()) < 60_000, "lastUpdate is the write time");
    assert.ok(Number.isNaN(values[0]!) && Number.isNaN(values[14]!), "no other granularity");
    assert.ok(!keys.some((e) => e.key.includes("intervals")), "no per-granularity live keys");
  } finally {
    await store.close(); // a passed-in Deno.Kv stays open
    await kv.get(["still", "open"]);
    kv.close();
  }
});

Deno.test("KvCandleStore.deletePluralDocuments(): the seed's plural ids only", async (t) => {
  const kv = await Deno.openKv(":memory:");
  const store = await openKvCandleStore(kv);
  const P = ["exchanges", "coinbase", "products"];
  try {
    const plural: Deno.KvKey[] = [
      [...P, "BTC-USD", "intervals", "FIVE_MINUTES"],
      [...P, "BTC-USD", "history", "TWO_HOURS", "candles", 1773496800000],
      [...P, "BTC-USD", "history", "TWO_HOURS", "candles", 1773504000000],
      [...P, "BTC-USD", "ingest", "SIX_HOURS"],
      [...P, "ETH-USD", "intervals", "THIRTY_MINUTES"],
    ];
    for (const key of plural) await kv.set(key, { open: 1 });
    await store.writeLive([doc("BTC-USD", "FIVE_MINUTE", candle(1773500700))]);
    await store.writeCompleted([doc("BTC-USD", "TWO_HOUR", candle(1773496800))]);
    await store.writeCompleted([doc("BTC-USDC", "ONE_MINUTE", candle(1773500700))]);
    await store.writeProducts([{
      product_id: "SOL-USD",
      base_currency: "SOL",
      quote_currency: "USD",
      status: "online",
    }]);
    const count = async () => (await Array.fromAsync(kv.list({ prefix: [] }))).length;
    const total = await count();

    await t.step("a dry run counts them and deletes nothing", async () => {
      const r = await store.deletePluralDocuments({ dryRun: true });
      assert.equal(r.products, 2);
      assert.equal(r.documents, plural.length);
      assert.deepEqual(r.examples.sort(), plural.map((k) => k.join("/")).sort());
      assert.equal(await count(), total);
    });
    await t.step("a real run deletes exactly them", async () => {
      const r = await store.deletePluralDocuments({ dryRun: false });
      assert.equal(r.documents, plural.length);
      assert.equal(await count(), total - plural.length);
      for (const key of plural) assert.equal((await kv.get(key)).versionstamp, null);
      assert.equal((await store.readLive("BTC-USD")).length, 1);
      assert.equal((await store.readCompleted("BTC-USD", "TWO_HOUR", { limit: 9 })).length, 1);
      assert.equal((await store.readProducts(["SOL-USD"])).length, 1);
      assert.equal((await store.deletePluralDocuments({ dryRun: true })).documents, 0);
    });
  } finally {
    await store.close();
    kv.close();
  }
});

/** Wraps `kv.atomic()` so that each commit is recorded with its mutations; `fail(n)` refuses commit n. */
function recordCommits(kv: Deno.Kv, fail: (n: number) => boolean = () => false) {
  const sizes: number[] = [];
  const atomic = kv.atomic.bind(kv);
  kv.atomic = () => {
    const op = atomic();
    let sets = 0;
    const set = op.set.bind(op);
    op.set = (key, value, options) => {
      sets++;
      return set(key, value, options);
    };
    const commit = op.commit.bind(op);
    op.commit = () => {
      sizes.push(sets);
      return fail(sizes.length)
        ? Promise.reject(new Error("injected: database is locked"))
        : commit();
    };
    return op;
  };
  return sizes;
}

Deno.test("KvCandleStore writes in atomic chunks of writeChunk entries", async (t) => {
  const kv = await Deno.openKv(":memory:");
  const products = (n: number) => Array.from({ length: n }, (_, i) => `P${i}-USD`);
  try {
    await t.step("live: one entry per product, 25 per commit", async () => {
      const sizes = recordCommits(kv);
      const store = await openKvCandleStore(kv, { writeChunk: 25, writeConcurrency: 2 });
      await store.writeLive(
        products(60).flatMap((p) =>
          (["ONE_MINUTE", "ONE_HOUR"] as const).map((g) => doc(p, g, candle(1773500700)))
        ),
      );
      assert.deepEqual(sizes, [25, 25, 10]);
      const live = await store.readLiveMany(products(60));
      assert.equal([...live.values()].filter((l) => l.length === 2).length, 60);
      sizes.length = 0;
      await store.writeCompleted(
        Array.from(
          { length: 51 },
          (_, i) => doc("BTC-USD", "ONE_MINUTE", candle(1773500700 + 60 * i)),
        ),
      );
      assert.deepEqual(sizes, [25, 25, 1]);
    });

    await t.step("a failed chunk rejects the call with its context; a retry lands", async () => {
      let outage = true;
      const sizes = recordCommits(kv, (n) => outage && n === 2);
      const store = await openKvCandleStore(kv, { writeChunk: 25, writeConcurrency: 1 });
      const docs = products(60).map((p) => doc(p, "ONE_DAY", candle(1773446400, 3)));
      await assert.rejects(store.writeLive(docs), (e: Error) => {
        assert.match(
          e.message,
          /^Cannot write 25 live entries \(26-50 of 60, chunk 2 of 3\) to Deno KV \(first key \["exchanges","coinbase","products","P25-USD","live"\]\): injected: database is locked \(1 of 3 chunks landed, 1 failed, 1 not attempted\)$/,
        );
        return true;
      });
      assert.deepEqual(sizes, [25, 25], "nothing starts after the failure");
      outage = false;
      await store.writeLive(docs);
      const live = await store.readLiveMany(products(60));
      assert.equal([...live.values()].filter((l) => l.length === 3).length, 60);
    });
  } finally {
    kv.close();
  }
});

Deno.test("KV live entries: packed values round-trip bit for bit, and each encoding is a copy", () => {
  const n = GRANULARITIES.length * 7;
  fc.assert(
    fc.property(fc.array(fc.double(), { minLength: n, maxLength: n }), (numbers) => {
      const values = Float64Array.from(numbers);
      const bytes = encodeLiveEntry(values);
      const back = decodeLiveEntry(bytes);
      for (let i = 0; i < n; i++) assert.ok(Object.is(back[i], values[i]), `number ${i}`);
      // A commit in flight holds its own bytes: the cache changing after does not reach them.
      values.fill(1);
      assert.ok(Object.is(decodeLiveEntry(bytes)[0], numbers[0]));
    }),
  );
  // A value of another length, or of no known shape, holds no candle.
  for (const value of [new Uint8Array(8), null, 42, "x", undefined]) {
    assert.ok(decodeLiveEntry(value).every(Number.isNaN), String(value));
  }
});

Deno.test("KvCandleStore reads live entries of the object shape earlier versions wrote", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const old = { timestamp: 1773500700, open: 1, high: 2, low: 0.5, close: 1.5, volume: 3 };
    await kv.set(liveEntryKey("BTC-USD"), {
      FIVE_MINUTE: { ...old, lastUpdate: 1773500710000 },
      ONE_DAY: { ...old, timestamp: 1773446400, lastUpdate: 1773500710000 },
      THREE_MINUTE: { ...old, lastUpdate: 1 }, // not a granularity: skipped
      ONE_HOUR: { open: 1 }, // no timestamp: skipped
    });
    const store = await openKvCandleStore(kv);
    const candleOf = (o: typeof old) => ({
      start: o.timestamp,
      open: o.open,
      high: o.high,
      low: o.low,
      close: o.close,
      volume: o.volume,
    });
    assert.deepEqual(await store.readLive("BTC-USD"), [
      { product: "BTC-USD", granularity: "FIVE_MINUTE", candle: candleOf(old) },
      {
        product: "BTC-USD",
        granularity: "ONE_DAY",
        candle: candleOf({ ...old, timestamp: 1773446400 }),
      },
    ]);
    // The first write merges with what the old entry held, and rewrites it packed.
    await store.writeLive([doc("BTC-USD", "ONE_MINUTE", candle(1773500760, 2))]);
    const live = await store.readLive("BTC-USD");
    assert.deepEqual(live.map((d) => d.granularity), ["ONE_MINUTE", "FIVE_MINUTE", "ONE_DAY"]);
    assert.deepEqual(live[1]!.candle, candleOf(old));
    assert.ok((await kv.get(liveEntryKey("BTC-USD"))).value instanceof Uint8Array);
    await store.close();
  } finally {
    kv.close();
  }
});
