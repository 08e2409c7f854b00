/**
 * @module
 * The coverage check of a sharded fleet, as a pure function of the shard registry
 * (`spot_server/shards`), the catalogue and the time: each shard's status (a shard that has not
 * written for over a minute is `silent`) and what is wrong with the fleet — products served by no
 * live shard (`uncovered`), by two or more (`double`), shards disagreeing on `SHARD_COUNT`
 * (`count_mismatch`) and `silent` shards — each problem one plain sentence an operator can act
 * on. Reading the registry is left to `registry.ts`, showing it to the routes.
 */
import { exchangeOf, isExchangeId, marketKey } from "../exchange/market.ts";
import { shardOf } from "../history/shard.ts";
import { type CatalogueEntry, type ShardDoc, shardId } from "../store/store.ts";

/** A shard's status as the fleet sees it. */
export type FleetStatus = "starting" | "healthy" | "degraded" | "stopped" | "silent";

/** The kinds of fleet problems (DESIGN.md, `/api/fleet`). */
export type ProblemKind = "uncovered" | "double" | "count_mismatch" | "silent";

/** Every problem kind, in the order problems are listed. */
export const PROBLEM_KINDS: readonly ProblemKind[] = [
  "uncovered",
  "double",
  "count_mismatch",
  "silent",
];

/** Every fleet status. */
export const FLEET_STATUSES: readonly FleetStatus[] = [
  "starting",
  "healthy",
  "degraded",
  "stopped",
  "silent",
];

/** One shard in the fleet report. */
export interface FleetShard {
  /** `{index}-of-{count}`. */
  id: string;
  index: number;
  count: number;
  status: FleetStatus;
  /** Seconds since its last heartbeat. */
  heartbeatAgeS: number;
  /** The product ids it serves (says it serves). */
  products: string[];
  version: string;
  startedAt: number;
  heartbeatAt: number;
  connections: ShardDoc["connections"];
  gaps: ShardDoc["gaps"];
}

/** One thing wrong with the fleet. */
export interface FleetProblem {
  kind: ProblemKind;
  /** One plain sentence saying what is wrong and what to do. */
  message: string;
  products?: string[];
  shards?: string[];
}

/** The fleet as `/api/fleet` and `/fleet` show it. */
export interface FleetReport {
  shards: FleetShard[];
  problems: FleetProblem[];
  /** How many products the fleet should serve, and how many of those are served. */
  products: {
    expected: number;
    covered: number;
    uncovered: number;
    double: number;
    /** The same per exchange (`coinbase`, `kraken`). */
    byExchange: Record<string, ExchangeCoverage>;
  };
}

/** Inputs of {@linkcode checkFleet}. */
export interface FleetInput {
  shards: ShardDoc[];
  /** The stored catalogue; with `PRODUCTS=all` its online rows are what should be served. */
  catalogue: CatalogueEntry[];
  nowMs: number;
  /** No heartbeat for longer than this makes a shard `silent`. @default 60 */
  silentAfterS?: number;
  /**
   * Entries whose last heartbeat is older than this are left out (a fleet redeployed with
   * another `SHARD_COUNT` leaves its old entries behind). @default 86400
   */
  forgetAfterS?: number;
}

/** Product ids named in a message before "and N more". */
const NAMED = 5;

