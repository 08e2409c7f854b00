import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { Timestamp } from "@google-cloud/firestore";
import type { Product } from "../../lib/exchange/product.ts";
import type { ProductsQuery } from "../../lib/coinbase/rest.ts";
import { productFromId } from "../../lib/history/catalogue.ts";
import { CatalogueRefresher } from "../../lib/history/catalogue_refresh.ts";
import { FirestoreCandleStore } from "../../lib/store/firestore.ts";
import { createFirestoreClient } from "../../lib/store/firestore_client.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import type { CandleStore } from "../../lib/store/store.ts";
import { emulatorTest } from "../helpers/emulator.ts";

const T0 = Date.UTC(2026, 2, 14, 15, 0);

const row = (id: string, over: Partial<Product> = {}): Product => ({
  ...productFromId(id),
  status: "online",
  baseMinSize: "0.0001",
  baseMaxSize: "5000",
  ...over,
});

/** Coinbase's product list, changeable by the test; counts calls, can fail on demand. */
class FakeCoinbase {
  rows = new Map<string, Product>();
  calls = 0;
  fail?: Error;
  constructor(rows: Product[]) {
    for (const r of rows) this.rows.set(r.productId, r);
  }
  set(id: string, over: Partial<Product>) {
    this.rows.set(id, { ...this.rows.get(id)!, ...over });
  }
  products = (q: ProductsQuery = {}) => {
    this.calls++;
    equal(q.productType, "SPOT");
    return this.fail ? Promise.reject(this.fail) : Promise.resolve([...this.rows.values()]);
  };
}

const START = [
  row("BTC-USD"),
  row("ETH-USD"),
  row("SOL-USD"),
  row("BTC-USDC", { alias: "BTC-USD" }),
  row("OLD-USD", { status: "delisted", tradingDisabled: true }),
];
const SERVED = ["BTC-USD", "ETH-USD", "SOL-USD"];

async function statuses(store: CandleStore) {
  const catalogue = Object.fromEntries(
    (await store.readCatalogue()).map((e) => [e.product_id, e.status]),
  );
  const docs = Object.fromEntries(
    (await store.readProducts(SERVED)).map((d) => [d.product_id, d.status]),
  );
  return { catalogue, docs };
}

Deno.test("CatalogueRefresher.refresh() on KV", async (t) => {
  const store = await openKvCandleStore(":memory:");
  const coinbase = new FakeCoinbase(START);
  let now = T0;
  const reported: string[][] = [];
  const refresher = new CatalogueRefresher({
    rest: coinbase,
    store,
    served: () => SERVED,
    clock: () => now,
    onDelisted: (ids) => reported.push(ids),
  });
  try {
    await t.step(
      "the first refresh writes every row and the served products' documents",
      async () => {
        const r = await refresher.refresh();
        deepStrictEqual(r, { catalogueRows: 5, productDocs: 3, newlyDelisted: [] });
        deepStrictEqual(await statuses(store), {
          catalogue: {
            "BTC-USD": "online",
            "ETH-USD": "online",
            "SOL-USD": "online",
            "BTC-USDC": "online",
            "OLD-USD": "delisted",
          },
          docs: { "BTC-USD": "online", "ETH-USD": "online", "SOL-USD": "online" },
        });
        const [btc] = await store.readProducts(["BTC-USD"]);
        deepStrictEqual(
          { ...btc, lastUpdate: typeof btc!.lastUpdate },
          {
            product_id: "BTC-USD",
            base_currency: "BTC",
            quote_currency: "USD",
            status: "online",
            lastUpdate: "number",
          },
        );
        ok((await store.readCatalogue()).every((e) => e.last_updated === T0));
        deepStrictEqual(refresher.delisted(), []);
        equal(refresher.lastRefreshMs, T0);
      },
    );

    await t.step("a refresh with nothing changed writes nothing", async () => {
      now += 3_600_000;
      deepStrictEqual(await refresher.refresh(), {
        catalogueRows: 0,
        productDocs: 0,
        newlyDelisted: [],
      });
      ok((await store.readCatalogue()).every((e) => e.last_updated === T0));
    });

    await t.step("a served product Coinbase delists turns delisted and is reported", async () => {
      now += 3_600_000;
      coinbase.set("ETH-USD", { status: "delisted", tradingDisabled: true });
      coinbase.set("BTC-USD", { baseMinSize: "0.001" }); // a changed row that stays online
      const r = await refresher.refresh();
      deepStrictEqual(r, { catalogueRows: 2, productDocs: 1, newlyDelisted: ["ETH-USD"] });
      deepStrictEqual(refresher.delisted(), ["ETH-USD"]);
      deepStrictEqual(reported, [["ETH-USD"]]);
      const { catalogue, docs } = await statuses(store);
      equal(catalogue["ETH-USD"], "delisted");
      equal(docs["ETH-USD"], "delisted");
      const eth = (await store.readCatalogue()).find((e) => e.product_id === "ETH-USD")!;
      equal(eth.last_updated, now, "the changed row carries the refresh time");
      const btc = (await store.readCatalogue()).find((e) => e.product_id === "BTC-USD")!;
      equal(btc.min_size, "0.001");
    });

    await t.step("a served product Coinbase no longer lists turns delisted too", async () => {
      coinbase.rows.delete("SOL-USD");
      const r = await refresher.refresh();
      deepStrictEqual(r.newlyDelisted, ["SOL-USD"]);
      deepStrictEqual(refresher.delisted(), ["ETH-USD", "SOL-USD"]);
      const { catalogue, docs } = await statuses(store);
      equal(catalogue["SOL-USD"], "delisted");
      deepStrictEqual(docs["SOL-USD"], "delisted");
      const [sol] = await store.readProducts(["SOL-USD"]);
      equal(sol!.base_currency, "SOL");
    });

    await t.step(
      "a disabled served product counts as delisted; back online it leaves the list",
      async () => {
        coinbase.set("BTC-USD", { isDisabled: true });
        coinbase.set("ETH-USD", { status: "online", tradingDisabled: false });
        const r = await refresher.refresh();
        deepStrictEqual(r.newlyDelisted, ["BTC-USD"]);
        deepStrictEqual(refresher.delisted(), ["BTC-USD", "SOL-USD"]);
        equal((await statuses(store)).docs["ETH-USD"], "online");
        deepStrictEqual(reported, [["ETH-USD"], ["SOL-USD"], ["BTC-USD"]]);
      },
    );
  } finally {
    await store.close();
  }
});

