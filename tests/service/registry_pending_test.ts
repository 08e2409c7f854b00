/**
 * How often the pending repairs make {@linkcode ShardRegistry} write its entry (issue 25 part 4):
 * the registry is one Firestore document for the whole fleet, so a Kraken feed whose gaps change
 * the pending record every second must not write it every second. Time is injected: the service
 * clock (`clock`) and the real one the interval is measured on (`realClock`).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { ConnectionStatus } from "../../lib/exchange/feed_types.ts";
import {
  pendingCovers,
  pendingIntervalFor,
  pendingRepairsOf,
  ShardRegistry,
  type ShardSnapshot,
  untrustedFrom,
} from "../../lib/service/registry.ts";
import type { ShardDoc } from "../../lib/store/store.ts";

const T0 = Date.UTC(2026, 10, 29, 21, 0, 0);
const INTERVAL = 5000;
const TICK = 1000;

const snapshot: ShardSnapshot = {
  status: "healthy",
  products: ["A-USD"],
  connections: { connected: 1, total: 1, reconnects: 0 },
  gaps: { sequenceGaps: 0, maxGapS: 0 },
};

/** A registry whose writes are recorded with the real time they were handed to the store. */
function harness(fleet: { count?: number; pendingIntervalMs?: number | null } = {}) {
  let real = 0;
  let pending = new Map<string, number>();
  const writes: { atMs: number; doc: ShardDoc }[] = [];
  const r = new ShardRegistry({
    store: {
      writeShard: (doc) => {
        writes.push({ atMs: real, doc: structuredClone(doc) });
        return Promise.resolve();
      },
      readShards: () => Promise.resolve([]),
      readCatalogue: () => Promise.resolve([]),
    },
    identity: {
      index: 0,
      count: fleet.count ?? 1,
      version: "test",
      startedAt: T0,
      selection: { products: ["A-USD"], quoteCurrencies: ["USD"] },
    },
    snapshot: () => snapshot,
    clock: () => T0 + real,
    realClock: () => real,
    intervalMs: 3_600_000, // no heartbeat of its own during the test: beat() is called by hand
    pendingIntervalMs: fleet.pendingIntervalMs === null
      ? undefined
      : fleet.pendingIntervalMs ?? INTERVAL,
    reportMaxAgeMs: 3_600_000,
    pendingRepairs: () => pending,
  });
  return {
    r,
    writes,
    /** Starts the registry and waits for its first beat. */
    start: async () => {
      await r.start();
      await r.checkPending(); // a write in flight: waits for it
    },
    set: (p: Map<string, number>) => pending = p,
    /** Advances the real clock by one tick and runs the service's per-tick check. */
    tick: async () => {
      real += TICK;
      await r.checkPending();
    },
    get real() {
      return real;
    },
  };
}

Deno.test("pendingCovers: what was written covers every product at the same start or a later one", () => {
  const now = new Map([["A", 600], ["B", 1200]]);
  assert.ok(pendingCovers({ A: 600, B: 1200 }, now));
  assert.ok(pendingCovers({ A: 0, B: 1200, C: 60 }, now), "earlier starts and more products");
  assert.ok(!pendingCovers({ A: 600 }, now), "B is new");
  assert.ok(!pendingCovers({ A: 660, B: 1200 }, now), "A starts earlier now");
  assert.ok(pendingCovers({ "*": 600 }, now), "`*` covers every product from its start");
  assert.ok(!pendingCovers({ "*": 660 }, now));
  assert.ok(pendingCovers({}, new Map()));
  const many = new Map(Array.from({ length: 1001 }, (_, i) => [`P${i}`, 600 + i * 60]));
  assert.ok(!pendingCovers({ P0: 0 }, many), "past the cap it is `*`: every product");
  assert.ok(pendingCovers({ "*": 600 }, many));
});

