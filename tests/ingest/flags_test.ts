import assert from "node:assert/strict";
import { INGEST_HELP, parseIngestArgs, UsageError } from "../../lib/ingest/flags.ts";

const NOW = Date.UTC(2026, 2, 14, 15, 9, 26, 123);
const nowSec = Math.floor(NOW / 1000);
const day = (s: string) => Date.parse(`${s}T00:00:00Z`) / 1000;

Deno.test("parseIngestArgs reads every flag of DESIGN.md", async (t) => {
  await t.step("defaults: configured products, all granularities, the last 30 days", () => {
    const f = parseIngestArgs([], NOW);
    assert.equal(f.products, undefined);
    assert.equal(f.granularities.length, 8);
    assert.equal(f.toSec, nowSec);
    assert.equal(f.fromSec, nowSec - 30 * 86400 + 1);
    assert.equal(f.catalogue, false);
    assert.equal(f.candles, true);
  });
  await t.step("products and granularities in both spellings", () => {
    const f = parseIngestArgs(
      ["--products", "btc-usd, ETH-USD", "--granularities=1m,ONE_HOUR,FIVE_MINUTE"],
      NOW,
    );
    assert.deepEqual(f.products, ["BTC-USD", "ETH-USD"]);
    assert.deepEqual(f.granularities.map((g) => g.id), ["ONE_MINUTE", "FIVE_MINUTE", "ONE_HOUR"]);
    assert.equal(parseIngestArgs(["--products", "all"], NOW).products, "all");
  });
  await t.step("--from/--to dates are whole UTC days; --to now", () => {
    const f = parseIngestArgs(["--from", "2026-01-01", "--to", "2026-01-31"], NOW);
    assert.equal(f.fromSec, day("2026-01-01"));
    assert.equal(f.toSec, day("2026-02-01") - 1);
    const g = parseIngestArgs(["--from", "2026-03-01T12:00Z", "--to", "now"], NOW);
    assert.equal(g.fromSec, day("2026-03-01") + 12 * 3600);
    assert.equal(g.toSec, nowSec);
  });
  await t.step("--days back from --to, or forward from --from", () => {
    const back = parseIngestArgs(["--days", "7"], NOW);
    assert.equal(back.fromSec, nowSec - 7 * 86400 + 1);
    const fwd = parseIngestArgs(["--from", "2026-01-01", "--days", "2"], NOW);
    assert.equal(fwd.toSec, day("2026-01-03") - 1);
    const capped = parseIngestArgs(["--from", "2026-03-14", "--days", "30"], NOW);
    assert.equal(capped.toSec, nowSec);
  });
  await t.step("--store and --catalogue", () => {
    const f = parseIngestArgs(["--catalogue", "--store", "firestore"], NOW);
    assert.equal(f.store, "firestore");
    assert.equal(f.catalogue, true);
    assert.equal(f.candles, false);
    assert.equal(parseIngestArgs(["--catalogue", "--days", "1"], NOW).candles, true);
  });
  await t.step("--delete-plural-documents, alone or with --dry-run", () => {
    const f = parseIngestArgs(["--delete-plural-documents", "--dry-run"], NOW);
    assert.equal(f.deletePlural, true);
    assert.equal(f.dryRun, true);
    assert.equal(f.candles, false);
    const real = parseIngestArgs(["--delete-plural-documents", "--store", "firestore"], NOW);
    assert.deepEqual([real.deletePlural, real.dryRun, real.candles], [true, false, false]);
    assert.equal(parseIngestArgs([], NOW).deletePlural, false);
  });
  await t.step("--help", () => {
    assert.equal(parseIngestArgs(["--help"], NOW).help, true);
    assert.equal(parseIngestArgs(["-h", "--bogus"], NOW).help, true);
  });
});

Deno.test("parseIngestArgs rejects bad input with a one-line message naming it", () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /Unknown flag "--bogus"/],
    [["--products"], /--products needs a value/],
    [["--products", "BTCUSD"], /malformed product id "BTCUSD"/],
    [["--dry-run"], /--dry-run works only with --delete-plural-documents/],
    [["--granularities", "7m"], /--granularities: Unknown granularity "7m"/],
    [["--from", "2026-02-30"], /--from "2026-02-30" is not a date/],
    [["--from", "yesterday"], /--from "yesterday" is not a date/],
    [["--to", "2026-13-01"], /--to "2026-13-01" is not a date/],
    [["--days", "-3"], /--days must be a positive number/],
    [["--days", "0"], /--days must be a positive number/],
    [["--store", "sqlite"], /--store must be kv or firestore/],
    [["--from", "2026-03-10", "--to", "2026-03-01"], /before --from/],
    [["--from", "2027-01-01"], /in the future/],
    [["--from", "2026-01-01", "--to", "now", "--days", "3"], /too many/],
    [["--days", "1", "--days", "2"], /given twice/],
    [["extra"], /Unknown flag "extra"/],
  ];
  for (const [args, message] of cases) {
    const error = (() => {
      try {
        parseIngestArgs(args, NOW);
      } catch (e) {
        return e;
      }
    })();
    assert.ok(error instanceof UsageError, `${args.join(" ")} did not throw a UsageError`);
    assert.match(error.message, message);
    assert.ok(!error.message.includes("\n"), "message is one line");
  }
});

Deno.test("--help documents every flag", () => {
  for (
    const flag of [
      "--products",
      "--granularities",
      "--from",
      "--to",
      "--days",
      "--store",
      "--catalogue",
      "--delete-plural-documents",
      "--dry-run",
      "--help",
    ]
  ) {
    assert.ok(INGEST_HELP.includes(flag), flag);
  }
});
