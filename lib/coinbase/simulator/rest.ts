/**
 * @module
 * The simulator's REST side (coinbase-protocol.md §6 and §8): `/api/v3/brokerage/time`,
 * `/market/products[/{id}[/candles|/ticker]]` and their authenticated `/products…` twins (which
 * need a §5.2-shaped JWT), answering with Coinbase's shapes and errors. Candles come from the
 * market's ground truth, brought up to `clock()` first. Per-client token buckets, injected faults
 * and the request log live in `rest_limits.ts`; the WebSocket side is another module, composed
 * with this one by `simulator.ts`.
 */
import { GRANULARITIES, type Granularity } from "../../candles/granularity.ts";
import { type Clock, systemClock } from "../../clock.ts";
import type { Market } from "../../simulator/market.ts";
import { jwtProblem, type VerifyKeys } from "./rest_auth.ts";
import {
  type BucketLimit,
  FaultQueue,
  limiterFor,
  type RestFault,
  type RestRequestRecord,
  tooManyRequests,
} from "./rest_limits.ts";
import { productRow, tickDecimals } from "./rest_products.ts";

export { maxInWindow, type RestFault, type RestRequestRecord } from "./rest_limits.ts";

/** Where the API lives on the simulator, as on Coinbase. */
export const REST_PREFIX = "/api/v3/brokerage";

/** Coinbase's candle limit per request, counted inclusively. */
export const MAX_BUCKETS = 350;

/** Options for {@linkcode createRestHandler}. */
export interface RestHandlerOptions {
  /** Market time: trades exist up to `clock()`. @default systemClock */
  clock?: Clock;
  /** Clock of the token buckets and the request log. @default Date.now */
  limitClock?: Clock;
  /** Public (`/market/*`, `/time`) bucket per client. @default 10/s, burst 12 */
  publicLimit?: BucketLimit;
  /** Authenticated bucket per client. @default 30/s, burst 30 */
  privateLimit?: BucketLimit;
  /** Body of rate-limit 429s. @default "html" */
  rateLimitBody?: "html" | "json";
  /** Which client a request counts against. @default the remote IP, else "local" */
  clientKey?: (req: Request, info?: Deno.ServeHandlerInfo) => string;
  /** When given, JWT signatures are verified with these public keys (by `kid`). */
  verifyKeys?: VerifyKeys;
}

/** The handler, with the request log and fault controls attached. */
export interface RestHandler {
  (req: Request, info?: Deno.ServeHandlerInfo): Promise<Response>;
  /** Every request served, oldest first. */
  readonly requests: RestRequestRecord[];
  /** Makes the next responses fail (queued after earlier faults). */
  injectFaults(fault: RestFault): void;
  /** Faults still queued. */
  readonly pendingFaults: number;
}

const REST_GRANULARITY = new Map<string, Granularity>(GRANULARITIES.map((g) => [g.rest, g]));

function error(status: number, code: string, details: string, message = details): Response {
  return Response.json({ error: code, error_details: details, message }, { status });
}

const INVALID_GRANULARITY = () => error(400, "INVALID_ARGUMENT", "granularity argument is invalid");