Deno.test("ShardRegistry: a change on every tick writes at most once per pendingIntervalMs", async (t) => {
  const h = harness();
  await h.start();
  try {
    await t.step("a new product every tick: one write per interval, none left longer", async () => {
      h.writes.length = 0;
      const addedAt = new Map<string, number>();
      const pending = new Map<string, number>();
      for (let i = 0; i < 30; i++) {
        await h.tick();
        pending.set(`P${i}`, 60 * i);
        addedAt.set(`P${i}`, h.real);
        h.set(new Map(pending));
        await h.r.checkPending();
      }
      for (let i = 0; i < 5; i++) await h.tick();
      const times = h.writes.map((w) => w.atMs);
      for (let k = 1; k < times.length; k++) {
        assert.ok(times[k]! - times[k - 1]! >= INTERVAL, `writes at ${times}`);
      }
      assert.ok(h.writes.length >= 6 && h.writes.length <= 8, `${h.writes.length} writes`);
      for (const [product, at] of addedAt) {
        const first = h.writes.find((w) => w.doc.pendingRepairs?.[product] !== undefined);
        assert.ok(first, `${product} written`);
        assert.ok(first.atMs - at <= INTERVAL, `${product} added at ${at}, written ${first.atMs}`);
      }
    });

    await t.step("after a quiet interval an addition is written at once", async () => {
      for (let i = 0; i < 6; i++) await h.tick();
      const before = h.writes.length;
      h.set(new Map([["P0", 0], ["NEW", 120]]));
      await h.r.checkPending();
      assert.equal(h.writes.length, before + 1);
      assert.deepEqual(h.writes.at(-1)!.doc.pendingRepairs, { NEW: 120, P0: 0 });
      assert.equal(h.writes.at(-1)!.atMs, h.real);
    });

    await t.step("an earlier start is an addition; a later one only a removal", async () => {
      for (let i = 0; i < 6; i++) await h.tick();
      let before = h.writes.length;
      h.set(new Map([["P0", 0], ["NEW", 600]]));
      await h.tick();
      assert.equal(h.writes.length, before, "NEW's window moved on: 120 still covers it");
      h.set(new Map([["P0", 0], ["NEW", 60]]));
      await h.tick();
      assert.equal(h.writes.length, before + 1, "NEW starts earlier: written");
      assert.deepEqual(h.writes.at(-1)!.doc.pendingRepairs, { NEW: 60, P0: 0 });
      before = h.writes.length;
      h.set(new Map([["P0", 0]]));
      for (let i = 0; i < 20; i++) await h.tick();
      assert.equal(h.writes.length, before, "repairs done: no write of their own");
    });

    await t.step("removals ride on the next heartbeat", async () => {
      const before = h.writes.length;
      await h.r.beat();
      assert.equal(h.writes.length, before + 1);
      assert.deepEqual(h.writes.at(-1)!.doc.pendingRepairs, { P0: 0 });
      h.set(new Map());
      for (let i = 0; i < 10; i++) await h.tick();
      assert.equal(h.writes.length, before + 1);
      await h.r.beat();
      assert.equal(h.writes.at(-1)!.doc.pendingRepairs, undefined, "none: no field");
    });

    await t.step("a heartbeat and the stopped mark are written at once, exact", async () => {
      h.set(new Map([["Q", 300]]));
      await h.r.checkPending(); // an addition right after the beat: waits for the interval
      const before = h.writes.length;
      await h.r.beat();
      assert.equal(h.writes.length, before + 1, "the beat is not held back by the interval");
      assert.deepEqual(h.writes.at(-1)!.doc.pendingRepairs, { Q: 300 });
      h.set(new Map([["Q", 300], ["R", 360]]));
      await h.r.stop();
      assert.equal(h.writes.at(-1)!.doc.status, "stopped");
      assert.equal(h.writes.at(-1)!.atMs, h.real);
      assert.deepEqual(h.writes.at(-1)!.doc.pendingRepairs, { Q: 300, R: 360 });
    });
  } finally {
    await h.r.stop();
  }
});

Deno.test("ShardRegistry: any pending stream: writes an interval apart, each risk stored within one", async () => {
  // Per tick, which of 4 products are pending and from which of 4 minutes.
  const tickState = fc.dictionary(
    fc.constantFrom("A", "B", "C", "D"),
    fc.integer({ min: 0, max: 3 }).map((m) => m * 60),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(tickState, { minLength: 1, maxLength: 40 }), async (states) => {
      const h = harness();
      await h.start();
      try {
        const history: Map<string, number>[] = [];
        for (const s of states) {
          await h.tick();
          const now = new Map(Object.entries(s));
          h.set(now);
          await h.r.checkPending();
          history.push(now);
          const times = h.writes.map((w) => w.atMs);
          for (let k = 1; k < times.length; k++) {
            assert.ok(times[k]! - times[k - 1]! >= INTERVAL, `writes at ${times}`);
          }
          // What stayed pending (from a start at least this early) over the whole last
          // interval is in the stored record.
          const ticks = INTERVAL / TICK;
          if (history.length <= ticks) continue;
          const span = history.slice(-ticks - 1);
          const steady = new Map<string, number>();
          for (const [p] of now) {
            const starts = span.map((m) => m.get(p));
            if (starts.every((x) => x !== undefined)) steady.set(p, Math.max(...starts));
          }
          const stored = h.writes.at(-1)?.doc.pendingRepairs ?? {};
          assert.ok(
            pendingCovers(stored, steady),
            `stored ${JSON.stringify(stored)} must cover ${JSON.stringify([...steady])}`,
          );
        }
      } finally {
        await h.r.stop();
      }
    }),
    { numRuns: 200 },
  );
});

