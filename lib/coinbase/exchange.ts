/**
 * @module
 * Coinbase behind the exchange seam (`lib/exchange/exchange.ts`): the WebSocket feed of
 * `feed.ts` and the REST client of `rest.ts`. Coinbase's market keys are its own product ids
 * (`BTC-USD`), so nothing is translated here.
 */
import type { Exchange, LiveFeed, LiveFeedOptions } from "../exchange/exchange.ts";
import type { CdpKey } from "./auth.ts";
import { Feed } from "./feed.ts";
import { MAX_CANDLES_PER_REQUEST, type RestClient } from "./rest.ts";

/** Options for {@linkcode createCoinbaseExchange}. */
export interface CoinbaseExchangeOptions {
  /** Market-data WebSocket (`COINBASE_WS_URL`, or the simulator's). */
  wsUrl: string;
  rest: RestClient;
  /** @default 20 */
  productsPerConnection?: number;
  /** CDP key: subscriptions carry a JWT. */
  key?: CdpKey;
}

/** Coinbase as an {@linkcode Exchange}. */
export function createCoinbaseExchange(options: CoinbaseExchangeOptions): Exchange {
  return {
    id: "coinbase",
    name: "Coinbase",
    rest: options.rest,
    maxCandlesPerPage: MAX_CANDLES_PER_REQUEST,
    restSettleS: 5,
    createFeed(o: LiveFeedOptions): LiveFeed {
      return new Feed({
        ...o.tuning,
        url: options.wsUrl,
        products: o.products,
        productsPerConnection: options.productsPerConnection,
        key: options.key,
        clock: o.clock,
        handlers: o.handlers,
      });
    },
  };
}
