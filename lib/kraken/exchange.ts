/**
 * @module
 * Kraken behind the exchange seam (`lib/exchange/exchange.ts`): the WebSocket v2 feed of
 * `feed.ts` and the REST client of `rest.ts`. Market keys are `kraken:BTC-USD`; the feed and the
 * client map them to Kraken's names (`symbols.ts`). Kraken's own OHLC is capped and differs
 * between calls, so its candles are computed from REST trades (`MAX_CANDLES_PER_PAGE` per page).
 */
import { KRAKEN_WS_URL } from "../config.ts";
import type { Exchange, LiveFeed, LiveFeedOptions } from "../exchange/exchange.ts";
import { KrakenFeed } from "./feed.ts";
import { KrakenRest, type KrakenRestOptions, MAX_CANDLES_PER_PAGE } from "./rest.ts";

/** Options for {@linkcode createKrakenExchange}. */
export interface KrakenExchangeOptions {
  /** WebSocket v2 endpoint (`KRAKEN_WS_URL`, or the simulator's). @default "wss://ws.kraken.com/v2" */
  wsUrl?: string;
  /** The REST client, or the options to make one with (`KRAKEN_REST_URL`, `KRAKEN_REST_RATE`). */
  rest?: KrakenRest | KrakenRestOptions;
  /** Pairs per WebSocket connection. @default the feed's (50) */
  symbolsPerConnection?: number;
  /**
   * Seconds after a minute ends before REST Trades hold all of it.
   * @default 2
   */
  restSettleS?: number;
}

/** Kraken's {@linkcode Exchange}, its REST client typed as such (Trades pages for gap repair). */
export interface KrakenExchange extends Exchange {
  readonly rest: KrakenRest;
}

/** Kraken as an {@linkcode Exchange}. */
export function createKrakenExchange(options: KrakenExchangeOptions = {}): KrakenExchange {
  const rest = options.rest instanceof KrakenRest ? options.rest : new KrakenRest(options.rest);
  const wsUrl = options.wsUrl ?? KRAKEN_WS_URL;
  return {
    id: "kraken",
    name: "Kraken",
    rest,
    maxCandlesPerPage: MAX_CANDLES_PER_PAGE,
    restSettleS: options.restSettleS ?? 2,
    createFeed(o: LiveFeedOptions): LiveFeed {
      return new KrakenFeed({
        ...o.tuning,
        url: wsUrl,
        products: o.products,
        symbolsPerConnection: options.symbolsPerConnection,
        clock: o.clock,
        handlers: o.handlers,
      });
    },
  };
}