Deno.test("ShardRegistry: an addition whose write failed is written again once the interval allows", async () => {
  let real = 0;
  let fail = false;
  const stored: (Record<string, number> | undefined)[] = [];
  let pending = new Map<string, number>();
  const r = new ShardRegistry({
    store: {
      writeShard: (doc) => {
        if (fail) return Promise.reject(new Error("unavailable"));
        stored.push(doc.pendingRepairs);
        return Promise.resolve();
      },
      readShards: () => Promise.resolve([]),
      readCatalogue: () => Promise.resolve([]),
    },
    identity: {
      index: 0,
      count: 1,
      version: "test",
      startedAt: T0,
      selection: { products: ["A-USD"], quoteCurrencies: ["USD"] },
    },
    snapshot: () => snapshot,
    clock: () => T0 + real,
    realClock: () => real,
    intervalMs: 3_600_000,
    pendingIntervalMs: INTERVAL,
    pendingRepairs: () => pending,
  });
  await r.start();
  await r.checkPending();
  try {
    real += INTERVAL;
    pending = new Map([["A", 60]]);
    fail = true;
    await r.checkPending();
    assert.deepEqual(stored, [undefined], "the first beat only");
    fail = false;
    real += TICK;
    await r.checkPending();
    assert.equal(stored.length, 1, "not before the interval");
    real += INTERVAL;
    await r.checkPending();
    assert.deepEqual(stored.at(-1), { A: 60 });
  } finally {
    await r.stop();
  }
});

Deno.test("pendingRepairsOf: every product of a connection not receiving, from its outage's minute", () => {
  const conn = (
    id: string,
    products: string[],
    missingFromMs?: number,
    unknownProducts: string[] = [],
  ): ConnectionStatus => ({
    id,
    products,
    state: missingFromMs === undefined ? "subscribed" : "reconnecting",
    connectedSince: null,
    reconnects: 0,
    lastMessageAgeS: null,
    maxGapS: 0,
    sequenceGaps: 0,
    tradesPerS: 0,
    unknownProducts,
    ...(missingFromMs === undefined ? {} : { missingFromMs }),
  });
  let connections: ConnectionStatus[] = [];
  const read = pendingRepairsOf({
    repairer: { pendingStarts: () => new Map([["A", 600], ["C", 1200]]) },
    writerIdle: () => true,
    clock: () => T0,
    connections: () => connections,
  });
  assert.deepEqual([...read(true)], [["A", 600], ["C", 1200]], "all receiving: the repairs");
  connections = [
    conn("ws-0", ["A", "B"], 659_999), // 10:59.999: the minute 600 s
    conn("ws-1", ["C", "D", "X"], 1_140_000, ["X"]),
    conn("kraken-ws-0", ["kraken:A"], 61_000),
    conn("ws-2", ["E"]),
  ];
  assert.deepEqual(
    Object.fromEntries(read(true)),
    { A: 600, B: 600, C: 1140, D: 1140, "kraken:A": 60 },
    "the earlier of the repair and the outage; unknown products and live connections left out",
  );
});

/** Who the shard of `doc` is. */
function identityOf({ index, count, version, startedAt, selection }: ShardDoc) {
  return { index, count, version, startedAt, selection };
}

