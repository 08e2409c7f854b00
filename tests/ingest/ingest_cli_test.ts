import assert from "node:assert/strict";
import { loadConfig } from "../../lib/config.ts";
import { Market } from "../../lib/simulator/market.ts";
import { createRestHandler, REST_PREFIX } from "../../lib/coinbase/simulator/rest.ts";
import { parseGranularity } from "../../lib/candles/granularity.ts";
import { openStore } from "../../lib/store/open.ts";
import { createFirestoreClient } from "../../lib/store/firestore_client.ts";
import { PRODUCTS } from "../coinbase/_rest_server.ts";
import { emulatorTest } from "../helpers/emulator.ts";
import { krakenDemoProducts, startKrakenSimulator } from "../../lib/kraken/simulator.ts";

const INGEST = new URL("../../ingest.ts", import.meta.url).pathname;

/** Runs `ingest.ts` with only the given environment (plus PATH/HOME for Deno). */
async function ingest(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", INGEST, ...args],
    env: { NO_COLOR: "1", LOG_LEVEL: "warning", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A simulator REST server on the wall clock, with two days of history. */
function wallClockSim() {
  const market = new Market({
    products: PRODUCTS,
    seed: 11,
    startMs: Date.now(),
    historyMs: 2 * 86400_000,
    historyTradesPerSecond: 0.1,
  });
  const handler = createRestHandler(market);
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, handler);
  return {
    market,
    handler,
    url: `http://127.0.0.1:${server.addr.port}${REST_PREFIX}`,
    close: () => server.shutdown(),
  };
}

Deno.test("ingest.ts: bad flags, dates and products exit 2 with one line", async (t) => {
  for (
    const [args, message] of [
      [["--bogus"], /Unknown flag "--bogus"/],
      [["--from", "yesterday"], /--from "yesterday" is not a date/],
      [["--products", "BTCUSD"], /malformed product id "BTCUSD"/],
      [["--granularities", "7m"], /Unknown granularity "7m"/],
      [["--days", "x"], /--days must be a positive number/],
    ] as [string[], RegExp][]
  ) {
    await t.step(args.join(" "), async () => {
      const r = await ingest(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.equal(r.stdout, "");
    });
  }
  await t.step("a product Coinbase does not list", async () => {
    const sim = wallClockSim();
    try {
      const r = await ingest(["--products", "BTC-USD,NOPE-USD", "--days", "1"], {
        COINBASE_REST_URL: sim.url,
      });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /^ingest: --products lists a product Coinbase does not know: NOPE-USD\n$/,
      );
    } finally {
      await sim.close();
    }
  });
  await t.step("a final Coinbase answer (403) exits 1 saying a retry cannot help", async () => {
    const sim = wallClockSim();
    try {
      sim.handler.injectFaults({ kind: "5xx", count: 1, status: 403 });
      const r = await ingest(["--products", "BTC-USD", "--days", "1"], {
        COINBASE_REST_URL: sim.url,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^ingest: GET \/market\/products\?.* failed with 403 /m);
      assert.match(r.stderr, /\(a retry cannot help: check the products, range and key\)\n$/);
      assert.equal(sim.handler.requests.length, 1, "the 403 was not retried");
    } finally {
      await sim.close();
    }
  });
  await t.step("--help documents the flags and exits 0", async () => {
    const r = await ingest(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--granularities/);
    assert.match(r.stdout, /--catalogue/);
  });
});

Deno.test("ingest.ts backfills into KV and prints a summary; a re-run fetches nothing", async () => {
  const sim = wallClockSim();
  const dir = await Deno.makeTempDir();
  const env = { COINBASE_REST_URL: sim.url, STORE: "kv", KV_PATH: `${dir}/spot.kv` };
  try {
    const args = ["--products", "BTC-USD,ETH-USD", "--granularities", "1m,ONE_HOUR", "--days", "1"];
    const r = await ingest([...args, "--catalogue"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Catalogue: 4 online and 1 delisted products written/);
    assert.match(r.stdout, /^BTC-USD\s+ONE_MINUTE\s+1,4\d\d\s+5\s+0\s/m);
    assert.match(r.stdout, /^ETH-USD\s+ONE_HOUR\s+2[34]\s+1\s+0\s/m);
    assert.match(r.stdout, /Done: [\d,]+ candles, 12 requests/);
    assert.match(r.stderr, /backfill: 100% 12\/12 pages/); // plain progress lines off a TTY
    const requests = sim.handler.requests.length;

    const again = await ingest(args, env);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(sim.handler.requests.length - requests <= 1 + 4, "a re-run refetched"); // product check + newest edges
    assert.match(again.stdout, /Done: \d+ candles/);

    const store = await openStore(loadConfig((name) => env[name as keyof typeof env]));
    try {
      const g = parseGranularity("1h");
      const stored = await store.readCompleted("BTC-USD", g.id, { limit: 100 });
      const last = stored.at(-1)!;
      assert.deepEqual(stored, sim.market.candles("BTC-USD", g, stored[0]!.start, last.start));
      assert.ok(last.start + 3600 <= Date.now() / 1000, "the in-progress hour was stored");
      const catalogue = await store.readCatalogue();
      assert.equal(catalogue.length, PRODUCTS.length);
    } finally {
      await store.close();
    }
  } finally {
    await sim.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ingest.ts --delete-plural-documents: a dry run lists, a real run deletes (KV)", async () => {
  const dir = await Deno.makeTempDir();
  const env = { STORE: "kv", KV_PATH: `${dir}/spot.kv` };
  const P = ["exchanges", "coinbase", "products"];
  const plural: Deno.KvKey[] = [
    [...P, "BTC-USD", "intervals", "FIVE_MINUTES"],
    [...P, "BTC-USD", "history", "SIX_HOURS", "candles", 1773496800000],
    [...P, "ETH-USD", "intervals", "TWO_HOURS"],
  ];
  const singular: Deno.KvKey = [...P, "BTC-USD", "intervals", "FIVE_MINUTE"];
  const kv = await Deno.openKv(env.KV_PATH);
  try {
    for (const key of [...plural, singular]) await kv.set(key, { open: 1 });
    const dry = await ingest(["--delete-plural-documents", "--dry-run"], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^Plural documents: 3 in 2 products would be deleted \(dry run\)$/m);
    assert.match(
      dry.stdout,
      /^ {2}exchanges\/coinbase\/products\/BTC-USD\/intervals\/FIVE_MINUTES$/m,
    );
    assert.equal((await kv.get(plural[0]!)).versionstamp !== null, true, "dry run kept it");

    const real = await ingest(["--delete-plural-documents"], env);
    assert.equal(real.code, 0, real.stderr);
    assert.match(real.stdout, /^Plural documents: 3 in 2 products deleted$/m);
    for (const key of plural) assert.equal((await kv.get(key)).versionstamp, null);
    assert.notEqual((await kv.get(singular)).versionstamp, null);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

emulatorTest("ingest.ts --delete-plural-documents on Firestore (emulator)", async (t, emulator) => {
  const env = {
    STORE: "firestore",
    FIRESTORE_EMULATOR_HOST: emulator.host,
    GOOGLE_CLOUD_PROJECT: emulator.projectId,
  };
  const raw = createFirestoreClient({ emulatorHost: emulator.host, projectId: emulator.projectId });
  const base = "exchanges/coinbase/products";
  const plural = [
    `${base}/BTC-USD/intervals/FIFTEEN_MINUTES`,
    `${base}/BTC-USD/history/FIVE_MINUTES/candles/1773500700000`,
    `${base}/ETH-USD/history/TWO_HOURS/candles/1773496800000`,
  ];
  const singular = `${base}/BTC-USD/intervals/FIFTEEN_MINUTE`;
  try {
    for (const path of [...plural, singular]) await raw.doc(path).set({ open: 1 });
    const exists = async (path: string) => (await raw.doc(path).get()).exists;
    await t.step("--dry-run counts them and deletes nothing", async () => {
      const r = await ingest(["--delete-plural-documents", "--dry-run"], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Plural documents: 3 in 2 products would be deleted \(dry run\)$/m);
      for (const path of plural) assert.ok(await exists(path), path);
    });
    await t.step("the real run deletes them and keeps the singular document", async () => {
      const r = await ingest(["--delete-plural-documents"], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Plural documents: 3 in 2 products deleted$/m);
      for (const path of plural) assert.equal(await exists(path), false, path);
      assert.ok(await exists(singular));
    });
  } finally {
    await raw.terminate();
  }
});

Deno.test("ingest.ts --exchange kraken backfills Kraken's pairs from REST Trades into exchanges/kraken/…", async () => {
  // Kraken's real public limit is ~1/s: the simulator's and the client's are raised together so
  // that a day of minutes (a few hundred Trades pages in all) fits a test.
  const sim = await startKrakenSimulator({
    products: krakenDemoProducts(2),
    historyMs: 2 * 86400_000,
    historyTradesPerSecond: 0.05,
    rest: { publicLimit: { ratePerSecond: 200, burst: 200 } },
  });
  const dir = await Deno.makeTempDir();
  const env = {
    KRAKEN_REST_URL: sim.restUrl,
    KRAKEN_REST_RATE: "200",
    STORE: "kv",
    KV_PATH: `${dir}/spot.kv`,
  };
  try {
    const bad = await ingest(["--exchange", "bitstamp"], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^ingest: --exchange must be coinbase or kraken, got "bitstamp"\n$/);
    const unknown = await ingest(["--exchange", "kraken", "--products", "NOPE/USD"], env);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(
      unknown.stderr,
      /--products lists a product Kraken does not know: kraken:NOPE-USD/,
    );

    const r = await ingest(
      ["--exchange", "kraken", "--products", "BTC/USD", "--granularities", "1m,1h", "--days", "1"],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^kraken:BTC-USD\s+ONE_MINUTE\s/m);
    const store = await openStore(loadConfig((name) => env[name as keyof typeof env]));
    try {
      for (const id of ["1m", "1h"]) {
        const g = parseGranularity(id);
        const stored = await store.readCompleted("kraken:BTC-USD", g.id, { limit: 5000 });
        assert.ok(stored.length > (g.seconds === 60 ? 500 : 20), `${g.id}: ${stored.length}`);
        const truth = sim.market.candles("BTC/USD", g, stored[0]!.start, stored.at(-1)!.start);
        assert.deepEqual(stored, truth, g.id);
      }
      // Coinbase's BTC-USD is another product: nothing was written under its paths.
      assert.deepEqual(await store.readCompleted("BTC-USD", "ONE_MINUTE", { limit: 1 }), []);
    } finally {
      await store.close();
    }
  } finally {
    await sim.close();
    await Deno.remove(dir, { recursive: true });
  }
});
