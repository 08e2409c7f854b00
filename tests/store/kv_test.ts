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
