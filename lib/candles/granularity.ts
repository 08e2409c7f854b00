/**
 * @module
 * The eight candle granularities: their ids (Coinbase's own names, `ONE_MINUTE` … `ONE_DAY`,
 * used in stored paths, KV keys, API output and SSE events), short names (`1m` … `1d`) and
 * lengths. Inputs also accept the plural spellings the seed Python service wrote
 * (`FIVE_MINUTES`, `TWO_HOURS`, …). Bucket arithmetic is UTC-aligned epoch seconds.
 */

/** The stored id of a granularity, as in the Firestore paths. */
export type GranularityId =
  | "ONE_MINUTE"
  | "FIVE_MINUTE"
  | "FIFTEEN_MINUTE"
  | "THIRTY_MINUTE"
  | "ONE_HOUR"
  | "TWO_HOUR"
  | "SIX_HOUR"
  | "ONE_DAY";

/** One candle granularity. */
export interface Granularity {
  /** Stored id and Coinbase's name, e.g. `FIVE_MINUTE`. */
  readonly id: GranularityId;
  /** Short name, e.g. `5m`. */
  readonly short: string;
  /** Bucket length in seconds. */
  readonly seconds: number;
  /** Coinbase REST name, e.g. `FIVE_MINUTE`. */
  readonly rest: string;
  /** Position in {@linkcode GRANULARITIES}, finest first. */
  readonly index: number;
}

const table: [GranularityId, string, number, string][] = [
  ["ONE_MINUTE", "1m", 60, "ONE_MINUTE"],
  ["FIVE_MINUTE", "5m", 300, "FIVE_MINUTE"],
  ["FIFTEEN_MINUTE", "15m", 900, "FIFTEEN_MINUTE"],
  ["THIRTY_MINUTE", "30m", 1800, "THIRTY_MINUTE"],
  ["ONE_HOUR", "1h", 3600, "ONE_HOUR"],
  ["TWO_HOUR", "2h", 7200, "TWO_HOUR"],
  ["SIX_HOUR", "6h", 21600, "SIX_HOUR"],
  ["ONE_DAY", "1d", 86400, "ONE_DAY"],
];

/** All granularities, finest first. Each one's length divides the next one's. */
export const GRANULARITIES: readonly Granularity[] = Object.freeze(
  table.map(([id, short, seconds, rest], index) =>
    Object.freeze({ id, short, seconds, rest, index })
  ),
);

/** The base granularity every coarser one is rolled up from. */
export const ONE_MINUTE: Granularity = GRANULARITIES[0]!;
const byId = new Map<string, Granularity>(GRANULARITIES.map((g) => [g.id, g]));

/**
 * The seed Python service's plural spellings of five ids (`FIVE_MINUTES`, `TWO_HOURS`, …): accepted
 * as input, never written (its leftover documents under them are what
 * `ingest --delete-plural-documents` removes).
 */
export const PLURAL_GRANULARITY_IDS: readonly string[] = Object.freeze(
  GRANULARITIES.filter((g) => ![60, 3600, 86400].includes(g.seconds)).map((g) => `${g.id}S`),
);

const byName = new Map<string, Granularity>();
for (const id of PLURAL_GRANULARITY_IDS) {
  byName.set(id, granularityById(id.slice(0, -1) as GranularityId));
}
for (const g of GRANULARITIES) {
  byName.set(g.id, g);
  byName.set(g.short, g);
  byName.set(g.rest, g);
}

/** The accepted spellings, for error messages. */
export const GRANULARITY_NAMES: string = GRANULARITIES.map((g) => `${g.short}/${g.id}`).join(", ");

/**
 * Looks a granularity up by id (`TWO_HOUR`), short name (`2h`) or the seed service's plural
 * (`TWO_HOURS`), case-insensitively.
 *
 * @throws {RangeError} naming the value and the accepted names when it is unknown
 */
export function parseGranularity(name: string): Granularity {
  const g = byName.get(name) ?? byName.get(name.toUpperCase()) ?? byName.get(name.toLowerCase());
  if (!g) throw new RangeError(`Unknown granularity "${name}": use one of ${GRANULARITY_NAMES}`);
  return g;
}

/** The granularity with this stored id. */
export function granularityById(id: GranularityId): Granularity {
  const g = byId.get(id);
  if (!g) throw new RangeError(`Unknown granularity id "${id}"`);
  return g;
}

/** Start (epoch seconds) of the bucket of `g` containing `timeSec`. */
export function bucketStart(timeSec: number, g: Granularity): number {
  return Math.floor(timeSec / g.seconds) * g.seconds;
}
