/**
 * @module
 * The Kraken simulator's REST side under `/0/public/` (kraken-protocol.md "REST"): `Trades`
 * (pages of at most 1000 from a nanosecond `since` cursor, exclusive, with `last` to pass on;
 * the latest trades without `since`; every trade, including those the WebSocket withheld),
 * `OHLC` (the 720 most recent intervals at most, the last one still open), `AssetPairs`,
 * `Time` and `SystemStatus`. Every answer is `{error:[], result}`; errors are strings in
 * `error[]` with HTTP 200 (`EQuery:Unknown asset pair`, `EGeneral:Invalid arguments`). The
 * public rate limit and injected faults are `rest_limits.ts`. Whether Kraken's `since` is
 * exclusive and whether its OHLC lists intervals without trades are unconfirmed: here `since`
 * is exclusive (the cursor is unique per trade) and empty intervals are absent.
 */
import type { Units } from "../../candles/decimal.ts";
import { addUnits, parseUnits } from "../../candles/decimal.ts";
import { type Clock, systemClock } from "../../clock.ts";
import type { Market, SimProductSpec, SimTrade } from "../../simulator/market.ts";
import type { RestRequestRecord } from "../../coinbase/simulator/rest_limits.ts";
import {
  isListed,
  LOT_DECIMALS,
  pairAliases,
  type PairNames,
  pairNames,
  priceDecimals,
} from "./pairs.ts";
import {
  type BucketLimit,
  krakenError,
  KrakenFaultQueue,
  type KrakenRestFault,
  limiterFor,
  RATE_LIMITED,
} from "./rest_limits.ts";
import { compareDecimalInts, padDecimal, restTradeRow, tradeNs } from "./wire.ts";

export type { KrakenRestFault, RestRequestRecord };

/** Where the public API lives, as on `api.kraken.com`. */
export const KRAKEN_REST_PREFIX = "/0/public";

/** Most rows one `Trades` answer holds. */
export const MAX_TRADES_PER_PAGE = 1000;

/** Most rows one `OHLC` answer holds (the most recent ones). */
export const MAX_OHLC_ROWS = 720;

/** `OHLC` intervals in minutes (no 2 h or 6 h). */
export const OHLC_INTERVALS: readonly number[] = [1, 5, 15, 30, 60, 240, 1440, 10080, 21600];

/** Options for {@linkcode createKrakenRestHandler}. */
export interface KrakenRestOptions {
  /** Market time: trades exist up to `clock()`. @default systemClock */
  clock?: Clock;
  /** Clock of the token buckets and the request log. @default Date.now */
  limitClock?: Clock;
  /** Public bucket per client (Kraken publishes none; peers pace ~1/s). @default 1/s, burst 3 */
  publicLimit?: BucketLimit;
  /** HTTP status of the `EAPI:Rate limit exceeded` answer. @default 200 */
  rateLimitStatus?: 200 | 429;
  /** Which client a request counts against. @default the remote IP, else "local" */
  clientKey?: (req: Request, info?: Deno.ServeHandlerInfo) => string;
}

/** The handler, with the request log and fault controls attached. */
export interface KrakenRestHandler {
  (req: Request, info?: Deno.ServeHandlerInfo): Promise<Response>;
  /** Every request served, oldest first (`path` includes `/0/public`). */
  readonly requests: RestRequestRecord[];
  /** Makes the next responses fail (queued after earlier faults). */
  injectFaults(fault: KrakenRestFault): void;
  /** Faults still queued. */
  readonly pendingFaults: number;
}

const INVALID = "EGeneral:Invalid arguments";
const UNKNOWN_PAIR = "EQuery:Unknown asset pair";

interface Pair {
  spec: SimProductSpec;
  names: PairNames;
  dp: number;
}

