import { deepStrictEqual, equal } from "node:assert/strict";
import type { Product } from "../../lib/coinbase/product.ts";
import { productFromId, resolveProducts } from "../../lib/history/catalogue.ts";
import { productsForShard } from "../../lib/history/shard.ts";

const row = (id: string, over: Partial<Product> = {}): Product => ({
  ...productFromId(id),
  status: "online",
  ...over,
});

Deno.test("resolveProducts() with a list answers at once, filtered to the shard", async () => {
  const config = {
    products: ["BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD"],
    quoteCurrencies: ["USD"],
    shardCount: 2,
    shardIndex: 1,
  };
  const rest = { products: () => Promise.reject(new Error("not called")) };
  const got = await resolveProducts(config, rest);
  deepStrictEqual(got.map((p) => p.productId), productsForShard(config.products, 2, 1));
});

Deno.test("resolveProducts() with all: online spot books only, aliases and delisted left out", async () => {
  let asked: unknown;
  const rest = {
    products: (q: unknown) => {
      asked = q;
      return Promise.resolve([
        row("BTC-USD"),
        row("BTC-USDC", { alias: "BTC-USD" }),
        row("OLD-USD", { status: "delisted" }),
        row("OFF-USD", { isDisabled: true }),
        row("ETH-USD"),
      ]);
    },
  };
  const got = await resolveProducts({
    products: "all",
    quoteCurrencies: ["USD", "USDC"],
    shardCount: 1,
    shardIndex: 0,
  }, rest);
  deepStrictEqual(got.map((p) => p.productId), ["BTC-USD", "ETH-USD"]);
  equal((asked as { productType: string }).productType, "SPOT");
  deepStrictEqual((asked as { quoteCurrencies: string[] }).quoteCurrencies, ["USD", "USDC"]);
});
