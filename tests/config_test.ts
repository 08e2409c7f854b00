import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import {
  ConfigError,
  DEFAULT_PRODUCTS,
  DEFAULT_SSE_COALESCE_MS,
  type FlushIntervals,
  loadConfig,
  parseFlushIntervals,
} from "../lib/config.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

/** Every granularity at `ms`, then the overrides. */
function intervals(ms: number, overrides: Partial<FlushIntervals> = {}): FlushIntervals {
  return {
    ONE_MINUTE: ms,
    FIVE_MINUTE: ms,
    FIFTEEN_MINUTE: ms,
    THIRTY_MINUTE: ms,
    ONE_HOUR: ms,
    TWO_HOUR: ms,
    SIX_HOUR: ms,
    ONE_DAY: ms,
    ...overrides,
  };
}

Deno.test("loadConfig() applies the defaults of DESIGN.md", () => {
  const c = loadConfig(env({}));
  equal(c.port, 8080);
  deepStrictEqual(c.products, DEFAULT_PRODUCTS);
  deepStrictEqual([c.shardCount, c.shardIndex, c.store, c.kvPath], [1, 0, "kv", "./data/spot.kv"]);
  equal(c.coinbaseRestRate, 8);
  equal(c.sseCoalesceMs, DEFAULT_SSE_COALESCE_MS);
  equal(loadConfig(env({ SSE_COALESCE_MS: "0" })).sseCoalesceMs, 0);
  deepStrictEqual([c.productsPerConnection, c.flushIntervalMs, c.firestoreLayout], [
    20,
    intervals(1000),
    "compat",
  ]);
  deepStrictEqual([c.logLevel, c.logFormat, c.coinbaseKey, c.dashboardPassword], [
    "info",
    "pretty",
    undefined,
    undefined,
  ]);
  equal(c.coinbaseWsUrl, "wss://advanced-trade-ws.coinbase.com");
  deepStrictEqual(c.quoteCurrencies, ["USD"]);
  deepStrictEqual([c.corsOrigins, c.publicApi, c.publicRateLimit], [undefined, false, {
    ratePerS: 20,
    burst: 40,
  }]);
});

Deno.test("loadConfig() reads CORS_ORIGINS, PUBLIC_API and PUBLIC_RATE_LIMIT", () => {
  const c = loadConfig(env({
    CORS_ORIGINS: " https://app.spotcanvas.com, http://localhost:3000/ ,https://app.spotcanvas.com",
    PUBLIC_API: "TRUE",
    PUBLIC_RATE_LIMIT: "2.5/10",
  }));
  deepStrictEqual(c.corsOrigins, ["https://app.spotcanvas.com", "http://localhost:3000"]);
  equal(c.publicApi, true);
  deepStrictEqual(c.publicRateLimit, { ratePerS: 2.5, burst: 10 });
  equal(loadConfig(env({ CORS_ORIGINS: "*" })).corsOrigins, "*");
  equal(loadConfig(env({ CORS_ORIGINS: " " })).corsOrigins, undefined);
  equal(loadConfig(env({ PUBLIC_API: "false" })).publicApi, false);
});

Deno.test("loadConfig() reads every variable", () => {
  const c = loadConfig(env({
    PORT: "9000",
    PRODUCTS: " btc-usd, ETH-USD ,BTC-USD",
    SHARD_COUNT: "3",
    SHARD_INDEX: "2",
    STORE: "firestore",
    KV_PATH: "/tmp/x.kv",
    GOOGLE_CLOUD_PROJECT: "demo-spot",
    FIRESTORE_EMULATOR_HOST: "127.0.0.1:8081",
    FIRESTORE_LAYOUT: "compact",
    COINBASE_WS_URL: "ws://127.0.0.1:1234",
    COINBASE_REST_URL: "http://127.0.0.1:1234/api/v3/brokerage/",
    COINBASE_API_KEY: "organizations/o/apiKeys/k",
    COINBASE_PRIVATE_KEY: "-----BEGIN EC PRIVATE KEY-----\\nabc\\n-----END EC PRIVATE KEY-----",
    QUOTE_CURRENCIES: "usd,USDC",
    PRODUCTS_PER_CONNECTION: "10",
    FLUSH_INTERVAL_MS: "250",
    DASHBOARD_PASSWORD: "s3cret",
    K_SERVICE: "spot-shard-2",
    LOG_LEVEL: "debug",
  }));
  deepStrictEqual(c.products, ["BTC-USD", "ETH-USD"]);
  deepStrictEqual([c.port, c.shardCount, c.shardIndex, c.store, c.firestoreLayout], [
    9000,
    3,
    2,
    "firestore",
    "compact",
  ]);
  equal(c.coinbaseRestUrl, "http://127.0.0.1:1234/api/v3/brokerage");
  deepStrictEqual(c.quoteCurrencies, ["USD", "USDC"]);
  equal(c.logFormat, "json", "JSON lines by default on Cloud Run");
  equal(c.coinbaseKey?.name, "organizations/o/apiKeys/k");
  equal(loadConfig(env({ PRODUCTS: "all" })).products, "all");
});