Deno.test("ShardRegistry carries the previous run's pendingRepairs until previousRepairsDone()", async (t) => {
  const written: ShardDoc[] = [];
  let pending = new Map([["B", 900], ["C", 60]]);
  const previous: ShardDoc = {
    index: 0,
    count: 1,
    version: "test",
    startedAt: T0 - 86_400_000,
    selection: { products: ["A-USD"], quoteCurrencies: ["USD"] },
    ...snapshot,
    heartbeatAt: T0 - 86_000_000,
    pendingRepairs: { A: 600, B: 1200, BAD: Number.NaN },
  };
  const r = new ShardRegistry({
    store: {
      writeShard: (doc) => {
        written.push(structuredClone(doc));
        return Promise.resolve();
      },
      readShards: () => Promise.resolve([previous]),
      readCatalogue: () => Promise.resolve([]),
    },
    identity: { ...identityOf(previous), startedAt: T0 },
    snapshot: () => snapshot,
    clock: () => T0,
    realClock: () => 0,
    intervalMs: 3_600_000,
    pendingRepairs: () => pending,
  });
  try {
    await t.step(
      "the first beat writes them, merged with this run's own (earliest wins)",
      async () => {
        assert.deepEqual((await r.start())?.pendingRepairs, previous.pendingRepairs);
        await r.checkPending();
        assert.deepEqual(written[0]!.pendingRepairs, { A: 600, B: 900, C: 60 });
      },
    );
    await t.step("while this run re-fetches them, every beat keeps them", async () => {
      pending = new Map();
      await r.beat();
      assert.deepEqual(written.at(-1)!.pendingRepairs, { A: 600, B: 1200 });
    });
    await t.step("once done, the next beat leaves them out", async () => {
      r.previousRepairsDone();
      await r.checkPending();
      assert.equal(written.length, 2, "a removal: no write of its own");
      await r.beat();
      assert.equal(written.at(-1)!.pendingRepairs, undefined);
    });
  } finally {
    await r.stop();
  }
});

Deno.test("ShardRegistry: a stop before the previous run's repairs are fetched again keeps them, `*` too", async () => {
  const written: ShardDoc[] = [];
  const previous: ShardDoc = {
    index: 0,
    count: 1,
    version: "test",
    startedAt: T0 - 60_000,
    selection: { products: ["A-USD"], quoteCurrencies: ["USD"] },
    ...snapshot,
    heartbeatAt: T0 - 30_000,
    pendingRepairs: { "*": 300 },
  };
  const r = new ShardRegistry({
    store: {
      writeShard: (doc) => {
        written.push(structuredClone(doc));
        return Promise.resolve();
      },
      readShards: () => Promise.resolve([previous]),
      readCatalogue: () => Promise.resolve([]),
    },
    identity: { ...identityOf(previous), startedAt: T0 },
    snapshot: () => snapshot,
    clock: () => T0,
    intervalMs: 3_600_000,
    pendingRepairs: () => new Map([["A", 600]]),
  });
  await r.start();
  await r.stop();
  const stopped = written.at(-1)!;
  assert.equal(stopped.status, "stopped");
  assert.deepEqual(stopped.pendingRepairs, { "*": 300, A: 600 });
  assert.deepEqual(
    [...untrustedFrom(stopped.pendingRepairs, ["A", "B"], 9000)],
    [["A", 300], ["B", 300]],
    "a product under `*` and its own key: the earlier",
  );
  assert.ok(pendingCovers({ "*": 300, A: 600 }, new Map([["A", 400], ["B", 300]])));
  assert.ok(!pendingCovers({ "*": 300, A: 600 }, new Map([["A", 240]])));
});

Deno.test("pendingIntervalFor: 5 s for one or two shards, 4 s per shard beyond (the fleet shares one document)", () => {
  assert.equal(pendingIntervalFor(1), 5000);
  assert.equal(pendingIntervalFor(2), 8000);
  assert.equal(pendingIntervalFor(3), 12_000);
  assert.equal(pendingIntervalFor(10), 40_000);
  assert.equal(pendingIntervalFor(0), 5000);
  // The fleet's pending writes stay within a quarter of the document's ~1 write/s.
  for (let count = 1; count <= 30; count++) {
    assert.ok(count * 1000 / pendingIntervalFor(count) <= 0.25, `count ${count}`);
  }
});

Deno.test("ShardRegistry: in a fleet of 3 the pending writes default to one per 12 s", async () => {
  const h = harness({ count: 3, pendingIntervalMs: null });
  await h.start();
  const first = h.writes.length;
  for (let i = 0; i < 60; i++) {
    h.set(new Map([[`P${i}-USD`, 600]])); // a new product pending on every tick
    await h.tick();
  }
  const atMs = h.writes.slice(first).map((w) => w.atMs);
  assert.ok(atMs.length >= 4 && atMs.length <= 5, JSON.stringify(atMs));
  for (let i = 1; i < atMs.length; i++) assert.ok(atMs[i]! - atMs[i - 1]! >= 12_000);
});
