import assert from "node:assert/strict";
import { Hono } from "hono";
import { LoginLimiter } from "../../lib/auth/login_limiter.ts";
import { Sessions } from "../../lib/auth/session.ts";
import {
  ACCESS_DISABLED_MESSAGE,
  type AuthOptions,
  installAuth,
  safeNext,
  SESSION_COOKIE,
} from "../../routes/auth.ts";
import { CONTENT_SECURITY_POLICY, securityHeaders } from "../../routes/security.ts";

const PASSWORD = "correct horse battery staple";

/** The middleware order of `routes/app.ts` in front of three kinds of route. */
function app(options: AuthOptions): Hono {
  const a = new Hono();
  a.use("*", securityHeaders());
  installAuth(a, options);
  a.get("/health", (c) => c.json({ status: "healthy" }));
  a.get("/api/status", (c) => c.json({ connections: [] }));
  a.get("/metrics", (c) => c.text("spot_trades_total 1\n"));
  a.get("/", (c) => c.html("<h1>Overview</h1>"));
  a.notFound((c) => c.json({ error: "No route" }, 404));
  return a;
}

const peer = (hostname: string) => ({ remoteAddr: { hostname, port: 1, transport: "tcp" } });

function form(fields: Record<string, string>): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  };
}

function tokenRequest(password: unknown): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ password }),
  };
}

function sessionCookie(res: Response): string {
  const set = res.headers.get("set-cookie") ?? "";
  const m = set.match(new RegExp(`${SESSION_COOKIE}=([^;]+)`));
  assert.ok(m, `no session cookie in "${set}"`);
  return m[1]!;
}

Deno.test("installAuth() without a password and off Cloud Run leaves everything open", async () => {
  const a = app({});
  assert.equal((await a.request("/")).status, 200);
  assert.equal((await a.request("/api/status")).status, 200);
  assert.equal((await a.request("/metrics")).status, 200);
  const login = await a.request("/login?next=/products/BTC-USD");
  assert.equal(login.status, 303);
  assert.equal(login.headers.get("location"), "/products/BTC-USD");
});

Deno.test("installAuth() on Cloud Run without a password answers 401 except /health", async (t) => {
  const a = app({ cloudRunService: "spot-server" });
  await t.step("/health stays open", async () => {
    assert.equal((await a.request("/health")).status, 200);
  });
  for (const path of ["/", "/api/status", "/metrics", "/login", "/api/token", "/nope"]) {
    await t.step(`${path} says how to enable access`, async () => {
      const res = await a.request(path, { headers: { accept: "application/json" } });
      assert.equal(res.status, 401);
      const body = await res.json();
      assert.equal(body.error, ACCESS_DISABLED_MESSAGE);
      assert.match(body.error, /DASHBOARD_PASSWORD/);
    });
  }
  await t.step("a browser gets an HTML page with the same message", async () => {
    const res = await a.request("/", { headers: { accept: "text/html" } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await res.text(), /Set the DASHBOARD_PASSWORD environment variable/);
  });
});

Deno.test("installAuth() with a password", async (t) => {
  const a = app({ password: PASSWORD, limiter: { maxFailures: 3 } });

  await t.step("/health stays open", async () => {
    assert.equal((await a.request("/health")).status, 200);
  });

  await t.step("a page without a session redirects to the login form", async () => {
    const res = await a.request("/?g=5m");
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/login?next=%2F%3Fg%3D5m");
    const login = await a.request("/login?next=%2F%3Fg%3D5m");
    assert.equal(login.status, 200);
    const html = await login.text();
    assert.match(html, /<input[^>]*type="password"/);
    assert.match(html, /name="next" value="\/\?g=5m"/);
    assert.doesNotMatch(html, new RegExp(PASSWORD));
  });

  await t.step("the API and metrics without a session answer 401 JSON", async () => {
    for (const path of ["/api/status", "/metrics", "/api/nope"]) {
      const res = await a.request(path);
      assert.equal(res.status, 401, path);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/);
      assert.match((await res.json()).error, /POST \/api\/token/);
    }
  });

  await t.step("a wrong password is refused and sets no cookie", async () => {
    const res = await a.request("/login", form({ password: "wrong", next: "/" }), peer("10.0.0.1"));
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("set-cookie"), null);
    assert.match(await res.text(), /Wrong password/);
  });

  await t.step("the right password sets a strict HttpOnly cookie and redirects", async () => {
    const res = await a.request(
      "/login",
      form({ password: PASSWORD, next: "/products/BTC-USD" }),
      peer("10.0.0.2"),
    );
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/products/BTC-USD");
    const set = res.headers.get("set-cookie") ?? "";
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    assert.match(set, /Max-Age=43200/);
    assert.doesNotMatch(set, /Secure/, "plain http gets no Secure flag");
    const cookie = sessionCookie(res);
    const page = await a.request("/", { headers: { cookie: `${SESSION_COOKIE}=${cookie}` } });
    assert.equal(page.status, 200);
    const api = await a.request("/api/status", {
      headers: { cookie: `${SESSION_COOKIE}=${cookie}` },
    });
    assert.equal(api.status, 200);
  });

  await t.step("over https (Cloud Run's front end) the cookie is Secure", async () => {
    const res = await a.request(
      "/login",
      {
        ...form({ password: PASSWORD }),
        headers: { ...form({}).headers, "x-forwarded-proto": "https" },
      },
      peer("10.0.0.3"),
    );
    assert.equal(res.status, 303);
    assert.match(res.headers.get("set-cookie") ?? "", /Secure/);
  });

  await t.step("a forged or tampered cookie is refused", async () => {
    const other = new Sessions({ password: "another password" });
    const forged = (await other.issue("session")).token;
    for (const value of [forged, "garbage", forged.slice(0, -2) + "AA"]) {
      const res = await a.request("/api/status", {
        headers: { cookie: `${SESSION_COOKIE}=${value}` },
      });
      assert.equal(res.status, 401);
    }
  });

  await t.step("POST /api/token exchanges the password for a bearer token", async () => {
    const res = await a.request("/api/token", tokenRequest(PASSWORD), peer("10.0.0.4"));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.expiresIn, 43200);
    assert.equal(typeof body.token, "string");
    const ok = await a.request("/api/status", {
      headers: { authorization: `Bearer ${body.token}` },
    });
    assert.equal(ok.status, 200);
    const bad = await a.request("/api/status", { headers: { authorization: "Bearer x.y.z" } });
    assert.equal(bad.status, 401);
  });

  await t.step("POST /api/token refuses a wrong or missing password", async () => {
    const wrong = await a.request("/api/token", tokenRequest("nope"), peer("10.0.0.5"));
    assert.equal(wrong.status, 401);
    assert.equal((await wrong.json()).error, "Wrong password");
    const missing = await a.request("/api/token", tokenRequest(42), peer("10.0.0.5"));
    assert.equal(missing.status, 400);
    assert.match((await missing.json()).error, /password/);
  });

  await t.step("logout clears the cookie", async () => {
    const res = await a.request("/logout", { method: "POST" });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/login");
    assert.match(res.headers.get("set-cookie") ?? "", new RegExp(`${SESSION_COOKIE}=;.*Max-Age=0`));
  });

  await t.step("password attempts are rate-limited per client address", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await a.request("/login", form({ password: `guess ${i}` }), peer("10.9.9.9"));
      assert.equal(res.status, 401);
    }
    const limited = await a.request("/login", form({ password: PASSWORD }), peer("10.9.9.9"));
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) > 0);
    assert.match(await limited.text(), /Too many failed login attempts/);
    const api = await a.request("/api/token", tokenRequest(PASSWORD), peer("10.9.9.9"));
    assert.equal(api.status, 429);
    assert.match((await api.json()).error, /try again in \d+ s/);
    const other = await a.request("/login", form({ password: PASSWORD }), peer("10.9.9.8"));
    assert.equal(other.status, 303, "another client is not affected");
  });
});

