import assert from "node:assert/strict";
import {
  PENDING_REPAIRS_CAP,
  pendingRepairsEntry,
  pendingRepairsOf,
  ShardRegistry,
  type ShardRegistryOptions,
  type ShardSnapshot,
  shardSnapshot,
  untrustedFrom,
} from "../../lib/service/registry.ts";
import { Registry } from "../../lib/service/prometheus.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import type { CandleStore, ShardDoc } from "../../lib/store/store.ts";

const T0 = Date.UTC(2026, 10, 29, 21, 0, 0);

function snapshot(products: string[], status: ShardSnapshot["status"] = "healthy"): ShardSnapshot {
  return {
    status,
    products,
    connections: { connected: 1, total: 1, reconnects: 0 },
    gaps: { sequenceGaps: 0, maxGapS: 0.5 },
  };
}

function registry(
  store: ShardRegistryOptions["store"],
  index: number,
  count: number,
  clock: () => number,
  products: string[],
  options: { startedAt?: number; previousReadMs?: number } = {},
) {
  let state = snapshot(products, "starting");
  const r = new ShardRegistry({
    store,
    identity: {
      index,
      count,
      version: "test",
      startedAt: options.startedAt ?? T0,
      selection: { products: ["A-USD", "B-USD", "C-USD"], quoteCurrencies: ["USD"] },
    },
    snapshot: () => state,
    clock,
    reportMaxAgeMs: 0,
    previousReadMs: options.previousReadMs,
  });
  return { r, set: (s: ShardSnapshot) => state = s };
}

Deno.test("ShardRegistry on Deno KV", async (t) => {
  const store = await openKvCandleStore(":memory:");
  let now = T0;
  const clock = () => now;
  // Under the rendezvous hash, B-USD and C-USD are shard 0's of 2, A-USD shard 1's.
  const a = registry(store, 0, 2, clock, ["B-USD", "C-USD"]);
  const b = registry(store, 1, 2, clock, ["A-USD"]);
  try {
    await t.step("beat() writes the entry with the snapshot and the clock's time", async () => {
      await a.r.beat();
      const [doc] = await store.readShards();
      assert.deepEqual(
        doc,
        {
          index: 0,
          count: 2,
          version: "test",
          startedAt: T0,
          selection: { products: ["A-USD", "B-USD", "C-USD"], quoteCurrencies: ["USD"] },
          ...snapshot(["B-USD", "C-USD"], "starting"),
          heartbeatAt: T0,
        } satisfies ShardDoc,
      );
    });

    await t.step("fleet(): A-USD uncovered while shard 1-of-2 has never reported", async () => {
      const report = await a.r.fleet();
      assert.deepEqual(report.problems.map((p) => [p.kind, p.products]), [["uncovered", [
        "A-USD",
      ]]]);
      assert.match(report.problems[0]!.message, /1-of-2 has never reported/);
    });

    await t.step("both beating: no problems, statuses from the snapshots", async () => {
      a.set(snapshot(["B-USD", "C-USD"]));
      b.set(snapshot(["A-USD"], "degraded"));
      await a.r.beat();
      await b.r.beat();
      const report = await b.r.fleet();
      assert.deepEqual(report.problems, []);
      assert.deepEqual(report.shards.map((s) => [s.id, s.status]), [
        ["0-of-2", "healthy"],
        ["1-of-2", "degraded"],
      ]);
    });

    await t.step("stop() marks the entry stopped and the other shard sees it", async () => {
      await b.r.stop();
      const report = await a.r.fleet();
      assert.equal(report.shards.find((s) => s.id === "1-of-2")!.status, "stopped");
      assert.deepEqual(report.problems.map((p) => p.kind), ["uncovered"]);
      assert.match(report.problems[0]!.message, /1-of-2 is stopped/);
    });

    await t.step("a beat after stop() writes nothing over the stopped entry", async () => {
      now += 1000;
      await b.r.beat();
      const doc = (await store.readShards()).find((d) => d.index === 1)!;
      assert.equal(doc.status, "stopped");
      assert.equal(doc.heartbeatAt, T0);
    });

    await t.step("no heartbeat for 61 s: the shard is silent, named in a problem", async () => {
      now = T0 + 61_000;
      const report = await b.r.fleet();
      assert.equal(report.shards.find((s) => s.id === "0-of-2")!.status, "silent");
      const silent = report.problems.find((p) => p.kind === "silent")!;
      assert.match(silent.message, /Shard 0-of-2 has sent no heartbeat for 61 s/);
    });

    await t.step("addMetrics(): gauges of the last report by status and kind", async () => {
      const metrics = new Registry();
      a.r.addMetrics(metrics);
      await a.r.fleet();
      const text = await metrics.render();
      assert.match(text, /spot_fleet_shards\{status="silent"\} 1/);
      assert.match(text, /spot_fleet_shards\{status="stopped"\} 1/);
      assert.match(text, /spot_fleet_problems\{kind="uncovered"\} 1/);
      assert.match(text, /spot_fleet_problems\{kind="silent"\} 1/);
      assert.match(text, /spot_fleet_products\{coverage="uncovered"\} 3/);
    });
  } finally {
    await a.r.stop();
    await store.close();
  }
});

