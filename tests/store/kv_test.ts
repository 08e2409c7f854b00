import assert from "node:assert/strict";
import { join } from "node:path";
import { openKvCandleStore } from "../../lib/store/kv.ts";
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
    const value = (live.value as Record<string, Record<string, number>>).FIVE_MINUTE!;
    assert.equal(value.timestamp, 1773500700);
    assert.equal(typeof value.lastUpdate, "number");
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
