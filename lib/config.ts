/**
 * @module
 * Turns the environment into a typed {@linkcode Config}. Every variable of DESIGN.md is read
 * here and nowhere else; a bad value is a {@linkcode ConfigError} naming the variable, the value
 * and what is accepted. Secrets are kept out of error messages.
 */
import {
  GRANULARITIES,
  GRANULARITY_NAMES,
  type GranularityId,
  parseGranularity,
} from "./candles/granularity.ts";

/** Coinbase Advanced Trade market data WebSocket. */
export const COINBASE_WS_URL = "wss://advanced-trade-ws.coinbase.com";
/** Coinbase Advanced Trade REST base. */
export const COINBASE_REST_URL = "https://api.coinbase.com/api/v3/brokerage";
/** Products served when `PRODUCTS` is unset. */
export const DEFAULT_PRODUCTS = ["BTC-USD", "ETH-USD", "ADA-USD", "DOGE-USD", "SOL-USD"];
/** Kraken's WebSocket v2 endpoint. */
export const KRAKEN_WS_URL = "wss://ws.kraken.com/v2";
/** Kraken's REST base (paths `/0/public/…` below it). */
export const KRAKEN_REST_URL = "https://api.kraken.com";
/** Kraken pairs served when `KRAKEN_PRODUCTS` is unset (stored ids: `BTC/USD` → `BTC-USD`). */
export const DEFAULT_KRAKEN_PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD", "ADA-USD"];
/** The exchanges `EXCHANGES` may list. */
export const EXCHANGES = ["coinbase", "kraken"] as const;
/** One of {@linkcode EXCHANGES}. */
export type ExchangeName = typeof EXCHANGES[number];

