/**
 * @module
 * `GET /history`: the candle-history call the Spot Canvas chart clients (anssip/rs-charts,
 * anssip/sc-app) make to their backend, `?symbol=&granularity=&start_time=&end_time=&exchange=`
 * with times in epoch milliseconds, answered `{candles:[{timestamp, open, high, low, close,
 * volume}]}` oldest first, `timestamp` in ms: completed candles plus the live one, bucket starts
 * inclusive, at most {@linkcode MAX_HISTORY_CANDLES}. `evaluators` (indicators) is accepted and
 * ignored. The route reads through the narrow {@linkcode HistorySource}, not the service.
 */
import type { Hono } from "hono";
import type { Candle } from "../lib/candles/candle.ts";
import {
  type Granularity,
  GRANULARITY_NAMES,
  granularityById,
  type GranularityId,
  parseGranularity,
} from "../lib/candles/granularity.ts";
import { isProductId } from "../lib/config.ts";
import {
  EXCHANGE_IDS,
  type ExchangeId,
  isExchangeId,
  marketKey,
  splitMarketKey,
} from "../lib/exchange/market.ts";
import type { ServiceView } from "../lib/service/view.ts";
import { lookUpCandles } from "./candle_lookup.ts";
import { BadRequest } from "./errors.ts";

/** Most candles one `/history` call answers; a wider range is a 400. */
export const MAX_HISTORY_CANDLES = 5000;

/** The `exchange` when the call names none. */
export const HISTORY_EXCHANGE: ExchangeId = "coinbase";

/** A bucket range: starts (epoch s) from `startSec` to `endSec`, both inclusive. */
export interface HistoryRange {
  startSec: number;
  endSec: number;
  limit: number;
}

/** What `/history` reads. */
export interface HistorySource {
  /**
   * Completed candles plus the live one whose starts fall in the range, oldest first, of a
   * product (market key), or why this instance cannot answer for it (a 404's message).
   */
  candles(
    product: string,
    granularity: GranularityId,
    range: HistoryRange,
  ): Promise<Candle[] | { notServed: string }>;
}

/** One candle as the chart clients read it. */
export interface HistoryCandle {
  /** Bucket start, epoch ms. */
  timestamp: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

function epochMs(name: string, raw: string | undefined): number {
  if (raw === undefined || raw === "") {
    throw new BadRequest(`${name} is required: epoch milliseconds, e.g. ${name}=1773500700000`);
  }
  if (!/^\d{1,15}$/.test(raw)) {
    throw new BadRequest(
      `${name} must be epoch milliseconds (a non-negative integer), got "${raw}"`,
    );
  }
  return Number(raw);
}

/** The validated parameters of one `/history` call. */
export interface HistoryQuery {
  /** The stored id asked for, e.g. `BTC-USD`. */
  symbol: string;
  exchange: ExchangeId;
  /** The market key: `BTC-USD` on Coinbase, `kraken:BTC-USD`. */
  key: string;
  granularity: GranularityId;
  range: HistoryRange;
}

/**
 * Validates a `/history` query (everything but whether the symbol is served).
 *
 * @throws {BadRequest} naming `symbol`, `granularity`, `start_time`, `end_time` or `exchange`
 */
export function parseHistoryQuery(q: (name: string) => string | undefined): HistoryQuery {
  const rawExchange = q("exchange")?.trim();
  const exchange = rawExchange ? rawExchange.toLowerCase() : HISTORY_EXCHANGE;
  if (!isExchangeId(exchange)) {
    throw new BadRequest(
      `exchange "${rawExchange}" is not served: one of ${EXCHANGE_IDS.join(", ")}`,
    );
  }
  const rawSymbol = q("symbol")?.trim();
  if (!rawSymbol) throw new BadRequest("symbol is required, e.g. symbol=BTC-USD");
  const symbol = rawSymbol.toUpperCase();
  if (!isProductId(symbol)) {
    throw new BadRequest(`symbol "${rawSymbol}" is not a product id such as BTC-USD`);
  }
  const rawG = q("granularity");
  if (!rawG) throw new BadRequest(`granularity is required: one of ${GRANULARITY_NAMES}`);
  let g: Granularity;
  try {
    g = parseGranularity(rawG);
  } catch {
    throw new BadRequest(`granularity "${rawG}" is not one of ${GRANULARITY_NAMES}`);
  }
  const startMs = epochMs("start_time", q("start_time"));
  const endMs = epochMs("end_time", q("end_time"));
  if (startMs > endMs) {
    throw new BadRequest(`start_time (${startMs}) is after end_time (${endMs})`);
  }
  // Bucket starts in [startMs, endMs]: the first start at or after start_time, the last at or
  // before end_time.
  const step = g.seconds;
  const first = Math.ceil(startMs / 1000 / step) * step;
  const last = Math.floor(endMs / 1000 / step) * step;
  const buckets = last >= first ? (last - first) / step + 1 : 0;
  if (buckets > MAX_HISTORY_CANDLES) {
    throw new BadRequest(
      `start_time ${startMs} … end_time ${endMs} spans ${buckets} ${g.id} candles, more than ` +
        `${MAX_HISTORY_CANDLES}: ask for a shorter range`,
    );
  }
  return {
    symbol,
    exchange,
    key: marketKey(exchange, symbol),
    granularity: g.id,
    range: { startSec: first, endSec: last, limit: MAX_HISTORY_CANDLES },
  };
}

/** A candle in the clients' shape. */
export function historyCandle(c: Candle): HistoryCandle {
  return {
    timestamp: c.start * 1000,
    open: c.open,
    high: c.high,
    low: c.low,
    close: c.close,
    volume: c.volume,
  };
}

/** Registers `GET /history` on `app`. */
export function installHistory(app: Hono, source: HistorySource): void {
  app.get("/history", async (c) => {
    const query = parseHistoryQuery((name) => c.req.query(name));
    const candles = await source.candles(query.key, query.granularity, query.range);
    if (!Array.isArray(candles)) {
      return c.json({ error: `symbol ${candles.notServed}` }, 404);
    }
    if (query.range.endSec < query.range.startSec) return c.json({ candles: [] });
    return c.json({ candles: candles.slice(0, query.range.limit).map(historyCandle) });
  });
}

/**
 * A {@linkcode HistorySource} over the service's read-only view: completed candles from the
 * store, then the live one when it falls in the range after them.
 */
export function viewHistorySource(
  view: Pick<ServiceView, "products" | "candles" | "storedCandles" | "ownerOf">,
): HistorySource {
  return {
    candles: async (product, granularity, { startSec, endSec, limit }) => {
      const range = { start: startSec, end: endSec, limit };
      // As the call named it: the symbol, and the exchange unless it is the default one.
      const { exchange, product: symbol } = splitMarketKey(product);
      const shown = exchange === HISTORY_EXCHANGE ? `"${symbol}"` : `"${symbol}" on ${exchange}`;
      const found = await lookUpCandles(view, product, granularityById(granularity), range, shown);
      return "rows" in found ? found.rows : found;
    },
  };
}
