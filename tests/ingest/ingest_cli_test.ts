import assert from "node:assert/strict";
import { loadConfig } from "../../lib/config.ts";
import { Market } from "../../lib/coinbase/simulator/market.ts";
import { createRestHandler, REST_PREFIX } from "../../lib/coinbase/simulator/rest.ts";
import { parseGranularity } from "../../lib/candles/granularity.ts";
import { openStore } from "../../lib/store/open.ts";
import { PRODUCTS } from "../coinbase/_rest_server.ts";

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
      assert.match(r.stderr, /^ingest: Coinbase does not list product NOPE-USD/);
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
