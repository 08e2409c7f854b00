/**
 * Test harness for two exchanges: the real service with `EXCHANGES=coinbase,kraken` (or Kraken
 * alone) fed by both simulators — Coinbase's (`lib/coinbase/simulator.ts`) and Kraken's
 * (`startKrakenSimulator`) — all three on one accelerated clock, with short intervals, so
 * minutes pass in seconds. The Kraken simulator withholds a share of its WebSocket trades
 * (17 % by default, as peers measured), which only REST Trades return.
 *
 * REST rate: Kraken's public limit is unpublished and the simulator enforces 1/s by default,
 * too slow for a day of trades seeded in seconds. The harness raises the simulator's limit to
 * `krakenRestRate` (default 50/s, burst the same) and the service's client equally
 * (`KRAKEN_REST_RATE=50`): the client paces itself at the server's limit, as in production
 * at 1/s.
 */
import type { Candle } from "../../lib/candles/candle.ts";
import type { Granularity } from "../../lib/candles/granularity.ts";
import type { Clock } from "../../lib/clock.ts";
import { type Config, loadConfig } from "../../lib/config.ts";
import { demoProducts, type Simulator, startSimulator } from "../../lib/coinbase/simulator.ts";
import type { FeedTuning } from "../../lib/exchange/exchange.ts";
import { splitMarketKey } from "../../lib/exchange/market.ts";
import {
  krakenDemoProducts,
  type KrakenSimulator,
  simSymbolKey,
  startKrakenSimulator,
} from "../../lib/kraken/simulator.ts";
import { createExchanges } from "../../lib/service/exchanges.ts";
import { Service } from "../../lib/service/service.ts";
import type { CandleStore } from "../../lib/store/store.ts";

export { until } from "./service.ts";

/** Options for {@linkcode startKrakenHarness}. */
export interface KrakenHarnessOptions {
  clock: Clock;
  store: CandleStore;
  /** `EXCHANGES`. @default ["coinbase", "kraken"] */
  exchanges?: ("coinbase" | "kraken")[];
  /** Coinbase products (when served). @default 3 */
  coinbaseProducts?: number;
  /** Kraken products (the majors first: BTC/USD, ETH/USD, ADA/USD …). @default 3 */
  krakenProducts?: number;
  /** Share of all Kraken trades its WebSocket withholds (≤ 0.3, the multi-fill share). @default 0.17 */
  withholdShare?: number;
  /** The Kraken simulator's public REST limit and the service's `KRAKEN_REST_RATE`. @default 50 */
  krakenRestRate?: number;
  /** History before the clock's start, both simulators. @default 26 h */
  historyMs?: number;
  /** More environment (wins over the harness's). */
  env?: Record<string, string>;
  /** Overrides of the harness's feed tuning. */
  feed?: FeedTuning;
  /** Real ms between catalogue refreshes. @default hourly */
  catalogueRefreshMs?: number;
  /** Live trades per second of every product (both simulators). @default the demo rates */
  tradesPerSecond?: number;
}

/** Both simulators and a service wired to them. */
export interface KrakenHarness {
  /** Coinbase's simulator, when Coinbase is served. */
  coinbase?: Simulator;
  kraken: KrakenSimulator;
  service: Service;
  store: CandleStore;
  config: Config;
  /** Coinbase's market keys (bare ids). */
  coinbaseIds: string[];
  /** Kraken's market keys (`kraken:BTC-USD`). */
  krakenIds: string[];
  /** Every market key served, Coinbase's first. */
  ids: string[];
  /** The simulators' ground truth of any served market key. */
  truth(key: string, g: Granularity, startSec: number, endSec: number): Candle[];
  /** The Kraken v2 symbol of a market key (`kraken:BTC-USD` → `BTC/USD`). */
  symbolOf(key: string): string;
  close(): Promise<void>;
}

