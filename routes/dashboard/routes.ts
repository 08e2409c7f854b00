/**
 * @module
 * The dashboard's routes: `/` (overview), `/products/:id` and `/static/*`. Pages are rendered
 * on the server from the same JSON the API serves (`/api/status`, `/api/candles`), asked of the
 * API routes in-process, so a page and its island never disagree on a field. Access control
 * is `routes/auth.ts`'s, in front of these.
 */
import { Hono } from "hono";
import {
  GRANULARITIES,
  type Granularity,
  ONE_MINUTE,
  parseGranularity,
} from "../../lib/candles/granularity.ts";
import type { Service } from "../../lib/service/service.ts";
import type { ChartCandle } from "../../islands/product_chart.tsx";
import { HISTORY_LIMIT } from "../../islands/product_chart.tsx";
import type { StatusView } from "../../islands/overview_status.tsx";
import { apiRoutes } from "../api.ts";
import { TradeActivity } from "./activity.ts";
import { islandsBuilt, serveStatic } from "./assets.ts";
import { renderPage } from "./layout.tsx";
import { OverviewPage, overviewRows } from "./overview.tsx";
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

/** Routes of the dashboard pages and their static files. */
export function dashboardRoutes(service: Service): Hono {
  const app = new Hono();
  const api = apiRoutes(service);
  const activity = new TradeActivity(service.hub);
  const logout = !!service.config.dashboardPassword;
  let built = false;
  const bundleNotice = async () => {
    built ||= await islandsBuilt();
    return built
      ? undefined
      : "Live updates are off: the island bundle is missing (run `deno task build`)";
  };
  const apiJson = async <T>(path: string): Promise<T> => {
    const res = await api.request(path);
    if (!res.ok) throw new Error(`Cannot render the page: ${path} answered ${res.status}`);
    return await res.json() as T;
  };

  app.get("/static/*", serveStatic);

  app.get("/", async (c) => {
    const { g, notice } = chosenGranularity(c.req.query("g"));
    const table = parseTableQuery(new URL(c.req.url).searchParams);
    const status = await apiJson<StatusView>("/status");
    const rows = overviewRows({
      products: service.products,
      live: (p, g) => service.aggregator.live(p, g),
      lastTradeAgeS: (p) => activity.lastTradeAgeS(p),
      lastClose: (p) => activity.lastClose(p),
    }, g);
    c.header("cache-control", "no-store");
    return c.html(renderPage(OverviewPage({
      status: { initial: status },
      products: { rows, granularity: g.short, granularities: SHORT_NAMES, query: table.query },
      logout,
      notice: notice ?? table.notice ?? await bundleNotice(),
    })));
  });

  app.get("/products/:id", async (c) => {
    const id = c.req.param("id").toUpperCase();
    const product = service.products.find((p) => p.productId === id);
    if (!product) {
      c.header("cache-control", "no-store");
      return c.html(
        renderPage(NotFoundPage({
          what: `Unknown product "${c.req.param("id")}": this shard does not serve it`,
          served: service.productIds,
          logout,
        })),
        404,
      );
    }
    const { g, notice } = chosenGranularity(c.req.query("g"));
    const { candles } = await apiJson<{ candles: ChartCandle[] }>(
      `/candles/${encodeURIComponent(id)}/${g.id}?limit=${HISTORY_LIMIT}`,
    );
    c.header("cache-control", "no-store");
    return c.html(renderPage(ProductPage({
      product,
      chart: { product: id, granularity: g.short, granularities: SHORT_NAMES, candles },
      repairs: service.repairer.history(id),
      logout,
      notice: notice ?? await bundleNotice(),
      nowMs: Date.now(),
    })));
  });

  return app;
}
