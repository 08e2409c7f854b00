import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import type { Candle } from "../../lib/candles/candle.ts";
import { type Granularity, ONE_MINUTE, parseGranularity } from "../../lib/candles/granularity.ts";
import { acceleratedClock } from "../../lib/clock.ts";
import { ConfigError } from "../../lib/config.ts";
import type { Product } from "../../lib/coinbase/product.ts";
import {
  type CallOptions,
  type ProductsQuery,
  RestClient,
  type RestClientOptions,
} from "../../lib/coinbase/rest.ts";
import { retryHelps, retryWaitMs } from "../../lib/service/startup.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { startHarness, until } from "../helpers/service.ts";

/** The simulator's REST client with faults: `products()` and `candles()` throw as told. */
class FaultyRest extends RestClient {
  productsErrors: Error[] = [];
  /** Products whose candles fail with this error. */
  candleErrors = new Map<string, Error>();

  constructor(options: RestClientOptions) {
    super(options);
  }

  override products(query?: ProductsQuery): Promise<Product[]> {
    const e = this.productsErrors.shift();
    return e ? Promise.reject(e) : super.products(query);
  }

  override candles(
    productId: string,
    granularity: Granularity,
    startSec: number,
    endSec: number,
    options?: CallOptions,
  ): Promise<Candle[]> {
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

Deno.test("retryWaitMs() doubles from 2 s and stops at a minute", () => {
  deepStrictEqual([1, 2, 3, 4, 5, 6, 7, 20].map(retryWaitMs), [
    2000,
    4000,
    8000,
    16000,
    32000,
    60000,
    60000,
    60000,
  ]);
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
    await until(() => waits.length === 1, 5000, "the first retry wait");
    match(
      h.service.health().body.reason ?? "",
      /listing products from Coinbase failed \(attempt 1\), retrying in 2 s: HTTP 503/,
    );
    release();
    await until(() => waits.length === 2, 5000, "the second retry wait");
    match(h.service.health().body.reason ?? "", /\(attempt 2\), retrying in 4 s: HTTP 502/);
    release();
    await h.service.ready();
    equal(h.service.phase, "running");
    deepStrictEqual(waits, [2000, 4000]);
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
      deepStrictEqual(h.service.problems(), [{
        product: "ETH-USD",
        message: "seeding failed: HTTP 404: product ETH-USD not found",
      }]);
      deepStrictEqual(h.service.status().problems, h.service.problems());
      const { code, body } = h.service.health();
      equal(code, 200);
      equal(body.status, "degraded");
      match(body.reason ?? "", /ETH-USD: seeding failed: HTTP 404/);
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
