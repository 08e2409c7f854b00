/**
 * `deno task bench`: measures throughput and prints a table. Results are reported, never
 * asserted (this machine is shared and noisy).
 */
import { aggregatorThroughput, generateTrades } from "./aggregator.ts";

function log(line: string): void {
  // deno-lint-ignore no-console
  console.log(line);
}

log("generating trades …");
const trades = generateTrades(100, 20, 30);
log(`aggregator: ${trades.length} trades over 100 products …`);
const r = aggregatorThroughput(trades);
log("");
log("| entry | result |");
log("| --- | --- |");
log(
  `| aggregator throughput (1 core, 8 granularities) | ${
    Math.round(r.tradesPerS).toLocaleString("en")
  } trades/s |`,
);
