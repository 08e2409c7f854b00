/**
 * @module
 * The Hono application: security headers on everything, the access gate and login routes
 * (`auth.ts`), `/health`, `/metrics`, `/api/*` and the dashboard pages. Errors map to HTTP in
 * `errors.ts`; unknown routes are a JSON 404.
 */
import { Hono } from "hono";
import type { Service } from "../lib/service/service.ts";
import { apiRoutes } from "./api.ts";
import { installAuth } from "./auth.ts";
import { cors } from "./cors.ts";
import { dashboardRoutes } from "./dashboard/routes.ts";
import { onError } from "./errors.ts";
import { installHistory, serviceHistorySource } from "./history.ts";
import { securityHeaders } from "./security.ts";

/** Builds the app for a service. */
export function createApp(service: Service): Hono {
  const app = new Hono();
  app.onError(onError);
  app.notFound((c) => c.json({ error: `No route for ${c.req.method} ${c.req.path}` }, 404));
  app.use("*", securityHeaders());
  app.use("*", cors(service.config.corsOrigins));
  installAuth(app, {
    password: service.config.dashboardPassword,
    cloudRunService: service.config.cloudRunService,
    publicApi: service.config.publicApi ? service.config.publicRateLimit : undefined,
  });
  app.get("/health", (c) => {
    const { code, body } = service.health();
    return c.json(body, code);
  });
  app.get(
    "/metrics",
    (c) =>
      c.body(service.metrics.render(), 200, {
        "content-type": "text/plain; version=0.0.4; charset=utf-8",
      }),
  );
  installHistory(app, serviceHistorySource(service));
  app.route("/api", apiRoutes(service));
  app.route("/", dashboardRoutes(service));
  return app;
}