/** Checks the fleet: see the module comment. */
export function checkFleet(input: FleetInput): FleetReport {
  const silentAfterS = input.silentAfterS ?? 60;
  const forgetAfterS = input.forgetAfterS ?? 86_400;
  const shards = input.shards
    .map((doc) => fleetShard(doc, input.nowMs, silentAfterS))
    .filter((s) => s.heartbeatAgeS <= forgetAfterS);
  const current = input.shards.filter((d) => (input.nowMs - d.heartbeatAt) / 1000 <= forgetAfterS);
  const live = shards.filter((s) => s.status !== "stopped" && s.status !== "silent");

  const expected = expectedProducts(current, input.catalogue);
  const claimed = new Map<string, string[]>();
  for (const s of live) {
    for (const p of s.products) claimed.set(p, [...(claimed.get(p) ?? []), s.id]);
  }
  const uncovered = [...expected].filter((p) => !claimed.has(p)).sort();
  const doubles = [...claimed].filter(([, ids]) => ids.length > 1);

  const problems: FleetProblem[] = [];
  // The fleet's count: the live shards' majority; when they tie, stopped and silent entries
  // vote too (one of three shards stopped and one deployed with the wrong count: the two live
  // ones tie, the registry does not).
  const count = majorityCount(live) ?? majorityCount(shards);
  if (uncovered.length > 0) {
    problems.push(uncoveredProblem(uncovered, shards, live, count));
  }
  const byShards = new Map<string, string[]>();
  for (const [product, ids] of doubles) {
    const key = ids.sort().join(" ");
    byShards.set(key, [...(byShards.get(key) ?? []), product]);
  }
  for (const [key, products] of byShards) {
    const ids = key.split(" ");
    products.sort();
    problems.push({
      kind: "double",
      message: `${countOf(products)} ${named(products)} ${
        products.length === 1 ? "is" : "are"
      } served by ${ids.length === 2 ? "both" : "all of"} ${list(ids)}, so two writers update ${
        products.length === 1 ? "its" : "their"
      } documents: stop the extra shard or redeploy it with the fleet's SHARD_COUNT`,
      products,
      shards: ids,
    });
  }
  const counts = new Set(live.map((s) => s.count));
  if (counts.size > 1 && count === undefined) {
    const groups = [...counts].sort((a, b) => a - b).map((n) =>
      `${list(live.filter((s) => s.count === n).map((s) => s.id))} with ${n}`
    );
    problems.push({
      kind: "count_mismatch",
      message: `Live shards disagree on SHARD_COUNT (${
        list(groups)
      }) and no count has a majority: redeploy every shard with the one SHARD_COUNT you mean`,
      shards: live.map((s) => s.id),
    });
  } else if (counts.size > 1 && count !== undefined) {
    const odd = live.filter((s) => s.count !== count);
    const right = live.filter((s) => s.count === count);
    problems.push({
      kind: "count_mismatch",
      message: `Live shards disagree on SHARD_COUNT: ${list(right.map((s) => s.id))} ${
        right.length === 1 ? "runs" : "run"
      } with ${count}, ${list(odd.map((s) => `${s.id} with ${s.count}`))}; redeploy ${
        list(odd.map((s) => s.id))
      } with SHARD_COUNT=${count}`,
      shards: live.map((s) => s.id),
    });
  }
  for (const s of shards.filter((s) => s.status === "silent")) {
    problems.push({
      kind: "silent",
      message: `Shard ${s.id} has sent no heartbeat for ${duration(s.heartbeatAgeS)} (last at ${
        clockTime(s.heartbeatAt)
      }) and never said it stopped: check that its service is running`,
      products: s.products,
      shards: [s.id],
    });
  }
  return {
    shards,
    problems,
    products: {
      expected: expected.size,
      covered: [...expected].filter((p) => claimed.has(p)).length,
      uncovered: uncovered.length,
      double: doubles.length,
      byExchange: coverageByExchange(expected, claimed),
    },
  };
}

/** A registry entry as the fleet sees it at `nowMs`. */
export function fleetShard(doc: ShardDoc, nowMs: number, silentAfterS = 60): FleetShard {
  const heartbeatAgeS = Math.max(0, Math.round((nowMs - doc.heartbeatAt) / 1000));
  const status: FleetStatus = doc.status === "stopped"
    ? "stopped"
    : heartbeatAgeS > silentAfterS
    ? "silent"
    : doc.status;
  return {
    id: shardId(doc),
    index: doc.index,
    count: doc.count,
    status,
    heartbeatAgeS,
    products: doc.products,
    version: doc.version,
    startedAt: doc.startedAt,
    heartbeatAt: doc.heartbeatAt,
    connections: doc.connections,
    gaps: doc.gaps,
  };
}

/**
 * What the fleet should serve, as market keys: per exchange, the union of the shards' product
 * lists, and with `all` the catalogue's online products of that exchange in the shards' quote
 * currencies. An entry without `exchanges` (a shard from before Kraken) speaks for Coinbase.
 */
