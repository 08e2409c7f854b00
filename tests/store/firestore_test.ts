import assert from "node:assert/strict";
import { Timestamp } from "@google-cloud/firestore";
import { FirestoreCandleStore } from "../../lib/store/firestore.ts";
import { createFirestoreClient } from "../../lib/store/firestore_client.ts";
import { emulatorTest } from "../helpers/emulator.ts";
import { candle, doc, runContract } from "./contract.ts";

const T0 = 1773500700;

emulatorTest("FirestoreCandleStore contract (emulator)", async (t, emulator) => {
  const options = { emulatorHost: emulator.host, projectId: emulator.projectId };
  const compat = new FirestoreCandleStore(options);
  const compact = new FirestoreCandleStore({ ...options, layout: "compact" });
  const raw = createFirestoreClient(options);
  try {
    await t.step("compat layout", (t) => runContract(t, compat, () => emulator.clear()));
    await t.step("compact layout", (t) => runContract(t, compact, () => emulator.clear()));

    await t.step("documents have DESIGN.md's paths and fields", async () => {
      await emulator.clear();
      await compat.writeLive([doc("BTC-USD", "ONE_MINUTE", candle(T0, 1))]);
      await compat.writeCompleted([doc("BTC-USD", "FIVE_MINUTE", candle(T0, 2))]);
      await compat.writeCheckpoint("BTC-USD", "ONE_HOUR", T0 - 300);
      await compat.writeCatalogue([{
        product_id: "BTC-USD",
        base_currency: "BTC",
        quote_currency: "USD",
        status: "online",
        min_size: "0.00000001",
        max_size: "3400",
        last_updated: 1773500000000,
      }]);
      const live = await raw.doc("exchanges/coinbase/products/BTC-USD/intervals/ONE_MINUTE").get();
      const { lastUpdate, ...liveRest } = live.data()!;
      assert.ok(lastUpdate instanceof Timestamp, "lastUpdate is a server timestamp");
      assert.deepEqual(liveRest, { timestamp: T0, ...ohlcv(candle(T0, 1)) });
      const completed = await raw.doc(
        `exchanges/coinbase/products/BTC-USD/history/FIVE_MINUTE/candles/${T0 * 1000}`,
      ).get();
      assert.deepEqual(completed.data(), {
        ...ohlcv(candle(T0, 2)),
        first_timestamp: T0 * 1000,
        last_timestamp: T0 * 1000 + 300_000 - 1,
      });
      const checkpoint = await raw.doc("exchanges/coinbase/products/BTC-USD/ingest/ONE_HOUR").get();
      assert.equal(checkpoint.get("through"), T0 - 300);
      const catalogue = await raw.doc("trading_pairs/exchanges").get();
      assert.deepEqual(catalogue.get("coinbase"), {
        "BTC-USD": {
          base_currency: "BTC",
          quote_currency: "USD",
          status: "online",
          min_size: "0.00000001",
          max_size: "3400",
          last_updated: 1773500000000,
        },
      });
    });

    await t.step(
      "product documents: DESIGN.md's fields, merged over the compact live map",
      async () => {
        await emulator.clear();
        await compact.writeLive([doc("BTC-USD", "ONE_MINUTE", candle(T0, 1))]);
        await compact.writeProducts([{
          product_id: "BTC-USD",
          base_currency: "BTC",
          quote_currency: "USD",
          status: "online",
        }]);
        const product = await raw.doc("exchanges/coinbase/products/BTC-USD").get();
        const { lastUpdate, intervals, ...fields } = product.data()!;
        assert.ok(lastUpdate instanceof Timestamp, "lastUpdate is a server timestamp");
        assert.deepEqual(fields, {
          product_id: "BTC-USD",
          base_currency: "BTC",
          quote_currency: "USD",
          status: "online",
        });
        assert.deepEqual(Object.keys(intervals), ["ONE_MINUTE"], "the live map is kept");
        assert.equal((await compact.readLive("BTC-USD")).length, 1);
      },
    );

    await t.step("deletePluralDocuments(): the seed's plural ids only, dry run first", async () => {
      await emulator.clear();
      const plural = [
        "exchanges/coinbase/products/BTC-USD/intervals/FIVE_MINUTES",
        "exchanges/coinbase/products/BTC-USD/history/TWO_HOURS/candles/1773496800000",
        "exchanges/coinbase/products/BTC-USD/history/TWO_HOURS/candles/1773504000000",
        "exchanges/coinbase/products/BTC-USD/ingest/SIX_HOURS",
        "exchanges/coinbase/products/ETH-USD/intervals/THIRTY_MINUTES", // no product document
      ];
      for (const path of plural) await raw.doc(path).set({ open: 1 });
      await compat.writeProducts([{
        product_id: "BTC-USD",
        base_currency: "BTC",
        quote_currency: "USD",
        status: "online",
      }]);
      await compat.writeLive([doc("BTC-USD", "FIVE_MINUTE", candle(T0))]);
      await compat.writeCompleted([doc("BTC-USD", "TWO_HOUR", candle(T0 - (T0 % 7200)))]);
      const exists = async () =>
        (await Promise.all(plural.map((p) => raw.doc(p).get()))).filter((s) => s.exists).length;

      const dry = await compat.deletePluralDocuments({ dryRun: true });
      assert.deepEqual({ ...dry, examples: dry.examples.length }, {
        products: 2,
        documents: 5,
        examples: 4,
      });
      assert.equal(await exists(), 5, "a dry run deletes nothing");

      const real = await compat.deletePluralDocuments({ dryRun: false });
      assert.equal(real.documents, 5);
      assert.equal(await exists(), 0);
      assert.equal((await compat.readLive("BTC-USD")).length, 1);
      assert.equal((await compat.readCompleted("BTC-USD", "TWO_HOUR", { limit: 9 })).length, 1);
      assert.equal((await compat.readProducts(["BTC-USD"])).length, 1);
    });

    await t.step("the catalogue merge keeps other exchanges' fields", async () => {
      await emulator.clear();
      await raw.doc("trading_pairs/exchanges").set({ kraken: { "XBT-USD": { status: "online" } } });
      await compat.writeCatalogue([{
        product_id: "ETH-USD",
        base_currency: "ETH",
        quote_currency: "USD",
        status: "online",
        min_size: "0.0001",
        max_size: "5000",
        last_updated: 1,
      }]);
      const data = (await raw.doc("trading_pairs/exchanges").get()).data()!;
      assert.deepEqual(Object.keys(data).sort(), ["coinbase", "kraken"]);
    });

    await t.step("compact layout: one product document holds every granularity", async () => {
      await emulator.clear();
      await compact.writeLive([
        doc("BTC-USD", "ONE_MINUTE", candle(T0, 1)),
        doc("BTC-USD", "ONE_DAY", candle(T0 - (T0 % 86400), 3)),
      ]);
      await compact.writeLive([doc("BTC-USD", "ONE_MINUTE", candle(T0 + 60, 2))]);
      const product = await raw.doc("exchanges/coinbase/products/BTC-USD").get();
      const intervals = product.get("intervals") as Record<string, Record<string, unknown>>;
      assert.deepEqual(Object.keys(intervals).sort(), ["ONE_DAY", "ONE_MINUTE"]);
      const { lastUpdate, ...minute } = intervals.ONE_MINUTE!;
      assert.ok(lastUpdate instanceof Timestamp);
      assert.deepEqual(minute, { timestamp: T0 + 60, ...ohlcv(candle(T0 + 60, 2)) });
      const separate = await raw.collection("exchanges/coinbase/products/BTC-USD/intervals").get();
      assert.equal(separate.size, 0, "compact writes no per-granularity documents");
    });
  } finally {
    await compat.close();
    await compact.close();
    await raw.terminate();
  }
});

