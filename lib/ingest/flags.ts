/**
 * @module
 * The `deno task ingest` command line (DESIGN.md "Ingest CLI"): flags, their validation, and the
 * `--help` text. Every mistake is a {@linkcode UsageError} whose one-line message names the flag
 * and the value; the entry point prints it and exits 2. Environment settings (store path, REST
 * URL, configured products) come from `loadConfig()`, not from here.
 */
import { GRANULARITIES, type Granularity, parseGranularity } from "../candles/granularity.ts";
import { ConfigError, parseProductList, type StoreKind } from "../config.ts";

/** A bad command line. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The parsed command line. */
export interface IngestFlags {
  /** Explicit products, `"all"`, or undefined for the configured ones. */
  products?: string[] | "all";
  granularities: Granularity[];
  /** First bucket wanted, epoch s. */
  fromSec: number;
  /** Last bucket start wanted, epoch s. */
  toSec: number;
  /** Overrides `STORE`. */
  store?: StoreKind;
  /** Which exchange's REST to read and whose documents to write. @default "coinbase" */
  exchange: "coinbase" | "kraken";
  /** Sync the product catalogue. */
  catalogue: boolean;
  /** Delete the seed service's plural-granularity documents (`FIVE_MINUTES`, …). */
  deletePlural: boolean;
  /** With `deletePlural`: only count and list what would be deleted. */
  dryRun: boolean;
  /** Whether candles are wanted (false for a bare `--catalogue`). */
  candles: boolean;
  help: boolean;
}

/** Days fetched when neither `--from` nor `--days` is given. */
export const DEFAULT_DAYS = 30;

/** `--help`. */
export const INGEST_HELP = `Usage: deno task ingest [flags]

Backfills completed candles from Coinbase REST into the store (resumable: re-run after
Ctrl-C or an outage and it continues where it stopped), and syncs the product catalogue.
Reads the service's environment: STORE, KV_PATH, GOOGLE_CLOUD_PROJECT, COINBASE_REST_URL,
COINBASE_API_KEY/COINBASE_PRIVATE_KEY, PRODUCTS, QUOTE_CURRENCIES, SHARD_COUNT/SHARD_INDEX (and
KRAKEN_* with --exchange kraken).

Flags:
  --products LIST       comma list of product ids (BTC-USD,ETH-USD), or "all" for every online
                        spot product in QUOTE_CURRENCIES. Default: PRODUCTS, only those of
                        this shard (SHARD_COUNT/SHARD_INDEX)
  --granularities LIST  comma list of 1m,5m,15m,30m,1h,2h,6h,1d or Coinbase's ids (ONE_MINUTE,
                        FIVE_MINUTE, ...; the plural FIVE_MINUTES also works), or "all".
                        Default: all eight
  --from DATE           first day (YYYY-MM-DD, UTC) or instant (2026-01-01T12:00Z).
                        Default: --days before --to
  --to DATE|now         last day (a date includes the whole day) or instant. Default: now.
                        The candle still in progress is never written
  --days N              how many days: back from --to, or forward from --from when --from is
                        given (then without --to). Default: ${DEFAULT_DAYS}
  --store kv|firestore  overrides STORE
  --exchange NAME       coinbase (default) or kraken: Kraken's candles are computed from its REST
                        Trades (KRAKEN_REST_URL, KRAKEN_REST_RATE: 1 request of 1,000 trades a
                        second, so a busy pair's month takes hours) and stored under
                        exchanges/kraken/…; products default to KRAKEN_PRODUCTS
  --catalogue           sync trading_pairs/exchanges (online and delisted spot products) from
                        Coinbase's product list. Alone it syncs only the catalogue; with any
                        candle flag it does both
  --delete-plural-documents
                        delete what the seed Python service wrote under its plural granularity
                        ids (intervals/FIVE_MINUTES, history/TWO_HOURS/candles/*, ...; no client
                        reads them) from the store, every product. Alone it does only this
  --dry-run             with --delete-plural-documents: count and list them, delete nothing
  -h, --help            this text

Exit status: 0 done, 1 failed (e.g. Coinbase kept refusing a request), 2 bad flag, date or
product, 130 interrupted (progress is kept; re-run to resume).

Example: deno task ingest --products BTC-USD,ETH-USD --granularities 1m,1h --days 7
`;

const DAY = 86400;
const VALUE_FLAGS = [
  "products",
  "granularities",
  "from",
  "to",
  "days",
  "store",
  "exchange",
] as const;
type ValueFlag = typeof VALUE_FLAGS[number];

/** Parses `2026-01-01` (start of day, or end of day with `endOfDay`), an ISO instant or `now`. */
export function parseDate(flag: string, raw: string, nowMs: number, endOfDay = false): number {
  if (raw === "now") return Math.floor(nowMs / 1000);
  if (/^\d{4}-\d{2}-\d{2}$/.test(raw)) {
    const ms = Date.parse(`${raw}T00:00:00Z`);
    if (Number.isFinite(ms) && new Date(ms).toISOString().startsWith(raw)) {
      return ms / 1000 + (endOfDay ? DAY - 1 : 0);
    }
  } else if (/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})$/.test(raw)) {
    const ms = Date.parse(raw);
    if (Number.isFinite(ms)) return Math.floor(ms / 1000);
  }
  throw new UsageError(
    `--${flag} "${raw}" is not a date: use YYYY-MM-DD, an ISO time such as 2026-01-01T12:00Z, or now`,
  );
}

