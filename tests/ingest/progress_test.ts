import assert from "node:assert/strict";
import type { BackfillProgress, BackfillSummary } from "../../lib/history/backfill.ts";
import {
  createProgressReporter,
  describeProgress,
  formatDuration,
} from "../../lib/ingest/progress.ts";
import { formatSummary } from "../../lib/ingest/summary.ts";

const p = (pagesDone: number, elapsedMs: number): BackfillProgress => ({
  pagesTotal: 100,
  pagesDone,
  candles: pagesDone * 300,
  requests: pagesDone,
  retries: 0,
  rateLimited: 0,
  elapsedMs,
});

Deno.test("describeProgress shows percent, rates and ETA", () => {
  assert.equal(
    describeProgress(p(25, 5000)),
    " 25% 25/100 pages · 7,500 candles · 1,500 candles/s · 5 req/s · ETA 0:15",
  );
  assert.match(describeProgress(p(0, 0)), /ETA \?/);
  assert.equal(formatDuration(3725), "1:02:05");
  assert.equal(formatDuration(65), "1:05");
});

Deno.test("createProgressReporter redraws one line on a TTY, throttled", () => {
  let now = 0;
  const out: string[] = [];
  const r = createProgressReporter({
    write: (s) => out.push(s),
    tty: true,
    clock: () => now,
    width: 10,
  });
  r.update(p(0, 0));
  now += 50;
  r.update(p(1, 50)); // throttled
  now += 100;
  r.update(p(50, 150));
  now += 10;
  r.update(p(100, 160)); // the last one always shows
  r.finish();
  assert.equal(out.length, 5);
  assert.ok(out.slice(0, 4).every((s) => s.startsWith("\r\x1b[2K")));
  assert.ok(out[1]!.startsWith("\r\x1b[2K█████░░░░░  50%"), JSON.stringify(out[1]));
  assert.match(out[2]!, /██████████ 100%/);
  assert.equal(out[4], "\n");
});

Deno.test("createProgressReporter prints plain lines every interval off a TTY", () => {
  let now = 0;
  const out: string[] = [];
  const r = createProgressReporter({ write: (s) => out.push(s), tty: false, clock: () => now });
  for (let i = 1; i <= 20; i++) {
    now += 1000;
    r.update(p(i, now));
  }
  r.finish();
  assert.ok(
    out.every((s) => s.startsWith("backfill: ") && s.endsWith("\n") && !s.includes("\x1b")),
  );
  assert.equal(out.length, 5); // at 1 s, 6 s, 11 s, 16 s, then the final state
  assert.match(out.at(-1)!, /20\/100 pages/);
});

Deno.test("formatSummary tabulates candles per product and granularity", () => {
  const s: BackfillSummary = {
    ...p(3, 2000),
    pagesTotal: 3,
    candles: 648,
    requests: 4,
    retries: 1,
    rateLimited: 1,
    aborted: false,
    rows: [
      {
        product: "BTC-USD",
        granularity: "ONE_MINUTE",
        candles: 600,
        pages: 2,
        skippedPages: 0,
        fromSec: 1773360000,
        toSec: 1773395940,
      },
      {
        product: "BTC-USD",
        granularity: "ONE_HOUR",
        candles: 48,
        pages: 1,
        skippedPages: 0,
        fromSec: 1773360000,
        toSec: 1773392400,
      },
    ],
  };
  const text = formatSummary(s);
  const lines = text.split("\n");
  assert.match(lines[0]!, /^product\s+granularity\s+candles\s+pages\s+skipped\s+range \(UTC\)$/);
  assert.match(
    lines[2]!,
    /^BTC-USD\s+ONE_MINUTE\s+600\s+2\s+0\s+2026-03-13 00:00 → 2026-03-13 09:59$/,
  );
  assert.match(text, /^total\s+648\s+3\s+0$/m);
  assert.match(
    text,
    /Done: 648 candles, 4 requests \(2\.0\/s\), 1 retries, 1 rate-limited, elapsed 0:02/,
  );
  assert.match(
    formatSummary({ ...s, aborted: true }),
    /Interrupted.*run the same command again to resume/,
  );
});
