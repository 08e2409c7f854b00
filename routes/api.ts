/**
 * @module
 * The JSON API of DESIGN.md: `/api/status`, `/api/products`, `/api/candles/:product/:granularity`
 * and `/api/stream` (Server-Sent Events). Every bad parameter is a 400 whose `error` names it.
 */
import { Hono } from "hono";
import {
  GRANULARITY_NAMES,
  type GranularityId,
  parseGranularity,
} from "../lib/candles/granularity.ts";
import type { ServiceView } from "../lib/service/view.ts";
import { requestedKey } from "../lib/exchange/market.ts";
import { lookUpCandles } from "./candle_lookup.ts";
import { BadRequest } from "./errors.ts";
import { sseResponse, streamProducts } from "./sse.ts";

/** Largest `limit` of `/api/candles`. */
export const MAX_LIMIT = 5000;
const DEFAULT_LIMIT = 300;

function epochSeconds(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d{1,12}$/.test(raw)) {
    throw new BadRequest(`${name} must be epoch seconds (a non-negative integer), got "${raw}"`);
  }
  return Number(raw);
}

function granularity(raw: string, name = "granularity") {
  try {
    return parseGranularity(raw);
  } catch {
    throw new BadRequest(`${name} "${raw}" is not one of ${GRANULARITY_NAMES}`);
  }
}

/** The wire shape of one candle update (SSE `candle` events): see `sse.ts`. */
export { candleEvent } from "./sse.ts";

/** Routes under `/api`. */
export function apiRoutes(view: ServiceView): Hono {
  const app = new Hono();

  const served = (ids: Iterable<string>, name: string) => {
    const mine = new Set(view.products().map((p) => p.productId));
    for (const id of ids) {
      if (!mine.has(id)) {
        throw new BadRequest(`${name} "${id}" is not served by this shard (see /api/products)`);
      }
    }
  };

  app.get("/status", (c) => c.json(view.status()));

  app.get("/products", (c) =>
    c.json({
      products: view.products().map((p) => ({
        product_id: p.productId,
        base_currency: p.baseCurrency,
        quote_currency: p.quoteCurrency,
        status: p.status || "unknown",
        min_size: p.baseMinSize,
        max_size: p.baseMaxSize,
        base_increment: p.baseIncrement,
        quote_increment: p.quoteIncrement,
        display_name: p.displayName,
      })),
    }));

  app.get("/candles/:product/:granularity", async (c) => {
    const raw = c.req.param("product");
    let product: string;
    try {
      product = requestedKey(raw, c.req.query("exchange"));
    } catch (e) {
      throw new BadRequest((e as Error).message);
    }
    const g = granularity(c.req.param("granularity"));
    const start = epochSeconds("start", c.req.query("start"));
    const end = epochSeconds("end", c.req.query("end"));
    if (start !== undefined && end !== undefined && start > end) {
      throw new BadRequest(`start (${start}) is after end (${end})`);
    }
    const rawLimit = c.req.query("limit");
    let limit = DEFAULT_LIMIT;
    if (rawLimit !== undefined) {
      if (!/^\d+$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > MAX_LIMIT) {
        throw new BadRequest(`limit must be an integer from 1 to ${MAX_LIMIT}, got "${rawLimit}"`);
      }
      limit = Number(rawLimit);
    }
    const found = await lookUpCandles(view, product, g, { start, end, limit });
    if ("notServed" in found) throw new BadRequest(`product ${found.notServed}`);
    return c.json({ candles: found.rows });
  });

  app.get("/stream", (c) => {
    const raw = c.req.query("products");
    if (!raw) {
      throw new BadRequest(
        "products is required: a comma list of product ids, e.g. ?products=BTC-USD",
      );
    }
    // Market keys: `kraken:BTC-USD`, or bare ids on `exchange=` (default Coinbase).
    const products = streamProducts(raw, c.req.query("exchange"));
    if (products.size === 0) {
      throw new BadRequest("products is empty: give product ids, e.g. ?products=BTC-USD");
    }
    served(products, "products");
    const gs = new Set<GranularityId>(
      (c.req.query("granularities") ?? "ONE_MINUTE").split(",").filter(Boolean).map((s) =>
        granularity(s.trim(), "granularities").id
      ),
    );
    return sseResponse(view, { products, granularities: gs });
  });

  return app;
}