emulatorTest(
  "firestore.rules: clients read candles and the catalogue, never write",
  async (t, emulator) => {
    const store = new FirestoreCandleStore({
      emulatorHost: emulator.host,
      projectId: emulator.projectId,
    });
    const base =
      `http://${emulator.host}/v1/projects/${emulator.projectId}/databases/(default)/documents`;
    const request = async (method: string, path: string, owner = false) => {
      const response = await fetch(`${base}/${path}`, {
        method,
        headers: {
          "content-type": "application/json",
          ...(owner ? { authorization: "Bearer owner" } : {}),
        },
        body: method === "PATCH"
          ? JSON.stringify({ fields: { open: { doubleValue: 1 } } })
          : undefined,
      });
      await response.body?.cancel();
      return response.status;
    };
    try {
      await store.writeLive([doc("BTC-USD", "ONE_MINUTE", candle(T0))]);
      await store.writeCompleted([doc("BTC-USD", "ONE_MINUTE", candle(T0))]);
      await store.writeCheckpoint("BTC-USD", "ONE_MINUTE", T0);
      const live = "exchanges/coinbase/products/BTC-USD/intervals/ONE_MINUTE";
      const completed = `exchanges/coinbase/products/BTC-USD/history/ONE_MINUTE/candles/${
        T0 * 1000
      }`;
      await t.step("unauthenticated reads of candles and the catalogue are allowed", async () => {
        assert.equal(await request("GET", live), 200);
        assert.equal(await request("GET", completed), 200);
        assert.equal(await request("GET", "exchanges/coinbase/products/BTC-USD"), 404); // allowed, absent
        assert.equal(await request("GET", "trading_pairs/exchanges"), 404);
      });
      await t.step("unauthenticated writes are denied everywhere", async () => {
        assert.equal(await request("PATCH", live), 403);
        assert.equal(await request("PATCH", completed), 403);
        assert.equal(await request("PATCH", "trading_pairs/exchanges"), 403);
        assert.equal(await request("DELETE", live), 403);
        assert.equal(await request("PATCH", "somewhere/else"), 403);
      });
      await t.step("ingest checkpoints are not readable by clients", async () => {
        assert.equal(
          await request("GET", "exchanges/coinbase/products/BTC-USD/ingest/ONE_MINUTE"),
          403,
        );
      });
      await t.step("the admin identity (Bearer owner) bypasses the rules", async () => {
        assert.equal(await request("PATCH", live, true), 200);
      });
    } finally {
      await store.close();
    }
  },
  { rules: new URL("../../firestore.rules", import.meta.url).pathname },
);