/** Builds the REST handler for a market. */
export function createRestHandler(market: Market, options: RestHandlerOptions = {}): RestHandler {
  const clock = options.clock ?? systemClock;
  const limitClock = options.limitClock ?? (() => Date.now());
  const publicBuckets = limiterFor(options.publicLimit ?? { ratePerSecond: 10, burst: 12 });
  const privateBuckets = limiterFor(options.privateLimit ?? { ratePerSecond: 30, burst: 30 });
  const faults = new FaultQueue();
  const requests: RestRequestRecord[] = [];
  const clientKey = options.clientKey ??
    ((_req: Request, info?: Deno.ServeHandlerInfo) =>
      info && "hostname" in info.remoteAddr ? info.remoteAddr.hostname : "local");

  const handler = async (req: Request, info?: Deno.ServeHandlerInfo): Promise<Response> => {
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
    const res = await route(req, url, record);
    record.status = res.status;
    return res;
  };

  async function route(req: Request, url: URL, record: RestRequestRecord): Promise<Response> {
    const forced = faults.next();
    if (forced) {
      record.forced = "fault";
      return forced;
    }
    if (!url.pathname.startsWith(REST_PREFIX + "/")) return error(404, "NOT_FOUND", "Not Found");
    const rest = url.pathname.slice(REST_PREFIX.length);
    const isPublic = rest === "/time" || rest.startsWith("/market/");
    if (!isPublic) {
      const problem = await jwtProblem(req, Math.floor(clock() / 1000), options.verifyKeys);
      if (problem !== undefined) {
        return new Response("Unauthorized\n", {
          status: 401,
          headers: { "content-type": "text/plain", "x-simulator-reason": problem },
        });
      }
      record.authenticated = true;
    }
    const buckets = isPublic ? publicBuckets : privateBuckets;
    if (!buckets.take(record.client, record.timeMs)) {
      record.forced = "rate-limit";
      return tooManyRequests(options.rateLimitBody ?? "html");
    }
    if (req.method !== "GET") return error(405, "UNIMPLEMENTED", `${req.method} not supported`);
    market.advance(clock());
    if (rest === "/time") return time();
    const m = /^(?:\/market)?\/products(?:\/([^/]+)(?:\/(candles|ticker))?)?$/.exec(rest);
    if (!m) return error(404, "NOT_FOUND", "Not Found");
    const [, rawId, sub] = m;
    if (rawId === undefined) return products(url.searchParams);
    const id = decodeURIComponent(rawId);
    if (!market.has(id)) {
      return error(404, "NOT_FOUND", "ProductID is invalid", `Product ${id} not supported`);
    }
    if (sub === "candles") return candles(id, url.searchParams);
    if (sub === "ticker") return ticker(id, url.searchParams);
    const spec = market.products.find((p) => p.id === id)!;
    return Response.json(
      productRow(
        spec,
        market.price(id),
        market.products.filter((p) => p.alias === id).map((p) => p.id),
      ),
    );
  }

  function time(): Response {
    const ms = clock();
    return Response.json({
      iso: new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z"),
      epochSeconds: String(Math.floor(ms / 1000)),
      epochMillis: String(ms),
    });
  }

  function products(q: URLSearchParams): Response {
    const type = q.get("product_type");
    const ids = q.getAll("product_ids");
    let specs = market.products.filter((p) => ids.length === 0 || ids.includes(p.id));
    if (type !== null && type !== "SPOT") specs = [];
    const offset = Number(q.get("offset") ?? "0");
    const limit = q.has("limit") ? Number(q.get("limit")) : Infinity;
    if (!Number.isInteger(offset) || offset < 0 || !(limit >= 0)) {
      return error(400, "INVALID_ARGUMENT", "limit and offset must be non-negative integers");
    }
    const aliasesOf = (id: string) =>
      market.products.filter((p) => p.alias === id).map((p) => p.id);
    const page = specs.slice(offset, offset + limit).map((s) =>
      productRow(s, market.price(s.id), aliasesOf(s.id))
    );
    // As recorded: the total in `num_products` and an empty cursor object (paging is by offset).
    return Response.json({
      products: page,
      num_products: specs.length,
      pagination: {
        prev_cursor: "",
        next_cursor: "",
        has_next: offset + page.length < specs.length,
        has_prev: offset > 0 && specs.length > 0,
      },
    });
  }

  function candles(id: string, q: URLSearchParams): Response {
    const g = REST_GRANULARITY.get(q.get("granularity") ?? "");
    if (!g) return INVALID_GRANULARITY();
    const start = q.get("start") ?? "";
    const end = q.get("end") ?? "";
    if (!/^\d+$/.test(start) || !/^\d+$/.test(end) || Number(end) < Number(start)) {
      return error(400, "INVALID_ARGUMENT", "start and end argument is invalid");
    }
    const count = Math.floor((Number(end) - Number(start)) / g.seconds) + 1;
    const limit = q.has("limit") ? Number(q.get("limit")) : MAX_BUCKETS;
    if (count > MAX_BUCKETS || !Number.isInteger(limit) || limit < 1 || limit > MAX_BUCKETS) {
      return error(
        400,
        "INVALID_ARGUMENT",
        "start and end argument is invalid - number of candles requested should be less than 350",
      );
    }
    const spec = market.products.find((p) => p.id === id)!;
    const dp = tickDecimals(spec);
    const rows = market.candles(id, g, Number(start), Number(end)).reverse().slice(0, limit);
    return Response.json({
      candles: rows.map((c) => ({
        start: String(c.start),
        low: c.low.toFixed(dp),
        high: c.high.toFixed(dp),
        open: c.open.toFixed(dp),
        close: c.close.toFixed(dp),
        volume: c.volume.toFixed(8),
      })),
    });
  }

  function ticker(id: string, q: URLSearchParams): Response {
    const limit = Math.min(100, Math.max(1, Number(q.get("limit") ?? "100") || 100));
    const start = q.get("start");
    const end = q.get("end");
    const trades = start !== null || end !== null
      ? market.trades(
        id,
        Number(start ?? 0) * 1000,
        end !== null ? Number(end) * 1000 : clock() + 1,
      ).reverse().slice(0, limit)
      : market.latestTrades(id, limit, clock());
    const spec = market.products.find((p) => p.id === id)!;
    const dp = tickDecimals(spec);
    const price = Number(market.price(id));
    const bid = (price - (spec.tick ?? 0.01)).toFixed(dp);
    const ask = price.toFixed(dp);
    return Response.json({
      trades: trades.map((t) => ({
        trade_id: t.trade_id,
        product_id: t.product_id,
        price: t.price,
        size: t.size,
        time: t.time,
        side: t.side,
        bid: "",
        ask: "",
        exchange: "",
      })),
      best_bid: bid,
      best_ask: ask,
    });
  }

  return Object.defineProperties(handler, {
    requests: { value: requests },
    injectFaults: { value: (fault: RestFault) => faults.push(fault) },
    pendingFaults: { get: () => faults.pending },
  }) as RestHandler;
}
