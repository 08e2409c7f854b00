/**
 * @module
 * The {@linkcode CandleStore} contract, run against every implementation (`kv_test.ts`,
 * `firestore_test.ts`). Each step starts from an empty store (`reset`).
 */
import assert from "node:assert/strict";
import type { Candle } from "../../lib/candles/candle.ts";
import type { GranularityId } from "../../lib/candles/granularity.ts";
import type {
  CandleDoc,
  CandleStore,
  CatalogueEntry,
  ProductDoc,
  ShardDoc,
} from "../../lib/store/store.ts";

const T0 = 1773500700; // 2026-03-14T15:05:00Z, a multiple of 300

/** A well-formed candle starting at `start` (seconds), values derived from `seed`. */
export function candle(start: number, seed = 1): Candle {
  const open = 100 + seed;
  return {
    start,
    open,
    high: open + 2.5,
    low: open - 1.25,
    close: open + 0.5,
    volume: 0.12345678 * seed,
  };
}

/** A document of `product` at `granularity` for `candle`. */
export function doc(product: string, granularity: GranularityId, c: Candle): CandleDoc {
  return { product, granularity, candle: c };
}

/** Runs the contract as steps of `t`; `reset` empties the store before each step. */
export async function runContract(
  t: Deno.TestContext,
  store: CandleStore,
  reset: () => Promise<void>,
): Promise<void> {
  const step = (name: string, fn: () => Promise<void>) =>
    t.step(name, async () => {
      await reset();
      await fn();
    });
  const minutes = (n: number, from = T0) =>
    Array.from({ length: n }, (_, i) => doc("BTC-USD", "ONE_MINUTE", candle(from + 60 * i, i + 1)));

  await step("writeCompleted() then readCompleted() returns the candles exactly", async () => {
    const docs = minutes(5);
    await store.writeCompleted([...docs].reverse());
    const read = await store.readCompleted("BTC-USD", "ONE_MINUTE", { limit: 10 });
    assert.deepEqual(read, docs.map((d) => d.candle));
  });

  await step("readCompleted() with start: oldest first from start, at most limit", async () => {
    await store.writeCompleted(minutes(10));
    const read = await store.readCompleted("BTC-USD", "ONE_MINUTE", {
      start: T0 + 120,
      limit: 3,
    });
    assert.deepEqual(read.map((c) => c.start), [T0 + 120, T0 + 180, T0 + 240]);
  });

  await step("readCompleted() without start: the latest limit, oldest first", async () => {
    await store.writeCompleted(minutes(10));
    const read = await store.readCompleted("BTC-USD", "ONE_MINUTE", { limit: 3 });
    assert.deepEqual(read.map((c) => c.start), [T0 + 420, T0 + 480, T0 + 540]);
  });

  await step("readCompleted() bounds are inclusive and end caps", async () => {
    await store.writeCompleted(minutes(10));
    const both = await store.readCompleted("BTC-USD", "ONE_MINUTE", {
      start: T0 + 60,
      end: T0 + 180,
      limit: 100,
    });
    assert.deepEqual(both.map((c) => c.start), [T0 + 60, T0 + 120, T0 + 180]);
    const endOnly = await store.readCompleted("BTC-USD", "ONE_MINUTE", {
      end: T0 + 300,
      limit: 2,
    });
    assert.deepEqual(endOnly.map((c) => c.start), [T0 + 240, T0 + 300]);
    const none = await store.readCompleted("BTC-USD", "ONE_MINUTE", {
      start: T0 + 10_000,
      limit: 5,
    });
    assert.deepEqual(none, []);
    assert.deepEqual(await store.readCompleted("BTC-USD", "ONE_MINUTE", { limit: 0 }), []);
  });

  await step("writeCompleted() is idempotent by id; a correction replaces", async () => {
    const [first] = minutes(1);
    await store.writeCompleted([first!]);
    await store.writeCompleted([first!]);
    const corrected = doc("BTC-USD", "ONE_MINUTE", { ...first!.candle, close: 99, low: 98 });
    await store.writeCompleted([corrected]);
    const read = await store.readCompleted("BTC-USD", "ONE_MINUTE", { limit: 10 });
    assert.deepEqual(read, [corrected.candle]);
  });

  await step("completed candles are kept apart per product and granularity", async () => {
    await store.writeCompleted([
      doc("BTC-USD", "ONE_MINUTE", candle(T0)),
      doc("BTC-USD", "FIVE_MINUTE", candle(T0, 2)),
      doc("ETH-USD", "ONE_MINUTE", candle(T0 + 60, 3)),
    ]);
    assert.deepEqual(await store.readCompleted("BTC-USD", "FIVE_MINUTE", { limit: 9 }), [
      candle(T0, 2),
    ]);
    assert.equal(await store.latestCompletedStart("ETH-USD", "ONE_MINUTE"), T0 + 60);
    assert.equal(await store.latestCompletedStart("BTC-USD", "ONE_MINUTE"), T0);
    assert.equal(await store.latestCompletedStart("BTC-USD", "ONE_DAY"), undefined);
  });

  await step("writeLive() is latest-wins; readLive() returns every granularity", async () => {
    await store.writeLive([
      doc("BTC-USD", "ONE_MINUTE", candle(T0, 1)),
      doc("BTC-USD", "ONE_HOUR", candle(T0 - 300, 2)),
      doc("ETH-USD", "ONE_MINUTE", candle(T0, 3)),
    ]);
    await store.writeLive([doc("BTC-USD", "ONE_MINUTE", candle(T0 + 60, 4))]);
    const live = await store.readLive("BTC-USD");
    assert.deepEqual(live, [
      doc("BTC-USD", "ONE_MINUTE", candle(T0 + 60, 4)),
      doc("BTC-USD", "ONE_HOUR", candle(T0 - 300, 2)),
    ]);
    assert.deepEqual(await store.readLive("SOL-USD"), []);
  });

  await step("batched reads: readLiveMany, readCompletedMany, latestCompletedStarts", async () => {
    await store.writeLive([
      doc("BTC-USD", "ONE_MINUTE", candle(T0, 1)),
      doc("BTC-USD", "ONE_HOUR", candle(T0 - 300, 2)),
      doc("ETH-USD", "ONE_MINUTE", candle(T0, 3)),
    ]);
    // A later write of one granularity keeps the others.
    await store.writeLive([doc("BTC-USD", "ONE_MINUTE", candle(T0 + 60, 4))]);
    const live = await store.readLiveMany(["BTC-USD", "ETH-USD", "SOL-USD"]);
    assert.deepEqual(live.get("BTC-USD"), [
      doc("BTC-USD", "ONE_MINUTE", candle(T0 + 60, 4)),
      doc("BTC-USD", "ONE_HOUR", candle(T0 - 300, 2)),
    ]);
    assert.deepEqual(live.get("ETH-USD"), [doc("ETH-USD", "ONE_MINUTE", candle(T0, 3))]);
    assert.deepEqual(live.get("SOL-USD") ?? [], []);
    await store.writeCompleted([
      doc("BTC-USD", "ONE_MINUTE", candle(T0 - 120, 5)),
      doc("BTC-USD", "ONE_MINUTE", candle(T0 - 60, 6)),
      doc("BTC-USD", "ONE_MINUTE", candle(T0 + 600, 7)),
      doc("ETH-USD", "ONE_MINUTE", candle(T0 - 60, 8)),
      doc("ETH-USD", "FIVE_MINUTE", candle(T0 - 300, 9)),
    ]);
    const range = await store.readCompletedMany(
      ["BTC-USD", "ETH-USD", "SOL-USD"],
      "ONE_MINUTE",
      T0 - 120,
      T0 + 60,
    );
    assert.deepEqual(range.get("BTC-USD"), [candle(T0 - 120, 5), candle(T0 - 60, 6)]);
    assert.deepEqual(range.get("ETH-USD"), [candle(T0 - 60, 8)]);
    assert.deepEqual(range.get("SOL-USD") ?? [], []);
    const latest = await store.latestCompletedStarts(
      ["BTC-USD", "ETH-USD", "SOL-USD"],
      "ONE_MINUTE",
    );
    assert.equal(latest.get("BTC-USD"), T0 + 600);
    assert.equal(latest.get("ETH-USD"), T0 - 60);
    assert.equal(latest.has("SOL-USD"), false);
    // Bounded on both sides (Firestore reads the window's documents by id, newest first, in
    // widening rounds): ADA's only candle lies 50 minutes back, past the first rounds.
    await store.writeCompleted([doc("ADA-USD", "ONE_MINUTE", candle(T0 - 3000, 10))]);
    const all = ["BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD"];
    const bounded = await store.latestCompletedStarts(all, "ONE_MINUTE", T0 + 60, T0 - 3600);
    assert.deepEqual(
      [...bounded].sort(),
      [["ADA-USD", T0 - 3000], ["BTC-USD", T0 - 60], ["ETH-USD", T0 - 60]],
    );
    const later = await store.latestCompletedStarts(all, "ONE_MINUTE", T0 + 59, T0 - 90);
    assert.deepEqual([...later].sort(), [["BTC-USD", T0 - 60], ["ETH-USD", T0 - 60]]);
    const five = await store.latestCompletedStarts(all, "FIVE_MINUTE", T0, T0 - 3600);
    assert.deepEqual([...five], [["ETH-USD", T0 - 300]]);
  });

  await step("writeLive() takes a product's documents in any order within a call", async () => {
    await store.writeLive([
      doc("ADA-USD", "ONE_MINUTE", candle(T0, 1)),
      doc("XLM-USD", "ONE_MINUTE", candle(T0, 2)),
      doc("ADA-USD", "ONE_DAY", candle(T0 - 3600, 3)),
      doc("XLM-USD", "ONE_HOUR", candle(T0 - 300, 4)),
    ]);
    const live = await store.readLiveMany(["ADA-USD", "XLM-USD"]);
    assert.deepEqual(live.get("ADA-USD"), [
      doc("ADA-USD", "ONE_MINUTE", candle(T0, 1)),
      doc("ADA-USD", "ONE_DAY", candle(T0 - 3600, 3)),
    ]);
    assert.deepEqual(live.get("XLM-USD"), [
      doc("XLM-USD", "ONE_MINUTE", candle(T0, 2)),
      doc("XLM-USD", "ONE_HOUR", candle(T0 - 300, 4)),
    ]);
  });

  await step("writeLive() writes many documents in one call", async () => {
    const products = Array.from({ length: 130 }, (_, i) => `P${i}-USD`);
    const granularities: GranularityId[] = ["ONE_MINUTE", "FIVE_MINUTE", "ONE_DAY"];
    await store.writeLive(
      products.flatMap((p) => granularities.map((g) => doc(p, g, candle(T0, 7)))),
    );
    assert.equal((await store.readLive("P129-USD")).length, 3);
  });

  await step(
    "writes larger than one chunk land whole: 1,200 live and 1,200 completed",
    async () => {
      // More than any store's commit chunk, in documents and in KV entries (400 products).
      const products = Array.from({ length: 400 }, (_, i) => `C${i}-USD`);
      const granularities: GranularityId[] = ["ONE_MINUTE", "ONE_HOUR", "ONE_DAY"];
      const live = products.flatMap((p, i) =>
        granularities.map((g) => doc(p, g, candle(T0, i + 1)))
      );
      const completed = products.slice(0, 4).flatMap((p) =>
        minutes(300).map((d) => ({ ...d, product: p }))
      );
      assert.equal(live.length, 1200);
      assert.equal(completed.length, 1200);
      await store.writeLive(live);
      await store.writeCompleted(completed);
      const read = await store.readLiveMany(products);
      const missing = products.filter((p) => read.get(p)?.length !== granularities.length);
      assert.deepEqual(missing, [], "every product has its three live candles");
      assert.deepEqual(read.get("C399-USD")?.[0], doc("C399-USD", "ONE_MINUTE", candle(T0, 400)));
      for (const p of products.slice(0, 4)) {
        const candles = await store.readCompleted(p, "ONE_MINUTE", { limit: 1000 });
        assert.deepEqual(candles, minutes(300).map((d) => d.candle), p);
      }
    },
  );

  await step("writeCatalogue() merges entries and keeps the others", async () => {
    const entry = (product_id: string, status: "online" | "delisted"): CatalogueEntry => ({
      product_id,
      base_currency: product_id.split("-")[0]!,
      quote_currency: "USD",
      status,
      min_size: "0.00000001",
      max_size: "3400",
      last_updated: 1773500000000,
    });
    await store.writeCatalogue([entry("BTC-USD", "online"), entry("ETH-USD", "online")]);
    await store.writeCatalogue([entry("ETH-USD", "delisted"), entry("SOL-USD", "online")]);
    const read = (await store.readCatalogue()).sort((a, b) =>
      a.product_id.localeCompare(b.product_id)
    );
    assert.deepEqual(read, [
      entry("BTC-USD", "online"),
      entry("ETH-USD", "delisted"),
      entry("SOL-USD", "online"),
    ]);
  });

  await step("writeProducts() merges product documents; readProducts() reads them", async () => {
    const product = (product_id: string, status: "online" | "delisted"): ProductDoc => ({
      product_id,
      base_currency: product_id.split("-")[0]!,
      quote_currency: product_id.split("-")[1]!,
      status,
    });
    const before = Date.now();
    await store.writeProducts([product("BTC-USD", "online"), product("ETH-USD", "online")]);
    await store.writeProducts([product("ETH-USD", "delisted")]);
    const read = await store.readProducts(["ETH-USD", "NOPE-USD", "BTC-USD"]);
    assert.deepEqual(read.map(({ lastUpdate: _, ...d }) => d), [
      product("ETH-USD", "delisted"),
      product("BTC-USD", "online"),
    ]);
    for (const d of read) {
      assert.ok(d.lastUpdate >= before - 5000 && d.lastUpdate <= Date.now() + 5000, "lastUpdate");
    }
    const many = Array.from({ length: 25 }, (_, i) => product(`P${i}-USD`, "online"));
    await store.writeProducts(many);
    assert.equal((await store.readProducts(many.map((p) => p.product_id))).length, 25);
    assert.deepEqual(await store.readProducts([]), []);
  });

  await step("product documents and live candles of a product live side by side", async () => {
    await store.writeLive([doc("LINK-USD", "ONE_MINUTE", candle(T0, 1))]);
    await store.writeProducts([{
      product_id: "LINK-USD",
      base_currency: "LINK",
      quote_currency: "USD",
      status: "online",
    }]);
    await store.writeLive([doc("LINK-USD", "ONE_MINUTE", candle(T0 + 60, 2))]);
    assert.deepEqual(await store.readLive("LINK-USD"), [
      doc("LINK-USD", "ONE_MINUTE", candle(T0 + 60, 2)),
    ]);
    assert.equal((await store.readProducts(["LINK-USD"]))[0]?.status, "online");
  });

  await step("writeCheckpoint() then readCheckpoint()", async () => {
    assert.equal(await store.readCheckpoint("BTC-USD", "ONE_HOUR"), undefined);
    await store.writeCheckpoint("BTC-USD", "ONE_HOUR", T0 - 300);
    await store.writeCheckpoint("BTC-USD", "ONE_HOUR", T0 + 3300);
    assert.equal(await store.readCheckpoint("BTC-USD", "ONE_HOUR"), T0 + 3300);
    assert.equal(await store.readCheckpoint("BTC-USD", "ONE_MINUTE"), undefined);
  });

  await step(
    "writeShard() keeps one entry per index and count; readShards() returns all",
    async () => {
      await store.writeShard(shard(0, 3, { heartbeatAt: 1 }));
      await store.writeShard(shard(1, 3, { heartbeatAt: 2 }));
      await store.writeShard(shard(1, 4, { heartbeatAt: 3, products: ["SOL-USD"] }));
      await store.writeShard(shard(0, 3, { heartbeatAt: 4, status: "stopped", products: [] }));
      const read = await store.readShards();
      assert.deepEqual(read.map((s) => `${s.index}-of-${s.count}@${s.heartbeatAt}`), [
        "0-of-3@4",
        "1-of-3@2",
        "1-of-4@3",
      ]);
      assert.deepEqual(read[0], shard(0, 3, { heartbeatAt: 4, status: "stopped", products: [] }));
      assert.deepEqual(read[2]!.products, ["SOL-USD"]);
    },
  );

  await step("readShards() of an empty registry is empty", async () => {
    assert.deepEqual(await store.readShards(), []);
  });

  await step("ping() resolves", async () => {
    await store.ping();
  });
}

/** A registry entry for shard `index` of `count`. */
export function shard(index: number, count: number, over: Partial<ShardDoc> = {}): ShardDoc {
  return {
    index,
    count,
    version: "test-1",
    startedAt: 1773500000000,
    heartbeatAt: 1773500700000,
    status: "healthy",
    products: ["BTC-USD", "ETH-USD"],
    selection: { products: ["BTC-USD", "ETH-USD", "SOL-USD"], quoteCurrencies: ["USD"] },
    connections: { connected: 1, total: 1, reconnects: 2 },
    gaps: { sequenceGaps: 3, maxGapS: 1.5 },
    ...over,
  };
}
