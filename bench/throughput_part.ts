/**
 * @module
 * Part 1 of the bench: every throughput runner in its own process (pinned to core 0 when
 * `taskset` exists), then the table rows and ratios.
 */
import { num, type Row } from "./report.ts";
import { DENO, hasTaskset, JsonChild } from "./subprocess.ts";
import { type RunnerResult, RUNNERS } from "./throughput.ts";

/** Frame set and rounds of part 1. */
export const THROUGHPUT = { products: 100, tradesPerSecond: 5, minutes: 10, rounds: 5 };

/** Runs part 1; returns its rows and notes. */
export async function throughputPart(
  progress: (line: string) => void,
): Promise<{ rows: Row[]; notes: string[] }> {
  const pin = await hasTaskset();
  const results = new Map<string, RunnerResult>();
  for (const runner of RUNNERS) {
    progress(`throughput: ${runner} …`);
    const args = [
      ...(pin ? ["taskset", "-c", "0"] : []),
      DENO,
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-sys=homedir,osRelease,cpus,hostname",
      new URL("./throughput_process.ts", import.meta.url).pathname,
      runner,
      ...[THROUGHPUT.products, THROUGHPUT.tradesPerSecond, THROUGHPUT.minutes, THROUGHPUT.rounds]
        .map(String),
    ];
    const child = new JsonChild(args);
    results.set(runner, await child.next<RunnerResult>(`throughput runner ${runner}`));
    await child.stop();
  }
  const rate = (name: string) => results.get(name)!.tradesPerS;
  const floor = rate("floor");
  const spot = rate("spot-server");
  const tardis = rate("tardis-dev");
  const ccxt = rate("ccxt");
  const faster = Math.max(tardis, ccxt);
  const fasterName = tardis >= ccxt ? "tardis-dev" : "ccxt";
  const spotRes = results.get("spot-server")!;
  const perS = (name: string) => `${num(rate(name))} trades/s`;
  const P = "1 throughput";
  const rows: Row[] = [
    { part: P, measure: "floor: `JSON.parse` of the frames", value: perS("floor") },
    {
      part: P,
      measure: "spot-server: frames → parseFrame → dedupe → aggregator → drain (8 granularities)",
      value: perS("spot-server"),
    },
    {
      part: P,
      measure: "spot-server aggregator only (pre-parsed trades, as the peers get)",
      value: perS("spot-server aggregator only"),
    },
    {
      part: P,
      measure: "tardis-dev `compute()` + 8 `computeTradeBars`",
      value: perS("tardis-dev"),
    },
    { part: P, measure: "ccxt `buildOHLCVC` × 8 timeframes", value: perS("ccxt") },
    {
      part: P,
      measure: "spot-server / floor",
      value: `${(spot / floor).toFixed(2)}×`,
      goal: "≥ 0.8×",
      met: spot / floor >= 0.8,
    },
    { part: P, measure: "spot-server / tardis-dev", value: `${(spot / tardis).toFixed(2)}×` },
    { part: P, measure: "spot-server / ccxt", value: `${(spot / ccxt).toFixed(2)}×` },
    {
      part: P,
      measure: `spot-server / faster peer (${fasterName})`,
      value: `${(spot / faster).toFixed(2)}×`,
      goal: "≥ 1.5×",
      met: spot / faster >= 1.5,
    },
    {
      part: P,
      measure: "spot-server aggregator only / faster peer",
      value: `${(rate("spot-server aggregator only") / faster).toFixed(2)}×`,
    },
    // Kraken v2 frames (kraken_frames.ts): the same core path beside Coinbase's.
    {
      part: P,
      measure: "Kraken floor: `JSON.parse` of the v2 frames",
      value: perS("kraken floor"),
    },
    {
      part: P,
      measure:
        "Kraken: frames → parseKrakenMessage → dedupe → aggregator → drain (8 granularities)",
      value: perS("kraken spot-server"),
    },
    {
      part: P,
      measure: "Kraken spot-server / Kraken floor",
      value: `${(rate("kraken spot-server") / rate("kraken floor")).toFixed(2)}×`,
    },
  ];
  const kr = results.get("kraken spot-server")!;
  const notes = [
    `Throughput input: ${num(spotRes.trades)} trades of ${THROUGHPUT.products} simulated ` +
    `products (${THROUGHPUT.tradesPerSecond} trades/s each, ${THROUGHPUT.minutes} minutes ` +
    `crossing midnight UTC so every granularity completes) in ${num(spotRes.frames)} ` +
    `\`market_trades\` frames of 1–20 trades (uniform), newest first, with Coinbase's field ` +
    `shapes (${(spotRes.bytes / 1e6).toFixed(1)} MB of JSON). Each runner runs in its own ` +
    `process${pin ? " pinned to one core (`taskset -c 0`)" : ""}; best of ` +
    `${THROUGHPUT.rounds} rounds.`,
    "spot-server runs the service's path: `parseFrame` (validation and parsing), " +
    "`Aggregator.add`, `tick` once per simulated second, and `drain()` after every frame, " +
    `which emits the live candle of all eight granularities of every product touched ` +
    `(${num(spotRes.outputs)} updates). Its completed 1-minute candles of one product were ` +
    `checked equal to ccxt's (${spotRes.checked} candles, ${spotRes.mismatches} differ).`,
    "The peers get the same trades already parsed into numbers (their parsing is not timed) " +
    "and only emit completed bars: tardis-dev yields a bar when a later trade closes it " +
    `(${num(results.get("tardis-dev")!.outputs)} bars), ccxt builds each product's candles ` +
    `in one batch call per timeframe (${num(results.get("ccxt")!.outputs)} candles). ` +
    "Neither validates, dedupes, handles out-of-order trades or keeps exact volumes.",
    `Kraken rows: ${num(kr.trades)} trades of ${THROUGHPUT.products} simulated pairs (the ` +
    "Kraken simulator's market: 30 % of trades further fills of a taker order at the same " +
    "microsecond) in " +
    `${num(kr.frames)} v2 \`trade\` update frames (${(kr.trades / kr.frames).toFixed(2)} trades ` +
    "a frame on average: one frame per pair per 50 ms flush, as the simulator sends them; " +
    `${(kr.bytes / 1e6).toFixed(1)} MB), each trade written by the simulator's \`wsTradeJson\` ` +
    "(numeric `price`/`qty`, microsecond `timestamp`). `parseKrakenMessage` reads each `qty` " +
    "again from the raw text for exact volumes; the tick follows the newest trade's time " +
    "(v2 frames carry no timestamp). Same process, pinning and rounds as the others.",
  ];
  return { rows, notes };
}
