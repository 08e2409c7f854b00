import assert from "node:assert/strict";
import { parseGranularity } from "../../lib/candles/granularity.ts";
import { RestClient, RestError } from "../../lib/coinbase/rest.ts";
import { candleWindows } from "../../lib/coinbase/rest_candles.ts";
import { RateLimiter } from "../../lib/exchange/rate_limit.ts";
import { describeErrorBody } from "../../lib/exchange/rest_error.ts";
import { maxInWindow } from "../../lib/coinbase/simulator/rest.ts";
import { RATE_LIMIT_HTML } from "../../lib/coinbase/simulator/rest_limits.ts";
import { NOW_MS, startRestSim } from "./_rest_server.ts";

const nowSec = Math.floor(NOW_MS / 1000);
const ONE_MINUTE = parseGranularity("1m");
/** The RestError a call rejects with. */
async function failure(p: Promise<unknown>): Promise<RestError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RestError, String(e));
    return e;
  }
  assert.fail("expected the call to fail");
}

const fast = { maxRetries: 4, backoffBaseMs: 1, backoffMaxMs: 5 };

/** A PKCS#8 PEM of a fresh P-256 key, plus its public key. */
async function testKey() {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const b64 = btoa(String.fromCharCode(...der)).replace(/(.{64})/g, "$1\n");
  const pem = `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
  return { name: "organizations/org-1/apiKeys/key-1", privateKey: pem, publicKey: pair.publicKey };
}

Deno.test("RestClient.candles pages a week of 1-minute candles under the rate limit", async () => {
  const sim = startRestSim({ historyMs: 8 * 86400_000 });
  try {
    const client = new RestClient({ baseUrl: sim.baseUrl }); // default 8 req/s vs 10/s burst 12
    const end = Math.floor(nowSec / 60) * 60 - 60;
    const start = end - 7 * 86400 + 60;
    const candles = await client.candles("BTC-USD", ONE_MINUTE, start, end);
    const truth = sim.market.candles("BTC-USD", ONE_MINUTE, start, end);
    assert.ok(truth.length > 9000);
    assert.deepEqual(candles, truth);
    const log = sim.handler.requests;
    assert.equal(log.length, Math.ceil(10080 / 300));
    assert.equal(client.stats.requests, log.length);
    assert.equal(client.stats.rateLimited, 0);
    assert.ok(log.every((r) => r.status === 200 && r.path.includes("/market/products/")));
    for (const r of log) {
      const buckets = (Number(r.query.end) - Number(r.query.start)) / 60 + 1;
      assert.ok(buckets <= 300, `${buckets} buckets in ${r.search}`);
    }
    assert.ok(maxInWindow(log) <= 10, `max ${maxInWindow(log)} requests in one second`);
  } finally {
    await sim.close();
  }
});

Deno.test("RestClient with a CDP key calls the authenticated endpoints", async (t) => {
  const key = await testKey();
  const t0 = Date.now();
  const clock = () => NOW_MS + (Date.now() - t0); // market time, moving
  const sim = startRestSim({
    verifyKeys: new Map([[key.name, key.publicKey]]),
    clock,
    privateLimit: { ratePerSecond: 1000, burst: 1000 },
  });
  try {
    const client = new RestClient({
      baseUrl: sim.baseUrl,
      key,
      clock,
      ratePerSecond: 500,
      ...fast,
    });
    assert.equal(client.authenticated, true);
    await t.step("candles and products carry a valid JWT", async () => {
      const endSec = Math.floor(clock() / 60_000) * 60 - 60;
      const c = await client.candles("ETH-USD", ONE_MINUTE, endSec - 3 * 3600, endSec);
      assert.deepEqual(c, sim.market.candles("ETH-USD", ONE_MINUTE, endSec - 3 * 3600, endSec));
      const p = await client.product("ETH-USD");
      assert.equal(p.productId, "ETH-USD");
      assert.ok(sim.handler.requests.length >= 2);
      for (const r of sim.handler.requests) {
        assert.ok(r.path.startsWith("/api/v3/brokerage/products/"), r.path);
        assert.equal(r.authenticated, true);
      }
    });
    await t.step("a key the server does not know: 401 retried once, then an error", async () => {
      const stranger = await testKey();
      const bad = new RestClient({ baseUrl: sim.baseUrl, key: stranger, clock, ...fast });
      const before = sim.handler.requests.length;
      const e = await failure(bad.product("BTC-USD"));
      assert.equal(e.status, 401);
      assert.equal(e.retryable, false);
      assert.equal(sim.handler.requests.length - before, 2);
      assert.equal(bad.stats.retries, 1);
    });
  } finally {
    await sim.close();
  }
});

Deno.test("RestClient survives 429 (HTML and JSON), 5xx and network errors", async (t) => {
  const sim = startRestSim({ publicLimit: { ratePerSecond: 1000, burst: 1000 } });
  try {
    const start = nowSec - 6 * 3600;
    const end = start + 299 * 60;
    const truth = sim.market.candles("BTC-USD", ONE_MINUTE, start, end);
    await t.step("a burst of HTML 429s", async () => {
      const client = new RestClient({ baseUrl: sim.baseUrl, ratePerSecond: 500, ...fast });
      sim.handler.injectFaults({ kind: "429", count: 3, body: "html" });
      assert.deepEqual(await client.candles("BTC-USD", ONE_MINUTE, start, end), truth);
      // One cut (×0.8) for the burst: the later 429s were sent within a second of it.
      assert.deepEqual(client.stats, {
        requests: 4,
        retries: 3,
        rateLimited: 3,
        rateCuts: 1,
        effectiveRatePerSecond: 400,
      });
    });
    await t.step("JSON 429 then 503", async () => {
      const client = new RestClient({ baseUrl: sim.baseUrl, ratePerSecond: 500, ...fast });
      sim.handler.injectFaults({ kind: "429", count: 1, body: "json" });
      sim.handler.injectFaults({ kind: "5xx", count: 2, status: 503 });
      assert.deepEqual(await client.candles("BTC-USD", ONE_MINUTE, start, end), truth);
      assert.equal(client.stats.retries, 3);
    });
    await t.step("persistent 5xx: an error after maxRetries with context", async () => {
      const client = new RestClient({ baseUrl: sim.baseUrl, ratePerSecond: 500, ...fast });
      sim.handler.injectFaults({ kind: "5xx", count: 5, status: 502 });
      const e = await failure(client.candles("BTC-USD", ONE_MINUTE, start, end));
      assert.match(e.message, /GET \/market\/products\/BTC-USD\/candles\?start=/);
      assert.match(e.message, /after 5 attempts, last with 502/);
      assert.match(e.message, /product BTC-USD, granularity ONE_MINUTE/);
      assert.equal(e.retryable, true);
      assert.equal(sim.handler.pendingFaults, 0);
    });
    await t.step("network errors exhausting the retries: a retryable error", async () => {
      const client = new RestClient({
        baseUrl: sim.baseUrl,
        ratePerSecond: 500,
        ...fast,
        fetch: () => Promise.reject(new TypeError("connection refused")),
      });
      const e = await failure(client.candles("BTC-USD", ONE_MINUTE, start, end));
      assert.equal(e.status, 0);
      assert.equal(e.retryable, true);
      assert.match(e.message, /after 5 attempts, last with network error: connection refused/);
      assert.equal(client.stats.requests, 5);
    });
    await t.step("network errors are retried", async () => {
      let failures = 2;
      const client = new RestClient({
        baseUrl: sim.baseUrl,
        ratePerSecond: 500,
        ...fast,
        fetch: (input, init) => {
          if (failures-- > 0) return Promise.reject(new TypeError("connection reset"));
          return fetch(input, init);
        },
      });
      assert.deepEqual(await client.candles("BTC-USD", ONE_MINUTE, start, end), truth);
      assert.equal(client.stats.retries, 2);
    });
  } finally {
    await sim.close();
  }
});

Deno.test("RestClient pauses every request on a 429, for its Retry-After or the backoff", async (t) => {
  const time = {
    iso: "2026-03-14T15:09:26Z",
    epochSeconds: "1773500966",
    epochMillis: "1773500966123",
  };
  /** A client whose first answer is a 429 (with `headers`); the send times of every request. */
  function refusingOnce(headers: Record<string, string>) {
    const sends: number[] = [];
    const client = new RestClient({
      baseUrl: "http://127.0.0.1:9/api/v3/brokerage",
      ratePerSecond: 100,
      backoffBaseMs: 200, // the first retry's backoff is 200 ms (random: 1)
      backoffMaxMs: 1000,
      random: () => 1,
      fetch: () => {
        sends.push(performance.now());
        return Promise.resolve(
          sends.length === 1
            ? new Response(RATE_LIMIT_HTML, { status: 429, headers })
            : Response.json(time),
        );
      },
    });
    return { client, sends };
  }
  await t.step("Retry-After: 0.3 holds the refused request and the others for 300 ms", async () => {
    const { client, sends } = refusingOnce({ "retry-after": "0.3" });
    const first = client.time();
    await new Promise((r) => setTimeout(r, 20));
    const others = [client.time(), client.time()];
    await Promise.all([first, ...others]);
    assert.equal(sends.length, 4);
    for (const at of sends.slice(1)) {
      assert.ok(at - sends[0]! >= 290, `sent ${at - sends[0]!} ms after the 429`);
    }
    assert.deepEqual(client.stats, {
      requests: 4,
      retries: 1,
      rateLimited: 1,
      rateCuts: 1,
      effectiveRatePerSecond: 80,
    });
  });
  await t.step("no Retry-After (Coinbase sends none): the backoff delay, 200 ms here", async () => {
    const { client, sends } = refusingOnce({});
    const first = client.time();
    await new Promise((r) => setTimeout(r, 20));
    await Promise.all([first, client.time()]);
    for (const at of sends.slice(1)) {
      assert.ok(at - sends[0]! >= 190, `sent ${at - sends[0]!} ms after the 429`);
    }
  });
});

Deno.test("RestClient against a strict 10/s: a 429 cuts the rate, so the next does not follow at the rate that met the first", async () => {
  // Both clients ask for 11/s (the window: 11 in any second) of a simulator that refuses any
  // request beyond 10 in a sliding second, counted as its event loop handles it.
  const strict = { publicLimit: { ratePerSecond: 10, burst: 10, sliding: true } };
  const adaptiveSim = startRestSim(strict);
  const fixedSim = startRestSim(strict);
  try {
    const count = 36;
    // The limiter as it paced before it adapted: a 429 pauses every request, nothing more.
    const fixed = async () => {
      const limiter = new RateLimiter({ ratePerSecond: 11 });
      await Promise.all(Array.from({ length: count }, async () => {
        for (;;) {
          await limiter.acquire();
          const res = await fetch(`${fixedSim.baseUrl}/time`);
          await res.body?.cancel();
          if (res.status !== 429) return;
          limiter.pause(100);
        }
      }));
    };
    const client = new RestClient({
      baseUrl: adaptiveSim.baseUrl,
      ratePerSecond: 11,
      maxRetries: 10,
      backoffBaseMs: 100, // every retry's pause: 100 ms (random: 1)
      backoffMaxMs: 100,
      random: () => 1,
    });
    const paced: number[] = [];
    const watch = setInterval(() => paced.push(client.stats.effectiveRatePerSecond!), 50);
    try {
      await Promise.all([fixed(), ...Array.from({ length: count }, () => client.time())]);
    } finally {
      clearInterval(watch);
    }

    const arrivals = (sim: typeof fixedSim) => sim.handler.requests.map((r) => r.timeMs);
    const refusedAt = (sim: typeof fixedSim) =>
      sim.handler.requests.filter((r) => r.forced === "rate-limit").map((r) => r.timeMs);
    const medianGap = (times: number[]) => {
      const gaps = times.slice(1).map((t, i) => t - times[i]!).sort((a, b) => a - b);
      return gaps[Math.floor(gaps.length / 2)]!;
    };
    const fixedRefused = refusedAt(fixedSim);
    const adaptiveRefused = refusedAt(adaptiveSim);
    const shown = JSON.stringify({ fixedRefused, adaptiveRefused, stats: client.stats });
    // Fixed: a 429 again every second (its pause restarts the schedule at the same rate).
    assert.ok(fixedRefused.length >= 3, shown);
    assert.ok(fixedRefused.some((t) => t > fixedRefused[0]! + 1000), `repeats: ${shown}`);
    // Adaptive: one cut for the first episode (its requests sent within a second of the cut
    // cut nothing), then 8.8/s, requests 114 ms apart where they were 91 (9.9/s from 3 s after
    // the cut on).
    assert.ok(adaptiveRefused.length >= 1, shown);
    assert.ok(client.stats.rateCuts! >= 1, shown);
    assert.equal(paced[0], 11);
    assert.ok(Math.min(...paced) <= 8.8, `paced at ${paced.join(", ")}/s: ${shown}`);
    const first = adaptiveRefused[0]!;
    const times = arrivals(adaptiveSim);
    const before = medianGap(times.filter((t) => t < first));
    const after = medianGap(times.filter((t) => t > first + 1000));
    assert.ok(after >= 105 && after > before * 1.15, `gaps ${before} then ${after} ms: ${shown}`);
    assert.ok(adaptiveRefused.length < fixedRefused.length, shown);
    assert.ok(adaptiveRefused.filter((t) => t > first + 1000).length <= 1, shown);
  } finally {
    await Promise.all([adaptiveSim.close(), fixedSim.close()]);
  }
});

Deno.test("RestClient reports other 4xx clearly, without the JWT", async (t) => {
  const sim = startRestSim({ publicLimit: { ratePerSecond: 1000, burst: 1000 } });
  try {
    const client = new RestClient({ baseUrl: sim.baseUrl, ratePerSecond: 500, ...fast });
    await t.step("unknown product: a final (not retryable) 404 naming it", async () => {
      const e = await failure(
        client.candles("NOPE-USD", ONE_MINUTE, nowSec - 600, nowSec),
      );
      assert.equal(e.status, 404);
      assert.equal(e.code, "NOT_FOUND");
      assert.match(e.message, /^GET \/market\/products\/NOPE-USD\/candles\?/);
      assert.match(e.message, /404 NOT_FOUND: Product NOPE-USD not supported/);
      assert.match(e.message, /product NOPE-USD, granularity ONE_MINUTE/);
      assert.equal(e.retryable, false);
      assert.equal(client.stats.retries, 0);
    });
    await t.step("the JWT never appears in the error", async () => {
      const token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJl";
      const authed = new RestClient({
        baseUrl: sim.baseUrl,
        authorize: () => Promise.resolve(token),
        ...fast,
      });
      const e = await failure(authed.product("BTC-USD"));
      assert.ok(!e.message.includes(token));
      assert.ok(!String(e.stack).includes(token));
    });
  } finally {
    await sim.close();
  }
});

Deno.test("RestClient.products pages until a short page and filters", async () => {
  const sim = startRestSim({ publicLimit: { ratePerSecond: 1000, burst: 1000 } });
  try {
    const client = new RestClient({ baseUrl: sim.baseUrl, ratePerSecond: 500 });
    const all = await client.products({ pageSize: 2 });
    assert.deepEqual(all.map((p) => p.productId), [
      "BTC-USD",
      "ETH-USD",
      "DOGE-USD",
      "BTC-EUR",
      "OLD-USD",
    ]);
    assert.equal(sim.handler.requests.length, 3);
    assert.equal(all.find((p) => p.productId === "OLD-USD")!.status, "delisted");
    const btc = all[0]!;
    assert.equal(btc.baseCurrency, "BTC");
    assert.equal(btc.quoteCurrency, "USD");
    assert.match(btc.baseMinSize, /^\d/);
    const eur = await client.products({ quoteCurrencies: ["eur"] });
    assert.deepEqual(eur.map((p) => p.productId), ["BTC-EUR"]);
    const some = await client.products({ productIds: ["ETH-USD", "NOPE-USD"] });
    assert.deepEqual(some.map((p) => p.productId), ["ETH-USD"]);
    const t = await client.time();
    assert.equal(t.epochMs, NOW_MS);
  } finally {
    await sim.close();
  }
});

Deno.test("candleWindows counts buckets inclusively", () => {
  const w = candleWindows(ONE_MINUTE, 0, 600 * 60 - 60);
  assert.deepEqual(w, [[0, 299 * 60], [300 * 60, 599 * 60]]);
  assert.deepEqual(candleWindows(ONE_MINUTE, 30, 90), [[0, 60]]);
});

Deno.test("describeErrorBody reads JSON and HTML bodies", () => {
  assert.deepEqual(describeErrorBody(RATE_LIMIT_HTML), { message: "429 Too Many Requests" });
  assert.deepEqual(
    describeErrorBody(
      '{"error":"NOT_FOUND","error_details":"x","message":"Product A-B not supported"}',
    ),
    { code: "NOT_FOUND", message: "Product A-B not supported / x" },
  );
  assert.deepEqual(describeErrorBody(""), { message: "(empty body)" });
  assert.deepEqual(describeErrorBody("{not json"), { message: "{not json" });
});

Deno.test("Aborting stops a REST call at once, even inside a backoff wait", async (t) => {
  await t.step("a call waiting out a 10 s backoff rejects with the signal's reason", async () => {
    const client = new RestClient({
      baseUrl: "http://127.0.0.1:9/api/v3/brokerage",
      maxRetries: 6,
      backoffBaseMs: 10_000,
      backoffMaxMs: 10_000,
      random: () => 1,
      fetch: () => Promise.reject(new TypeError("connection refused")),
    });
    const abort = new AbortController();
    const reason = new Error("stopping");
    const started = performance.now();
    setTimeout(() => abort.abort(reason), 50);
    await assert.rejects(client.time({ signal: abort.signal }), (e) => e === reason);
    assert.ok(performance.now() - started < 2000, "did not wait out the backoff");
    assert.equal(client.stats.requests, 1);
  });
});