/** A bad environment value. The message names the variable. */
export class ConfigError extends Error {
  /** The offending variable. */
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(message);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

export type StoreKind = "kv" | "firestore";
export type FirestoreLayout = "compat" | "compact";
export type LogLevel = "trace" | "debug" | "info" | "warning" | "error" | "fatal";
export type LogFormat = "pretty" | "json";

/** `PUBLIC_RATE_LIMIT`: a token bucket per client address. */
export interface PublicRateLimit {
  /** Requests per second refilled. */
  ratePerS: number;
  /** Requests a client may make at once. */
  burst: number;
}

/** Which products of one exchange the fleet serves. */
export interface ProductSelection {
  /** Explicit stored ids (`BTC-USD`), or `"all"` for every online spot product in `quoteCurrencies`. */
  products: string[] | "all";
  quoteCurrencies: string[];
}

/** The service's configuration, all defaults applied. */
export interface Config {
  port: number;
  /** `EXCHANGES`: the exchanges served, in order; `coinbase` alone by default. */
  exchanges: ExchangeName[];
  /** Explicit product ids, or `"all"` for every online spot product in `quoteCurrencies`. */
  products: string[] | "all";
  quoteCurrencies: string[];
  shardCount: number;
  shardIndex: number;
  store: StoreKind;
  kvPath: string;
  /** Firestore project; undefined lets the client library find it (ADC, metadata server). */
  googleCloudProject?: string;
  firestoreEmulatorHost?: string;
  firestoreLayout: FirestoreLayout;
  coinbaseWsUrl: string;
  coinbaseRestUrl: string;
  /** CDP key; both parts set or neither. */
  coinbaseKey?: { name: string; privateKey: string };
  productsPerConnection: number;
  /** `KRAKEN_PRODUCTS` / `KRAKEN_QUOTE_CURRENCIES`: Kraken's selection (used when served). */
  kraken: ProductSelection;
  krakenWsUrl: string;
  krakenRestUrl: string;
  /** `KRAKEN_REST_RATE`: REST requests per second towards Kraken (its public limit is unpublished). */
  krakenRestRate: number;
  /** `HISTORY_DAYS`: the background filler completes history this many days back (0 = off). */
  historyDays: number;
  /** REST requests per second the service allows itself (Coinbase: ~10/s public, 30/s with a key). */
  coinbaseRestRate: number;
  /** `FLUSH_INTERVAL_MS`: at most one write per live document per interval, per granularity. */
  flushIntervalMs: FlushIntervals;
  /** Hours of history filled from REST at start when the store is behind (the bound). */
  catchupHours: number;
  /**
   * `SSE_COALESCE_MS`: how long a busy hub collects candle updates into one write per SSE client
   * (0: one write per published frame).
   */
  sseCoalesceMs: number;
  /** Milliseconds between this shard's shard-registry heartbeats (`SHARD_HEARTBEAT_MS`). */
  shardHeartbeatMs: number;
  /** What this build is, for the shard registry: Cloud Run's `K_REVISION`, else `local`. */
  version: string;
  dashboardPassword?: string;
  /** `CORS_ORIGINS`: browser origins allowed to read the market-data routes, `"*"`, or unset. */
  corsOrigins?: string[] | "*";
  /** `PUBLIC_API`: the market-data routes answer without a login, limited per client. */
  publicApi: boolean;
  /** `PUBLIC_RATE_LIMIT`, default 20 requests/s with bursts of 40. */
  publicRateLimit: PublicRateLimit;
  /** Cloud Run service name (`K_SERVICE`), when running there. */
  cloudRunService?: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

/** Reads one variable as set (undefined when unset). */
export type Env = (name: string) => string | undefined;

/** The process environment as an {@linkcode Env}. */
export const processEnv: Env = (name) => Deno.env.get(name);

const PRODUCT_ID = /^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}$/;

/** Whether `id` looks like a Coinbase product id (`BASE-QUOTE`, upper case). */
export function isProductId(id: string): boolean {
  return PRODUCT_ID.test(id);
}

/**
 * Parses a comma list of product ids (upper-cased, trimmed, de-duplicated).
 *
 * @throws {ConfigError} naming `variable` when an id is malformed or the list is empty
 */
export function parseProductList(raw: string, variable = "PRODUCTS"): string[] {
  const ids = [...new Set(raw.split(",").map((s) => s.trim().toUpperCase()).filter(Boolean))];
  if (ids.length === 0) {
    throw new ConfigError(variable, `${variable} is empty: give product ids like BTC-USD,ETH-USD`);
  }
  for (const id of ids) {
    if (!PRODUCT_ID.test(id)) {
      throw new ConfigError(
        variable,
        `${variable} has a malformed product id "${id}": expected BASE-QUOTE such as BTC-USD`,
      );
    }
  }
  return ids;
}

/**
 * Parses `KRAKEN_PRODUCTS`: a comma list of Kraken pairs as v2 symbols (`BTC/USD`) or stored ids
 * (`BTC-USD`), returned as stored ids (upper-cased, de-duplicated).
 *
 * @throws {ConfigError} naming `KRAKEN_PRODUCTS` when a pair is malformed or the list is empty
 */
export function parseKrakenProductList(raw: string): string[] {
  const variable = "KRAKEN_PRODUCTS";
  const ids = [
    ...new Set(
      raw.split(",").map((s) => s.trim().toUpperCase().replace("/", "-")).filter(Boolean),
    ),
  ];
  if (ids.length === 0) {
    throw new ConfigError(variable, `${variable} is empty: give pairs like BTC/USD,ETH/USD`);
  }
  for (const id of ids) {
    if (!PRODUCT_ID.test(id)) {
      throw new ConfigError(
        variable,
        `${variable} has a malformed pair "${id}": expected BASE/QUOTE such as BTC/USD`,
      );
    }
  }
  return ids;
}

/**
 * Parses `EXCHANGES`: a comma list of `coinbase`, `kraken` (order kept, duplicates dropped).
 *
 * @throws {ConfigError} naming `EXCHANGES`
 */
export function parseExchanges(raw: string | undefined): ExchangeName[] {
  if (raw === undefined || raw.trim() === "") return ["coinbase"];
  const names = [...new Set(raw.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean))];
  const bad = names.find((n) => !(EXCHANGES as readonly string[]).includes(n));
  if (bad !== undefined || names.length === 0) {
    throw new ConfigError(
      "EXCHANGES",
      `EXCHANGES must be a comma list of ${EXCHANGES.join(", ")}, got "${raw}"` +
        (bad !== undefined ? ` ("${bad}" is not an exchange this service speaks)` : ""),
    );
  }
  return names as ExchangeName[];
}

function quoteList(env: Env, name: string): string[] {
  const quotes = get(env, name) ?? "USD";
  const list = [...new Set(quotes.split(",").map((s) => s.trim().toUpperCase()).filter(Boolean))];
  const bad = list.find((q) => !/^[A-Z0-9]{1,20}$/.test(q));
  if (list.length === 0 || bad !== undefined) {
    throw new ConfigError(
      name,
      `${name} must be a comma list of currency codes such as USD,USDC, got "${quotes}"`,
    );
  }
  return list;
}

