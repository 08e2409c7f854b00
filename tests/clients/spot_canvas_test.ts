/**
 * What the Spot Canvas clients see, read with their own library: the Firebase web SDK (in a Node
 * child, see firebase_client.ts) reads the Firestore emulator while the real service, fed by
 * the simulator, writes to it — rs-charts' `onSnapshot` on each of the eight live documents,
 * sc-app's `getDocs` of the product collection and `.toDate()` on `lastUpdate`, rs-charts'
 * `new Date(last_updated)` on the catalogue.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import {
  GRANULARITIES,
  granularityById,
  type GranularityId,
} from "../../lib/candles/granularity.ts";
import { acceleratedClock } from "../../lib/clock.ts";
import { FirestoreCandleStore } from "../../lib/store/firestore.ts";
import { createFirestoreClient } from "../../lib/store/firestore_client.ts";
import { startHarness, until } from "../helpers/service.ts";
import { type ClientMessage, clientTest } from "./firebase_client.ts";

const START = Date.UTC(2026, 2, 14, 15, 7, 30);
const SPEED = 10;
const IDS = GRANULARITIES.map((g) => g.id);

interface Snapshot extends ClientMessage {
  product: string;
  granularity: GranularityId;
  exists: boolean;
  fields: Record<string, unknown> | null;
  types: Record<string, string> | null;
  lastUpdate: { iso: string; ms: number } | { error: string } | null;
}

/** Checks one snapshot's fields as the clients read them; returns its OHLCV key. */
function checkSnapshot(s: Snapshot, realFromMs: number): string {
  const where = `${s.product} ${s.granularity}`;
  const f = s.fields!;
  deepStrictEqual(Object.keys(f).sort(), ["close", "high", "low", "open", "timestamp", "volume"]);
  const ts = f.timestamp as number;
  ok(Number.isInteger(ts), `${where}: timestamp ${ts} is an integer`);
  equal(
    ts % granularityById(s.granularity).seconds,
    0,
    `${where}: timestamp is the interval start`,
  );
  ok(ts > 1.7e9 && ts < 1.9e9, `${where}: timestamp ${ts} is in epoch seconds`);
  for (const k of ["open", "high", "low", "close", "volume"]) {
    equal(s.types![k], "Number", `${where}: ${k} is a number`);
  }
  const [open, high, low, close, volume] = ["open", "high", "low", "close", "volume"].map((k) =>
    f[k] as number
  ) as [number, number, number, number, number];
  ok(low <= Math.min(open, close) && high >= Math.max(open, close), `${where}: OHLC consistent`);
  ok(volume >= 0, `${where}: volume ${volume} ≥ 0`);
  equal(s.types!.lastUpdate, "Timestamp", `${where}: lastUpdate is a Firestore Timestamp`);
  const lu = s.lastUpdate as { ms?: number; error?: string };
  ok(lu.ms !== undefined, `${where}: lastUpdate.toDate() works (${lu.error})`);
  ok(
    lu.ms! >= realFromMs - 5000 && lu.ms! <= Date.now() + 5000,
    `${where}: lastUpdate ${new Date(lu.ms!).toISOString()} is the server's time of the write`,
  );
  return JSON.stringify([ts, open, high, low, close, volume]);
}

