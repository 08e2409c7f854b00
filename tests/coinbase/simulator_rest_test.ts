import assert from "node:assert/strict";
import { exportJWK, SignJWT } from "jose";
import { GRANULARITIES, parseGranularity } from "../../lib/candles/granularity.ts";
import { Market } from "../../lib/simulator/market.ts";
import { createRestHandler, maxInWindow, REST_PREFIX } from "../../lib/coinbase/simulator/rest.ts";
import { RATE_LIMIT_HTML } from "../../lib/coinbase/simulator/rest_limits.ts";
import { productRow } from "../../lib/coinbase/simulator/rest_products.ts";
import { parseProduct } from "../../lib/coinbase/product.ts";
import { isServable } from "../../lib/history/catalogue.ts";
import { NOW_MS, PRODUCTS } from "./_rest_server.ts";

const HOST = "http://sim.test";

function setup(options: Parameters<typeof createRestHandler>[1] = {}) {
  const market = new Market({
    products: PRODUCTS,
    seed: 3,
    startMs: NOW_MS,
    historyMs: 2 * 86400_000,
  });
  let now = NOW_MS;
  const handler = createRestHandler(market, {
    clock: () => now,
    publicLimit: { ratePerSecond: 1000, burst: 1000 },
    ...options,
  });
  const get = async (path: string, init?: RequestInit) => {
    const res = await handler(new Request(`${HOST}${REST_PREFIX}${path}`, init));
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) };
  };
  return { market, handler, get, setNow: (ms: number) => now = ms };
}

const nowSec = Math.floor(NOW_MS / 1000);

Deno.test("simulator candles follow Coinbase's rules", async (t) => {
  const { market, get } = setup();
  const g = parseGranularity("1m");
  const start = nowSec - 3600 * 5;

  await t.step("newest first, strings, equal to ground truth", async () => {
    const end = start + 299 * 60;
    const r = await get(
      `/market/products/BTC-USD/candles?start=${start}&end=${end}&granularity=ONE_MINUTE`,
    );
    assert.equal(r.status, 200);
    const rows = r.json().candles as Record<string, string>[];
    const truth = market.candles("BTC-USD", g, start, end);
    assert.equal(rows.length, truth.length);
    assert.ok(rows.length > 250);
    for (const row of rows) for (const v of Object.values(row)) assert.equal(typeof v, "string");
    assert.deepEqual(
      rows.map((c) => Number(c.start)),
      truth.map((c) => c.start).reverse(),
    );
    const newest = rows[0]!;
    const last = truth.at(-1)!;
    assert.deepEqual(
      [newest.open, newest.high, newest.low, newest.close].map(Number),
      [last.open, last.high, last.low, last.close],
    );
    assert.equal(Number(newest.volume), last.volume);
  });

  await t.step("350 inclusive buckets are fine, 351 get the exact 400", async () => {
    const ok = await get(
      `/market/products/BTC-USD/candles?start=${start}&end=${
        start + 349 * 60
      }&granularity=ONE_MINUTE`,
    );
    assert.equal(ok.status, 200);
    const bad = await get(
      `/market/products/BTC-USD/candles?start=${start}&end=${
        start + 350 * 60
      }&granularity=ONE_MINUTE`,
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error, "INVALID_ARGUMENT");
    assert.equal(
      bad.json().error_details,
      "start and end argument is invalid - number of candles requested should be less than 350",
    );
  });

  await t.step("seed-style or missing granularity names are invalid", async () => {
    for (const q of ["granularity=FIVE_MINUTES", "granularity=5m", ""]) {
      const r = await get(
        `/market/products/BTC-USD/candles?start=${start}&end=${start + 600}&${q}`,
      );
      assert.equal(r.status, 400, q);
      assert.match(r.text, /granularity argument is invalid/);
    }
    for (const g of GRANULARITIES) {
      const r = await get(
        `/market/products/BTC-USD/candles?start=${start}&end=${
          start + g.seconds * 10
        }&granularity=${g.rest}`,
      );
      assert.equal(r.status, 200, g.rest);
    }
  });

  await t.step("start and end are required unix seconds", async () => {
    const r = await get(
      `/market/products/BTC-USD/candles?start=2026-03-01&end=${start}&granularity=ONE_HOUR`,
    );
    assert.equal(r.status, 400);
    assert.equal((await get(`/market/products/BTC-USD/candles?granularity=ONE_HOUR`)).status, 400);
  });

  await t.step("empty buckets are absent for an illiquid product", async () => {
    const end = start + 299 * 60;
    const r = await get(
      `/market/products/DOGE-USD/candles?start=${start}&end=${end}&granularity=ONE_MINUTE`,
    );
    const rows = r.json().candles as unknown[];
    assert.ok(rows.length < 300);
    assert.equal(rows.length, market.candles("DOGE-USD", g, start, end).length);
  });

  await t.step("unknown product is Coinbase's 404", async () => {
    const r = await get(
      `/market/products/NOPE-USD/candles?start=${start}&end=${start}&granularity=ONE_MINUTE`,
    );
    assert.equal(r.status, 404);
    assert.equal(r.json().error, "NOT_FOUND");
    assert.equal(r.json().message, "Product NOPE-USD not supported");
  });
});

