import assert from "node:assert/strict";
import { checkFleet, duration, fleetShard } from "../../lib/service/fleet.ts";
import { productsForShard } from "../../lib/history/shard.ts";
import type { CatalogueEntry, ShardDoc } from "../../lib/store/store.ts";

const NOW = Date.UTC(2026, 10, 29, 21, 0, 0);
const IDS = Array.from({ length: 40 }, (_, i) => `P${i}-USD`);

function shard(index: number, count: number, over: Partial<ShardDoc> = {}): ShardDoc {
  return {
    index,
    count,
    version: "v1",
    startedAt: NOW - 3_600_000,
    heartbeatAt: NOW - 5_000,
    status: "healthy",
    products: productsForShard(IDS, count, index),
    selection: { products: IDS, quoteCurrencies: ["USD"] },
    connections: { connected: 1, total: 1, reconnects: 0 },
    gaps: { sequenceGaps: 0, maxGapS: 0 },
    ...over,
  };
}

function entry(id: string, status: "online" | "delisted" = "online"): CatalogueEntry {
  const [base = "", quote = ""] = id.split("-");
  return {
    product_id: id,
    base_currency: base,
    quote_currency: quote,
    status,
    min_size: "0.01",
    max_size: "100",
    last_updated: NOW,
  };
}

Deno.test("fleetShard()", async (t) => {
  await t.step("a heartbeat within 60 s keeps the shard's own status", () => {
    assert.equal(
      fleetShard(shard(0, 1, { status: "degraded", heartbeatAt: NOW - 60_000 }), NOW)
        .status,
      "degraded",
    );
  });
  await t.step("no heartbeat for over 60 s makes it silent", () => {
    const s = fleetShard(shard(0, 1, { heartbeatAt: NOW - 61_000 }), NOW);
    assert.equal(s.status, "silent");
    assert.equal(s.heartbeatAgeS, 61);
  });
  await t.step("stopped stays stopped however old", () => {
    assert.equal(
      fleetShard(shard(0, 1, { status: "stopped", heartbeatAt: NOW - 600_000 }), NOW).status,
      "stopped",
    );
  });
});

