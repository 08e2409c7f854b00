import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { ConfigError } from "../../lib/config.ts";
import type { Product } from "../../lib/exchange/product.ts";
import { type ProductsQuery, RestClient, RestError } from "../../lib/coinbase/rest.ts";
import {
  catalogueEntry,
  catalogueStatus,
  isServable,
  productFromId,
  resolveProducts,
} from "../../lib/history/catalogue.ts";
import { productsForShard } from "../../lib/history/shard.ts";
import { startRestSim } from "../coinbase/_rest_server.ts";

const row = (id: string, over: Partial<Product> = {}): Product => ({
  ...productFromId(id),
  status: "online",
  ...over,
});

/** A fake REST client answering `rows` (filtered by `productIds` as Coinbase does). */
function fakeRest(rows: Product[]) {
  const asked: ProductsQuery[] = [];
  return {
    asked,
    products: (q: ProductsQuery = {}) => {
      asked.push(q);
      let out = rows.filter((p) => !q.productIds || q.productIds.includes(p.productId));
      if (q.quoteCurrencies) out = out.filter((p) => q.quoteCurrencies!.includes(p.quoteCurrency));
      return Promise.resolve(out);
    },
  };
}

const CATALOGUE = [
  row("BTC-USD"),
  row("BTC-USDC", { alias: "BTC-USD" }),
  row("USDT-USDC"),
  row("OLD-USD", { status: "delisted" }),
  row("OFF-USD", { isDisabled: true }),
  row("NAP-USD", { status: "offline" }),
  row("ETH-USD"),
  row("SOL-USD"),
  row("ADA-USD"),
  row("BTC-EUR"),
];

Deno.test("catalogue rows: one status rule and one served rule", async (t) => {
  await t.step("online and enabled is online; delisted, offline or disabled is delisted", () => {
    equal(catalogueStatus(row("BTC-USD")), "online");
    equal(catalogueStatus(row("OLD-USD", { status: "delisted" })), "delisted");
    equal(catalogueStatus(row("NAP-USD", { status: "offline" })), "delisted");
    equal(catalogueStatus(row("OFF-USD", { isDisabled: true })), "delisted");
  });
  await t.step("catalogueEntry() writes that status, sizes and last_updated in ms", () => {
    const p = row("NAP-USD", { status: "offline", baseMinSize: "0.1", baseMaxSize: "9" });
    deepStrictEqual(catalogueEntry(p, 1773500000123), {
      product_id: "NAP-USD",
      base_currency: "NAP",
      quote_currency: "USD",
      status: "delisted",
      min_size: "0.1",
      max_size: "9",
      last_updated: 1773500000123,
    });
  });
  await t.step("servable: online spot books only (no alias, no future)", () => {
    deepStrictEqual(CATALOGUE.filter(isServable).map((p) => p.productId), [
      "BTC-USD",
      "USDT-USDC",
      "ETH-USD",
      "SOL-USD",
      "ADA-USD",
      "BTC-EUR",
    ]);
    equal(isServable(row("BTC-PERP", { productType: "FUTURE" })), false);
  });
});

