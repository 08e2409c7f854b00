/**
 * @module
 * LogTape setup, called once by each entry point. Pretty lines locally, JSON lines (Cloud
 * Logging's `severity`/`message` fields) with `LOG_FORMAT=json`. Libraries only call
 * {@linkcode getLogger}; nothing is configured at import time.
 */
import {
  configure,
  getConsoleSink,
  getLogger,
  jsonLinesFormatter,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";
import type { LogFormat, LogLevel } from "./config.ts";

export { getLogger };

/** Options for {@linkcode setupLogging}. */
export interface LoggingOptions {
  level: LogLevel;
  format: LogFormat;
  /** Replaces the console sink (tests capture records with `records.push`). */
  sink?: Sink;
}

const SEVERITY: Record<string, string> = {
  trace: "DEBUG",
  debug: "DEBUG",
  info: "INFO",
  warning: "WARNING",
  error: "ERROR",
  fatal: "CRITICAL",
};

/** One JSON line per record, with Cloud Logging's `severity` field. */
function cloudJson(record: LogRecord): string {
  const line = jsonLinesFormatter(record);
  const parsed = JSON.parse(line);
  return JSON.stringify({ severity: SEVERITY[record.level] ?? "DEFAULT", ...parsed }) + "\n";
}

/** Configures LogTape for the `spot` category tree. Safe to call again (it resets first). */
export async function setupLogging(options: LoggingOptions): Promise<void> {
  await reset();
  const sink = options.sink ??
    getConsoleSink(options.format === "json" ? { formatter: cloudJson } : {});
  await configure({
    sinks: { main: sink },
    loggers: [
      { category: ["spot"], lowestLevel: options.level, sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}