Deno.test("CatalogueRefresher start/stop: at once, then every interval; a failure retries sooner", async (t) => {
  const store = await openKvCandleStore(":memory:");
  const coinbase = new FakeCoinbase(START);
  const waits: { ms: number; release: () => void }[] = [];
  const waited = async (n: number) => {
    for (let i = 0; i < 1000 && waits.length < n; i++) {
      await new Promise((r) => setTimeout(r, 1));
    }
    equal(waits.length, n, `the loop reached wait ${n}`);
  };
  const refresher = new CatalogueRefresher({
    rest: coinbase,
    store,
    served: () => SERVED,
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        waits.push({ ms, release: resolve });
        signal.addEventListener("abort", () => resolve(), { once: true });
      }),
  });
  try {
    refresher.start();
    await t.step("the first refresh runs at once, then it waits an hour", async () => {
      await waited(1);
      equal(coinbase.calls, 1);
      equal(waits[0]!.ms, 3_600_000);
      equal((await store.readProducts(SERVED)).length, 3);
    });
    await t.step("after the wait it refreshes again", async () => {
      coinbase.set("ETH-USD", { status: "delisted" });
      waits[0]!.release();
      await waited(2);
      equal(coinbase.calls, 2);
      deepStrictEqual(refresher.delisted(), ["ETH-USD"]);
    });
    await t.step("a failed refresh waits the retry delay (a minute), then succeeds", async () => {
      coinbase.fail = new Error("Coinbase is down");
      waits[1]!.release();
      await waited(3);
      equal(waits[2]!.ms, 60_000);
      coinbase.fail = undefined;
      coinbase.set("ETH-USD", { status: "online" });
      waits[2]!.release();
      await waited(4);
      equal(waits[3]!.ms, 3_600_000);
      deepStrictEqual(refresher.delisted(), []);
    });
    await t.step("stop() ends the loop during a wait", async () => {
      await refresher.stop();
      equal(coinbase.calls, 4);
    });
  } finally {
    await refresher.stop();
    await store.close();
  }
});

emulatorTest("CatalogueRefresher on Firestore (emulator)", async (t, emulator) => {
  const options = { emulatorHost: emulator.host, projectId: emulator.projectId };
  const store = new FirestoreCandleStore(options);
  const raw = createFirestoreClient(options);
  const coinbase = new FakeCoinbase(START);
  const refresher = new CatalogueRefresher({
    rest: coinbase,
    store,
    served: () => SERVED,
    clock: () => T0,
  });
  try {
    // A fresh emulator's first commits can outlast the client's 10 s deadline on a loaded machine.
    for (let attempt = 1;; attempt++) {
      try {
        await raw.doc("warm-up/commit").set({ at: attempt });
        break;
      } catch (e) {
        if (attempt === 3) throw e;
      }
    }
    await t.step(
      "documents carry DESIGN.md's fields: lastUpdate a timestamp, last_updated ms",
      async () => {
        await refresher.refresh();
        const products = await raw.collection("exchanges/coinbase/products").get();
        deepStrictEqual(products.docs.map((d) => d.id).sort(), SERVED);
        const btc = products.docs.find((d) => d.id === "BTC-USD")!.data();
        ok(btc.lastUpdate instanceof Timestamp);
        deepStrictEqual({ ...btc, lastUpdate: null }, {
          product_id: "BTC-USD",
          base_currency: "BTC",
          quote_currency: "USD",
          status: "online",
          lastUpdate: null,
        });
        const catalogue = (await raw.doc("trading_pairs/exchanges").get()).get("coinbase");
        deepStrictEqual(catalogue["OLD-USD"], {
          base_currency: "OLD",
          quote_currency: "USD",
          status: "delisted",
          min_size: "0.0001",
          max_size: "5000",
          last_updated: T0,
        });
        equal(Object.keys(catalogue).length, 5);
      },
    );
    await t.step("a delisting merges into the same documents", async () => {
      coinbase.set("SOL-USD", { status: "delisted" });
      await refresher.refresh();
      const sol = await raw.doc("exchanges/coinbase/products/SOL-USD").get();
      equal(sol.get("status"), "delisted");
      const catalogue = (await raw.doc("trading_pairs/exchanges").get()).get("coinbase");
      equal(catalogue["SOL-USD"].status, "delisted");
      equal(catalogue["BTC-USD"].status, "online");
    });
  } finally {
    await store.close();
    await raw.terminate();
  }
});
