import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { productsForShard, shardOf } from "../../lib/history/shard.ts";

const products = Array.from({ length: 1000 }, (_, i) => `X${String(i).padStart(3, "0")}-USD`);

Deno.test("shardOf() puts every product in exactly one shard, spread evenly", () => {
  const shards = Array.from({ length: 4 }, (_, i) => productsForShard(products, 4, i));
  equal(shards.flat().length, products.length);
  deepStrictEqual(new Set(shards.flat()).size, products.length);
  for (const s of shards) ok(s.length > 200 && s.length < 300, `shard size ${s.length}`);
});

Deno.test("shardOf() is stable: it depends only on the id and the count", () => {
  equal(shardOf("BTC-USD", 5), shardOf("BTC-USD", 5));
  const before = products.slice(0, 500).map((p) => shardOf(p, 5));
  // Adding products never moves existing ones.
  deepStrictEqual(products.slice(0, 500).map((p) => shardOf(p, 5)), before);
});

Deno.test("shardOf() moves only about 1/N of products when a shard is added", () => {
  const moved = products.filter((p) => shardOf(p, 4) !== shardOf(p, 5)).length;
  ok(moved > 120 && moved < 280, `moved ${moved} of 1000`);
});

Deno.test("shardOf() rejects a bad count", () => {
  throws(() => shardOf("BTC-USD", 0), /positive integer/);
});
