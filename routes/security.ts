/**
 * @module
 * Security headers on every response (pages, API, errors, 404s): a Content Security Policy that
 * allows scripts, styles and connections only from this origin and no inline script at all (the
 * islands read their props from `<script type="application/json">` blocks), no framing, no MIME
 * sniffing, no referrer leaking across origins, and HSTS when the request came over https.
 */
import type { MiddlewareHandler } from "hono";

/** The Content Security Policy of every response. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
};

/** Whether the client reached us over https (directly, or via Cloud Run's TLS front end). */
export function isHttps(url: string, forwardedProto: string | undefined): boolean {
  return url.startsWith("https:") || forwardedProto?.split(",")[0]?.trim() === "https";
}

/** Middleware adding the security headers to whatever the rest of the app answered. */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    let headers = c.res.headers;
    try {
      headers.set("x-content-type-options", "nosniff");
    } catch {
      // Immutable headers (a Response.redirect or a fetched response): copy the response.
      c.res = new Response(c.res.body, c.res);
      headers = c.res.headers;
    }
    for (const [name, value] of Object.entries(HEADERS)) headers.set(name, value);
    if (isHttps(c.req.url, c.req.header("x-forwarded-proto"))) {
      headers.set("strict-transport-security", "max-age=31536000");
    }
  };
}
