/**
 * @module
 * The bench's results table: rows of (part, measure, value, goal, verdict), rendered as the
 * Markdown table `deno task bench` prints and writes to `bench/RESULTS.md` with the machine,
 * date and Deno version.
 */
import { readProc } from "./proc.ts";

/** One line of the results table. */
export interface Row {
  part: string;
  measure: string;
  value: string;
  /** The goal, when the measure has one. */
  goal?: string;
  /** Whether the goal was met (undefined: no goal, or not measured). */
  met?: boolean;
}

/** The machine the bench ran on. */
export interface Machine {
  cpu: string;
  cores: number;
  date: string;
  deno: string;
  v8: string;
}

/** Reads the CPU model and core count from /proc/cpuinfo (falls back to what Deno reports). */
export async function machine(): Promise<Machine> {
  let cpu = "unknown";
  let cores = navigator.hardwareConcurrency;
  try {
    const info = await readProc("/proc/cpuinfo");
    cpu = info.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? cpu;
    cores = info.match(/^processor\s*:/gm)?.length ?? cores;
  } catch {
    // Not Linux: keep the fallbacks.
  }
  return {
    cpu,
    cores,
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
  };
}

/** The rows as a Markdown table. */
export function table(rows: Row[]): string {
  const lines = [
    "| part | measure | value | goal | met |",
    "| --- | --- | ---: | --- | --- |",
  ];
  for (const r of rows) {
    const met = r.met === undefined ? "" : r.met ? "yes" : "**no**";
    lines.push(`| ${r.part} | ${r.measure} | ${r.value} | ${r.goal ?? ""} | ${met} |`);
  }
  return lines.join("\n");
}

/** Formats a number with thousands separators and `digits` decimals. */
export function num(v: number, digits = 0): string {
  if (!Number.isFinite(v)) return "n/a";
  return v.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The whole RESULTS.md. */
export function resultsMarkdown(m: Machine, rows: Row[], notes: string[]): string {
  return [
    "# Benchmark results",
    "",
    "Written by `deno task bench` (bench/main.ts); every number below is from the run described",
    "here. Rerun to refresh.",
    "",
    `- Machine: ${m.cpu}, ${m.cores} cores`,
    `- Date: ${m.date}`,
    `- Deno ${m.deno} (V8 ${m.v8})`,
    "",
    table(rows),
    "",
    "## How each number was measured",
    "",
    ...notes.map((n) => `- ${n}`),
    "",
  ].join("\n");
}
