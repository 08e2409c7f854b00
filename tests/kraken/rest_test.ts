import assert from "node:assert/strict";
import fc from "fast-check";
import { parseUnits } from "../../lib/candles/decimal.ts";
import { GRANULARITIES, parseGranularity } from "../../lib/candles/granularity.ts";
import type { Trade } from "../../lib/candles/trade.ts";
import { RestError } from "../../lib/exchange/rest_error.ts";
import {
  incrementOfDecimals,
  KrakenRest,
  type KrakenRestOptions,
  MAX_CANDLES_PER_PAGE,
  productStatus,
} from "../../lib/kraken/rest.ts";
import { parseTradesResult } from "../../lib/kraken/rest_trades.ts";
import { referenceCandles, referenceList } from "../candles/reference.ts";

/** One trade the fake Kraken holds: time in whole microseconds, decimals as Kraken prints them. */
interface FakeTrade {
  id: number;
  us: number;
  price: string;
  volume: string;
}

interface Pair {
  key: string;
  altname: string;
  wsname: string;
  trades: FakeTrade[];
  row?: Record<string, unknown>;
}

/** A canned answer served before the real one: a status and body. */
type Canned = { status: number; body: string } | "network";

/**
 * A tiny Kraken: `Trades` from a nanosecond `since` (exclusive or inclusive, as asked), at most
 * `count` rows with `last` = the last row's time in ns; `AssetPairs`; errors with HTTP 200.
 */
function startKraken(pairs: Pair[], options: { inclusive?: boolean } = {}) {
  const requests: URL[] = [];
  const canned: Canned[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    requests.push(url);
    const next = canned.shift();
    if (next === "network") return new Response("unexpected", { status: 500 }); // fetch throws first
    if (next) return new Response(next.body, { status: next.status });
    const ok = (result: unknown) => Response.json({ error: [], result });
    if (url.pathname === "/0/public/AssetPairs") {
      return ok(Object.fromEntries(pairs.map((p) => [p.key, {
        altname: p.altname,
        wsname: p.wsname,
        ...p.row,
      }])));
    }
    if (url.pathname === "/0/public/Trades") {
      const name = (url.searchParams.get("pair") ?? "").toUpperCase();
      const pair = pairs.find((p) => p.key === name || p.altname === name);
      if (!pair) return Response.json({ error: ["EQuery:Unknown asset pair"] });
      const since = BigInt(url.searchParams.get("since") ?? "0");
      const count = Number(url.searchParams.get("count") ?? "1000");
      const rows = pair.trades.filter((t) => {
        const ns = BigInt(t.us) * 1000n;
        return options.inclusive ? ns >= since : ns > since;
      }).slice(0, Math.min(count, 1000));
      const body = rows.map((t) => `["${t.price}","${t.volume}",${t.us / 1e6},"b","l","",${t.id}]`);
      const last = rows.length ? BigInt(rows.at(-1)!.us) * 1000n : since;
      return new Response(
        `{"error":[],"result":{"${pair.key}":[${body.join(",")}],"last":"${last}"}}`,
      );
    }
    return Response.json({ error: ["EGeneral:Unknown method"] });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return {
    base,
    requests,
    canned,
    close: () => server.shutdown(),
    /** fetch that fails with a network error where a `"network"` answer is canned. */
    fetch: (async (input: string | URL | Request, init?: RequestInit) => {
      if (canned[0] === "network") {
        canned.shift();
        throw new TypeError("connection reset");
      }
      return await fetch(input, init);
    }) as typeof fetch,
  };
}

const T0 = Date.UTC(2026, 2, 14, 15, 0, 0);
const btc = (trades: FakeTrade[] = []): Pair => ({
  key: "XXBTZUSD",
  altname: "XBTUSD",
  wsname: "XBT/USD",
  trades,
});

/** Retries without waiting; the limiter fast. Sleeps are recorded. */
function fastOptions(k: ReturnType<typeof startKraken>, extra: KrakenRestOptions = {}) {
  const sleeps: number[] = [];
  const options: KrakenRestOptions = {
    baseUrl: k.base,
    fetch: k.fetch,
    ratePerSecond: 1000,
    random: () => 0.5,
    sleep: (ms) => {
      sleeps.push(ms);
      return new Promise((r) => setTimeout(r, 0));
    },
    ...extra,
  };
  return { options, sleeps };
}

async function failure(p: Promise<unknown>): Promise<RestError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RestError, String(e));
    return e;
  }
  assert.fail("expected the call to fail");
}