clientTest(
  "Spot Canvas clients (Firebase web SDK) read what the service writes",
  async (t, emulator, client) => {
    const realFromMs = Date.now();
    const options = { emulatorHost: emulator.host, projectId: emulator.projectId };
    const store = new FirestoreCandleStore(options);
    const admin = createFirestoreClient(options);
    const clock = acceleratedClock(SPEED, START);
    const ids = ["BTC-USD", "ETH-USD", "ADA-USD"];
    // Listen before anything is written, as a chart open on a fresh deployment would.
    await client.send({ cmd: "listen", products: ids, granularities: IDS });
    await client.next((m) => m.kind === "listening", 30_000, "listeners");

    // Refreshes (and retries a failed one, e.g. a cold emulator's slow first commit) every 2 s.
    const h = await startHarness({ clock, store, products: 3, catalogueRefreshMs: 2000 });
    let stopped: Promise<void> | undefined;
    const stop = () => stopped ??= h.close();
    const served = () => h.service.products().map((p) => p.productId).sort();
    try {
      deepStrictEqual(h.ids, ids);
      await until(() => served().length === ids.length, 30_000, "products resolved");

      const snapshots = () =>
        client.messages.filter((m): m is Snapshot => m.kind === "snapshot" && m.exists === true);
      const distinct = (product: string, g: GranularityId) =>
        new Set(
          snapshots().filter((s) => s.product === product && s.granularity === g).map((s) =>
            JSON.stringify(s.fields)
          ),
        ).size;

      await t.step(
        "onSnapshot at each of the eight singular ids receives live updates",
        async () => {
          await until(
            () => IDS.every((g) => distinct("BTC-USD", g) >= 3),
            90_000,
            "three distinct BTC-USD snapshots at every granularity",
          );
          for (const g of IDS) ok(distinct("BTC-USD", g) >= 3, g);
          await until(
            () => ids.every((p) => distinct(p, "ONE_MINUTE") >= 1),
            30_000,
            "a ONE_MINUTE snapshot of every product",
          );
        },
      );

      await t.step(
        "every snapshot has integer interval-start timestamp, OHLCV numbers, lastUpdate.toDate()",
        () => {
          const all = snapshots();
          ok(all.length >= 24, `${all.length} snapshots`);
          for (const s of all) checkSnapshot(s, realFromMs);
        },
      );

      await t.step(
        "getDocs on exchanges/coinbase/products lists every served product",
        async () => {
          // The service's catalogue refresh writes them at start, beside seeding.
          let docs: (Snapshot & { id: string })[] = [];
          await until(
            async () => {
              const from = client.messages.length;
              await client.send({ cmd: "products" });
              const answer = await client.next((m) => m.kind === "products", 30_000, "list", from);
              docs = answer.docs as (Snapshot & { id: string })[];
              return docs.length === ids.length;
            },
            60_000,
            "every served product's document",
          );
          deepStrictEqual(docs.map((d) => d.id).sort(), served());
          for (const d of docs) {
            const [base, quote] = d.id.split("-");
            deepStrictEqual(d.fields, {
              product_id: d.id,
              base_currency: base,
              quote_currency: quote,
              status: "online",
            });
            equal(d.types!.lastUpdate, "Timestamp");
            ok("ms" in d.lastUpdate!, `${d.id}: lastUpdate.toDate() works`);
          }
        },
      );

      await t.step(
        "trading_pairs/exchanges: new Date(last_updated) is the refresh's (service clock) time",
        async () => {
          const from = client.messages.length;
          await client.send({ cmd: "catalogue" });
          const answer = await client.next(
            (m) => m.kind === "catalogue",
            30_000,
            "catalogue",
            from,
          );
          const rows = answer.coinbase as Record<string, { status: string; last_updated: number }>;
          const dates = answer.lastUpdated as Record<string, string>;
          for (const id of ids) {
            equal(rows[id]?.status, "online", id);
            const ms = Date.parse(dates[id]!);
            ok(
              ms >= START && ms <= clock(),
              `${id}: last_updated ${dates[id]} in the service's time`,
            );
            equal(ms, rows[id]!.last_updated);
          }
        },
      );

      await t.step(
        "after the service stops, each listener's last snapshot is the stored document",
        async () => {
          await stop();
          for (const g of IDS) {
            const stored =
              (await admin.doc(`exchanges/coinbase/products/BTC-USD/intervals/${g}`).get())
                .data()!;
            const { lastUpdate, ...fields } = stored;
            await until(
              () => {
                const last = snapshots().filter((s) =>
                  s.product === "BTC-USD" && s.granularity === g
                )
                  .at(-1);
                return JSON.stringify(last?.fields && sortKeys(last.fields)) ===
                    JSON.stringify(sortKeys(fields)) &&
                  (last!.lastUpdate as { ms: number }).ms === lastUpdate.toMillis();
              },
              15_000,
              `the client's last BTC-USD ${g} snapshot to equal the stored document`,
            );
          }
        },
      );
    } finally {
      await stop();
      await admin.terminate();
    }
  },
);

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