Deno.test("installAuth() on Cloud Run limits by the last X-Forwarded-For entry", async () => {
  const a = app({ password: PASSWORD, cloudRunService: "spot", limiter: { maxFailures: 2 } });
  const from = (xff: string): RequestInit => ({
    ...tokenRequest("wrong"),
    headers: { "content-type": "application/json", "x-forwarded-for": xff },
  });
  assert.equal((await a.request("/api/token", from("1.1.1.1, 203.0.113.7"))).status, 401);
  // A client rotating a spoofed first entry is still the same client.
  assert.equal((await a.request("/api/token", from("2.2.2.2, 203.0.113.7"))).status, 401);
  assert.equal((await a.request("/api/token", from("3.3.3.3, 203.0.113.7"))).status, 429);
  assert.equal((await a.request("/api/token", from("203.0.113.8"))).status, 401);
});

Deno.test("Sessions tokens expire", async () => {
  let now = Date.UTC(2026, 0, 1);
  const sessions = new Sessions({ password: PASSWORD, ttlS: 60, clock: () => now });
  const { token, expiresIn } = await sessions.issue("api");
  assert.equal(expiresIn, 60);
  assert.equal(await sessions.verify(token), true);
  now += 59_000;
  assert.equal(await sessions.verify(token), true);
  now += 2_000;
  assert.equal(await sessions.verify(token), false);
  assert.equal(sessions.checkPassword(PASSWORD), true);
  assert.equal(sessions.checkPassword(PASSWORD + " "), false);
  assert.equal(sessions.checkPassword(""), false);
});

Deno.test("LoginLimiter forgets failures after its window and bounds its memory", () => {
  let now = 0;
  const limiter = new LoginLimiter({
    maxFailures: 2,
    windowMs: 10_000,
    maxClients: 3,
    clock: () => now,
  });
  limiter.fail("a");
  now = 4000;
  limiter.fail("a");
  assert.deepEqual(limiter.check("a"), { allowed: false, retryAfterS: 6 });
  now = 10_001;
  assert.deepEqual(limiter.check("a"), { allowed: true });
  limiter.succeed("a");
  for (const c of ["b", "c", "d", "e"]) limiter.fail(c);
  assert.equal(limiter.size, 3);
});

Deno.test("safeNext() keeps own-origin paths only", () => {
  assert.equal(safeNext("/products/BTC-USD?g=1h"), "/products/BTC-USD?g=1h");
  for (
    const bad of ["//evil.example", "/\\evil.example", "https://evil.example", "", 42, "/login"]
  ) {
    assert.equal(safeNext(bad), "/", String(bad));
  }
});

Deno.test("securityHeaders() sets the CSP and friends on every response", async () => {
  const a = app({ password: PASSWORD });
  for (const path of ["/health", "/nope", "/", "/login"]) {
    const res = await a.request(path);
    await res.body?.cancel();
    assert.equal(res.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY, path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    assert.equal(res.headers.get("referrer-policy"), "same-origin");
  }
  assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
  assert.match(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline/);
});
