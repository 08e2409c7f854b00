import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import type { Candle } from "../../lib/candles/candle.ts";
import { type Granularity, ONE_MINUTE, parseGranularity } from "../../lib/candles/granularity.ts";
import { acceleratedClock } from "../../lib/clock.ts";
import { ConfigError } from "../../lib/config.ts";
import type { Product } from "../../lib/exchange/product.ts";
import {
  type CallOptions,
  type ProductsQuery,
  RestClient,
  type RestClientOptions,
} from "../../lib/coinbase/rest.ts";
import { productFromId } from "../../lib/history/catalogue.ts";
import { retryHelps, waitSeconds } from "../../lib/service/startup.ts";
import { demoProducts, startSimulator } from "../../lib/coinbase/simulator.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { type Harness, startHarness, until } from "../helpers/service.ts";

/** The simulator's REST client with faults: `products()` and `candles()` throw as told. */
class FaultyRest extends RestClient {
  productsErrors: Error[] = [];
  /** Products whose candles fail with this error. */
  candleErrors = new Map<string, Error>();
  /** Products listed on top of the simulator's (as if Coinbase's REST knew them). */
  extraProducts: Product[] = [];
  /** Products whose candle requests never answer (until the call is aborted). */
  candlesHang = new Set<string>();

  constructor(options: RestClientOptions) {
    super(options);
  }

  override products(query?: ProductsQuery): Promise<Product[]> {
    const e = this.productsErrors.shift();
    if (e) return Promise.reject(e);
    return super.products(query).then((ps) => [...ps, ...this.extraProducts]);
  }

  override candles(
    productId: string,
    granularity: Granularity,
    startSec: number,
    endSec: number,
    options?: CallOptions,
  ): Promise<Candle[]> {
    if (this.candlesHang.has(productId)) {
      return new Promise((_, reject) =>
        options?.signal?.addEventListener("abort", () => reject(options.signal!.reason))
      );
    }
    const e = this.candleErrors.get(productId);
    return e ? Promise.reject(e) : super.candles(productId, granularity, startSec, endSec, options);
  }
}

/** An error as a REST client that knows retrying cannot help makes it. */
function finalError(message: string): Error {
  return Object.assign(new Error(message), { retryable: false });
}

const ONE_HOUR = parseGranularity("ONE_HOUR");
const START = Date.UTC(2026, 2, 14, 12, 0, 10);

Deno.test("retryHelps() is false for a ConfigError and for retryable: false only", () => {
  equal(
    retryHelps(new ConfigError("PRODUCTS", "PRODUCTS: Coinbase does not know NOPE-USD")),
    false,
  );
  equal(retryHelps(finalError("HTTP 404")), false);
  equal(retryHelps(Object.assign(new Error("HTTP 429"), { retryable: true })), true);
  equal(retryHelps(new TypeError("fetch failed")), true);
  equal(retryHelps("a string"), true);
  equal(retryHelps(null), true);
});

Deno.test("Service startup ends for good on a ConfigError: ready() rejects with it", async () => {
  let faulty: FaultyRest | undefined;
  const h = await startHarness({
    clock: acceleratedClock(10, START),
    store: await openKvCandleStore(":memory:"),
    products: 2,
    env: { PRODUCTS: "all" },
    rest: (o) => {
      faulty = new FaultyRest(o);
      faulty.productsErrors.push(
        new ConfigError("PRODUCTS", "PRODUCTS: Coinbase does not know NOPE-USD"),
      );
      return faulty;
    },
  });
  try {
    await rejects(h.service.ready(), (e) => e instanceof ConfigError && e.variable === "PRODUCTS");
    equal(faulty!.productsErrors.length, 0, "the listing was tried");
    const { body } = h.service.health();
    equal(body.status, "starting");
    match(body.reason ?? "", /startup failed: PRODUCTS: Coinbase does not know NOPE-USD/);
  } finally {
    await h.close();
  }
});

