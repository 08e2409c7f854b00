/**
 * @module
 * The Hono application: security headers on everything, the access gate and login routes
 * (`auth.ts`), `/health`, `/metrics`, `/api/*` and the dashboard pages. Errors map to HTTP in
 * `errors.ts`; unknown routes are a JSON 404.
 */
import { Hono } from "hono";
import type { Config } from "../lib/config.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../lib/service/prometheus.ts";
import type { ServiceView } from "../lib/service/view.ts";
import { apiRoutes } from "./api.ts";
import { type AuthOptions, installAuth } from "./auth.ts";
import { cors } from "./cors.ts";
import { dashboardRoutes } from "./dashboard/routes.ts";
import { fleetRoutes } from "./dashboard/fleet.tsx";
import { onError } from "./errors.ts";
import { installHistory, viewHistorySource } from "./history.ts";
import { securityHeaders } from "./security.ts";

/** Options for {@linkcode createApp}. */
export interface AppOptions {
  /** Access control (`DASHBOARD_PASSWORD`, Cloud Run, `PUBLIC_API`). @default open */
  auth?: AuthOptions;
  /** Browser origins allowed to read the market-data routes (`CORS_ORIGINS`). @default none */
  corsOrigins?: string[] | "*";
}

/** The app's options from the configuration (`DASHBOARD_PASSWORD`, `K_SERVICE`). */
export function appOptions(
  config: Pick<
    Config,
    "dashboardPassword" | "cloudRunService" | "corsOrigins" | "publicApi" | "publicRateLimit"
  >,
): AppOptions {
  return {
    auth: {
      password: config.dashboardPassword,
      cloudRunService: config.cloudRunService,
      publicApi: config.publicApi ? config.publicRateLimit : undefined,
    },
    corsOrigins: config.corsOrigins,
  };
}

/** Builds the app on the service's read-only view. */
export function createApp(view: ServiceView, options: AppOptions = {}): Hono {
  const auth = options.auth ?? {};
  const app = new Hono();
  app.onError(onError);
  app.notFound((c) => c.json({ error: `No route for ${c.req.method} ${c.req.path}` }, 404));
  app.use("*", securityHeaders());
  app.use("*", cors(options.corsOrigins));
  installAuth(app, auth);
  app.get("/health", (c) => {
    const { code, body } = view.health();
    return c.json(body, code);
  });
  app.get(
    "/metrics",
    async (c) => c.body(await view.metrics(), 200, { "content-type": PROMETHEUS_CONTENT_TYPE }),
  );
  installHistory(app, viewHistorySource(view));
  app.route("/", fleetRoutes(view, { logout: !!auth.password }));
  app.route("/api", apiRoutes(view));
  app.route("/", dashboardRoutes(view, { logout: !!auth.password }));
  return app;
}