Deno.test("simulator products, product, ticker and time have Coinbase's shapes", async (t) => {
  const { get } = setup();
  await t.step("products page with limit/offset and filter by product_ids", async () => {
    const all = (await get("/market/products?product_type=SPOT")).json();
    assert.equal(all.products.length, PRODUCTS.length);
    assert.equal(all.num_products, PRODUCTS.length);
    // As recorded on 2026-08-09: a cursor object, empty, even when everything came back.
    assert.deepEqual(all.pagination, {
      prev_cursor: "",
      next_cursor: "",
      has_next: false,
      has_prev: false,
    });
    const btc = all.products.find((p: { product_id: string }) => p.product_id === "BTC-USD");
    assert.ok(Object.keys(btc).length >= 40);
    assert.equal(btc.base_currency_id, "BTC");
    assert.equal(btc.quote_currency_id, "USD");
    assert.equal(btc.status, "online");
    assert.equal(btc.product_type, "SPOT");
    assert.equal(typeof btc.base_min_size, "string");
    assert.equal(btc.trading_disabled, false);
    const old = all.products.find((p: { product_id: string }) => p.product_id === "OLD-USD");
    // A recorded delisted row: trading disabled, not is_disabled, last price kept, no 24 h figures.
    assert.deepEqual(
      [old.status, old.trading_disabled, old.is_disabled, old.cancel_only, old.view_only],
      ["delisted", true, false, false, false],
    );
    assert.notEqual(old.price, "");
    assert.equal(old.volume_24h, "");
    const page = (await get("/market/products?limit=2&offset=4")).json();
    assert.deepEqual(page.products.map((p: { product_id: string }) => p.product_id), ["OLD-USD"]);
    const some = (await get("/market/products?product_ids=ETH-USD&product_ids=NOPE-USD")).json();
    assert.deepEqual(some.products.map((p: { product_id: string }) => p.product_id), ["ETH-USD"]);
  });
  await t.step("one product, and 404 for an unknown one", async () => {
    const eth = (await get("/market/products/ETH-USD")).json();
    assert.equal(eth.product_id, "ETH-USD");
    const r = await get("/market/products/NOPE-USD");
    assert.equal(r.status, 404);
    assert.deepEqual(Object.keys(r.json()).sort(), ["error", "error_details", "message"]);
  });
  await t.step("ticker: at most 100 trades, newest first, maker side", async () => {
    const r = (await get("/market/products/BTC-USD/ticker?limit=500")).json();
    assert.equal(r.trades.length, 100);
    assert.ok(Number(r.trades[0].trade_id) > Number(r.trades[99].trade_id));
    assert.match(r.trades[0].side, /^(BUY|SELL)$/);
    assert.equal(typeof r.best_bid, "string");
  });
  await t.step("time is strings", async () => {
    const r = (await get("/time")).json();
    assert.equal(r.epochSeconds, String(nowSec));
    assert.equal(r.epochMillis, String(NOW_MS));
    assert.equal(r.iso, "2026-03-14T15:09:26Z");
  });
});

Deno.test("simulator authenticated endpoints need a well-formed JWT", async (t) => {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const kid = "organizations/org-1/apiKeys/key-1";
  const { get, handler } = setup({ verifyKeys: new Map([[kid, keys.publicKey]]) });
  const path = `${REST_PREFIX}/products/BTC-USD`;
  const jwt = (claims: Record<string, unknown>, headerKid = kid) =>
    new SignJWT({ sub: kid, iss: "cdp", nbf: nowSec, exp: nowSec + 120, ...claims })
      .setProtectedHeader({ alg: "ES256", kid: headerKid, nonce: "abc123", typ: "JWT" })
      .sign(keys.privateKey);
  const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

  await t.step("no JWT → 401", async () => {
    assert.equal((await get("/products/BTC-USD")).status, 401);
  });
  await t.step("right shape → 200, and recorded as authenticated", async () => {
    const r = await get("/products/BTC-USD", auth(await jwt({ uri: `GET sim.test${path}` })));
    assert.equal(r.status, 200);
    assert.equal(handler.requests.at(-1)!.authenticated, true);
  });
  await t.step("wrong uri, expired, wrong iss or foreign key → 401", async () => {
    const bad = [
      await jwt({ uri: `GET sim.test${REST_PREFIX}/products/ETH-USD` }),
      await jwt({ uri: `GET sim.test${path}?x=1` }),
      await jwt({ uri: `GET sim.test${path}`, nbf: nowSec - 300, exp: nowSec - 180 }),
      await jwt({ uri: `GET sim.test${path}`, iss: "coinbase-cloud" }),
      await jwt({ uri: `GET sim.test${path}`, sub: "someone-else" }),
    ];
    const other = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
    ]);
    bad.push(
      await new SignJWT({
        sub: kid,
        iss: "cdp",
        nbf: nowSec,
        exp: nowSec + 120,
        uri: `GET sim.test${path}`,
      })
        .setProtectedHeader({ alg: "ES256", kid, nonce: "n", typ: "JWT" }).sign(other.privateKey),
    );
    for (const token of bad) {
      assert.equal((await get("/products/BTC-USD", auth(token))).status, 401);
    }
    assert.ok(await exportJWK(keys.publicKey)); // keys are real P-256 keys
  });
});

