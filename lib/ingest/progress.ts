/**
 * @module
 * How a backfill shows its progress: on a terminal, one redrawn line on stderr with a bar,
 * percentage, candles/s, requests/s and ETA; elsewhere (CI, log files) a plain line every few
 * seconds. The writer and clock are injected, so tests read exactly what would be printed.
 */
import type { BackfillProgress } from "../history/backfill.ts";
import type { Clock } from "../clock.ts";

/** Options for {@linkcode createProgressReporter}. */
export interface ProgressOptions {
  /** Receives text exactly as it should reach the terminal or log. */
  write: (text: string) => void;
  /** Redraw one line (true) or print plain lines (false). */
  tty: boolean;
  /** @default Date.now */
  clock?: Clock;
  /** Minimum time between outputs. @default 100 ms on a TTY, 5000 ms otherwise */
  intervalMs?: number;
  /** Bar width in characters. @default 28 */
  width?: number;
}

/** Receives backfill progress and renders it. */
export interface ProgressReporter {
  update(progress: BackfillProgress): void;
  /** Renders the last state and ends the line. */
  finish(): void;
}

/** `1:02:03` / `2:03` for a number of seconds. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const one = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

/**
 * Requests per second over the whole seconds the run has covered: with a limiter allowing N in
 * any one second this never shows more than N (a plain average over 2.04 s of three bursts of
 * eight would show 11.8/s).
 */
export function requestRate(requests: number, elapsedMs: number): number {
  return requests / Math.max(1, Math.ceil(elapsedMs / 1000));
}

/** The figures of one progress line, without the bar. */
export function describeProgress(p: BackfillProgress): string {
  const secs = Math.max(p.elapsedMs, 1) / 1000;
  const eta = p.pagesDone > 0
    ? formatDuration(((p.pagesTotal - p.pagesDone) * secs) / p.pagesDone)
    : "?";
  const pct = p.pagesTotal > 0 ? Math.floor((p.pagesDone * 100) / p.pagesTotal) : 100;
  return `${String(pct).padStart(3)}% ${p.pagesDone}/${p.pagesTotal} pages · ` +
    `${int.format(p.candles)} candles · ${int.format(p.candles / secs)} candles/s · ` +
    `${one.format(requestRate(p.requests, p.elapsedMs))} req/s · ETA ${eta}` +
    (p.retries > 0 ? ` · ${p.retries} retries` : "");
}

/** A progress renderer for a TTY (bar) or a log (lines). */
export function createProgressReporter(options: ProgressOptions): ProgressReporter {
  const clock = options.clock ?? Date.now;
  const interval = options.intervalMs ?? (options.tty ? 100 : 5000);
  const width = options.width ?? 28;
  let last: BackfillProgress | undefined;
  let shown: BackfillProgress | undefined;
  let shownAt = -Infinity;
  let drawn = false;
  const render = (p: BackfillProgress) => {
    shown = p;
    if (options.tty) {
      const filled = p.pagesTotal > 0 ? Math.round((p.pagesDone / p.pagesTotal) * width) : width;
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      options.write(`\r\x1b[2K${bar} ${describeProgress(p)}`);
      drawn = true;
    } else {
      options.write(`backfill: ${describeProgress(p).trim()}\n`);
    }
  };
  return {
    update(p) {
      last = p;
      const now = clock();
      if (now - shownAt < interval && p.pagesDone < p.pagesTotal) return;
      shownAt = now;
      render(p);
    },
    finish() {
      if (options.tty) {
        if (last) render(last);
        if (drawn) options.write("\n");
      } else if (last && shown !== last) render(last);
    },
  };
}