/** A JSON answer written as text (trade rows keep their exact decimals). */
function result(json: string): Response {
  return new Response(`{"error":[],"result":${json}}`, {
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

/** Builds the REST handler for a market whose product ids are v2 symbols. */
export function createKrakenRestHandler(
  market: Market,
  options: KrakenRestOptions = {},
): KrakenRestHandler {
  const clock = options.clock ?? systemClock;
  const limitClock = options.limitClock ?? (() => Date.now());
  const buckets = limiterFor(options.publicLimit ?? { ratePerSecond: 1, burst: 3 });
  const rateLimitStatus = options.rateLimitStatus ?? 200;
  const faults = new KrakenFaultQueue();
  const requests: RestRequestRecord[] = [];
  const clientKey = options.clientKey ??
    ((_req: Request, info?: Deno.ServeHandlerInfo) =>
      info && "hostname" in info.remoteAddr ? info.remoteAddr.hostname : "local");
  const pairs: Pair[] = market.products.filter(isListed).map((spec) => ({
    spec,
    names: pairNames(spec.id),
    dp: priceDecimals(spec),
  }));
  const byName = new Map<string, Pair>();
  for (const p of pairs) for (const a of pairAliases(p.names)) byName.set(a, p);

  const handler = (req: Request, info?: Deno.ServeHandlerInfo): Promise<Response> => {
    const url = new URL(req.url);
    const record: RestRequestRecord = {
      timeMs: limitClock(),
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      search: url.search.slice(1),
      client: clientKey(req, info),
      authenticated: false,
      status: 0,
    };
    requests.push(record);
    const res = route(req, url, record);
    record.status = res.status;
    return Promise.resolve(res);
  };

  function route(req: Request, url: URL, record: RestRequestRecord): Response {
    const forced = faults.next(rateLimitStatus);
    if (forced) {
      record.forced = "fault";
      return forced;
    }
    if (!url.pathname.startsWith(KRAKEN_REST_PREFIX + "/")) {
      return krakenError("EGeneral:Unknown method", 404);
    }
    if (!buckets.take(record.client, record.timeMs)) {
      record.forced = "rate-limit";
      return krakenError(RATE_LIMITED, rateLimitStatus);
    }
    if (req.method !== "GET" && req.method !== "POST") return krakenError(INVALID, 405);
    const q = url.searchParams;
    switch (url.pathname.slice(KRAKEN_REST_PREFIX.length + 1)) {
      case "Time":
        return time();
      case "SystemStatus":
        return result(
          JSON.stringify({ status: "online", timestamp: new Date(clock()).toISOString() }),
        );
      case "AssetPairs":
        return assetPairs(q);
      case "Trades":
        return withPair(q, (p) => trades(p, q));
      case "OHLC":
        return withPair(q, (p) => ohlc(p, q));
      default:
        return krakenError("EGeneral:Unknown method", 404);
    }
  }

  function withPair(q: URLSearchParams, fn: (p: Pair) => Response): Response {
    const name = q.get("pair");
    if (!name) return krakenError(INVALID);
    const p = byName.get(name.toUpperCase());
    if (!p) return krakenError(UNKNOWN_PAIR);
    market.advance(clock());
    return fn(p);
  }

  function time(): Response {
    const ms = clock();
    return result(JSON.stringify({
      unixtime: Math.floor(ms / 1000),
      rfc1123: new Date(ms).toUTCString().replace("GMT", "+0000"),
    }));
  }

  function assetPairs(q: URLSearchParams): Response {
    const wanted = q.get("pair");
    let list = pairs;
    if (wanted) {
      list = [];
      for (const n of wanted.split(",")) {
        const p = byName.get(n.trim().toUpperCase());
        if (!p) return krakenError(UNKNOWN_PAIR);
        if (!list.includes(p)) list.push(p);
      }
    }
    const out: Record<string, unknown> = {};
    for (const p of list) out[p.names.key] = assetPairRow(p, Number(market.price(p.spec.id)));
    return result(JSON.stringify(out));
  }

  function trades(p: Pair, q: URLSearchParams): Response {
    const countText = q.get("count");
    const count = countText === null ? MAX_TRADES_PER_PAGE : Number(countText);
    if (!Number.isInteger(count) || count < 1) return krakenError(INVALID);
    const limit = Math.min(MAX_TRADES_PER_PAGE, count);
    const nowUs = clock() * 1000;
    const since = q.get("since");
    let rows: SimTrade[];
    let cursor: string;
    if (since === null || since === "") {
      rows = market.latestTrades(p.spec.id, limit, clock()).reverse();
      cursor = `${nowUs}000`;
    } else {
      const c = sinceCursor(since);
      if (c === undefined) return krakenError(INVALID);
      cursor = c;
      // The cursor's microsecond, then past the fills at or before the cursor itself.
      const fromUs = Number(c.length > 3 ? c.slice(0, -3) : "0");
      rows = market.tradesFrom(p.spec.id, fromUs, limit + 64)
        .filter((t) => compareDecimalInts(tradeNs(t), c) > 0 && t.timeUs <= nowUs)
        .slice(0, limit);
    }
    const last = rows.length ? tradeNs(rows[rows.length - 1]!) : cursor;
    const body = rows.map((t) => restTradeRow(t, p.dp, LOT_DECIMALS)).join(",");
    return result(`{"${p.names.key}":[${body}],"last":"${last}"}`);
  }

  function ohlc(p: Pair, q: URLSearchParams): Response {
    const interval = Number(q.get("interval") ?? "1");
    if (!OHLC_INTERVALS.includes(interval)) return krakenError(INVALID);
    const sinceText = q.get("since");
    const since = sinceText === null || sinceText === "" ? -Infinity : Number(sinceText);
    if (Number.isNaN(since)) return krakenError(INVALID);
    const step = interval * 60;
    const nowMs = clock();
    const current = Math.floor(nowMs / 1000 / step) * step;
    const first = current - (MAX_OHLC_ROWS - 1) * step;
    const from = Math.max(first, Math.ceil(since / step) * step);
    const rows: string[] = [];
    let acc: OhlcAcc | undefined;
    const flush = () => acc && rows.push(ohlcRow(acc, p.dp));
    for (const t of market.trades(p.spec.id, from * 1000, nowMs + 1)) {
      const bucket = Math.floor(t.timeUs / 1e6 / step) * step;
      if (!acc || acc.start !== bucket) {
        flush();
        acc = newAcc(bucket, t);
      }
      addTo(acc, t);
    }
    flush();
    return result(`{"${p.names.key}":[${rows.join(",")}],"last":${current - step}}`);
  }

  return Object.defineProperties(handler, {
    requests: { value: requests },
    injectFaults: { value: (fault: KrakenRestFault) => faults.push(fault) },
    pendingFaults: { get: () => faults.pending },
  }) as KrakenRestHandler;
}

/**
 * A `since` parameter as a nanosecond cursor: digits of 13 or more are nanoseconds (what
 * `last` holds); shorter numbers, or decimals, are taken as seconds (a lenience: Kraken's docs
 * show seconds in examples). Undefined when it is neither.
 */
function sinceCursor(since: string): string | undefined {
  if (/^\d{13,}$/.test(since)) return since.replace(/^0+(?=\d)/, "");
  if (!/^\d+(\.\d+)?$/.test(since)) return undefined;
  return `${Math.round(Number(since) * 1e6)}000`;
}

function assetPairRow(p: Pair, price: number): Record<string, unknown> {
  const ordermin = price > 0 ? Math.max(1e-8, 5 / price) : 1;
  const digits = Math.max(0, -Math.floor(Math.log10(ordermin)));
  const tick = (p.spec.tick ?? 0.01).toFixed(p.dp);
  return {
    altname: p.names.altname,
    wsname: p.names.wsname,
    aclass_base: "currency",
    base: p.names.base,
    aclass_quote: "currency",
    quote: p.names.quote,
    lot: "unit",
    cost_decimals: 5,
    pair_decimals: p.dp,
    lot_decimals: LOT_DECIMALS,
    lot_multiplier: 1,
    leverage_buy: [],
    leverage_sell: [],
    fees: [[0, 0.4], [10000, 0.35], [50000, 0.24]],
    fees_maker: [[0, 0.25], [10000, 0.2], [50000, 0.14]],
    fee_volume_currency: "ZUSD",
    margin_call: 80,
    margin_stop: 40,
    ordermin: ordermin.toFixed(Math.min(8, digits)),
    costmin: "0.5",
    tick_size: tick,
    status: "online",
  };
}

interface OhlcAcc {
  start: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: Units;
  notional: number;
  count: number;
}

function newAcc(start: number, t: SimTrade): OhlcAcc {
  return {
    start,
    open: t.price,
    high: t.price,
    low: t.price,
    close: t.price,
    volume: 0,
    notional: 0,
    count: 0,
  };
}

function addTo(acc: OhlcAcc, t: SimTrade): void {
  const price = Number(t.price);
  if (price > Number(acc.high)) acc.high = t.price;
  if (price < Number(acc.low)) acc.low = t.price;
  acc.close = t.price;
  acc.volume = addUnits(acc.volume, t.parsed.size);
  acc.notional += price * Number(parseUnits(t.size));
  acc.count++;
}

/** `[time, open, high, low, close, vwap, volume, count]` as JSON text. */
function ohlcRow(acc: OhlcAcc, dp: number): string {
  const vol = Number(acc.volume);
  const vwap = vol > 0 ? (acc.notional / vol).toFixed(dp) : padDecimal(acc.close, dp);
  const digits = BigInt(acc.volume).toString().padStart(LOT_DECIMALS + 1, "0");
  const volume = `${digits.slice(0, -LOT_DECIMALS)}.${digits.slice(-LOT_DECIMALS)}`;
  const [o, h, l, c] = [acc.open, acc.high, acc.low, acc.close].map((x) => padDecimal(x, dp));
  return `[${acc.start},"${o}","${h}","${l}","${c}","${vwap}","${volume}",${acc.count}]`;
}
