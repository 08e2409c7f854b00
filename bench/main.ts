/**
 * `deno task bench`: aggregation throughput against the floor and the peers, the service end to
 * end against the simulator, and backfill against the REST rate limit. Prints progress and the
 * results table, and writes it to `bench/RESULTS.md`. Goals are reported, never asserted: the
 * exit status is non-zero only when a part could not run.
 */
import { machine, resultsMarkdown, type Row, table } from "./report.ts";
import { backfillPart } from "./backfill_part.ts";
import { coldStartPart } from "./cold_start_part.ts";
import { e2ePart } from "./e2e_part.ts";
import { firestoreTransportPart } from "./firestore_transport_part.ts";
import { krakenE2ePart } from "./kraken_e2e_part.ts";
import { throughputPart } from "./throughput_part.ts";

function progress(line: string): void {
  // deno-lint-ignore no-console
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
}

const parts: [string, () => Promise<{ rows: Row[]; notes: string[] }>][] = [
  ["1 throughput", () => throughputPart(progress)],
  ["2 end to end", () => e2ePart(progress)],
  ["2k both exchanges", () => krakenE2ePart(progress)],
  ["3 backfill", () => backfillPart(progress)],
  ["4 cold start", () => coldStartPart(progress)],
  ["5 firestore transports", () => firestoreTransportPart(progress)],
];

// `deno task bench --only 1,3` runs some parts (RESULTS.md is then written only for a full run);
// parts by name work too: `deno task bench cold` is `--only 4`.
const onlyArg = Deno.args.indexOf("--only");
const NAMES: Record<string, string> = {
  throughput: "1",
  e2e: "2",
  both: "2k",
  backfill: "3",
  cold: "4",
  transport: "5",
};
const named = Deno.args.filter((a) => a in NAMES).map((a) => NAMES[a]!);
const only = onlyArg >= 0
  ? new Set((Deno.args[onlyArg + 1] ?? "").split(","))
  : named.length > 0
  ? new Set(named)
  : undefined;
const selected = parts.filter(([name]) => !only || only.has(name.split(" ")[0]!));

const m = await machine();
const rows: Row[] = [];
const notes: string[] = [];
let failed = false;
for (const [name, run] of selected) {
  try {
    const r = await run();
    rows.push(...r.rows);
    notes.push(...r.notes);
  } catch (e) {
    failed = true;
    const message = e instanceof Error ? e.message : String(e);
    progress(`part ${name} could not run: ${message}`);
    rows.push({ part: name, measure: "could not run", value: message.replaceAll("|", "/") });
  }
}
if (!only) {
  await Deno.writeTextFile(
    new URL("./RESULTS.md", import.meta.url),
    resultsMarkdown(m, rows, notes),
  );
}
// deno-lint-ignore no-console
console.log(`\n${m.cpu}, ${m.cores} cores, ${m.date}, Deno ${m.deno}\n\n${table(rows)}\n`);
if (!only) progress("wrote bench/RESULTS.md");
if (failed) Deno.exit(1);