function asTrade(t: FakeTrade): Trade {
  return {
    product: "kraken:BTC-USD",
    id: t.id,
    price: Number(t.price),
    size: parseUnits(t.volume),
    timeMs: Math.floor(t.us / 1000),
  };
}

Deno.test("KrakenRest.trades reads one page exactly, with the ns cursor", async () => {
  const trades: FakeTrade[] = [
    { id: 10, us: T0 * 1000 + 123_456, price: "83000.10000", volume: "0.10000000" },
    { id: 11, us: T0 * 1000 + 123_456, price: "83000.20000", volume: "0.20000000" },
    { id: 12, us: T0 * 1000 + 60_000_999, price: "82999.9", volume: "1234567.12345678" },
  ];
  const k = startKraken([btc(trades)]);
  try {
    const rest = new KrakenRest(fastOptions(k).options);
    const page = await rest.trades("kraken:BTC-USD", BigInt(T0) * 1_000_000n);
    assert.equal(page.pair, "XXBTZUSD");
    assert.deepEqual(page.trades, trades.map(asTrade));
    assert.equal(page.trades[0]!.timeMs, T0 + 123);
    assert.equal(page.last, BigInt(T0 * 1000 + 60_000_999) * 1000n);
    const q = k.requests[0]!.searchParams;
    assert.equal(k.requests[0]!.pathname, "/0/public/Trades");
    assert.equal(q.get("pair"), "XBTUSD");
    assert.equal(q.get("since"), `${BigInt(T0) * 1_000_000n}`);
    assert.equal(q.get("count"), "1000");
    assert.deepEqual(rest.stats, {
      requests: 1,
      retries: 0,
      rateLimited: 0,
      rateCuts: 0,
      effectiveRatePerSecond: 1000,
    });
  } finally {
    await k.close();
  }
});

Deno.test("parseTradesResult() refuses rows it cannot read exactly, naming them", () => {
  const row = ["1.5", "0.5", 1773500400.1234, "b", "l", "", 7];
  assert.equal(
    parseTradesResult({ X: [row], last: "1" }, "kraken:BTC-USD").trades[0]!.timeMs,
    1773500400123,
  );
  const bad: [unknown[], RegExp][] = [
    [["1.5", "0.123456789", 1, "b", "l", "", 7], /volume "0.123456789"/],
    [["1.5", 0.5, 1, "b", "l", "", 7], /volume 0.5/],
    [["0", "0.5", 1, "b", "l", "", 7], /price "0"/],
    [["1.5", "0.5", 1, "b", "l", ""], /not an array of 7/],
    [["1.5", "0.5", 1, "b", "l", "", "7"], /trade_id "7"/],
    [["1.5", "0.5", "x", "b", "l", "", 7], /time "x"/],
  ];
  for (const [r, message] of bad) {
    assert.throws(
      () => parseTradesResult({ X: [r], last: "1" }, "kraken:BTC-USD"),
      (e: unknown) => {
        assert.ok(e instanceof TypeError);
        assert.match(e.message, /of kraken:BTC-USD/);
        assert.match(e.message, message);
        return true;
      },
    );
  }
  assert.throws(() => parseTradesResult({ last: "1" }, "kraken:ETH-USD"), /ETH-USD has no array/);
  assert.throws(() => parseTradesResult({ X: [] }, "kraken:ETH-USD"), /no "last" cursor/);
  // 1.2345 s written as a double: millisecond 234 (123.4999… must not become 233).
  assert.equal(
    parseTradesResult({ X: [["1", "1", 1712345699.124, "b", "l", "", 1]], last: "1" }, "p")
      .trades[0]!.timeMs,
    1712345699124,
  );
});