Deno.test("Service startup retries what a retry can help, saying so, then runs", async () => {
  const waits: number[] = [];
  let release = () => {};
  const h = await startHarness({
    clock: acceleratedClock(10, START),
    store: await openKvCandleStore(":memory:"),
    products: 2,
    env: { PRODUCTS: "all" },
    rest: (o) => {
      const faulty = new FaultyRest(o);
      faulty.productsErrors.push(new Error("HTTP 503"), new Error("HTTP 502"));
      return faulty;
    },
    sleep: (ms) => {
      waits.push(ms);
      return new Promise((r) => release = () => r());
    },
  });
  try {
    // The shared backoff with full jitter: up to 2 s, then up to 4 s; the note says the wait.
    await until(() => waits.length === 1, 5000, "the first retry wait");
    match(
      h.service.health().body.reason ?? "",
      new RegExp(
        `listing products from Coinbase failed \\(attempt 1\\), retrying in ${
          waitSeconds(waits[0]!)
        } s: HTTP 503`,
      ),
    );
    release();
    await until(() => waits.length === 2, 5000, "the second retry wait");
    match(
      h.service.health().body.reason ?? "",
      new RegExp(`\\(attempt 2\\), retrying in ${waitSeconds(waits[1]!)} s: HTTP 502`),
    );
    release();
    await h.service.ready();
    equal(h.service.phase, "running");
    equal(waits.length, 2);
    ok(waits[0]! >= 0 && waits[0]! <= 2000, `first wait ${waits[0]}`);
    ok(waits[1]! >= 0 && waits[1]! <= 4000, `second wait ${waits[1]}`);
    deepStrictEqual(h.service.products().map((p) => p.productId), h.ids);
  } finally {
    await h.close();
  }
});

Deno.test("Service startup: a product whose seeding fails for good is reported, the others run", async (t) => {
  const clockNow = acceleratedClock(10, START);
  const h = await startHarness({
    clock: clockNow,
    store: await openKvCandleStore(":memory:"),
    products: 3,
    rest: (o) => {
      const faulty = new FaultyRest(o);
      faulty.candleErrors.set("ETH-USD", finalError("HTTP 404: product ETH-USD not found"));
      return faulty;
    },
  });
  try {
    await h.service.ready();
    equal(h.service.phase, "running");

    await t.step("the product is listed as a problem, in /health's reason too", () => {
      const problems = h.service.problems();
      deepStrictEqual(problems.map((p) => p.product), ["ETH-USD"]);
      match(problems[0]!.message, /^seeding failed: .*HTTP 404: product ETH-USD not found$/);
      deepStrictEqual(h.service.status().problems, h.service.problems());
      const { code, body } = h.service.health();
      equal(code, 200);
      equal(body.status, "degraded");
      match(body.reason ?? "", /ETH-USD: seeding failed: .*HTTP 404/);
    });

    await t.step("the other products have their seeded live candles; it has none", async () => {
      await until(
        () => h.service.liveCandle("ADA-USD", ONE_MINUTE) !== undefined,
        10_000,
        "a live ADA-USD minute",
      );
      for (const id of ["BTC-USD", "ADA-USD"]) {
        ok(h.service.liveCandle(id, ONE_HOUR), `${id} live hour`);
      }
      equal(h.service.liveCandle("ETH-USD", ONE_HOUR), undefined);
      equal(h.service.liveCandle("ETH-USD", ONE_MINUTE), undefined);
      // ETH-USD traded on the simulator after the feed subscribed: none of it was taken.
      const subscribedAt = h.service.connections()[0]!.connectedSince!;
      await until(
        () => h.sim.market.trades("ETH-USD", subscribedAt + 1000, clockNow()).length > 0,
        10_000,
        "an ETH-USD trade on the simulator",
      );
      equal(h.service.lastTradeAgeS("ETH-USD"), undefined, "its trades are dropped");
      ok(h.service.lastTradeAgeS("BTC-USD") !== undefined, "BTC-USD's trades are taken");
    });
  } finally {
    await h.close();
  }
});

Deno.test("Service: a product Coinbase refuses to subscribe is listed as a problem", async () => {
  const h = await startHarness({
    clock: acceleratedClock(10, START),
    store: await openKvCandleStore(":memory:"),
    products: 2,
    env: { PRODUCTS: "all" },
    rest: (o) => {
      // REST lists NOPE-USD (its seed never answers); the WebSocket does not know it.
      const faulty = new FaultyRest(o);
      faulty.extraProducts.push({ ...productFromId("NOPE-USD"), status: "online" });
      faulty.candlesHang.add("NOPE-USD");
      return faulty;
    },
  });
  try {
    await until(() => h.service.problems().length > 0, 10_000, "a problem");
    deepStrictEqual(h.service.problems(), [{
      product: "NOPE-USD",
      message: "Coinbase refused its subscription: it does not know it",
    }]);
    match(h.service.health().body.reason ?? "", /NOPE-USD: Coinbase refused its subscription/);
    await until(
      () => h.service.liveCandle("BTC-USD", ONE_MINUTE) !== undefined,
      10_000,
      "a live BTC-USD minute",
    );
  } finally {
    await h.close();
  }
});

