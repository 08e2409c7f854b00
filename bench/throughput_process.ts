/**
 * @module
 * Part 1 of `deno task bench`: one throughput runner in its own process (pinned to one core by
 * `main.ts` when `taskset` exists), so each runner's heap holds only its own input. Generates
 * the frames (deterministic), builds the runner's input untimed, runs `rounds` rounds and
 * prints one JSON line ({@linkcode RunnerResult}, best round) on stdout; progress on stderr.
 * The spot-server runner first cross-checks its 1-minute candles against ccxt's.
 *
 * Usage: `bench/throughput_process.ts <runner> [products] [tps] [minutes] [rounds]`
 */
import { generateFrames } from "./frames.ts";
import { generateKrakenFrames } from "./kraken_frames.ts";
import { runKrakenFloor, runKrakenSpotServer } from "./kraken_throughput.ts";
import {
  ccxtOneMinute,
  ccxtTrades,
  numericFrames,
  parseAll,
  type RoundResult,
  runCcxt,
  runFloor,
  runSpotAggregator,
  runSpotServer,
  runTardis,
  tardisMessages,
} from "./throughput.ts";
import type { Candle } from "../lib/candles/candle.ts";
import { type RunnerResult, RUNNERS } from "./throughput.ts";

function progress(line: string): void {
  // deno-lint-ignore no-console
  console.error(`  [${runner}] ${line}`);
}

const runner = Deno.args[0] ?? "";
const [products = 100, tps = 5, minutes = 10, rounds = 5] = Deno.args.slice(1).map(Number);
if (!(RUNNERS as readonly string[]).includes(runner)) {
  throw new Error(`Unknown runner "${runner}"; expected one of ${RUNNERS.join(", ")}`);
}

const kraken = runner.startsWith("kraken ");
const set = (kraken ? generateKrakenFrames : generateFrames)({
  products,
  tradesPerSecond: tps,
  minutes,
});
const result: RunnerResult = {
  runner,
  trades: set.trades,
  frames: set.frames.length,
  bytes: set.bytes,
  tradesPerS: 0,
  outputs: 0,
};
let run: () => RoundResult | Promise<RoundResult>;
if (runner === "kraken floor") run = () => runKrakenFloor(set.frames);
else if (runner === "kraken spot-server") run = () => runKrakenSpotServer(set.frames);
else if (runner === "floor") run = () => runFloor(set.frames);
else if (runner === "spot-server") {
  run = () => runSpotServer(set.frames);
  crossCheck();
} else {
  const parsed = parseAll(set.frames);
  const numeric = numericFrames(parsed);
  if (runner === "spot-server aggregator only") run = () => runSpotAggregator(parsed);
  else if (runner === "tardis-dev") {
    const messages = tardisMessages(numeric);
    run = () => runTardis(messages);
  } else {
    const perProduct = ccxtTrades(numeric);
    run = () => runCcxt(perProduct);
  }
}
const rates: string[] = [];
for (let r = 0; r < rounds; r++) {
  const res = await run();
  const rate = set.trades / res.seconds;
  rates.push(`${Math.round(rate / 1000)}k`);
  if (rate > result.tradesPerS) {
    result.tradesPerS = rate;
    result.outputs = res.outputs;
  }
}
progress(`${set.trades.toLocaleString("en")} trades, rounds (trades/s): ${rates.join(" ")}`);
// deno-lint-ignore no-console
console.log(JSON.stringify(result));

/** spot-server's completed 1-minute candles of one product must equal ccxt's. */
function crossCheck(): void {
  const parsed = parseAll(set.frames);
  const product = parsed[0]![0]!.product;
  const own = numericFrames(parsed).map((b) => b.filter((t) => t.product === product));
  const theirs = ccxtOneMinute(ccxtTrades(own)[0]!);
  const mine: Candle[] = [];
  runSpotServer(set.frames, { product, oneMinute: mine });
  let mismatches = 0;
  for (const c of mine) {
    const o = theirs.find((x) => x[0] === c.start * 1000);
    const same = o && o[1] === c.open && o[2] === c.high && o[3] === c.low && o[4] === c.close &&
      Math.abs(o[5]! - c.volume) <= 1e-9 * Math.max(1, c.volume);
    if (!same) mismatches++;
  }
  result.checked = mine.length;
  result.mismatches = mismatches;
  progress(
    `cross-check: ${mine.length} 1-minute candles of ${product} vs ccxt, ${mismatches} differ`,
  );
}