const bad: [string, Record<string, string>, RegExp][] = [
  ["PORT", { PORT: "http" }, /PORT must be an integer from 0 to 65535, got "http"/],
  ["PORT", { PORT: "70000" }, /PORT/],
  ["PRODUCTS", { PRODUCTS: "BTC_USD" }, /PRODUCTS has a malformed product id "BTC_USD"/],
  ["PRODUCTS", { PRODUCTS: " , " }, /PRODUCTS is empty/],
  ["PRODUCTS", { PRODUCTS: "" }, /PRODUCTS is set but empty: give product ids like BTC-USD/],
  ["PRODUCTS", { PRODUCTS: "  " }, /PRODUCTS is set but empty/],
  ["SHARD_COUNT", { SHARD_COUNT: "0" }, /SHARD_COUNT must be an integer from 1/],
  [
    "SHARD_INDEX",
    { SHARD_COUNT: "2", SHARD_INDEX: "2" },
    /SHARD_INDEX must be from 0 to SHARD_COUNT-1 \(1\), got 2/,
  ],
  ["SHARD_INDEX", { SHARD_INDEX: "-1" }, /SHARD_INDEX/],
  ["STORE", { STORE: "redis" }, /STORE must be one of kv, firestore, got "redis"/],
  [
    "FIRESTORE_LAYOUT",
    { FIRESTORE_LAYOUT: "wide" },
    /FIRESTORE_LAYOUT must be one of compat, compact/,
  ],
  ["COINBASE_WS_URL", { COINBASE_WS_URL: "http://x" }, /COINBASE_WS_URL must use ws or wss/],
  ["COINBASE_WS_URL", { COINBASE_WS_URL: "not a url" }, /COINBASE_WS_URL is not a URL/],
  [
    "COINBASE_REST_URL",
    { COINBASE_REST_URL: "ftp://x" },
    /COINBASE_REST_URL must use http or https/,
  ],
  ["COINBASE_PRIVATE_KEY", { COINBASE_API_KEY: "k" }, /COINBASE_PRIVATE_KEY is unset/],
  [
    "COINBASE_API_KEY",
    { COINBASE_PRIVATE_KEY: "secret-key-material" },
    /COINBASE_API_KEY is unset/,
  ],
  ["QUOTE_CURRENCIES", { QUOTE_CURRENCIES: "US D" }, /QUOTE_CURRENCIES must be a comma list/],
  [
    "PRODUCTS_PER_CONNECTION",
    { PRODUCTS_PER_CONNECTION: "0" },
    /PRODUCTS_PER_CONNECTION must be an integer from 1 to 100/,
  ],
  [
    "COINBASE_REST_RATE",
    { COINBASE_REST_RATE: "fast" },
    /COINBASE_REST_RATE must be an integer from 1/,
  ],
  ["FLUSH_INTERVAL_MS", { FLUSH_INTERVAL_MS: "1.5" }, /FLUSH_INTERVAL_MS must be an integer/],
  ["FLUSH_INTERVAL_MS", { FLUSH_INTERVAL_MS: "5" }, /from 10 to 3600000/],
  ["FLUSH_INTERVAL_MS", { FLUSH_INTERVAL_MS: "ONE_MINUTE=1000" }, /needs default=MILLISECONDS/],
  ["FLUSH_INTERVAL_MS", { FLUSH_INTERVAL_MS: "3m=1000,default=5000" }, /unknown granularity "3m"/],
  ["FLUSH_INTERVAL_MS", { FLUSH_INTERVAL_MS: "1m=fast,default=5000" }, /integer .* for 1m/],
  ["FLUSH_INTERVAL_MS", { FLUSH_INTERVAL_MS: "1m=1000,default=1" }, /for default, got "1"/],
  ["FLUSH_INTERVAL_MS", { FLUSH_INTERVAL_MS: "1m=1000,ONE_MINUTE=2000,default=5000" }, /twice/],
  ["FLUSH_INTERVAL_MS", { FLUSH_INTERVAL_MS: "default=1000,default=5000" }, /default twice/],
  ["FLUSH_INTERVAL_MS", { FLUSH_INTERVAL_MS: "1m,default=5000" }, /"1m" has no "="/],
  ["CATCHUP_HOURS", { CATCHUP_HOURS: "-3" }, /CATCHUP_HOURS/],
  ["SSE_COALESCE_MS", { SSE_COALESCE_MS: "-1" }, /SSE_COALESCE_MS must be an integer from 0/],
  ["SSE_COALESCE_MS", { SSE_COALESCE_MS: "2.5" }, /SSE_COALESCE_MS must be an integer/],
  [
    "LOG_LEVEL",
    { LOG_LEVEL: "verbose" },
    /LOG_LEVEL must be one of trace, debug, info, warning, error, fatal/,
  ],
  ["LOG_FORMAT", { LOG_FORMAT: "xml" }, /LOG_FORMAT must be one of pretty, json/],
  ["CORS_ORIGINS", { CORS_ORIGINS: "app.example.com" }, /CORS_ORIGINS must be \* or a comma/],
  ["CORS_ORIGINS", { CORS_ORIGINS: "https://a.example/path" }, /got "https:\/\/a.example\/path"/],
  ["CORS_ORIGINS", { CORS_ORIGINS: "ftp://a.example" }, /CORS_ORIGINS must be/],
  ["CORS_ORIGINS", { CORS_ORIGINS: " , " }, /CORS_ORIGINS has no origin/],
  ["PUBLIC_API", { PUBLIC_API: "yes please" }, /PUBLIC_API must be true or false/],
  ["PUBLIC_RATE_LIMIT", { PUBLIC_RATE_LIMIT: "20" }, /PUBLIC_RATE_LIMIT must be rate\/burst/],
  ["PUBLIC_RATE_LIMIT", { PUBLIC_RATE_LIMIT: "0/40" }, /PUBLIC_RATE_LIMIT/],
  ["PUBLIC_RATE_LIMIT", { PUBLIC_RATE_LIMIT: "20/0" }, /PUBLIC_RATE_LIMIT/],
];