Deno.test("KrakenRest treats error[] in a 200 as an error", async (t) => {
  const k = startKraken([btc()]);
  try {
    await t.step("a final error is not retried", async () => {
      const { options } = fastOptions(k);
      const rest = new KrakenRest(options);
      k.canned.push({ status: 200, body: `{"error":["EGeneral:Invalid arguments"]}` });
      const e = await failure(rest.trades("kraken:BTC-USD", 0n));
      assert.equal(e.retryable, false);
      assert.equal(e.code, "EGeneral:Invalid arguments");
      assert.match(e.message, /EGeneral:Invalid arguments.*kraken:BTC-USD/);
      assert.equal(rest.stats.requests, 1);
    });
    await t.step("rate limits, busy and 5xx are retried with backoff", async () => {
      const { options, sleeps } = fastOptions(k, { maxRetries: 8 });
      const rest = new KrakenRest(options);
      k.canned.push(
        { status: 200, body: `{"error":["EAPI:Rate limit exceeded"]}` },
        { status: 429, body: "<html><title>Too Many Requests</title></html>" },
        { status: 200, body: `{"error":["EService:Unavailable"]}` },
        { status: 200, body: `{"error":["EService:Busy"],"result":{}}` },
        { status: 502, body: "Bad gateway" },
        { status: 200, body: "<html>edge page</html>" },
        "network",
      );
      const page = await rest.trades("kraken:BTC-USD", 0n);
      assert.deepEqual(page.trades, []);
      // The first rate-limit answer cuts the rate (×0.8); the 429 right after it is the same
      // episode (sent within a second of the cut) and cuts nothing more.
      assert.deepEqual(rest.stats, {
        requests: 8,
        retries: 7,
        rateLimited: 2,
        rateCuts: 1,
        effectiveRatePerSecond: 800,
      });
      // Full jitter at 0.5 of 1 s, 2 s, 4 s, … capped at 30 s.
      assert.deepEqual(sleeps.filter((ms) => ms >= 100), [
        500,
        1000,
        2000,
        4000,
        8000,
        15000,
        15000,
      ]);
    });
    await t.step("spent retries: a retryable RestError saying how often", async () => {
      const { options } = fastOptions(k, { maxRetries: 2 });
      const rest = new KrakenRest(options);
      for (let i = 0; i < 3; i++) {
        k.canned.push({ status: 200, body: `{"error":["EAPI:Rate limit exceeded"]}` });
      }
      const e = await failure(rest.trades("kraken:BTC-USD", 0n));
      assert.equal(e.retryable, true);
      assert.match(e.message, /after 3 attempts, last with Kraken error EAPI:Rate limit exceeded/);
      assert.equal(rest.stats.rateLimited, 3);
    });
    await t.step("a 4xx other than 429 is final", async () => {
      const rest = new KrakenRest(fastOptions(k).options);
      k.canned.push({ status: 404, body: "not found" });
      const e = await failure(rest.trades("kraken:BTC-USD", 0n));
      assert.equal(e.retryable, false);
      assert.equal(e.status, 404);
    });
  } finally {
    await k.close();
  }
});

Deno.test("KrakenRest: an unknown pair is a final error naming the product", async () => {
  const usdt: Pair = { key: "USDTZUSD", altname: "USDTZUSD", wsname: "USDT/USD", trades: [] };
  const k = startKraken([btc(), usdt]);
  try {
    const rest = new KrakenRest(fastOptions(k).options);
    const e = await failure(rest.trades("kraken:FOO-USD", 0n));
    assert.equal(e.retryable, false);
    assert.match(e.message, /Kraken does not know the pair of kraken:FOO-USD/);
    // The derived name first, then AssetPairs to look it up.
    assert.deepEqual(k.requests.map((u) => u.pathname), [
      "/0/public/Trades",
      "/0/public/AssetPairs",
    ]);
    // A pair whose altname is not the derived one is found through AssetPairs.
    const fresh = new KrakenRest(fastOptions(k).options);
    k.requests.length = 0;
    const page = await fresh.trades("kraken:USDT-USD", 0n);
    assert.equal(page.pair, "USDTZUSD");
    assert.deepEqual(k.requests.map((u) => u.searchParams.get("pair")), [
      "USDTUSD",
      null,
      "USDTZUSD",
    ]);
    // Known pairs then go straight to the listed name.
    await fresh.trades("kraken:USDT-USD", 0n);
    assert.equal(k.requests.at(-1)!.searchParams.get("pair"), "USDTZUSD");
    await assert.rejects(fresh.trades("BTC-USD", 0n), /not a Kraken market key/);
  } finally {
    await k.close();
  }
});