function rate(env: Env, name: string, fallback: number, max: number): number {
  const raw = get(env, name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(v > 0) || v > max) {
    throw new ConfigError(
      name,
      `${name} must be a number of requests per second above 0 and at most ${max} (e.g. 0.5), got "${raw}"`,
    );
  }
  return v;
}

function get(env: Env, name: string): string | undefined {
  const v = env(name)?.trim();
  return v ? v : undefined;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = get(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(name, `${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = get(env, name);
  if (raw === undefined) return fallback;
  const v = raw.toLowerCase() as T;
  if (!values.includes(v)) {
    throw new ConfigError(name, `${name} must be one of ${values.join(", ")}, got "${raw}"`);
  }
  return v;
}

function url(env: Env, name: string, fallback: string, schemes: string[]): string {
  const raw = get(env, name);
  if (raw === undefined) return fallback;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `${name} is not a URL: "${raw}"`);
  }
  if (!schemes.includes(parsed.protocol)) {
    throw new ConfigError(
      name,
      `${name} must use ${schemes.map((s) => s.replace(":", "")).join(" or ")}, got "${raw}"`,
    );
  }
  return raw.replace(/\/+$/, "");
}

/**
 * Parses `CORS_ORIGINS`: `*`, or a comma list of origins (`https://app.example.com`, scheme
 * and host, an optional port, nothing after it). Unset or blank is undefined (no CORS headers).
 *
 * @throws {ConfigError} naming `CORS_ORIGINS`
 */
export function parseCorsOrigins(raw: string | undefined): string[] | "*" | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  if (raw.trim() === "*") return "*";
  const origins = [...new Set(raw.split(",").map((s) => s.trim()).filter(Boolean))];
  for (const o of origins) {
    let u: URL | undefined;
    try {
      u = new URL(o);
    } catch {
      u = undefined;
    }
    if (
      !u || !["http:", "https:"].includes(u.protocol) || u.origin !== o.replace(/\/$/, "")
    ) {
      throw new ConfigError(
        "CORS_ORIGINS",
        `CORS_ORIGINS must be * or a comma list of origins such as https://app.example.com ` +
          `(scheme and host, no path), got "${o}"`,
      );
    }
  }
  if (origins.length === 0) {
    throw new ConfigError("CORS_ORIGINS", `CORS_ORIGINS has no origin in "${raw}"`);
  }
  return origins.map((o) => o.replace(/\/$/, ""));
}

/**
 * Parses `PUBLIC_RATE_LIMIT`: `rate/burst` (requests per second, requests at once), e.g. `20/40`.
 *
 * @throws {ConfigError} naming `PUBLIC_RATE_LIMIT`
 */
export function parsePublicRateLimit(raw: string | undefined): PublicRateLimit {
  if (raw === undefined || raw.trim() === "") return { ratePerS: 20, burst: 40 };
  const m = raw.trim().match(/^(\d+(?:\.\d+)?)\s*\/\s*(\d+)$/);
  const ratePerS = Number(m?.[1]);
  const burst = Number(m?.[2]);
  if (!m || !(ratePerS > 0 && ratePerS <= 100_000) || !(burst >= 1 && burst <= 1_000_000)) {
    throw new ConfigError(
      "PUBLIC_RATE_LIMIT",
      `PUBLIC_RATE_LIMIT must be rate/burst (requests per second > 0, then a whole burst ≥ 1) ` +
        `such as 20/40, got "${raw}"`,
    );
  }
  return { ratePerS, burst };
}

/** Milliseconds between writes of one live document, per granularity id. */
export type FlushIntervals = Readonly<Record<GranularityId, number>>;

/**
 * `SSE_COALESCE_MS` when unset: a busy hub's updates wait at most this long for the write that
 * carries them to each SSE client (bench/RESULTS.md: the CPU of the fan-out against p50).
 */
export const DEFAULT_SSE_COALESCE_MS = 4;

/** `FLUSH_INTERVAL_MS` when unset: every live document at most once a second. */
export const DEFAULT_FLUSH_INTERVAL_MS = 1000;
const FLUSH_MIN_MS = 10;
const FLUSH_MAX_MS = 3_600_000;

/**
 * Parses `FLUSH_INTERVAL_MS`: one integer for every granularity (`1000`), or a comma list of
 * `granularity=ms` with `default=ms` for the granularities not named
 * (`ONE_MINUTE=1000,default=5000`). A granularity is named by its id, the seed service's plural
 * or its short name (`FIVE_MINUTES`, `5m`), case-insensitively. `default` may be left out only
 * when all eight are named; each value is an integer from 10 to 3,600,000. Unset or blank: 1000.
 *
 * @throws {ConfigError} naming `FLUSH_INTERVAL_MS`
 */
export function parseFlushIntervals(raw: string | undefined): FlushIntervals {
  const name = "FLUSH_INTERVAL_MS";
  const all = (ms: number) =>
    Object.freeze(Object.fromEntries(GRANULARITIES.map((g) => [g.id, ms]))) as FlushIntervals;
  const text = raw?.trim() ?? "";
  if (text === "") return all(DEFAULT_FLUSH_INTERVAL_MS);
  const ms = (value: string, what: string): number => {
    const v = value.trim();
    if (!/^\d+$/.test(v) || Number(v) < FLUSH_MIN_MS || Number(v) > FLUSH_MAX_MS) {
      throw new ConfigError(
        name,
        `${name} must be an integer from ${FLUSH_MIN_MS} to ${FLUSH_MAX_MS}${what}, got "${value}"`,
      );
    }
    return Number(v);
  };
  if (!text.includes("=")) return all(ms(text, " or a list like ONE_MINUTE=1000,default=5000"));
  const given = new Map<GranularityId, number>();
  let fallback: number | undefined;
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq).trim();
    if (eq < 0) {
      throw new ConfigError(name, `${name} entry "${part}" has no "=": write ${key}=MILLISECONDS`);
    }
    const value = ms(part.slice(eq + 1), ` for ${key}`);
    if (key.toLowerCase() === "default") {
      if (fallback !== undefined) throw new ConfigError(name, `${name} gives default twice`);
      fallback = value;
      continue;
    }
    let id: GranularityId;
    try {
      id = parseGranularity(key).id;
    } catch {
      throw new ConfigError(
        name,
        `${name} names an unknown granularity "${key}": use default or one of ${GRANULARITY_NAMES}`,
      );
    }
    if (given.has(id)) throw new ConfigError(name, `${name} gives ${id} twice ("${key}")`);
    given.set(id, value);
  }
  const missing = GRANULARITIES.filter((g) => !given.has(g.id)).map((g) => g.id);
  if (fallback === undefined && missing.length > 0) {
    throw new ConfigError(
      name,
      `${name} needs default=MILLISECONDS for the granularities it does not name (${
        missing.join(", ")
      }), e.g. ${text},default=5000`,
    );
  }
  return Object.freeze(
    Object.fromEntries(GRANULARITIES.map((g) => [g.id, given.get(g.id) ?? fallback!])),
  ) as FlushIntervals;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = get(env, name);
  if (raw === undefined) return fallback;
  const v = raw.toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new ConfigError(name, `${name} must be true or false, got "${raw}"`);
}

