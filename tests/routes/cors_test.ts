import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { idleApp } from "./_app.ts";

const CHARTS = "https://charts.example.com";
const T = Date.UTC(2026, 2, 14, 12, 0, 0);
const MARKET = [
  `/history?symbol=BTC-USD&granularity=ONE_MINUTE&start_time=${T}&end_time=${T + 60_000}` +
  "&exchange=coinbase",
  "/api/candles/BTC-USD/1m?limit=5",
  "/api/products",
  "/api/stream?products=BTC-USD",
];
const OTHERS = ["/api/status", "/metrics", "/", "/health"];

const corsHeaders = (r: Response) =>
  [...r.headers.keys()].filter((k) => k.startsWith("access-control-")).sort();

async function get(
  app: { request: (p: string, i?: RequestInit) => Response | Promise<Response> },
  path: string,
  origin?: string,
) {
  const r = await app.request(path, { headers: origin ? { origin } : {} });
  await r.body?.cancel();
  return r;
}

function preflight(origin: string): RequestInit {
  return {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "GET",
      "access-control-request-headers": "authorization",
    },
  };
}

Deno.test("CORS_ORIGINS unset: no CORS headers anywhere", async () => {
  const { app, close } = await idleApp({});
  try {
    for (const path of [...MARKET, ...OTHERS]) {
      const r = await get(app, path, CHARTS);
      deepStrictEqual(corsHeaders(r), [], path);
      const p = await app.request(path, preflight(CHARTS));
      await p.body?.cancel();
      deepStrictEqual(corsHeaders(p), [], `preflight ${path}`);
      ok(p.status !== 204, `preflight ${path} is not answered as CORS`);
    }
  } finally {
    await close();
  }
});

Deno.test("CORS_ORIGINS lists origins", async (t) => {
  const { app, close } = await idleApp({ CORS_ORIGINS: `${CHARTS},http://localhost:3000` });
  try {
    await t.step("a GET of each market-data route from a listed origin may be read", async () => {
      for (const path of MARKET) {
        const r = await get(app, path, CHARTS);
        equal(r.status, 200, path);
        equal(r.headers.get("access-control-allow-origin"), CHARTS, path);
        match(r.headers.get("vary") ?? "", /Origin/, path);
        equal(r.headers.get("access-control-allow-credentials"), null);
      }
      const local = await get(app, MARKET[2]!, "http://localhost:3000");
      equal(local.headers.get("access-control-allow-origin"), "http://localhost:3000");
    });

    await t.step("errors of those routes carry the header too (400, 404)", async () => {
      const bad = await get(app, "/history?symbol=BTC-USD&granularity=7m", CHARTS);
      equal(bad.status, 400);
      equal(bad.headers.get("access-control-allow-origin"), CHARTS);
      const unserved = await get(
        app,
        `/history?symbol=DOGE-USD&granularity=1m&start_time=${T}&end_time=${T}`,
        CHARTS,
      );
      equal(unserved.status, 404);
      equal(unserved.headers.get("access-control-allow-origin"), CHARTS);
    });

    await t.step("the preflight of each market-data route is a 204 allowing GET", async () => {
      for (const path of MARKET) {
        const r = await app.request(path, preflight(CHARTS));
        equal(r.status, 204, path);
        equal(r.headers.get("access-control-allow-origin"), CHARTS);
        match(r.headers.get("access-control-allow-methods") ?? "", /\bGET\b/);
        match(r.headers.get("access-control-allow-headers") ?? "", /\bauthorization\b/);
        equal(r.headers.get("access-control-max-age"), "600");
      }
    });

    await t.step("an unlisted origin gets no allow-origin; its preflight is a 403", async () => {
      const r = await get(app, MARKET[0]!, "https://evil.example");
      equal(r.status, 200);
      equal(r.headers.get("access-control-allow-origin"), null);
      match(r.headers.get("vary") ?? "", /Origin/);
      const p = await app.request(MARKET[0]!, preflight("https://evil.example"));
      equal(p.status, 403);
      equal(p.headers.get("access-control-allow-origin"), null);
      match((await p.json()).error, /https:\/\/evil.example is not allowed by CORS_ORIGINS/);
    });

    await t.step(
      "the dashboard, /api/status, /metrics and /health get no CORS headers",
      async () => {
        for (const path of OTHERS) {
          const r = await get(app, path, CHARTS);
          deepStrictEqual(corsHeaders(r), [], path);
          const p = await app.request(path, preflight(CHARTS));
          await p.body?.cancel();
          deepStrictEqual(corsHeaders(p), [], `preflight ${path}`);
        }
      },
    );
  } finally {
    await close();
  }
});

Deno.test("CORS_ORIGINS=* allows every origin with a literal *", async () => {
  const { app, close } = await idleApp({ CORS_ORIGINS: "*" });
  try {
    const r = await get(app, MARKET[1]!, "https://anyone.example");
    equal(r.headers.get("access-control-allow-origin"), "*");
    const p = await app.request(MARKET[3]!, preflight("https://anyone.example"));
    equal(p.status, 204);
    equal(p.headers.get("access-control-allow-origin"), "*");
    deepStrictEqual(corsHeaders(await get(app, "/api/status", "https://anyone.example")), []);
  } finally {
    await close();
  }
});

Deno.test("with a password, the preflight needs no login and a refused GET can be read", async () => {
  const { app, close } = await idleApp({ CORS_ORIGINS: CHARTS, DASHBOARD_PASSWORD: "pw" });
  try {
    const p = await app.request(MARKET[1]!, preflight(CHARTS));
    equal(p.status, 204);
    equal(p.headers.get("access-control-allow-origin"), CHARTS);
    const r = await get(app, MARKET[1]!, CHARTS);
    equal(r.status, 401);
    equal(r.headers.get("access-control-allow-origin"), CHARTS);
  } finally {
    await close();
  }
});