/** Starts the simulators and the service (not waiting for startup to finish). */
export async function startKrakenHarness(o: KrakenHarnessOptions): Promise<KrakenHarness> {
  const exchanges = o.exchanges ?? ["coinbase", "kraken"];
  const historyMs = o.historyMs ?? 26 * 3600_000;
  const rate = o.krakenRestRate ?? 50;
  const tps = o.tradesPerSecond === undefined ? {} : { tradesPerSecond: o.tradesPerSecond };
  const coinbaseSpecs = exchanges.includes("coinbase")
    ? demoProducts(o.coinbaseProducts ?? 3, tps)
    : [];
  const krakenSpecs = krakenDemoProducts(o.krakenProducts ?? 3, tps);
  const coinbase = coinbaseSpecs.length
    ? await startSimulator({
      products: coinbaseSpecs,
      clock: o.clock,
      historyMs,
      historyTradesPerSecond: 0.2,
      rest: { publicLimit: { ratePerSecond: 1000, burst: 1000 } },
      ws: { heartbeatIntervalMs: 100, flushIntervalMs: 50 },
    })
    : undefined;
  const kraken = await startKrakenSimulator({
    products: krakenSpecs,
    clock: o.clock,
    historyMs,
    historyTradesPerSecond: 0.2,
    withholdShare: o.withholdShare ?? 0.17,
    rest: { publicLimit: { ratePerSecond: rate, burst: rate } },
    ws: { heartbeatIntervalMs: 100, flushIntervalMs: 50 },
  });
  const coinbaseIds = coinbaseSpecs.map((p) => p.id);
  const krakenIds = krakenSpecs.map((p) => simSymbolKey(p.id));
  const env: Record<string, string> = {
    EXCHANGES: exchanges.join(","),
    ...(coinbase
      ? {
        COINBASE_WS_URL: coinbase.wsUrl,
        COINBASE_REST_URL: coinbase.restUrl,
        PRODUCTS: coinbaseIds.join(","),
      }
      : {}),
    KRAKEN_WS_URL: kraken.wsUrl,
    KRAKEN_REST_URL: kraken.restUrl,
    KRAKEN_PRODUCTS: krakenSpecs.map((p) => p.id).join(","),
    KRAKEN_REST_RATE: String(rate),
    FLUSH_INTERVAL_MS: "50",
    CATCHUP_HOURS: "2",
    ...o.env,
  };
  const config = loadConfig((name) => env[name]);
  const service = new Service({
    config,
    store: o.store,
    exchanges: createExchanges(config, {
      coinbaseRest: { ratePerSecond: 500, backoffBaseMs: 20, backoffMaxMs: 200 },
      krakenRest: { backoffBaseMs: 20, backoffMaxMs: 200 },
    }),
    clock: o.clock,
    tickMs: 50,
    catalogueRefreshMs: o.catalogueRefreshMs,
    feed: {
      staleAfterMs: 600,
      connectIntervalMs: 20,
      backoff: { initialMs: 50, maxMs: 400 },
      // The top of the backoff's jitter: a reconnect waits a visible 50 ms, not a random 0–50.
      random: () => 1,
      // Kraken: an acknowledged pair silent this long (real ms) is resubscribed.
      symbolSilenceMs: 1000,
      ...o.feed,
    },
  });
  service.start();
  const symbolOf = (key: string) => splitMarketKey(key).product.replace("-", "/");
  return {
    coinbase,
    kraken,
    service,
    store: o.store,
    config,
    coinbaseIds,
    krakenIds,
    ids: [...coinbaseIds, ...krakenIds],
    truth: (key, g, startSec, endSec) => {
      const { exchange } = splitMarketKey(key);
      if (exchange === "kraken") return kraken.market.candles(symbolOf(key), g, startSec, endSec);
      return coinbase!.market.candles(key, g, startSec, endSec);
    },
    symbolOf,
    close: async () => {
      await service.stop(5000);
      await Promise.all([coinbase?.close(), kraken.close()]);
    },
  };
}