Deno.test("ShardRegistry: a failing store write is logged, not thrown, and retried", async () => {
  const store = await openKvCandleStore(":memory:");
  let fail = true;
  const flaky: Pick<CandleStore, "writeShard" | "readShards" | "readCatalogue"> = {
    writeShard: (doc) => fail ? Promise.reject(new Error("unavailable")) : store.writeShard(doc),
    readShards: () => store.readShards(),
    readCatalogue: () => store.readCatalogue(),
  };
  const r = new ShardRegistry({
    store: flaky,
    identity: {
      index: 0,
      count: 1,
      version: "test",
      startedAt: T0,
      selection: { products: ["A-USD"], quoteCurrencies: ["USD"] },
    },
    snapshot: () => snapshot(["A-USD"]),
    clock: () => T0,
  });
  try {
    await r.beat();
    assert.deepEqual(await store.readShards(), []);
    fail = false;
    await r.beat();
    assert.equal((await store.readShards()).length, 1);
  } finally {
    await store.close();
  }
});

Deno.test("ShardRegistry: beats during a slow write are skipped; stop() is written after it", async () => {
  const store = await openKvCandleStore(":memory:");
  const hold = Promise.withResolvers<void>();
  const written: string[] = [];
  const slow: Pick<CandleStore, "writeShard" | "readShards" | "readCatalogue"> = {
    writeShard: async (doc) => {
      if (written.length === 0) await hold.promise;
      written.push(doc.status);
      await store.writeShard(doc);
    },
    readShards: () => store.readShards(),
    readCatalogue: () => store.readCatalogue(),
  };
  const r = new ShardRegistry({
    store: slow,
    identity: {
      index: 0,
      count: 1,
      version: "test",
      startedAt: T0,
      selection: { products: ["A-USD"], quoteCurrencies: ["USD"] },
    },
    snapshot: () => snapshot(["A-USD"]),
    clock: () => T0,
  });
  try {
    const first = r.beat();
    void r.beat();
    void r.beat();
    const stopped = r.stop();
    hold.resolve();
    await first;
    await stopped;
    assert.deepEqual(written, ["healthy", "stopped"]);
    assert.equal((await store.readShards())[0]!.status, "stopped");
  } finally {
    await store.close();
  }
});