Deno.test("checkFleet()", async (t) => {
  await t.step("a complete, healthy fleet has no problems and covers every product", () => {
    const report = checkFleet({
      shards: [0, 1, 2].map((i) => shard(i, 3)),
      catalogue: [],
      nowMs: NOW,
    });
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.products, {
      expected: 40,
      covered: 40,
      uncovered: 0,
      double: 0,
      byExchange: { coinbase: { expected: 40, covered: 40, uncovered: 0 } },
    });
    assert.deepEqual(report.shards.map((s) => s.id), ["0-of-3", "1-of-3", "2-of-3"]);
  });

  await t.step("uncovered: a stopped shard's products, naming the shard", () => {
    const report = checkFleet({
      shards: [shard(0, 3), shard(1, 3, { status: "stopped" }), shard(2, 3)],
      catalogue: [],
      nowMs: NOW,
    });
    assert.equal(report.problems.length, 1);
    const [problem] = report.problems;
    assert.equal(problem!.kind, "uncovered");
    assert.deepEqual(problem!.products, productsForShard(IDS, 3, 1).sort());
    assert.deepEqual(problem!.shards, ["1-of-3"]);
    assert.match(problem!.message, /served by no live shard \(1-of-3 is stopped\)/);
    assert.match(problem!.message, /start that shard with SHARD_COUNT=3/);
    assert.equal(report.products.uncovered, productsForShard(IDS, 3, 1).length);
  });

  await t.step("uncovered: a shard that never reported is named as such", () => {
    const report = checkFleet({ shards: [shard(0, 2)], catalogue: [], nowMs: NOW });
    const problem = report.problems.find((p) => p.kind === "uncovered")!;
    assert.deepEqual(problem.products, productsForShard(IDS, 2, 1).sort());
    assert.match(problem.message, /1-of-2 has never reported/);
  });

  await t.step("uncovered with PRODUCTS=all: online catalogue rows in the quote currencies", () => {
    const all = { products: "all" as const, quoteCurrencies: ["USD"] };
    const report = checkFleet({
      shards: [shard(0, 1, { selection: all, products: ["A-USD"] })],
      catalogue: [entry("A-USD"), entry("B-USD"), entry("C-USD", "delisted"), entry("D-EUR")],
      nowMs: NOW,
    });
    assert.deepEqual(report.problems.map((p) => [p.kind, p.products]), [["uncovered", ["B-USD"]]]);
    assert.match(report.problems[0]!.message, /^1 product \(B-USD\) is served by no live shard/);
  });

  await t.step("coverage is checked per exchange: Kraken's pairs carry their exchange", () => {
    const exchanges = {
      coinbase: { products: ["A-USD"], quoteCurrencies: ["USD"] },
      kraken: { products: "all" as const, quoteCurrencies: ["USD"] },
    };
    const report = checkFleet({
      shards: [shard(0, 1, { exchanges, products: ["A-USD", "kraken:A-USD"] })],
      // The same id on both exchanges is two products; only Kraken's catalogue rows count for it.
      catalogue: [entry("A-USD"), entry("B-USD"), entry("kraken:A-USD"), entry("kraken:B-USD")],
      nowMs: NOW,
    });
    assert.deepEqual(report.problems.map((p) => [p.kind, p.products]), [
      ["uncovered", ["kraken:B-USD"]],
    ]);
    assert.deepEqual(report.products.byExchange, {
      coinbase: { expected: 1, covered: 1, uncovered: 0 },
      kraken: { expected: 2, covered: 1, uncovered: 1 },
    });
  });

  await t.step("double and count_mismatch: one shard deployed with the wrong SHARD_COUNT", () => {
    const report = checkFleet({
      shards: [shard(0, 3), shard(1, 3), shard(2, 3), shard(1, 4)],
      catalogue: [],
      nowMs: NOW,
    });
    const kinds = report.problems.map((p) => p.kind);
    assert.ok(kinds.includes("double"));
    assert.deepEqual(kinds.filter((k) => k === "count_mismatch").length, 1);
    const mismatch = report.problems.find((p) => p.kind === "count_mismatch")!;
    assert.match(mismatch.message, /1-of-4 with 4; redeploy 1-of-4 with SHARD_COUNT=3/);
    const doubled = report.problems.filter((p) => p.kind === "double").flatMap((p) => p.products!);
    const wrong = productsForShard(IDS, 4, 1);
    assert.deepEqual(doubled.sort(), [...wrong].sort(), "every product of 1-of-4 is doubled");
    for (const p of report.problems.filter((p) => p.kind === "double")) {
      assert.ok(p.shards!.includes("1-of-4"));
      assert.match(p.message, /served by both \S+ and \S+, so two writers update/);
    }
    assert.equal(report.products.double, wrong.length);
  });

  await t.step(
    "silent: a shard without heartbeat for over a minute, its products uncovered",
    () => {
      const report = checkFleet({
        shards: [shard(0, 2), shard(1, 2, { heartbeatAt: NOW - 5 * 60_000 })],
        catalogue: [],
        nowMs: NOW,
      });
      const silent = report.problems.find((p) => p.kind === "silent")!;
      assert.deepEqual(silent.shards, ["1-of-2"]);
      assert.deepEqual(silent.products, productsForShard(IDS, 2, 1));
      assert.match(
        silent.message,
        /^Shard 1-of-2 has sent no heartbeat for 5 min \(last at 2026-11-29 20:55:00 UTC\)/,
      );
      const uncovered = report.problems.find((p) => p.kind === "uncovered")!;
      assert.match(uncovered.message, /1-of-2 is silent/);
    },
  );

  await t.step("the issue's fleet: one stopped, one with the wrong count", () => {
    const report = checkFleet({
      shards: [shard(0, 3), shard(1, 3, { status: "stopped" }), shard(2, 4)],
      catalogue: [],
      nowMs: NOW,
    });
    const kinds = new Set(report.problems.map((p) => p.kind));
    assert.ok(kinds.has("uncovered") && kinds.has("count_mismatch"));
    const uncovered = report.problems.find((p) => p.kind === "uncovered")!;
    const expected = IDS.filter((p) =>
      !productsForShard(IDS, 3, 0).includes(p) && !productsForShard(IDS, 4, 2).includes(p)
    ).sort();
    assert.deepEqual(uncovered.products, expected);
    assert.match(uncovered.message, /1-of-3 is stopped/);
    assert.match(uncovered.message, /2-of-3 has never reported/);
    const mismatch = report.problems.find((p) => p.kind === "count_mismatch")!;
    assert.match(mismatch.message, /redeploy 2-of-4 with SHARD_COUNT=3/);
  });

  await t.step("two live shards with different counts and no majority: say so, pick none", () => {
    const report = checkFleet({ shards: [shard(0, 2), shard(1, 3)], catalogue: [], nowMs: NOW });
    const mismatch = report.problems.find((p) => p.kind === "count_mismatch")!;
    assert.match(
      mismatch.message,
      /^Live shards disagree on SHARD_COUNT \(0-of-2 with 2 and 1-of-3 with 3\) and no count has a majority/,
    );
    const uncovered = report.problems.find((p) => p.kind === "uncovered")!;
    const served = new Set([...productsForShard(IDS, 2, 0), ...productsForShard(IDS, 3, 1)]);
    assert.deepEqual(uncovered.products, IDS.filter((p) => !served.has(p)).sort());
    assert.match(
      uncovered.message,
      /the shards disagree on SHARD_COUNT, so their shard is unclear/,
    );
    assert.equal(uncovered.shards, undefined);
  });

  await t.step("a stopped entry's count does not outvote the live shards", () => {
    const report = checkFleet({
      shards: [shard(0, 2), shard(1, 3, { status: "stopped" })],
      catalogue: [],
      nowMs: NOW,
    });
    assert.deepEqual(report.problems.map((p) => p.kind), ["uncovered"]);
    assert.match(report.problems[0]!.message, /1-of-2 has never reported/);
  });

  await t.step("entries older than a day are forgotten", () => {
    const report = checkFleet({
      shards: [shard(0, 1), shard(0, 2, { status: "stopped", heartbeatAt: NOW - 90_000_000 })],
      catalogue: [],
      nowMs: NOW,
    });
    assert.deepEqual(report.shards.map((s) => s.id), ["0-of-1"]);
    assert.deepEqual(report.problems, []);
  });

  await t.step("no live shard at all: everything uncovered, says to start the fleet", () => {
    const report = checkFleet({
      shards: [shard(0, 1, { status: "stopped" })],
      catalogue: [],
      nowMs: NOW,
    });
    assert.equal(report.problems.length, 1);
    assert.equal(report.problems[0]!.products!.length, 40);
    assert.match(report.problems[0]!.message, /^40 products \(P\S+, .* and 35 more\) are served/);
  });
});

Deno.test("duration() reads as an operator would say it", () => {
  assert.deepEqual([duration(45), duration(300), duration(7500), duration(300_000)], [
    "45 s",
    "5 min",
    "2 h 5 min",
    "3 d",
  ]);
});
