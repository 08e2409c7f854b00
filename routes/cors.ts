/**
 * @module
 * CORS for the market-data routes (`CORS_ORIGINS`, DESIGN.md): a `GET` from an allowed origin
 * gets `Access-Control-Allow-Origin` (the origin itself, or `*` when every origin is allowed),
 * and so do its errors (a 400, 404 or 429 the browser can then read); the `OPTIONS` preflight of
 * an allowed origin is answered here, before the access gate, with the methods and headers
 * allowed. No credentials are shared cross-origin (no cookies): a public chart app needs none.
 * Other routes, and every route when `CORS_ORIGINS` is unset, get no CORS headers at all.
 */
import type { Context, MiddlewareHandler } from "hono";
import { isMarketDataPath } from "./market_data.ts";

/** How long a browser may cache a preflight answer, seconds. */
export const PREFLIGHT_MAX_AGE_S = 600;

/** Request headers a cross-origin reader may send. */
const ALLOWED_HEADERS = "authorization, content-type, cache-control, last-event-id";

function allowedOrigin(allowed: string[] | "*", origin: string | undefined): string | undefined {
  if (origin === undefined) return undefined;
  if (allowed === "*") return "*";
  return allowed.includes(origin) ? origin : undefined;
}

/** Sets headers on the response (`vary` is appended to, not replaced). */
function setHeaders(c: Context, headers: Record<string, string>): void {
  const apply = (h: Headers) => {
    for (const [k, v] of Object.entries(headers)) {
      if (k === "vary") h.append(k, v);
      else h.set(k, v);
    }
  };
  try {
    apply(c.res.headers);
  } catch {
    // Immutable headers (a fetched or redirect response): copy the response first.
    c.res = new Response(c.res.body, c.res);
    apply(c.res.headers);
  }
}

/**
 * The CORS middleware for `CORS_ORIGINS` (`undefined`: a no-op). Install it before the access
 * gate so that preflights, which carry no credentials, are answered.
 */
export function cors(allowed: string[] | "*" | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (allowed === undefined || !isMarketDataPath(c.req.path)) return await next();
    const origin = c.req.header("origin");
    const allow = allowedOrigin(allowed, origin);
    const vary: Record<string, string> = allowed === "*" ? {} : { vary: "Origin" };
    if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method")) {
      if (!allow) {
        return c.json(
          { error: `Origin ${origin ?? "(none)"} is not allowed by CORS_ORIGINS` },
          403,
          vary,
        );
      }
      return c.body(null, 204, {
        "access-control-allow-origin": allow,
        "access-control-allow-methods": "GET, HEAD, OPTIONS",
        "access-control-allow-headers": ALLOWED_HEADERS,
        "access-control-max-age": String(PREFLIGHT_MAX_AGE_S),
        ...vary,
      });
    }
    await next();
    if (c.req.method !== "GET" && c.req.method !== "HEAD") return;
    setHeaders(c, vary);
    if (allow) {
      setHeaders(c, {
        "access-control-allow-origin": allow,
        "access-control-expose-headers": "retry-after",
      });
    }
  };
}