Deno.test("shardSnapshot() sums connections and gaps; unhealthy counts as degraded", () => {
  const conn = (state: "subscribed" | "reconnecting", reconnects: number, gaps: number) => ({
    id: `ws-${reconnects}`,
    products: [],
    state,
    connectedSince: null,
    reconnects,
    lastMessageAgeS: null,
    maxGapS: gaps / 2,
    sequenceGaps: gaps,
    tradesPerS: 0,
    unknownProducts: [],
  });
  const snap = shardSnapshot({
    health: () => ({ body: { status: "unhealthy" } }),
    products: () => [{ productId: "A-USD" }, { productId: "B-USD" }],
    connections: () => [conn("subscribed", 1, 4), conn("reconnecting", 2, 6)],
  });
  assert.deepEqual(snap, {
    status: "degraded",
    products: ["A-USD", "B-USD"],
    connections: { connected: 1, total: 2, reconnects: 3 },
    gaps: { sequenceGaps: 10, maxGapS: 3 },
  });
});

Deno.test("ShardRegistry reads the catalogue at most every catalogueMaxAgeMs, again once it is written", async () => {
  let reads = 0;
  let fail = false;
  const store = {
    writeShard: () => Promise.resolve(),
    readShards: () => Promise.resolve([]),
    readCatalogue: () => {
      reads++;
      return fail ? Promise.reject(new Error("store down")) : Promise.resolve([]);
    },
  };
  let now = T0;
  const r = new ShardRegistry({
    store,
    identity: {
      index: 0,
      count: 1,
      version: "test",
      startedAt: T0,
      selection: { products: ["A-USD"], quoteCurrencies: ["USD"] },
    },
    snapshot: () => snapshot(["A-USD"]),
    clock: () => now,
    reportMaxAgeMs: 0,
    catalogueMaxAgeMs: 60_000,
  });
  await r.fleet();
  now += 30_000;
  await r.fleet();
  assert.equal(reads, 1, "a report within a minute reuses the catalogue");
  r.forgetCatalogue();
  await r.fleet();
  assert.equal(reads, 2, "a written catalogue is read again");
  now += 60_000;
  fail = true;
  await assert.rejects(r.fleet(), /store down/);
  fail = false;
  await r.fleet();
  assert.equal(reads, 4, "an old catalogue is read again, and a failed read is not kept");
});

Deno.test("ShardRegistry.start() reads the previous run's entry before its first heartbeat", async (t) => {
  const store = await openKvCandleStore(":memory:");
  let now = T0;
  const clock = () => now;
  try {
    await t.step("no previous run: undefined, then the first heartbeat", async () => {
      const first = registry(store, 0, 1, clock, ["A-USD"]);
      assert.equal(await first.r.start(), undefined);
      await first.r.stop();
      assert.equal((await store.readShards())[0]?.status, "stopped");
    });
    await t.step("a restart gets the stopped entry, as it was, then overwrites it", async () => {
      const stoppedAt = now;
      now += 7000;
      const next = registry(store, 0, 1, clock, ["A-USD"], { startedAt: now }).r;
      const previous = await next.start();
      assert.equal(previous?.status, "stopped");
      assert.equal(previous?.heartbeatAt, stoppedAt);
      assert.equal(previous?.startedAt, T0);
      await next.stop();
      const [entry] = await store.readShards();
      assert.equal(entry?.startedAt, now, "this run's entry replaced it");
    });
  } finally {
    store.close();
  }
});

Deno.test("ShardRegistry.start(): a read that fails or hangs gives undefined; heartbeats start anyway", async (t) => {
  const kv = await openKvCandleStore(":memory:");
  const written: ShardDoc[] = [];
  const store = (readShards: () => Promise<ShardDoc[]>) => ({
    readShards,
    readCatalogue: () => kv.readCatalogue(),
    writeShard: (doc: ShardDoc) => {
      written.push(doc);
      return Promise.resolve();
    },
  });
  const make = (s: ReturnType<typeof store>) =>
    registry(s, 0, 1, () => T0, ["A-USD"], { previousReadMs: 50 }).r;
  try {
    await t.step("a failing read", async () => {
      const r = make(store(() => Promise.reject(new Error("store down"))));
      assert.equal(await r.start(), undefined);
      await r.stop();
      assert.deepEqual(written.map((d) => d.status), ["starting", "stopped"]);
    });
    await t.step("a read that never answers: undefined after previousReadMs", async () => {
      written.length = 0;
      const r = make(store(() => new Promise<ShardDoc[]>(() => {})));
      assert.equal(await r.start(), undefined);
      await r.stop();
      assert.deepEqual(written.map((d) => d.status), ["starting", "stopped"]);
    });
  } finally {
    kv.close();
  }
});

