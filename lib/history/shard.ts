/**
 * @module
 * Which shard serves a product. Rendezvous (highest-random-weight) hashing over FNV-1a: a
 * product's shard depends only on its id and the shard count, so adding or removing products
 * never moves another product, and changing the shard count moves only about 1/N of them.
 */

/** 32-bit FNV-1a hash of a string, finished with a murmur-style avalanche. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The shard (0 … `shardCount`−1) that serves `productId`. */
export function shardOf(productId: string, shardCount: number): number {
  if (!Number.isInteger(shardCount) || shardCount < 1) {
    throw new RangeError(`Shard count must be a positive integer, got ${shardCount}`);
  }
  let best = 0;
  let bestWeight = -1;
  for (let i = 0; i < shardCount; i++) {
    const w = hash(`${productId}#${i}`);
    if (w > bestWeight) {
      bestWeight = w;
      best = i;
    }
  }
  return best;
}

/** The products, in their order, that shard `shardIndex` of `shardCount` serves. */
export function productsForShard(
  products: string[],
  shardCount: number,
  shardIndex: number,
): string[] {
  return products.filter((p) => shardOf(p, shardCount) === shardIndex);
}