/**
 * Reads the whole configuration.
 *
 * @throws {ConfigError} for the first bad variable
 */
export function loadConfig(env: Env = processEnv): Config {
  if (env("PRODUCTS")?.trim() === "") {
    // Set but empty is a mistake (an unfilled template, a lost substitution), not "the defaults".
    throw new ConfigError(
      "PRODUCTS",
      "PRODUCTS is set but empty: give product ids like BTC-USD,ETH-USD, or all, or unset it " +
        `for the defaults (${DEFAULT_PRODUCTS.join(",")})`,
    );
  }
  const rawProducts = get(env, "PRODUCTS");
  const products = rawProducts?.toLowerCase() === "all"
    ? "all" as const
    : rawProducts === undefined
    ? [...DEFAULT_PRODUCTS]
    : parseProductList(rawProducts);

  const quoteCurrencies = quoteList(env, "QUOTE_CURRENCIES");

  if (env("KRAKEN_PRODUCTS")?.trim() === "") {
    throw new ConfigError(
      "KRAKEN_PRODUCTS",
      "KRAKEN_PRODUCTS is set but empty: give pairs like BTC/USD,ETH/USD, or all, or unset it " +
        `for the defaults (${DEFAULT_KRAKEN_PRODUCTS.join(",")})`,
    );
  }
  const rawKraken = get(env, "KRAKEN_PRODUCTS");
  const kraken: ProductSelection = {
    products: rawKraken?.toLowerCase() === "all"
      ? "all"
      : rawKraken === undefined
      ? [...DEFAULT_KRAKEN_PRODUCTS]
      : parseKrakenProductList(rawKraken),
    quoteCurrencies: quoteList(env, "KRAKEN_QUOTE_CURRENCIES"),
  };

  const shardCount = integer(env, "SHARD_COUNT", 1, 1, 1000);
  const shardIndex = integer(env, "SHARD_INDEX", 0, 0, 999);
  if (shardIndex >= shardCount) {
    throw new ConfigError(
      "SHARD_INDEX",
      `SHARD_INDEX must be from 0 to SHARD_COUNT-1 (${shardCount - 1}), got ${shardIndex}`,
    );
  }

  const keyName = get(env, "COINBASE_API_KEY");
  const privateKey = get(env, "COINBASE_PRIVATE_KEY");
  if ((keyName === undefined) !== (privateKey === undefined)) {
    const missing = keyName === undefined ? "COINBASE_API_KEY" : "COINBASE_PRIVATE_KEY";
    throw new ConfigError(
      missing,
      `${missing} is unset but its partner is set: set both COINBASE_API_KEY and COINBASE_PRIVATE_KEY, or neither`,
    );
  }

  const cloudRunService = get(env, "K_SERVICE");
  return {
    port: integer(env, "PORT", 8080, 0, 65535),
    exchanges: parseExchanges(env("EXCHANGES")),
    products,
    quoteCurrencies,
    shardCount,
    shardIndex,
    store: oneOf(env, "STORE", ["kv", "firestore"] as const, "kv"),
    kvPath: get(env, "KV_PATH") ?? "./data/spot.kv",
    googleCloudProject: get(env, "GOOGLE_CLOUD_PROJECT"),
    firestoreEmulatorHost: get(env, "FIRESTORE_EMULATOR_HOST"),
    firestoreLayout: oneOf(env, "FIRESTORE_LAYOUT", ["compat", "compact"] as const, "compat"),
    coinbaseWsUrl: url(env, "COINBASE_WS_URL", COINBASE_WS_URL, ["ws:", "wss:"]),
    coinbaseRestUrl: url(env, "COINBASE_REST_URL", COINBASE_REST_URL, ["http:", "https:"]),
    coinbaseKey: keyName && privateKey ? { name: keyName, privateKey } : undefined,
    productsPerConnection: integer(env, "PRODUCTS_PER_CONNECTION", 20, 1, 100),
    coinbaseRestRate: integer(env, "COINBASE_REST_RATE", 8, 1, 10_000),
    kraken,
    krakenWsUrl: url(env, "KRAKEN_WS_URL", KRAKEN_WS_URL, ["ws:", "wss:"]),
    krakenRestUrl: url(env, "KRAKEN_REST_URL", KRAKEN_REST_URL, ["http:", "https:"]),
    krakenRestRate: rate(env, "KRAKEN_REST_RATE", 1, 1000),
    historyDays: integer(env, "HISTORY_DAYS", 30, 0, 3650),
    flushIntervalMs: parseFlushIntervals(env("FLUSH_INTERVAL_MS")),
    catchupHours: integer(env, "CATCHUP_HOURS", 6, 0, 24 * 30),
    sseCoalesceMs: integer(env, "SSE_COALESCE_MS", DEFAULT_SSE_COALESCE_MS, 0, 1000),
    shardHeartbeatMs: integer(env, "SHARD_HEARTBEAT_MS", 15_000, 100, 60_000),
    version: get(env, "K_REVISION") ?? "local",
    dashboardPassword: get(env, "DASHBOARD_PASSWORD"),
    corsOrigins: parseCorsOrigins(env("CORS_ORIGINS")),
    publicApi: flag(env, "PUBLIC_API", false),
    publicRateLimit: parsePublicRateLimit(env("PUBLIC_RATE_LIMIT")),
    cloudRunService,
    logLevel: oneOf(
      env,
      "LOG_LEVEL",
      ["trace", "debug", "info", "warning", "error", "fatal"] as const,
      "info",
    ),
    logFormat: oneOf(
      env,
      "LOG_FORMAT",
      ["pretty", "json"] as const,
      cloudRunService ? "json" : "pretty",
    ),
  };
}
