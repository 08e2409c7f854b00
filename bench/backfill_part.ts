/**
 * @module
 * Part 3 of the bench: `runBackfill` (what `deno task ingest` runs) into a KV store against the
 * simulator's REST at Coinbase's public limit (10 requests/s per IP, burst 12), once at the rate
 * `deno task ingest` uses and once with the client set to the limit. Every page is a full
 * 300-bucket page (dense 1-minute history), so the bound is 300 × requests/s.
 */
import { bucketStart, granularityById } from "../lib/candles/granularity.ts";
import { INGEST_RATE_PER_SECOND, runBackfill } from "../lib/history/backfill.ts";
import { MAX_CANDLES_PER_REQUEST, RestClient } from "../lib/coinbase/rest.ts";
import { openKvCandleStore } from "../lib/store/kv.ts";
import { num, type Row } from "./report.ts";
import { DENO, JsonChild } from "./subprocess.ts";

/** Coinbase's public REST limit (coinbase-protocol.md §6.5), as the simulator enforces it. */
export const PUBLIC_LIMIT = { ratePerSecond: 10, burst: 12 };
const PRODUCTS = 8;
const PAGES_PER_PRODUCT = 20;
const HISTORY_TRADES_PER_SECOND = 0.2;

/** Starts the simulator process; resolves with it and its URLs. */
export async function startSimulatorProcess(
  args: {
    products: number;
    tps: number;
    historyTps: number;
    historyHours: number;
    rest: typeof PUBLIC_LIMIT;
    /** The strict limit: at most the rate in any sliding second (Coinbase's real 10/s). */
    sliding?: boolean;
  },
): Promise<{ child: JsonChild; wsUrl: string; restUrl: string; products: string[] }> {
  const child = new JsonChild([
    DENO,
    "run",
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-env",
    new URL("./simulator_process.ts", import.meta.url).pathname,
    ...[
      args.products,
      args.tps,
      args.historyTps,
      args.historyHours,
      args.rest.ratePerSecond,
      args.rest.burst,
      args.sliding ? 1 : 0,
    ]
      .map(String),
  ], { stdin: true });
  const hello = await child.next<{ wsUrl: string; restUrl: string; products: string[] }>(
    "starting the simulator",
  );
  return { child, ...hello };
}

/** Runs part 3; returns its rows and notes. */
export async function backfillPart(
  progress: (line: string) => void,
): Promise<{ rows: Row[]; notes: string[] }> {
  const g = granularityById("ONE_MINUTE");
  const minutes = PAGES_PER_PRODUCT * MAX_CANDLES_PER_REQUEST;
  const historyHours = Math.ceil((minutes + 10) / 60) + 1;
  progress(`backfill: simulator with ${PRODUCTS} products × ${historyHours} h of history …`);
  const sim = await startSimulatorProcess({
    products: PRODUCTS,
    tps: 5,
    historyTps: HISTORY_TRADES_PER_SECOND,
    historyHours,
    rest: PUBLIC_LIMIT,
  });
  const dir = await Deno.makeTempDir({ prefix: "spot-bench-backfill-" });
  const rows: Row[] = [];
  const P = "3 backfill";
  try {
    const products = sim.products.slice(0, PRODUCTS);
    for (const rate of [INGEST_RATE_PER_SECOND, PUBLIC_LIMIT.ratePerSecond]) {
      const rest = new RestClient({ baseUrl: sim.restUrl, ratePerSecond: rate });
      const store = await openKvCandleStore(`${dir}/${rate}.kv`);
      const toSec = bucketStart(Math.floor(Date.now() / 1000) - 5, g) - 2 * g.seconds;
      const fromSec = toSec - (minutes - 1) * g.seconds;
      progress(
        `backfill: ${products.length} products × ${PAGES_PER_PRODUCT} pages of 1-minute candles ` +
          `at ${rest.ratePerSecond} requests/s …`,
      );
      let summary;
      try {
        summary = await runBackfill({
          rest,
          store,
          products,
          granularities: [g],
          fromSec,
          toSec,
          resume: false,
        });
      } finally {
        await store.close();
      }
      const seconds = summary.elapsedMs / 1000;
      const perS = summary.candles / seconds;
      const clientBound = MAX_CANDLES_PER_REQUEST * rest.ratePerSecond;
      const limitBound = MAX_CANDLES_PER_REQUEST * PUBLIC_LIMIT.ratePerSecond;
      const label = rate === INGEST_RATE_PER_SECOND
        ? `ingest's rate, ${rest.ratePerSecond} req/s`
        : `client at the limit, ${rest.ratePerSecond} req/s`;
      rows.push(
        {
          part: P,
          measure:
            `candles/s (${label}; ${summary.requests} requests, ${summary.rateLimited} 429s)`,
          value: `${num(perS)} (${num(summary.candles)} in ${seconds.toFixed(1)} s)`,
        },
        {
          part: P,
          measure: `… / limit's bound 300 × ${PUBLIC_LIMIT.ratePerSecond}/s = ${
            num(limitBound)
          }/s (${label})`,
          value: `${(100 * perS / limitBound).toFixed(1)} %`,
          goal: "≥ 90 %",
          met: perS / limitBound >= 0.9,
        },
        {
          part: P,
          measure: `… / client's own bound 300 × ${rest.ratePerSecond}/s = ${
            num(clientBound)
          }/s (${label})`,
          value: `${(100 * perS / clientBound).toFixed(1)} %`,
        },
      );
    }
  } finally {
    await sim.child.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const notes = [
    `Backfill: \`runBackfill\` (the core of \`deno task ingest\`, default concurrency) writing ` +
    `to a fresh KV store, ${PRODUCTS} products × ${PAGES_PER_PRODUCT} pages of 300 one-minute ` +
    `candles (dense simulated history, ${HISTORY_TRADES_PER_SECOND} trades/s), against the ` +
    `simulator's REST in its own process enforcing Coinbase's public limit ` +
    `(${PUBLIC_LIMIT.ratePerSecond} requests/s per IP, burst ${PUBLIC_LIMIT.burst}). Ingest runs ` +
    `its client at ${INGEST_RATE_PER_SECOND} requests/s (the service's client at 8, below the ` +
    `limit, as it shares the IP with ingest runs); the second run sets the client to the limit. ` +
    `Elapsed time is the summary's (planning to last write).`,
  ];
  return { rows, notes };
}
