/**
 * @module
 * Access control for the dashboard and the API (DESIGN.md, `DASHBOARD_PASSWORD`):
 *
 * - no password, not on Cloud Run: open (local development, the demo);
 * - no password on Cloud Run (`K_SERVICE` set): everything but `/health` answers 401 saying how
 *   to enable access, so a deployment is never open by accident;
 * - a password: `/login` issues an HttpOnly, SameSite=Strict session cookie (Secure over https),
 *   `POST /api/token` exchanges the password for a bearer token, and every other route but
 *   `/health` and `/static/*` needs one of them. Password attempts are rate-limited per client.
 *
 * With `PUBLIC_API=true` the read-only market-data routes (`market_data.ts`) answer `GET`
 * without a session, in every one of those modes, each client address limited by a token bucket
 * (`public_limit.ts`; 429 with `Retry-After` beyond it); the dashboard, `/api/status` and
 * `/metrics` keep the password and the Cloud Run lock. A logged-in client is not limited.
 *
 * Tokens and the password never reach logs or pages.
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { LoginLimiter, type LoginLimiterOptions } from "../lib/auth/login_limiter.ts";
import { Sessions } from "../lib/auth/session.ts";
import type { Clock } from "../lib/clock.ts";
import type { PublicRateLimit } from "../lib/config.ts";
import { getLogger } from "../lib/log.ts";
import { accessDisabledPage, loginPage } from "./dashboard/login.tsx";
import { isMarketDataPath } from "./market_data.ts";
import { PublicLimiter } from "./public_limit.ts";
import { isHttps } from "./security.ts";

const log = getLogger(["spot", "auth"]);

/** Name of the session cookie. */
export const SESSION_COOKIE = "spot_session";

/** What a client sees while access is disabled on Cloud Run. */
export const ACCESS_DISABLED_MESSAGE =
  "Access is disabled: this service runs on Cloud Run without DASHBOARD_PASSWORD. " +
  "Set the DASHBOARD_PASSWORD environment variable (ideally from Secret Manager) on the " +
  "service to enable the dashboard and the API; /health stays open.";

const UNAUTHENTICATED_MESSAGE =
  "Authentication required: log in at /login, or send Authorization: Bearer <token> " +
  'with a token from POST /api/token {"password": "..."}';

/** Options for {@linkcode installAuth}. */
export interface AuthOptions {
  /** `DASHBOARD_PASSWORD`; unset leaves the service open unless on Cloud Run. */
  password?: string;
  /** `K_SERVICE`: set on Cloud Run. */
  cloudRunService?: string;
  /** Session and token lifetime, seconds. @default 43200 */
  ttlS?: number;
  clock?: Clock;
  limiter?: LoginLimiterOptions;
  /** `PUBLIC_API=true`: the market-data routes open without a login, limited by this. */
  publicApi?: PublicRateLimit;
}

/**
 * Public access to the market-data routes: `undefined` when the request is not one (the gate
 * decides), `"pass"` when it may go on, or the 429 answer.
 */
type PublicAccess = (c: Context) => "pass" | Response | undefined;

function publicAccess(options: AuthOptions, onCloudRun: boolean): PublicAccess {
  const limit = options.publicApi;
  if (!limit) return () => undefined;
  const limiter = new PublicLimiter({ ...limit, clock: options.clock });
  log.info("PUBLIC_API is on: market-data routes answer without a login, {ratePerS}/s per client", {
    ratePerS: limit.ratePerS,
    burst: limit.burst,
  });
  return (c) => {
    const method = c.req.method;
    if ((method !== "GET" && method !== "HEAD") || !isMarketDataPath(c.req.path)) return undefined;
    const client = clientAddress(c, onCloudRun);
    const decision = limiter.take(client);
    if (decision.allowed) return "pass";
    log.debug("Refused a public request from {client}: over PUBLIC_RATE_LIMIT", {
      client,
      path: c.req.path,
    });
    return c.json(
      {
        error: `Too many requests from your address: PUBLIC_RATE_LIMIT allows ${limit.ratePerS} ` +
          `requests/s with bursts of ${limit.burst}; retry in ${decision.retryAfterS} s`,
      },
      429,
      { "retry-after": String(decision.retryAfterS) },
    );
  };
}

/** Paths reachable without a session when a password is set. */
function isPublic(path: string): boolean {
  return path === "/health" || path === "/login" || path === "/logout" ||
    path === "/api/token" || path.startsWith("/static/");
}

/** Whether a failed request should be redirected to the login form (a browser page load). */
function wantsPage(c: Context): boolean {
  const path = c.req.path;
  return c.req.method === "GET" && !path.startsWith("/api/") && path !== "/metrics" &&
    path !== "/history";
}

/**
 * The client's address for rate limiting: on Cloud Run the last `X-Forwarded-For` entry (the
 * one Google's front end adds; earlier entries are whatever the client sent), else the socket's
 * peer address (`Deno.serve` passes it as the handler's info, Hono's `c.env`).
 */
export function clientAddress(c: Context, onCloudRun: boolean): string {
  if (onCloudRun) {
    const forwarded = c.req.header("x-forwarded-for")?.split(",").map((s) => s.trim());
    const last = forwarded?.filter(Boolean).at(-1);
    if (last) return last;
  }
  const env = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return env?.remoteAddr?.hostname ?? "unknown";
}

/** An own-origin path to return to after login; anything else becomes `/`. */
export function safeNext(raw: unknown): string {
  if (typeof raw !== "string" || raw.length > 2000) return "/";
  if (!/^\/(?![/\\])/.test(raw) || [...raw].some((ch) => ch < " ")) return "/";
  if (raw.startsWith("/login") || raw.startsWith("/logout")) return "/";
  return raw;
}