/**
 * Three products, one per connection, opened 1.5 s (30 s of market time) apart: the third
 * (ADA-USD, a trade a second) subscribes about a minute after the first, well past the cutoff's
 * minute. Its window from the cutoff through its subscription must end equal to the truth,
 * repaired from REST or, when its snapshot of `snapshotSize` trades reached back before the
 * cutoff, replayed.
 */
async function startupWindow(snapshotSize: number, replayed: boolean): Promise<void> {
  const clock = acceleratedClock(20, Date.UTC(2026, 2, 14, 12, 0, 50));
  const store = await openKvCandleStore(":memory:");
  const h = await startHarness({
    clock,
    store,
    products: 3,
    env: { PRODUCTS_PER_CONNECTION: "1", CATCHUP_HOURS: "0" },
    feed: { connectIntervalMs: 1500 },
    snapshotSize,
  });
  try {
    await h.service.ready();
    const last = h.ids.at(-1)!;
    await until(
      () => h.service.connections().every((c) => c.state === "subscribed"),
      10_000,
      "every connection subscribed",
    );
    const subscribedAt = h.service.connections().find((c) => c.products.includes(last))!
      .connectedSince!;
    const [startup] = h.service.repairHistory(last).filter((r) => r.reason === "startup");
    const cutoffSec = startup!.fromSec;
    const throughSec = Math.floor(subscribedAt / 60_000) * 60;
    ok(throughSec > cutoffSec, "the subscription came after the cutoff's minute");
    equal(startup!.toSec, throughSec + 60, "the window reaches through the subscription's minute");
    await until(() => startup!.repairedAt !== undefined, 20_000, "the startup repair");
    equal(startup!.replayed === true, replayed, JSON.stringify(startup));
    if (!replayed) ok(startup!.attempts >= 1, "asked REST");
    // A replayed window is settled at once: let its last minute end before taking the truth.
    await until(() => clock() > (startup!.toSec + 3) * 1000, 10_000, "the window's last minute");
    const truth = h.sim.market.candles(last, ONE_MINUTE, cutoffSec, throughSec);
    await until(
      async () =>
        (await store.readCompleted(last, "ONE_MINUTE", {
          start: cutoffSec,
          end: throughSec,
          limit: 100,
        })).length === truth.length,
      10_000,
      "the repaired minutes stored",
    );
    ok(truth.length >= 2, `${truth.length} minutes compared`);
    deepStrictEqual(
      await store.readCompleted(last, "ONE_MINUTE", {
        start: cutoffSec,
        end: throughSec,
        limit: 100,
      }),
      truth,
    );
  } finally {
    await h.close();
  }
}