Deno.test("ShardRegistry: pending repairs are written when they gain risk, and in the stopped mark", async () => {
  const store = await openKvCandleStore(":memory:");
  let now = T0;
  let pending = new Map<string, number>();
  const r = new ShardRegistry({
    store,
    identity: {
      index: 0,
      count: 1,
      version: "test",
      startedAt: T0,
      selection: { products: ["A-USD"], quoteCurrencies: ["USD"] },
    },
    snapshot: () => snapshot(["A-USD", "B-USD"]),
    clock: () => now,
    intervalMs: 3_600_000,
    pendingIntervalMs: 0, // the interval is tests/service/registry_pending_test.ts's
    pendingRepairs: () => pending,
  });
  try {
    await r.start();
    await r.beat();
    assert.equal((await store.readShards())[0]!.pendingRepairs, undefined, "none: no field");
    const writes = () => store.readShards().then((s) => s[0]!.heartbeatAt);
    now += 1000;
    await r.checkPending();
    assert.equal(await writes(), T0, "unchanged: no write");
    pending = new Map([["B-USD", 1800], ["A-USD", 1200]]);
    now += 1000;
    await r.checkPending();
    const [entry] = await store.readShards();
    assert.deepEqual(entry!.pendingRepairs, { "A-USD": 1200, "B-USD": 1800 });
    assert.equal(entry!.heartbeatAt, T0 + 2000);
    pending = new Map([["A-USD", 1200]]);
    await r.stop();
    const [stopped] = await store.readShards();
    assert.equal(stopped!.status, "stopped");
    assert.deepEqual(stopped!.pendingRepairs, { "A-USD": 1200 });
  } finally {
    store.close();
  }
});

Deno.test("pendingRepairsEntry caps the products; untrustedFrom reads it back for the products served", () => {
  assert.equal(pendingRepairsEntry(new Map()), undefined);
  const many = new Map(
    Array.from({ length: PENDING_REPAIRS_CAP + 1 }, (_, i) => [`P${i}-USD`, 6000 - i * 60]),
  );
  const capped = pendingRepairsEntry(many)!;
  assert.deepEqual(capped, { "*": 6000 - PENDING_REPAIRS_CAP * 60 });
  assert.deepEqual(
    [...untrustedFrom(capped, ["X-USD"], 9000)],
    [["X-USD", 6000 - PENDING_REPAIRS_CAP * 60]],
    "`*` stands for every product",
  );
  assert.deepEqual(
    [...untrustedFrom({ "A-USD": 1230, "B-USD": 9000, "C-USD": 100 }, ["A-USD", "B-USD"], 9000)],
    [["A-USD", 1200]],
    "minutes, before the cutoff, of the products served",
  );
  assert.equal(untrustedFrom(undefined, ["A-USD"], 9000).size, 0);
});

Deno.test("pendingRepairsOf holds a repaired window until the writer is idle a check later", () => {
  let now = T0;
  let idle = false;
  const calls: (number | undefined)[] = [];
  const read = pendingRepairsOf({
    repairer: {
      pendingStarts: (since) => {
        calls.push(since);
        return new Map();
      },
    },
    writerIdle: () => idle,
    clock: () => now,
  });
  read(true);
  assert.equal(calls.at(-1), T0);
  now += 1000;
  read(true); // busy writer: still held since T0
  assert.equal(calls.at(-1), T0);
  idle = true;
  now += 1000;
  read(true); // idle: released what was repaired before the previous check
  assert.equal(calls.at(-1), T0 + 1000);
  now += 1000;
  read(); // a read without advance changes nothing
  read();
  assert.equal(calls.at(-1), T0 + 1000);
});