function expectedProducts(docs: ShardDoc[], catalogue: CatalogueEntry[]): Set<string> {
  const expected = new Set<string>();
  const quotes = new Map<string, Set<string>>();
  for (const d of docs) {
    const selections = d.exchanges ?? { coinbase: d.selection };
    for (const [exchange, selection] of Object.entries(selections)) {
      if (!isExchangeId(exchange)) continue;
      if (selection.products === "all") {
        const set = quotes.get(exchange) ?? new Set<string>();
        for (const q of selection.quoteCurrencies) set.add(q);
        quotes.set(exchange, set);
      } else {
        for (const p of selection.products) expected.add(marketKey(exchange, p));
      }
    }
  }
  if (quotes.size > 0) {
    for (const e of catalogue) {
      const wanted = quotes.get(exchangeOf(e.product_id));
      if (e.status === "online" && wanted?.has(e.quote_currency)) expected.add(e.product_id);
    }
  }
  return expected;
}

/** Coverage counts of one exchange's expected products. */
export interface ExchangeCoverage {
  expected: number;
  covered: number;
  uncovered: number;
}

/** {@linkcode ExchangeCoverage} per exchange, for the exchanges that have expected products. */
function coverageByExchange(
  expected: Set<string>,
  claimed: Map<string, string[]>,
): Record<string, ExchangeCoverage> {
  const out: Record<string, ExchangeCoverage> = {};
  for (const p of expected) {
    const c = out[exchangeOf(p)] ??= { expected: 0, covered: 0, uncovered: 0 };
    c.expected++;
    if (claimed.has(p)) c.covered++;
    else c.uncovered++;
  }
  return out;
}

/**
 * The `SHARD_COUNT` most shards run with, or undefined when no count has more shards than every
 * other (then nobody can tell which deployment is the wrong one).
 */
function majorityCount(shards: FleetShard[]): number | undefined {
  const tally = new Map<number, number>();
  for (const s of shards) tally.set(s.count, (tally.get(s.count) ?? 0) + 1);
  const [first, second] = [...tally].sort((a, b) => b[1] - a[1]);
  return first === undefined || first[1] === second?.[1] ? undefined : first[0];
}

function uncoveredProblem(
  products: string[],
  shards: FleetShard[],
  live: FleetShard[],
  count: number | undefined,
): FleetProblem {
  const n = products.length;
  const subject = `${countOf(products)} ${named(products)} ${n === 1 ? "is" : "are"}`;
  if (live.length === 0) {
    return {
      kind: "uncovered",
      message: `${subject} served by no live shard because no shard is running: start the fleet`,
      products,
      shards: shards.map((s) => s.id),
    };
  }
  if (count === undefined) {
    return {
      kind: "uncovered",
      message: `${subject} served by no live shard, and the shards disagree on SHARD_COUNT, so ${
        n === 1 ? "its" : "their"
      } shard is unclear: deploy every shard with one SHARD_COUNT`,
      products,
    };
  }
  // Whose products they are under the fleet's SHARD_COUNT, and what became of that shard.
  const owners = [...new Set(products.map((p) => `${shardOf(p, count)}-of-${count}`))].sort(
    (a, b) => parseInt(a) - parseInt(b),
  );
  const states = owners.map((id) => {
    const s = shards.find((x) => x.id === id);
    if (s === undefined) return `${id} has never reported`;
    if (s.status === "stopped") return `${id} is stopped`;
    if (s.status === "silent") return `${id} is silent`;
    return `${id} does not list them`;
  });
  return {
    kind: "uncovered",
    message: `${subject} served by no live shard (${states.join(", ")}): start ${
      owners.length === 1 ? "that shard" : "those shards"
    } with SHARD_COUNT=${count}`,
    products,
    shards: owners,
  };
}

function countOf(products: string[]): string {
  return products.length === 1 ? "1 product" : `${products.length} products`;
}

function named(products: string[]): string {
  const shown = products.slice(0, NAMED).join(", ");
  const more = products.length - NAMED;
  return more > 0 ? `(${shown} and ${more} more)` : `(${shown})`;
}

function list(items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

/** A duration in seconds as "45 s", "3 min", "2 h 5 min" or "3 d". */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  if (s < 172_800) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d`;
}

function clockTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ") + " UTC";
}