Deno.test("Service restart across a minute boundary seeds from the store alone; the startup repair completes the minute it stopped in", async () => {
  const at = (m: number, sec: number) => Date.UTC(2026, 2, 14, 12, m, sec);
  const clock = acceleratedClock(20, at(0, 10));
  // A KV file, as a real restart reopens it (stopping a service closes its store).
  const dir = await Deno.makeTempDir();
  const path = `${dir}/spot.kv`;
  const env = { CATCHUP_HOURS: "0" };
  const first = await startHarness({
    clock,
    store: await openKvCandleStore(path),
    products: 3,
    env,
    snapshotSize: 0,
  });
  let second: Harness | undefined;
  try {
    await first.service.ready();
    await until(() => clock() >= at(0, 50), 10_000, "12:00:50");
    await first.service.stop(5000);
    ok(clock() < at(1, 0), "the first run stopped within 12:00");
    await until(() => clock() >= at(1, 5), 10_000, "12:01:05");
    const requests = first.sim.rest.requests;
    const before = requests.length;
    const store = await openKvCandleStore(path);
    second = await startHarness({
      clock,
      store,
      products: 3,
      env,
      snapshotSize: 0,
      sim: first.sim,
    });
    const service = second.service;
    await until(() => service.phase === "running", 10_000, "the restart seeded");
    const seeding = requests.slice(before).filter((r) => r.path.includes("/candles"));
    deepStrictEqual(seeding.map((r) => r.path), [], "no REST request before running");
    // The window from 12:00 (the minute the first run stopped in) is the startup repair's.
    const id = second.ids[0]!;
    const [startup] = service.repairHistory(id).filter((r) => r.reason === "startup");
    equal(startup?.fromSec, at(0, 0) / 1000, JSON.stringify(startup));
    await until(() => startup!.repairedAt !== undefined, 20_000, "the startup repair");
    await until(() => clock() > at(2, 3), 10_000, "12:01 complete");
    const truth = first.sim.market.candles(id, ONE_MINUTE, at(0, 0) / 1000, at(1, 0) / 1000);
    equal(truth.length, 2, "12:00 and 12:01 traded");
    const stored = () =>
      store.readCompleted(id, "ONE_MINUTE", {
        start: at(0, 0) / 1000,
        end: at(1, 0) / 1000,
        limit: 10,
      });
    await until(async () => (await stored()).length === 2, 10_000, "both minutes stored");
    deepStrictEqual(await stored(), truth);
  } finally {
    await second?.close();
    await first.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Service startup repairs from the seed cutoff through a late first subscription", async () => {
  // An empty snapshot cannot vouch for the window: REST repairs it.
  await startupWindow(0, false);
});

Deno.test("Service startup needs no repair when the first snapshot reaches back before the cutoff", async () => {
  // 1,000 trades at a trade a second reach back ~17 minutes: the window's trades were replayed.
  await startupWindow(1000, true);
});

Deno.test("Service startup: a PRODUCTS id Coinbase does not know ends it, naming PRODUCTS and it", async () => {
  const h = await startHarness({
    clock: acceleratedClock(10, START),
    store: await openKvCandleStore(":memory:"),
    products: 2,
    env: { PRODUCTS: "BTC-USD,NOPE-USD,ETH-USD" },
  });
  try {
    const started = Date.now();
    await rejects(h.service.ready(), (e) => {
      ok(e instanceof ConfigError, String(e));
      equal(e.variable, "PRODUCTS");
      equal(e.message, "PRODUCTS lists a product Coinbase does not know: NOPE-USD");
      return true;
    });
    ok(Date.now() - started < 5000, "within seconds");
    deepStrictEqual(h.service.products(), []);
  } finally {
    await h.close();
  }
});

Deno.test("Service catalogue: product documents at start; a product Coinbase delists becomes a problem", async (t) => {
  const store = await openKvCandleStore(":memory:");
  const h = await startHarness({
    clock: acceleratedClock(10, START),
    store,
    products: 3,
    catalogueRefreshMs: 100,
  });
  try {
    await h.service.ready();
    await t.step("every served product has an online document and catalogue row", async () => {
      await until(
        async () => (await store.readProducts(h.ids)).length === h.ids.length,
        10_000,
        "the product documents",
      );
      const docs = await store.readProducts(h.ids);
      deepStrictEqual(docs.map((d) => [d.product_id, d.status]), h.ids.map((id) => [id, "online"]));
      const rows = new Map((await store.readCatalogue()).map((e) => [e.product_id, e.status]));
      for (const id of h.ids) equal(rows.get(id), "online", id);
      deepStrictEqual(h.service.problems(), []);
    });
    await t.step(
      "ETH-USD delisted at Coinbase: its document, /health and problems say so",
      async () => {
        h.sim.market.products.find((p) => p.id === "ETH-USD")!.status = "delisted";
        await until(() => h.service.problems().length > 0, 10_000, "the delisting to be noticed");
        deepStrictEqual(h.service.problems(), [{
          product: "ETH-USD",
          message: "delisted by Coinbase: no more trades will come",
        }]);
        match(h.service.health().body.reason ?? "", /ETH-USD: delisted by Coinbase/);
        await until(
          async () => (await store.readProducts(["ETH-USD"]))[0]?.status === "delisted",
          10_000,
          "the ETH-USD document to turn delisted",
        );
        const row = (await store.readCatalogue()).find((e) => e.product_id === "ETH-USD");
        equal(row?.status, "delisted");
      },
    );
  } finally {
    await h.close();
  }
});

Deno.test("main.ts with a PRODUCTS id Coinbase does not know exits 2 within seconds, naming it", async () => {
  const sim = await startSimulator({ products: demoProducts(2), historyMs: 3600_000 });
  const dir = await Deno.makeTempDir();
  try {
    const started = Date.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-sys",
        "main.ts",
      ],
      env: {
        PORT: "0",
        COINBASE_WS_URL: sim.wsUrl,
        COINBASE_REST_URL: sim.restUrl,
        PRODUCTS: "BTC-USD,NOPE-USD",
        KV_PATH: `${dir}/spot.kv`,
        LOG_FORMAT: "json",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    equal(out.code, 2, text);
    match(text, /PRODUCTS lists a product Coinbase does not know: NOPE-USD/);
    ok(Date.now() - started < 30_000, `exited after ${Date.now() - started} ms`);
  } finally {
    await sim.close();
    await Deno.remove(dir, { recursive: true });
  }
});
