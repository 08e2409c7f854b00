/**
 * @module
 * The exchanges `EXCHANGES` names, built from the configuration: Coinbase's WebSocket feed and
 * REST client (`COINBASE_*`), Kraken's (`KRAKEN_*`). Composition only; each exchange's code
 * lives behind the seam in `lib/coinbase/` and `lib/kraken/`.
 */
import type { Config } from "../config.ts";
import { createCoinbaseExchange } from "../coinbase/exchange.ts";
import { RestClient, type RestClientOptions } from "../coinbase/rest.ts";
import type { Exchange } from "../exchange/exchange.ts";
import { createKrakenExchange } from "../kraken/exchange.ts";
import type { KrakenRestOptions } from "../kraken/rest.ts";

/** Overrides of the REST clients' options (tests shorten backoffs, the bench keeps defaults). */
export interface ExchangeOverrides {
  coinbaseRest?: Partial<RestClientOptions>;
  krakenRest?: Partial<KrakenRestOptions>;
}

/** One {@linkcode Exchange} per entry of `config.exchanges`, in order. */
export function createExchanges(config: Config, overrides: ExchangeOverrides = {}): Exchange[] {
  return config.exchanges.map((id) =>
    id === "coinbase"
      ? createCoinbaseExchange({
        wsUrl: config.coinbaseWsUrl,
        rest: new RestClient({
          baseUrl: config.coinbaseRestUrl,
          key: config.coinbaseKey,
          ratePerSecond: config.coinbaseRestRate,
          ...overrides.coinbaseRest,
        }),
        productsPerConnection: config.productsPerConnection,
        key: config.coinbaseKey,
      })
      : createKrakenExchange({
        wsUrl: config.krakenWsUrl,
        rest: {
          baseUrl: config.krakenRestUrl,
          ratePerSecond: config.krakenRestRate,
          ...overrides.krakenRest,
        },
      })
  );
}