Deno.test("resolveProducts() with a list", async (t) => {
  const base = { quoteCurrencies: ["USD"], shardCount: 1, shardIndex: 0 };

  await t.step("asks Coinbase about the ids and keeps this shard's, with their rows", async () => {
    const rest = fakeRest(CATALOGUE);
    const products = ["BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD", "BTC-EUR"];
    const got = await resolveProducts({ ...base, products, shardCount: 2, shardIndex: 1 }, rest);
    deepStrictEqual(got.map((p) => p.productId), productsForShard(products, 2, 1));
    ok(got.every((p) => p.status === "online"), "rows come from Coinbase");
    deepStrictEqual(rest.asked.map((q) => q.productIds), [products]);
  });

  await t.step("an id Coinbase does not know is a ConfigError naming PRODUCTS and it", async () => {
    const rest = fakeRest(CATALOGUE);
    await rejects(
      resolveProducts({ ...base, products: ["BTC-USD", "NOPE-USD", "FOO-USD"] }, rest),
      (e: unknown) => {
        ok(e instanceof ConfigError);
        equal(e.variable, "PRODUCTS");
        equal(e.message, "PRODUCTS lists products Coinbase does not know: NOPE-USD, FOO-USD");
        return true;
      },
    );
  });

  await t.step("known rows that cannot be served are left out, the rest served", async () => {
    const rest = fakeRest(CATALOGUE);
    const got = await resolveProducts({
      ...base,
      products: ["OLD-USD", "BTC-USDC", "OFF-USD", "NAP-USD", "ETH-USD"],
    }, rest);
    deepStrictEqual(got.map((p) => p.productId), ["ETH-USD"]);
  });

  await t.step("a long list is checked against the whole catalogue in one listing", async () => {
    const many = Array.from({ length: 150 }, (_, i) => row(`C${i}-USD`));
    const rest = fakeRest(many);
    const got = await resolveProducts({ ...base, products: many.map((p) => p.productId) }, rest);
    equal(got.length, 150);
    equal(rest.asked.length, 1);
    equal(rest.asked[0]!.productIds, undefined);
  });

  await t.step("a retryable REST error propagates unchanged (the caller retries it)", async () => {
    const error = new RestError("Cannot GET /market/products: 503", {
      method: "GET",
      path: "/market/products",
      status: 503,
      retryable: true,
    });
    const rest = { products: () => Promise.reject(error) };
    await rejects(resolveProducts({ ...base, products: ["BTC-USD"] }, rest), (e) => e === error);
  });
});

Deno.test("resolveProducts() with all: the served rule and QUOTE_CURRENCIES", async (t) => {
  const resolve = (quoteCurrencies: string[]) =>
    resolveProducts({ products: "all", quoteCurrencies, shardCount: 1, shardIndex: 0 }, {
      products: fakeRest(CATALOGUE).products,
    });
  await t.step(
    "USD: online USD books, aliases, delisted, offline and disabled left out",
    async () => {
      deepStrictEqual((await resolve(["USD"])).map((p) => p.productId), [
        "BTC-USD",
        "ETH-USD",
        "SOL-USD",
        "ADA-USD",
      ]);
    },
  );
  await t.step("USD,USDC: USDC books of their own join; BTC-USDC (an alias) does not", async () => {
    deepStrictEqual((await resolve(["USD", "USDC"])).map((p) => p.productId), [
      "BTC-USD",
      "USDT-USDC",
      "ETH-USD",
      "SOL-USD",
      "ADA-USD",
    ]);
  });
});

Deno.test("resolveProducts() against the simulator's REST", async (t) => {
  const sim = startRestSim();
  const rest = new RestClient({
    baseUrl: sim.baseUrl,
    ratePerSecond: 200,
    maxRetries: 2,
    backoffBaseMs: 1,
    backoffMaxMs: 5,
  });
  const config = { quoteCurrencies: ["USD"], shardCount: 1, shardIndex: 0 };
  try {
    await t.step("unknown ids: ConfigError naming PRODUCTS and exactly those ids", async () => {
      await rejects(
        resolveProducts({ ...config, products: ["BTC-USD", "NOPE-USD", "ETH-USD"] }, rest),
        (e: unknown) =>
          e instanceof ConfigError && e.variable === "PRODUCTS" &&
          e.message === "PRODUCTS lists a product Coinbase does not know: NOPE-USD",
      );
    });
    await t.step(
      "known ids: served with Coinbase's fields; the delisted one left out",
      async () => {
        const got = await resolveProducts(
          { ...config, products: ["BTC-USD", "OLD-USD", "BTC-EUR"] },
          rest,
        );
        deepStrictEqual(got.map((p) => [p.productId, p.status, p.quoteCurrency]), [
          ["BTC-USD", "online", "USD"],
          ["BTC-EUR", "online", "EUR"],
        ]);
        ok(got[0]!.baseMinSize !== "", "catalogue fields filled in");
      },
    );
    await t.step(
      "a 5xx that outlasts the client's retries propagates, not as a ConfigError",
      async () => {
        sim.handler.injectFaults({ kind: "5xx", count: 3, status: 503 });
        await rejects(
          resolveProducts({ ...config, products: ["BTC-USD"] }, rest),
          (e: unknown) => e instanceof RestError && e.status === 503 && e.retryable === true,
        );
      },
    );
  } finally {
    await sim.close();
  }
});