Deno.test("KrakenRest.products reads AssetPairs in v2 naming", async () => {
  const row = (over: Record<string, unknown>) => ({
    base: "XXBT",
    quote: "ZUSD",
    lot_decimals: 8,
    pair_decimals: 1,
    ordermin: "0.0001",
    costmin: "0.5",
    tick_size: "0.1",
    status: "online",
    ...over,
  });
  const pairs: Pair[] = [
    { ...btc(), row: row({}) },
    {
      key: "XDGEUR",
      altname: "XDGEUR",
      wsname: "XDG/EUR",
      trades: [],
      row: row({
        base: "XXDG",
        quote: "ZEUR",
        lot_decimals: 0,
        pair_decimals: 7,
        tick_size: undefined,
        status: "cancel_only",
      }),
    },
    {
      key: "SOLUSD",
      altname: "SOLUSD",
      wsname: "SOL/USD",
      trades: [],
      row: row({ status: "post_only" }),
    },
    {
      key: "OLDUSD",
      altname: "OLDUSD",
      wsname: "OLD/USD",
      trades: [],
      row: row({ status: "delisted" }),
    },
    { key: "XXBTZUSD.d", altname: "XBTUSD.d", wsname: "", trades: [], row: row({}) },
  ];
  const k = startKraken(pairs);
  try {
    const rest = new KrakenRest(fastOptions(k).options);
    const all = await rest.products();
    assert.deepEqual(all.map((p) => p.productId), [
      "kraken:BTC-USD",
      "kraken:DOGE-EUR",
      "kraken:SOL-USD",
      "kraken:OLD-USD",
    ]);
    assert.deepEqual(all[0], {
      productId: "kraken:BTC-USD",
      baseCurrency: "BTC",
      quoteCurrency: "USD",
      status: "online",
      productType: "SPOT",
      baseMinSize: "0.0001",
      baseMaxSize: "",
      baseIncrement: "0.00000001",
      quoteIncrement: "0.1",
      quoteMinSize: "0.5",
      quoteMaxSize: "",
      displayName: "BTC/USD",
      baseName: "",
      quoteName: "",
      price: "",
      tradingDisabled: false,
      isDisabled: false,
      alias: "",
    });
    const doge = all[1]!;
    assert.equal(doge.displayName, "DOGE/EUR");
    assert.equal(doge.baseIncrement, "1");
    assert.equal(doge.quoteIncrement, "0.0000001");
    assert.deepEqual([doge.status, doge.tradingDisabled], ["online", true]);
    assert.deepEqual([all[2]!.status, all[2]!.tradingDisabled], ["online", false]);
    assert.equal(all[3]!.status, "delisted");
    const usd = await rest.products({ quoteCurrencies: ["usd"] });
    assert.deepEqual(usd.map((p) => p.productId), [
      "kraken:BTC-USD",
      "kraken:SOL-USD",
      "kraken:OLD-USD",
    ]);
    const some = await rest.products({ productIds: ["kraken:DOGE-EUR", "kraken:NOPE-USD"] });
    assert.deepEqual(some.map((p) => p.productId), ["kraken:DOGE-EUR"]);
    assert.deepEqual(await rest.products({ productType: "FUTURE" }), []);
  } finally {
    await k.close();
  }
});

Deno.test("productStatus() and incrementOfDecimals()", () => {
  assert.deepEqual(productStatus(undefined), { status: "online", tradingDisabled: false });
  assert.deepEqual(productStatus("reduce_only"), { status: "online", tradingDisabled: false });
  assert.deepEqual(productStatus("limit_only"), { status: "online", tradingDisabled: false });
  assert.deepEqual(productStatus("cancel_only"), { status: "online", tradingDisabled: true });
  assert.deepEqual(productStatus("delisted"), { status: "delisted", tradingDisabled: true });
  assert.deepEqual(productStatus("maintenance"), { status: "maintenance", tradingDisabled: true });
  assert.equal(incrementOfDecimals(8), "0.00000001");
  assert.equal(incrementOfDecimals(1), "0.1");
  assert.equal(incrementOfDecimals(0), "1");
  assert.equal(incrementOfDecimals("8"), "");
});

/** Random trades over ~40 minutes from T0, ids rising with time, some sharing a microsecond. */
const tradesArb = fc.array(
  fc.record({
    gapUs: fc.oneof(
      fc.constant(0),
      fc.integer({ min: 1, max: 3_000_000 }),
      fc.integer({ min: 0, max: 120_000_000 }),
    ),
    price: fc.integer({ min: 1, max: 10_000_000 }),
    units: fc.integer({ min: 1, max: 5_000_000_000 }),
  }),
  { minLength: 0, maxLength: 120 },
).map((list) => {
  let us = T0 * 1000 + 17;
  return list.map((x, i): FakeTrade => {
    us += x.gapUs;
    const v = String(x.units).padStart(9, "0");
    return {
      id: 1000 + i,
      us,
      price: `${Math.floor(x.price / 100)}.${String(x.price % 100).padStart(2, "0")}`,
      volume: `${v.slice(0, -8)}.${v.slice(-8)}`,
    };
  });
});