/**
 * A `fetch` for the store that records each commit's number of writes; `fail(n)` (n counting
 * commits from 1) makes commit n answer 503 UNAVAILABLE instead, without reaching Firestore.
 */
function recordCommits(fail: (n: number) => boolean = () => false) {
  const sizes: number[] = [];
  const wrapped: typeof fetch = (input, init) => {
    if (String(input).endsWith(":commit")) {
      sizes.push((JSON.parse(String(init?.body)) as { writes: unknown[] }).writes.length);
      if (fail(sizes.length)) {
        return Promise.resolve(
          Response.json(
            { error: { code: 503, status: "UNAVAILABLE", message: "injected outage" } },
            { status: 503 },
          ),
        );
      }
    }
    return fetch(input, init);
  };
  return { sizes, fetch: wrapped };
}

emulatorTest("FirestoreCandleStore writes candles in chunks (emulator)", async (t, emulator) => {
  const options = { emulatorHost: emulator.host, projectId: emulator.projectId };
  const products = (n: number) => Array.from({ length: n }, (_, i) => `P${i}-USD`);

  await t.step("compat: 95 live and 30 completed in commits of at most 10", async () => {
    await emulator.clear();
    const { sizes, fetch } = recordCommits();
    const store = new FirestoreCandleStore({
      ...options,
      fetch,
      writeChunk: 10,
      writeConcurrency: 2,
    });
    try {
      await store.writeLive(products(95).map((p, i) => doc(p, "ONE_MINUTE", candle(T0, i))));
      assert.deepEqual(sizes, [10, 10, 10, 10, 10, 10, 10, 10, 10, 5]);
      sizes.length = 0;
      await store.writeCompleted(
        Array.from({ length: 30 }, (_, i) => doc("BTC-USD", "ONE_MINUTE", candle(T0 + 60 * i))),
      );
      assert.deepEqual(sizes, [10, 10, 10]);
      const live = await store.readLiveMany(products(95));
      assert.equal([...live.values()].filter((l) => l.length === 1).length, 95);
      assert.equal((await store.readCompleted("BTC-USD", "ONE_MINUTE", { limit: 99 })).length, 30);
    } finally {
      await store.close();
    }
  });

  await t.step("compact: a chunk weighs its documents' candles (2 products of 4)", async () => {
    await emulator.clear();
    const { sizes, fetch } = recordCommits();
    const store = new FirestoreCandleStore({
      ...options,
      fetch,
      layout: "compact",
      writeChunk: 10,
      writeConcurrency: 3,
    });
    const granularities = ["ONE_MINUTE", "FIVE_MINUTE", "ONE_HOUR", "ONE_DAY"] as const;
    try {
      await store.writeLive(
        products(12).flatMap((p) => granularities.map((g) => doc(p, g, candle(T0)))),
      );
      assert.deepEqual(sizes, [2, 2, 2, 2, 2, 2]);
      const live = await store.readLiveMany(products(12));
      assert.equal([...live.values()].filter((l) => l.length === 4).length, 12);
    } finally {
      await store.close();
    }
  });

  await t.step(
    "a failed chunk rejects the whole call with its context; a retry lands",
    async () => {
      await emulator.clear();
      let outage = true;
      const { sizes, fetch } = recordCommits((n) => outage && n === 3);
      const store = new FirestoreCandleStore({
        ...options,
        fetch,
        writeChunk: 10,
        writeConcurrency: 2,
      });
      const docs = products(95).map((p, i) => doc(p, "ONE_MINUTE", candle(T0, i)));
      try {
        await assert.rejects(
          store.writeLive(docs),
          (e: Error) => {
            assert.match(
              e.message,
              /^Cannot write 10 live candles \(21-30 of 95, chunk 3 of 10\) in Firestore \(first P20-USD ONE_MINUTE 1773500700\) \[code 14\]: UNAVAILABLE: injected outage \(\d+ of 10 chunks landed, 1 failed, \d+ not attempted\)$/,
            );
            return true;
          },
        );
        assert.ok(sizes.length < 10, "no chunk starts after the failure");
        outage = false;
        await store.writeLive(docs);
        const live = await store.readLiveMany(products(95));
        assert.equal([...live.values()].filter((l) => l.length === 1).length, 95);
      } finally {
        await store.close();
      }
    },
  );
});

function ohlcv(c: ReturnType<typeof candle>) {
  const { open, high, low, close, volume } = c;
  return { open, high, low, close, volume };
}
