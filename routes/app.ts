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
import { dashboardRoutes } from "./dashboard/routes.ts";
import { onError } from "./errors.ts";
import { securityHeaders } from "./security.ts";

/** Options for {@linkcode createApp}. */
export interface AppOptions {
  /** Access control (`DASHBOARD_PASSWORD`, Cloud Run). @default open */
  auth?: AuthOptions;
}

/** The app's options from the configuration (`DASHBOARD_PASSWORD`, `K_SERVICE`). */
export function appOptions(
  config: Pick<Config, "dashboardPassword" | "cloudRunService">,
): AppOptions {
  return {
    auth: { password: config.dashboardPassword, cloudRunService: config.cloudRunService },
  };
}

/** Builds the app on the service's read-only view. */
export function createApp(view: ServiceView, options: AppOptions = {}): Hono {
  const auth = options.auth ?? {};
  const app = new Hono();
  app.onError(onError);
  app.notFound((c) => c.json({ error: `No route for ${c.req.method} ${c.req.path}` }, 404));
  app.use("*", securityHeaders());
  installAuth(app, auth);
  app.get("/health", (c) => {
    const { code, body } = view.health();
    return c.json(body, code);
  });
  app.get(
    "/metrics",
    async (c) => c.body(await view.metrics(), 200, { "content-type": PROMETHEUS_CONTENT_TYPE }),
  );
  app.route("/api", apiRoutes(view));
  app.route("/", dashboardRoutes(view, { logout: !!auth.password }));
  return app;
}