Deno.test("KrakenRest.candles equals a naive fold over every trade (property)", async () => {
  const pair = btc();
  for (const inclusive of [false, true]) {
    const k = startKraken([pair], { inclusive });
    try {
      await fc.assert(
        fc.asyncProperty(
          tradesArb,
          fc.constantFrom(...GRANULARITIES.slice(0, 5)),
          fc.integer({ min: -600, max: 2400 }),
          fc.integer({ min: 0, max: 3000 }),
          fc.integer({ min: 1, max: 9 }),
          async (trades, g, startOffset, span, perPage) => {
            pair.trades = trades;
            // Paging needs pages larger than the trades of any millisecond (the overlap).
            let burst = 0;
            for (const t of trades) {
              burst = Math.max(
                burst,
                trades.filter((u) => u.us >= t.us - 1000 && u.us <= t.us).length,
              );
            }
            const rest = new KrakenRest({
              ...fastOptions(k).options,
              tradesPerRequest: Math.max(perPage, burst + 1),
            });
            const startSec = T0 / 1000 + startOffset;
            const endSec = startSec + span;
            const got = await rest.candles("kraken:BTC-USD", g, startSec, endSec);
            const first = Math.ceil(startSec / g.seconds) * g.seconds;
            const last = Math.floor(endSec / g.seconds) * g.seconds;
            const want = referenceList(
              referenceCandles(trades.map(asTrade)),
              "kraken:BTC-USD",
              g.id,
            )
              .filter((c) => c.start >= first && c.start <= last);
            assert.deepEqual(got, want);
          },
        ),
        { numRuns: 60 },
      );
    } finally {
      await k.close();
    }
  }
});

Deno.test("KrakenRest.candles pages from the window start and stops at its end", async () => {
  // A trade every 10 s for 2 hours; ask for minutes 30..39 with pages of 5 trades.
  const trades: FakeTrade[] = Array.from({ length: 720 }, (_, i) => ({
    id: i + 1,
    us: (T0 + i * 10_000) * 1000,
    price: String(100 + i),
    volume: "0.1",
  }));
  const k = startKraken([btc(trades)]);
  try {
    const rest = new KrakenRest({ ...fastOptions(k).options, tradesPerRequest: 5 });
    const m = parseGranularity("1m");
    const start = T0 / 1000 + 30 * 60;
    const candles = await rest.candles("kraken:BTC-USD", m, start, start + 9 * 60);
    assert.equal(candles.length, 10);
    assert.deepEqual(candles[0], {
      start,
      open: 280,
      high: 285,
      low: 280,
      close: 285,
      volume: 0.6,
    });
    // One nanosecond early: a trade at the window's first nanosecond counts whether or not
    // Kraken's `since` is exclusive.
    assert.equal(
      k.requests[0]!.searchParams.get("since"),
      `${BigInt(start) * 1_000_000_000n - 1n}`,
    );
    // 60 trades in the window, 5 a page with overlap, plus the page that crosses the end.
    assert.ok(k.requests.length <= 20, `${k.requests.length} requests`);
    assert.deepEqual(await rest.candles("kraken:BTC-USD", m, start + 1, start + 59), []);
  } finally {
    await k.close();
  }
});

Deno.test("KrakenRest.candlePage refuses more than MAX_CANDLES_PER_PAGE buckets", async () => {
  const rest = new KrakenRest({ baseUrl: "http://127.0.0.1:9" });
  assert.equal(rest.ratePerSecond, 1);
  assert.equal(MAX_CANDLES_PER_PAGE, 720);
  const m = parseGranularity("1m");
  const start = T0 / 1000;
  await assert.rejects(
    rest.candlePage("kraken:BTC-USD", m, start, start + 720 * 60),
    /Cannot compute 721 ONE_MINUTE candles of kraken:BTC-USD in one page: at most 720/,
  );
  await assert.rejects(
    rest.candles("kraken:BTC-USD", m, start, start - 60),
    /bad range/,
  );
});
