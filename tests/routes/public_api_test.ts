import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { Hono } from "hono";
import { ACCESS_DISABLED_MESSAGE, type AuthOptions, installAuth } from "../../routes/auth.ts";
import { PublicLimiter } from "../../routes/public_limit.ts";
import { idleApp } from "./_app.ts";

const T = Date.UTC(2026, 2, 14, 12, 0, 0);
const MARKET = [
  `/history?symbol=BTC-USD&granularity=ONE_MINUTE&start_time=${T}&end_time=${T + 60_000}` +
  "&exchange=coinbase",
  "/api/candles/BTC-USD/1m?limit=5",
  "/api/products",
  "/api/stream?products=BTC-USD",
];

async function status(app: Hono, path: string, init?: RequestInit): Promise<number> {
  const r = await app.request(path, init);
  await r.body?.cancel();
  return r.status;
}

Deno.test("PUBLIC_API=true with a password opens only the market-data routes", async () => {
  const { app, close } = await idleApp({ PUBLIC_API: "true", DASHBOARD_PASSWORD: "pw" });
  try {
    for (const path of MARKET) equal(await status(app, path), 200, path);
    equal(await status(app, "/api/status"), 401);
    equal(await status(app, "/metrics"), 401);
    equal(await status(app, "/api/fleet"), 401);
    equal(await status(app, "/"), 303, "the dashboard redirects to the login form");
    equal(await status(app, "/api/products", { method: "POST" }), 401, "only GET is public");
  } finally {
    await close();
  }
});

Deno.test("PUBLIC_API=true on Cloud Run without a password keeps the lock on everything else", async () => {
  const { app, close } = await idleApp({ PUBLIC_API: "true", K_SERVICE: "spot-shard-0" });
  try {
    for (const path of MARKET) equal(await status(app, path), 200, path);
    for (const path of ["/api/status", "/metrics", "/"]) {
      const r = await app.request(path);
      equal(r.status, 401, path);
      match(await r.text(), /Access is disabled/, path);
    }
  } finally {
    await close();
  }
});

Deno.test("without PUBLIC_API the market-data routes keep needing a login", async () => {
  const envs: Record<string, string>[] = [{ DASHBOARD_PASSWORD: "pw" }, {
    K_SERVICE: "spot-shard-0",
  }];
  for (const env of envs) {
    const { app, close } = await idleApp(env);
    try {
      for (const path of MARKET) equal(await status(app, path), 401, `${path} ${Object.keys(env)}`);
    } finally {
      await close();
    }
  }
});

/** installAuth in front of a market-data route and /api/status, on a manual clock. */
function limitedApp(options: Partial<AuthOptions>) {
  let now = T;
  const a = new Hono();
  installAuth(a, {
    publicApi: { ratePerS: 2, burst: 3 },
    clock: () => now,
    ...options,
  });
  a.get("/api/products", (c) => c.json({ products: [] }));
  a.get("/api/status", (c) => c.json({ connections: [] }));
  const from = (hostname: string, headers: Record<string, string> = {}) =>
    a.request("/api/products", { headers }, { remoteAddr: { hostname } });
  return { app: a, from, advance: (ms: number) => now += ms };
}

Deno.test("PUBLIC_RATE_LIMIT: a token bucket per client address", async (t) => {
  await t.step("a burst passes, the next request is a 429 with Retry-After", async () => {
    const { from } = limitedApp({ password: "pw" });
    for (let i = 0; i < 3; i++) equal((await from("10.0.0.1")).status, 200, `request ${i + 1}`);
    const r = await from("10.0.0.1");
    equal(r.status, 429);
    equal(r.headers.get("retry-after"), "1");
    match((await r.json()).error, /PUBLIC_RATE_LIMIT allows 2 requests\/s with bursts of 3/);
  });

  await t.step("tokens come back at the rate; other clients are not affected", async () => {
    const { from, advance } = limitedApp({});
    for (let i = 0; i < 3; i++) await from("10.0.0.1");
    equal((await from("10.0.0.1")).status, 429);
    equal((await from("10.0.0.2")).status, 200, "another address has its own bucket");
    advance(500);
    equal((await from("10.0.0.1")).status, 200, "one token after 1/rate s");
    equal((await from("10.0.0.1")).status, 429);
  });

  await t.step("on Cloud Run the address is the last X-Forwarded-For entry", async () => {
    const { from } = limitedApp({ cloudRunService: "spot" });
    for (let i = 0; i < 3; i++) {
      equal((await from("169.254.1.1", { "x-forwarded-for": `1.1.1.${i}, 9.9.9.9` })).status, 200);
    }
    equal((await from("169.254.1.1", { "x-forwarded-for": "1.1.1.7, 9.9.9.9" })).status, 429);
    equal((await from("169.254.1.1", { "x-forwarded-for": "9.9.9.8" })).status, 200);
  });

  await t.step("a logged-in client is not limited", async () => {
    const { app, from } = limitedApp({ password: "pw" });
    const token = await app.request("/api/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ password: "pw" }),
    }, { remoteAddr: { hostname: "10.0.0.3" } });
    const { token: bearer } = await token.json();
    for (let i = 0; i < 10; i++) {
      equal((await from("10.0.0.3", { authorization: `Bearer ${bearer}` })).status, 200);
    }
  });

  await t.step(
    "a locked Cloud Run still answers the limit, and /api/status stays locked",
    async () => {
      const { app, from } = limitedApp({ cloudRunService: "spot" });
      for (let i = 0; i < 3; i++) equal((await from("10.0.0.4")).status, 200);
      equal((await from("10.0.0.4")).status, 429);
      const locked = await app.request("/api/status", {}, { remoteAddr: { hostname: "10.0.0.5" } });
      equal(locked.status, 401);
      equal((await locked.json()).error, ACCESS_DISABLED_MESSAGE);
    },
  );
});

Deno.test("PublicLimiter", async (t) => {
  await t.step("Retry-After is the whole seconds until the next token", () => {
    let now = 0;
    const l = new PublicLimiter({ ratePerS: 0.25, burst: 1, clock: () => now });
    deepStrictEqual(l.take("a"), { allowed: true });
    deepStrictEqual(l.take("a"), { allowed: false, retryAfterS: 4 });
    now = 3000;
    deepStrictEqual(l.take("a"), { allowed: false, retryAfterS: 1 });
    now = 4000;
    deepStrictEqual(l.take("a"), { allowed: true });
  });

  await t.step("tracks at most maxClients addresses", () => {
    const l = new PublicLimiter({ ratePerS: 1, burst: 1, maxClients: 3, clock: () => 0 });
    for (const c of ["a", "b", "c", "d", "e"]) l.take(c);
    equal(l.clients, 3);
    ok(l.take("a").allowed, "a forgotten client starts with a full bucket");
  });
});
