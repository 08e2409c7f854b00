/**
 * @module
 * The table `deno task ingest` prints at the end: candles written per product × granularity,
 * then requests, retries, 429s and elapsed time.
 */
import type { BackfillSummary } from "../history/backfill.ts";
import { formatDuration, requestRate } from "./progress.ts";

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

function day(sec: number): string {
  return new Date(sec * 1000).toISOString().slice(0, 16).replace("T", " ");
}

/** Renders a summary as aligned plain text, ending with a newline. */
export function formatSummary(s: BackfillSummary): string {
  const head = ["product", "granularity", "candles", "pages", "skipped", "range (UTC)"];
  const rows = s.rows.map((r) => [
    r.product,
    r.granularity,
    int.format(r.candles),
    String(r.pages),
    String(r.skippedPages),
    r.toSec >= r.fromSec ? `${day(r.fromSec)} → ${day(r.toSec)}` : "nothing complete yet",
  ]);
  const total = [
    "total",
    "",
    int.format(s.candles),
    String(s.pagesDone),
    String(s.rows.reduce((n, r) => n + r.skippedPages, 0)),
    "",
  ];
  const table = [head, ...rows, total];
  const widths = head.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const right = new Set([2, 3, 4]);
  const line = (r: string[]) =>
    r.map((c, i) => right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)).join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const secs = Math.max(s.elapsedMs, 1) / 1000;
  return [
    line(head),
    rule,
    ...rows.map(line),
    rule,
    line(total),
    "",
    `${s.aborted ? "Interrupted" : "Done"}: ${
      int.format(s.candles)
    } candles, ${s.requests} requests ` +
    `(${
      requestRate(s.requests, s.elapsedMs).toFixed(1)
    }/s), ${s.retries} retries, ${s.rateLimited} rate-limited, ` +
    `elapsed ${formatDuration(secs)} (${secs.toFixed(1)} s)` +
    (s.aborted ? ". Progress is saved: run the same command again to resume." : ""),
    "",
  ].join("\n");
}
