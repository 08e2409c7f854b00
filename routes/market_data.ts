/**
 * @module
 * The read-only market-data routes a chart app's browsers call: `/history`, `/api/candles/…`,
 * `/api/products` and `/api/stream`. `CORS_ORIGINS` lets other origins read exactly these, and
 * `PUBLIC_API=true` opens exactly these without a login; the dashboard, `/api/status`,
 * `/api/fleet` and `/metrics` are never among them.
 */

/** Whether `path` is one of the market-data routes. */
export function isMarketDataPath(path: string): boolean {
  return path === "/history" || path === "/api/products" || path === "/api/stream" ||
    (path.startsWith("/api/candles/") && path.length > "/api/candles/".length);
}