for (const [variable, vars, message] of bad) {
  Deno.test(`loadConfig() rejects a bad ${variable} naming it: ${JSON.stringify(vars)}`, () => {
    throws(() => loadConfig(env(vars)), (e) => {
      if (!(e instanceof ConfigError)) return false;
      equal(e.variable, variable);
      return message.test(e.message);
    });
  });
}

Deno.test("loadConfig() never puts a private key in an error", () => {
  throws(() => loadConfig(env({ COINBASE_PRIVATE_KEY: "secret-key-material" })), (e) => {
    return e instanceof Error && !e.message.includes("secret-key-material");
  });
});

Deno.test("main.ts with PRODUCTS set but empty exits 2 naming PRODUCTS", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("../main.ts", import.meta.url).pathname],
    env: { PRODUCTS: "", NO_COLOR: "1", LOG_FORMAT: "json" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  equal(out.code, 2, text);
  ok(/PRODUCTS is set but empty/.test(text), text);
});

Deno.test("main.ts on a port another process holds exits 1 naming the port", async () => {
  using held = Deno.listen({ port: 0, hostname: "0.0.0.0" });
  const port = (held.addr as Deno.NetAddr).port;
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", new URL("../main.ts", import.meta.url).pathname],
      env: {
        PORT: String(port),
        KV_PATH: `${dir}/spot.kv`,
        COINBASE_REST_URL: "http://127.0.0.1:9/",
        COINBASE_WS_URL: "ws://127.0.0.1:9/",
        NO_COLOR: "1",
        LOG_FORMAT: "json",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    equal(out.code, 1, text);
    ok(text.includes(`Cannot listen on port ${port}`), text);
    ok(!/Uncaught/.test(text), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseFlushIntervals() reads one interval or one per granularity", async (t) => {
  await t.step("unset, blank or a plain number applies to every granularity", () => {
    deepStrictEqual(parseFlushIntervals(undefined), intervals(1000));
    deepStrictEqual(parseFlushIntervals("  "), intervals(1000));
    deepStrictEqual(parseFlushIntervals("250"), intervals(250));
    deepStrictEqual(loadConfig(env({ FLUSH_INTERVAL_MS: "250" })).flushIntervalMs, intervals(250));
  });
  await t.step("ids, plural spellings and short names with a default", () => {
    deepStrictEqual(
      parseFlushIntervals("ONE_MINUTE=1000,default=5000"),
      intervals(5000, { ONE_MINUTE: 1000 }),
    );
    deepStrictEqual(
      parseFlushIntervals(" 1m = 500 , FIVE_MINUTES=2000, one_hour=60000, Default=10000 "),
      intervals(10000, { ONE_MINUTE: 500, FIVE_MINUTE: 2000, ONE_HOUR: 60000 }),
    );
  });
  await t.step("default may be left out when all eight are named", () => {
    deepStrictEqual(
      parseFlushIntervals("1m=1000,5m=2000,15m=3000,30m=4000,1h=5000,2h=6000,6h=7000,1d=8000"),
      {
        ONE_MINUTE: 1000,
        FIVE_MINUTE: 2000,
        FIFTEEN_MINUTE: 3000,
        THIRTY_MINUTE: 4000,
        ONE_HOUR: 5000,
        TWO_HOUR: 6000,
        SIX_HOUR: 7000,
        ONE_DAY: 8000,
      },
    );
  });
  await t.step("the error names what is missing", () => {
    throws(
      () => parseFlushIntervals("1m=1000,1h=2000"),
      (e) =>
        e instanceof ConfigError && e.variable === "FLUSH_INTERVAL_MS" &&
        e.message.includes(
          "FIVE_MINUTE, FIFTEEN_MINUTE, THIRTY_MINUTE, TWO_HOUR, SIX_HOUR, ONE_DAY",
        ),
    );
  });
});
