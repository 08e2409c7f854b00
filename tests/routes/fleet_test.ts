import assert from "node:assert/strict";
import { Hono } from "hono";
import { ShardRegistry } from "../../lib/service/registry.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { installAuth } from "../../routes/auth.ts";
import { fleetRoutes, type FleetSource } from "../../routes/dashboard/fleet.tsx";
import { productsForShard } from "../../lib/history/shard.ts";

const PASSWORD = "fleet password";
const IDS = ["BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD", "DOGE-USD", "XRP-USD"];
const NOW = Date.UTC(2026, 10, 29, 21, 0, 0);

function app(source: FleetSource, password?: string): Hono {
  const a = new Hono();
  installAuth(a, { password });
  a.route("/", fleetRoutes(source, { logout: !!password }));
  return a;
}

/** Three registries on one store: 0-of-3 running, 1-of-3 stopped, 2-of-4 (the wrong count). */
async function fleet() {
  const store = await openKvCandleStore(":memory:");
  const shard = (index: number, count: number) =>
    new ShardRegistry({
      store,
      identity: {
        index,
        count,
        version: "v1",
        startedAt: NOW - 60_000,
        selection: { products: IDS, quoteCurrencies: ["USD"] },
      },
      snapshot: () => ({
        status: "healthy",
        products: productsForShard(IDS, count, index),
        connections: { connected: 1, total: 1, reconnects: 0 },
        gaps: { sequenceGaps: 0, maxGapS: 0.3 },
      }),
      clock: () => NOW,
      reportMaxAgeMs: 0,
    });
  const shards = [shard(0, 3), shard(1, 3), shard(2, 4)];
  for (const s of shards) await s.beat();
  await shards[1]!.stop();
  return { store, self: shards[0]! };
}

Deno.test("/api/fleet and /fleet", async (t) => {
  const { store, self } = await fleet();
  const source: FleetSource = { fleet: () => self.fleet(), shard: { index: 0, count: 3 } };
  try {
    await t.step("/api/fleet has DESIGN.md's shape and names both problems", async () => {
      const res = await app(source).request("/api/fleet");
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.deepEqual(
        body.shards.map((s: Record<string, unknown>) => [s.index, s.count, s.status]),
        [[0, 3, "healthy"], [1, 3, "stopped"], [2, 4, "healthy"]],
      );
      for (const s of body.shards) {
        assert.equal(typeof s.heartbeatAgeS, "number");
        assert.ok(Array.isArray(s.products));
      }
      const kinds = body.problems.map((p: { kind: string }) => p.kind);
      assert.ok(kinds.includes("uncovered"), kinds.join());
      assert.ok(kinds.includes("count_mismatch"), kinds.join());
      const uncovered = body.problems.find((p: { kind: string }) => p.kind === "uncovered");
      const served = new Set([...productsForShard(IDS, 3, 0), ...productsForShard(IDS, 4, 2)]);
      assert.deepEqual(uncovered.products, IDS.filter((p) => !served.has(p)).sort());
      assert.match(uncovered.message, /1-of-3 is stopped/);
    });

    await t.step("/fleet renders every shard and every problem's sentence", async () => {
      const res = await app(source).request("/fleet");
      assert.equal(res.status, 200);
      const html = await res.text();
      for (const id of ["0-of-3", "1-of-3", "2-of-4"]) {
        assert.match(html, new RegExp(`data-shard="${id}"`));
      }
      const report = await self.fleet();
      for (const p of report.problems) {
        assert.ok(html.includes(p.message.replaceAll("&", "&amp;")), `page lacks "${p.message}"`);
      }
      assert.match(html, /<a href="\/fleet">Fleet<\/a>/);
      assert.match(html, /data-island="fleet-view"/);
    });

    await t.step("with a password both need a login, like /api/status", async () => {
      const locked = app(source, PASSWORD);
      assert.equal((await locked.request("/api/fleet")).status, 401);
      const page = await locked.request("/fleet");
      assert.equal(page.status, 303);
      assert.match(page.headers.get("location") ?? "", /^\/login\?next=%2Ffleet/);
      const tokenRes = await locked.request("/api/token", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ password: PASSWORD }),
      });
      const { token } = await tokenRes.json();
      const ok = await locked.request("/api/fleet", {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(ok.status, 200);
    });

    await t.step("a registry that cannot be read is a 503 naming it", async () => {
      const broken = app({
        fleet: () => Promise.reject(new Error("store down")),
        shard: { index: 0, count: 1 },
      });
      const res = await broken.request("/api/fleet");
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { error: "Cannot read the shard registry: store down" });
      const page = await broken.request("/fleet");
      assert.equal(page.status, 503);
      assert.match(await page.text(), /Cannot read the shard registry: store down/);
    });
  } finally {
    await store.close();
  }
});