/** Parses the ingest command line at time `nowMs`. */
export function parseIngestArgs(args: readonly string[], nowMs: number): IngestFlags {
  const values = new Map<ValueFlag, string>();
  let catalogue = false;
  let deletePlural = false;
  let dryRun = false;
  const help = args.includes("-h") || args.includes("--help");
  for (let i = 0; i < args.length && !help; i++) {
    const arg = args[i]!;
    if (arg === "--catalogue" || arg === "--catalog") {
      catalogue = true;
      continue;
    }
    if (arg === "--delete-plural-documents") {
      deletePlural = true;
      continue;
    }
    if (arg === "--dry-run") {
      dryRun = true;
      continue;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const name = m?.[1] as ValueFlag | undefined;
    if (!m || !VALUE_FLAGS.includes(name!)) {
      throw new UsageError(`Unknown flag "${arg}" (see --help)`);
    }
    let value = m[2];
    if (value === undefined) {
      value = args[++i];
      if (value === undefined || value.startsWith("--")) {
        throw new UsageError(`--${name} needs a value (see --help)`);
      }
    }
    if (values.has(name!)) throw new UsageError(`--${name} is given twice`);
    values.set(name!, value.trim());
  }
  const flags: IngestFlags = {
    granularities: [...GRANULARITIES],
    fromSec: 0,
    toSec: Math.floor(nowMs / 1000),
    catalogue,
    deletePlural,
    dryRun,
    exchange: "coinbase",
    // --store and --exchange say where, not what: alone with --catalogue they ask for no candles.
    candles: !(catalogue || deletePlural) ||
      values.size > Number(values.has("store")) + Number(values.has("exchange")),
    help,
  };
  if (help) return flags;
  if (dryRun && !deletePlural) {
    throw new UsageError("--dry-run works only with --delete-plural-documents");
  }

  const exchange = values.get("exchange")?.toLowerCase();
  if (exchange !== undefined) {
    if (exchange !== "coinbase" && exchange !== "kraken") {
      throw new UsageError(
        `--exchange must be coinbase or kraken, got "${values.get("exchange")}"`,
      );
    }
    flags.exchange = exchange;
  }
  const products = values.get("products");
  if (products !== undefined) {
    if (products.toLowerCase() === "all") flags.products = "all";
    else {
      try {
        // Kraken's pairs may be given as v2 symbols (BTC/USD): stored as BTC-USD.
        flags.products = parseProductList(products.replaceAll("/", "-"), "--products");
      } catch (e) {
        throw new UsageError(e instanceof ConfigError ? e.message : String(e));
      }
    }
  }
  const granularities = values.get("granularities");
  if (granularities !== undefined && granularities.toLowerCase() !== "all") {
    const names = granularities.split(",").map((s) => s.trim()).filter(Boolean);
    if (names.length === 0) throw new UsageError(`--granularities is empty`);
    try {
      const set = new Set(names.map(parseGranularity));
      flags.granularities = GRANULARITIES.filter((g) => set.has(g));
    } catch (e) {
      throw new UsageError(`--granularities: ${(e as Error).message}`);
    }
  }
  const store = values.get("store");
  if (store !== undefined) {
    if (store !== "kv" && store !== "firestore") {
      throw new UsageError(`--store must be kv or firestore, got "${store}"`);
    }
    flags.store = store;
  }

  const rawDays = values.get("days");
  let days: number | undefined;
  if (rawDays !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(rawDays) || Number(rawDays) <= 0 || Number(rawDays) > 36500) {
      throw new UsageError(`--days must be a positive number of days, got "${rawDays}"`);
    }
    days = Number(rawDays);
  }
  const rawFrom = values.get("from");
  const rawTo = values.get("to");
  const nowSec = Math.floor(nowMs / 1000);
  if (rawFrom !== undefined && rawTo !== undefined && days !== undefined) {
    throw new UsageError("--from, --to and --days together are too many: give at most two");
  }
  if (rawFrom !== undefined) {
    flags.fromSec = parseDate("from", rawFrom, nowMs);
    flags.toSec = rawTo !== undefined
      ? parseDate("to", rawTo, nowMs, true)
      : days !== undefined
      ? Math.min(nowSec, flags.fromSec + Math.round(days * DAY) - 1)
      : nowSec;
  } else {
    flags.toSec = rawTo !== undefined ? parseDate("to", rawTo, nowMs, true) : nowSec;
    flags.fromSec = flags.toSec - Math.round((days ?? DEFAULT_DAYS) * DAY) + 1;
  }
  if (flags.fromSec > nowSec) {
    throw new UsageError(`--from ${rawFrom} is in the future`);
  }
  if (flags.toSec < flags.fromSec) {
    throw new UsageError(`--to ${rawTo} is before --from ${rawFrom}`);
  }
  flags.toSec = Math.min(flags.toSec, nowSec);
  return flags;
}