function bearer(c: Context): string | undefined {
  const h = c.req.header("authorization");
  const m = h?.match(/^Bearer\s+(\S+)\s*$/i);
  return m?.[1];
}

/**
 * Installs the access gate (as the first middleware after the security headers) and the
 * `/login`, `/logout` and `/api/token` routes on `app`.
 */
export function installAuth(app: Hono, options: AuthOptions): void {
  const onCloudRun = !!options.cloudRunService;
  const publicGate = publicAccess(options, onCloudRun);
  if (!options.password) {
    if (onCloudRun) {
      log.warn("DASHBOARD_PASSWORD is unset on Cloud Run: everything but /health answers 401");
      app.use("*", lockedGate(publicGate));
      return;
    }
    app.use("*", async (c, next) => {
      const access = publicGate(c);
      return access instanceof Response ? access : await next();
    });
    app.get("/login", (c) => c.redirect(safeNext(c.req.query("next")), 303));
    app.post(
      "/api/token",
      (c) => c.json({ error: "No DASHBOARD_PASSWORD is set: the API needs no token" }, 404),
    );
    return;
  }
  const sessions = new Sessions({
    password: options.password,
    ttlS: options.ttlS,
    clock: options.clock,
  });
  const limiter = new LoginLimiter({ clock: options.clock, ...options.limiter });
  const limitBody = bodyLimit({
    maxSize: 8 * 1024,
    onError: (c) => c.json({ error: "Request body too large (limit 8 KiB)" }, 413),
  });

  const authenticated = async (c: Context): Promise<boolean> => {
    const token = bearer(c) ?? getCookie(c, SESSION_COOKIE);
    return token !== undefined && await sessions.verify(token);
  };

  app.use("*", async (c, next) => {
    if (isPublic(c.req.path) || await authenticated(c)) return await next();
    const access = publicGate(c);
    if (access === "pass") return await next();
    if (access) return access;
    if (wantsPage(c)) {
      const url = new URL(c.req.url);
      return c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
    }
    c.header("www-authenticate", 'Bearer realm="spot-server"');
    return c.json({ error: UNAUTHENTICATED_MESSAGE }, 401);
  });

  /** Checks a password attempt; answers the refusal itself, or returns true. */
  const attempt = (c: Context, password: unknown, client: string): true | "limited" | "wrong" => {
    const decision = limiter.check(client);
    if (!decision.allowed) {
      c.header("retry-after", String(decision.retryAfterS));
      log.warn("Refused a password attempt from {client}: rate limited", { client });
      return "limited";
    }
    if (typeof password === "string" && sessions.checkPassword(password)) {
      limiter.succeed(client);
      return true;
    }
    limiter.fail(client);
    log.warn("Wrong dashboard password from {client}", { client });
    return "wrong";
  };
  const limitedMessage = (c: Context) =>
    `Too many failed login attempts from your address: try again in ${
      c.res.headers.get("retry-after") ?? "a few"
    } s`;

  app.get("/login", async (c) => {
    const next = safeNext(c.req.query("next"));
    if (await authenticated(c)) return c.redirect(next, 303);
    c.header("cache-control", "no-store");
    return c.html(loginPage({ next }));
  });

  app.post("/login", limitBody, async (c) => {
    const form = await c.req.parseBody().catch(() => ({} as Record<string, unknown>));
    const next = safeNext(form["next"]);
    const client = clientAddress(c, onCloudRun);
    c.header("cache-control", "no-store");
    const result = attempt(c, form["password"], client);
    if (result === "limited") {
      return c.html(loginPage({ next, error: limitedMessage(c) }), 429);
    }
    if (result === "wrong") return c.html(loginPage({ next, error: "Wrong password" }), 401);
    const { token, expiresIn } = await sessions.issue("session");
    setCookie(c, SESSION_COOKIE, token, {
      path: "/",
      httpOnly: true,
      sameSite: "Strict",
      secure: isHttps(c.req.url, c.req.header("x-forwarded-proto")),
      maxAge: expiresIn,
    });
    log.info("Dashboard login from {client}", { client });
    return c.redirect(next, 303);
  });

  const logout = (c: Context) => {
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.redirect("/login", 303);
  };
  app.post("/logout", logout);
  app.get("/logout", logout);

  app.post("/api/token", limitBody, async (c) => {
    const body = await c.req.json().catch(() => undefined) as { password?: unknown } | undefined;
    if (typeof body?.password !== "string") {
      return c.json({ error: 'password is required: POST JSON {"password": "..."}' }, 400);
    }
    const result = attempt(c, body.password, clientAddress(c, onCloudRun));
    if (result === "limited") return c.json({ error: limitedMessage(c) }, 429);
    if (result === "wrong") return c.json({ error: "Wrong password" }, 401);
    c.header("cache-control", "no-store");
    return c.json(await sessions.issue("api"));
  });
}

/** Cloud Run without a password: only `/health` (and with `PUBLIC_API`, market data) answers. */
function lockedGate(publicGate: PublicAccess): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.path === "/health") return await next();
    const access = publicGate(c);
    if (access === "pass") return await next();
    if (access) return access;
    if (wantsPage(c) && c.req.header("accept")?.includes("text/html")) {
      return c.html(accessDisabledPage(ACCESS_DISABLED_MESSAGE), 401);
    }
    return c.json({ error: ACCESS_DISABLED_MESSAGE }, 401);
  };
}