Deno.test("simulator rate limit and faults", async (t) => {
  await t.step("the per-client token bucket answers 429 with an HTML page", async () => {
    let wall = 1_000_000;
    const { get, handler } = setup({
      publicLimit: { ratePerSecond: 10, burst: 12 },
      limitClock: () => wall,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) statuses.push((await get("/time")).status);
    assert.deepEqual(statuses.filter((s) => s === 200).length, 12);
    const r = await get("/time");
    assert.equal(r.status, 429);
    assert.equal(r.text, RATE_LIMIT_HTML);
    wall += 1000; // 10 tokens back
    for (let i = 0; i < 10; i++) assert.equal((await get("/time")).status, 200);
    assert.equal((await get("/time")).status, 429);
    assert.equal(handler.requests.filter((q) => q.forced === "rate-limit").length, 5);
    assert.equal(maxInWindow(handler.requests, 1000, (q) => q.status === 200), 12);
  });
  await t.step("the strict sliding limit allows 10 in any sliding second, 429 beyond", async () => {
    let wall = 1_000_000;
    const { get, handler } = setup({
      publicLimit: { ratePerSecond: 10, burst: 12, sliding: true },
      limitClock: () => wall,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      statuses.push((await get("/time")).status);
      wall += 50; // 10 requests over 450 ms
    }
    assert.deepEqual(statuses, new Array(10).fill(200));
    wall = 1_000_000 + 999;
    assert.equal((await get("/time")).status, 429, "the 11th within the same second");
    wall = 1_000_000 + 1000;
    assert.equal((await get("/time")).status, 200, "the first request left the window");
    assert.equal((await get("/time")).status, 429, "the second one has not yet");
    assert.equal(maxInWindow(handler.requests, 1000, (q) => q.status === 200), 10);
  });
  await t.step("a JSON 429 body when asked", async () => {
    // A frozen limit clock: the first request builds the history, which on a loaded machine
    // takes longer than the second a real clock would refill the bucket in.
    const { get } = setup({
      publicLimit: { ratePerSecond: 1, burst: 1 },
      rateLimitBody: "json",
      limitClock: () => 1_000_000,
    });
    await get("/time");
    const r = await get("/time");
    assert.equal(r.status, 429);
    assert.equal(r.json().error, "RESOURCE_EXHAUSTED");
  });
  await t.step("injected faults answer the next N requests", async () => {
    const { get, handler } = setup();
    handler.injectFaults({ kind: "429", count: 2, body: "json" });
    handler.injectFaults({ kind: "5xx", count: 1, status: 502 });
    assert.equal(handler.pendingFaults, 3);
    assert.deepEqual(
      [(await get("/time")).status, (await get("/time")).status, (await get("/time")).status],
      [429, 429, 502],
    );
    assert.equal((await get("/time")).status, 200);
    assert.equal(handler.pendingFaults, 0);
  });
});

Deno.test("maxInWindow counts the busiest half-open one-second window", () => {
  const rec = (timeMs: number) => ({
    timeMs,
    method: "GET",
    path: "/",
    query: {},
    search: "",
    client: "c",
    authenticated: false,
    status: 200,
  });
  assert.equal(maxInWindow([0, 999, 1000, 1500, 1999].map(rec)), 3);
  assert.equal(maxInWindow([0, 1000, 2000].map(rec)), 1);
  assert.equal(maxInWindow([]), 0);
});

Deno.test("simulator alias rows look like the recorded BTC-USDC → BTC-USD", () => {
  const book = productRow({ id: "BTC-USD", price: 65000, tradesPerSecond: 1 }, "65000", [
    "BTC-USDC",
  ]);
  const alias = productRow(
    { id: "BTC-USDC", price: 65000, tradesPerSecond: 1, alias: "BTC-USD" },
    "65000",
  );
  assert.deepEqual([book.alias, book.alias_to], ["", ["BTC-USDC"]]);
  assert.deepEqual(
    [alias.alias, alias.alias_to, alias.quote_currency_id, alias.quote_display_symbol],
    ["BTC-USD", [], "USDC", "USD"],
  );
  const parsed = parseProduct(alias);
  assert.deepEqual([parsed.alias, isServable(parsed)], ["BTC-USD", false]);
});
