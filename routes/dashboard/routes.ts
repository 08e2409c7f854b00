/**
 * @module
 * The dashboard's routes: `/` (overview), `/products/:id` and `/static/*`. Pages are rendered
 * on the server from the service's view, the same calls the API answers with (`status()`,
 * `candles()`), so a page and its island never disagree on a field. Access control is
 * `routes/auth.ts`'s, in front of these.
 */
import { type Context, Hono } from "hono";
import { type ExchangeId, isExchangeId, marketKey } from "../../lib/exchange/market.ts";
import {
  GRANULARITIES,
  type Granularity,
  ONE_MINUTE,
  parseGranularity,
} from "../../lib/candles/granularity.ts";
import type { ServiceView } from "../../lib/service/view.ts";
import { HISTORY_LIMIT } from "../../islands/product_chart.tsx";
import { islandsBuilt, serveStatic } from "./assets.ts";
import { renderPage } from "./layout.tsx";
import { OverviewPage, overviewRows, writeSettings } from "./overview.tsx";
import { parseTableQuery } from "../../islands/product_query.ts";
import { NotFoundPage, ProductPage } from "./product.tsx";

const SHORT_NAMES = GRANULARITIES.map((g) => g.short);

/** The granularity of `?g=`, or 1m with a notice when it is unknown. */
function chosenGranularity(raw: string | undefined): { g: Granularity; notice?: string } {
  if (!raw) return { g: ONE_MINUTE };
  try {
    return { g: parseGranularity(raw) };
  } catch {
    return {
      g: ONE_MINUTE,
      notice: `Unknown granularity "${raw}": showing 1m (choose one of ${SHORT_NAMES.join(", ")})`,
    };
  }
}

/** Options for {@linkcode dashboardRoutes}. */
export interface DashboardOptions {
  /** Show the logout button (a password is configured). */
  logout: boolean;
}

/** Routes of the dashboard pages and their static files. */
export function dashboardRoutes(view: ServiceView, options: DashboardOptions): Hono {
  const app = new Hono();
  const { logout } = options;
  let built = false;
  const bundleNotice = async () => {
    built ||= await islandsBuilt();
    return built
      ? undefined
      : "Live updates are off: the island bundle is missing (run `deno task build`)";
  };

  app.get("/static/*", serveStatic);

  app.get("/", async (c) => {
    const { g, notice } = chosenGranularity(c.req.query("g"));
    const table = parseTableQuery(new URL(c.req.url).searchParams);
    const rows = overviewRows(view, g);
    const status = view.status();
    c.header("cache-control", "no-store");
    return c.html(renderPage(OverviewPage({
      status: { initial: status },
      writes: writeSettings(status.store),
      products: { rows, granularity: g.short, granularities: SHORT_NAMES, query: table.query },
      logout,
      notice: notice ?? table.notice ?? await bundleNotice(),
    })));
  });

  const productPage = async (c: Context, key: string, shown: string) => {
    const served = view.products();
    const product = served.find((p) => p.productId === key);
    if (!product) {
      c.header("cache-control", "no-store");
      return c.html(
        renderPage(NotFoundPage({
          what: `Unknown product "${shown}": this shard does not serve it`,
          served: served.map((p) => p.productId),
          logout,
        })),
        404,
      );
    }
    const { g, notice } = chosenGranularity(c.req.query("g"));
    const candles = await view.candles(key, g, { limit: HISTORY_LIMIT });
    c.header("cache-control", "no-store");
    return c.html(renderPage(ProductPage({
      product,
      chart: { product: key, granularity: g.short, granularities: SHORT_NAMES, candles },
      repairs: view.repairHistory(key),
      history: view.historyFill(key),
      historyDays: view.status().history?.horizonDays,
      problem: view.problems().find((p) => p.product === key)?.message,
      logout,
      notice: notice ?? await bundleNotice(),
      nowMs: Date.now(),
    })));
  };

  // Coinbase's pages keep their URLs; another exchange's products are under its name.
  app.get(
    "/products/:id",
    (c) => productPage(c, c.req.param("id").toUpperCase(), c.req.param("id")),
  );
  app.get("/products/:exchange/:id", (c) => {
    const { exchange, id } = c.req.param();
    const shown = `${exchange}/${id}`;
    if (!isExchangeId(exchange.toLowerCase())) {
      return productPage(c, `\0${shown}`, shown);
    }
    return productPage(c, marketKey(exchange.toLowerCase() as ExchangeId, id.toUpperCase()), shown);
  });

  return app;
}
