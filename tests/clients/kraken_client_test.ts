/**
 * What a Spot Canvas client sees of Kraken, read with its own library: the Firebase web SDK (the
 * Node child of firebase_client.ts) on the Firestore emulator while the real service, serving
 * Coinbase and Kraken from both simulators, writes to it — `onSnapshot` on Kraken's live
 * document `exchanges/kraken/products/BTC-USD/intervals/ONE_MINUTE` (beside Coinbase's
 * BTC-USD, which must stay a different document), `getDocs` of `exchanges/kraken/products`, and
 * the catalogue field `kraken.BTC-USD` of `trading_pairs/exchanges`.
 */
import { deepStrictEqual, equal, notDeepStrictEqual, ok } from "node:assert/strict";
import { acceleratedClock } from "../../lib/clock.ts";
import { FirestoreCandleStore } from "../../lib/store/firestore.ts";
import { createFirestoreClient } from "../../lib/store/firestore_client.ts";
import { startKrakenHarness, until } from "../helpers/kraken_harness.ts";
import { type ClientMessage, clientTest } from "./firebase_client.ts";

const START = Date.UTC(2026, 2, 14, 15, 7, 30);
const SPEED = 10;

interface Snapshot extends ClientMessage {
  exchange: string;
  product: string;
  granularity: string;
  exists: boolean;
  fields: Record<string, unknown> | null;
  types: Record<string, string> | null;
  lastUpdate: { iso: string; ms: number } | { error: string } | null;
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

clientTest(
  "Spot Canvas clients (Firebase web SDK) read Kraken's live documents and catalogue",
  async (t, emulator, client) => {
    const realFromMs = Date.now();
    const options = { emulatorHost: emulator.host, projectId: emulator.projectId };
    const store = new FirestoreCandleStore(options);
    const admin = createFirestoreClient(options);
    const clock = acceleratedClock(SPEED, START);
    // Listen before anything is written, as a chart open on a fresh deployment would.
    for (const exchange of ["kraken", "coinbase"]) {
      const from = client.messages.length;
      await client.send({
        cmd: "listen",
        exchange,
        products: ["BTC-USD"],
        granularities: ["ONE_MINUTE"],
      });
      await client.next((m) => m.kind === "listening", 30_000, `${exchange} listener`, from);
    }
    const h = await startKrakenHarness({
      clock,
      store,
      coinbaseProducts: 1,
      krakenProducts: 2,
      historyMs: 3 * 3600_000,
      catalogueRefreshMs: 2000,
    });
    let stopped: Promise<void> | undefined;
    const stop = () => stopped ??= h.close();
    const snapshots = (exchange: string) =>
      client.messages.filter((m): m is Snapshot =>
        m.kind === "snapshot" && m.exists === true && m.exchange === exchange
      );
    try {
      deepStrictEqual(h.krakenIds, ["kraken:BTC-USD", "kraken:ETH-USD"]);
      await until(() => h.service.products().length === 3, 30_000, "products resolved");

      await t.step(
        "onSnapshot on exchanges/kraken/products/BTC-USD/intervals/ONE_MINUTE gets live updates",
        async () => {
          await until(
            () => new Set(snapshots("kraken").map((s) => JSON.stringify(s.fields))).size >= 3,
            60_000,
            "three distinct Kraken BTC-USD snapshots",
          );
          for (const s of snapshots("kraken")) {
            const f = s.fields!;
            deepStrictEqual(Object.keys(f).sort(), [
              "close",
              "high",
              "low",
              "open",
              "timestamp",
              "volume",
            ]);
            const ts = f.timestamp as number;
            ok(Number.isInteger(ts) && ts % 60 === 0, `timestamp ${ts} is a minute start`);
            for (const k of ["open", "high", "low", "close", "volume"]) {
              equal(s.types![k], "Number", `${k} is a number`);
            }
            ok((f.low as number) <= (f.high as number), "low ≤ high");
            // Kraken's BTC/USD in the simulator trades around 83,000.
            ok((f.close as number) > 40_000 && (f.close as number) < 170_000, `close ${f.close}`);
            equal(s.types!.lastUpdate, "Timestamp");
            const lu = s.lastUpdate as { ms?: number; error?: string };
            ok(lu.ms !== undefined, `lastUpdate.toDate() works (${lu.error})`);
            ok(lu.ms! >= realFromMs - 5000 && lu.ms! <= Date.now() + 5000, "server time");
          }
        },
      );

      await t.step("Coinbase's BTC-USD is another document, updated on its own", async () => {
        await until(() => snapshots("coinbase").length >= 1, 30_000, "a Coinbase snapshot");
        const minute = (s: Snapshot) => s.fields!.timestamp;
        const k = snapshots("kraken").at(-1)!;
        const c = snapshots("coinbase").findLast((s) => minute(s) === minute(k));
        if (c) notDeepStrictEqual(c.fields, k.fields, "the two exchanges' candles differ");
      });

      await t.step("getDocs on exchanges/kraken/products lists Kraken's products", async () => {
        let docs: { id: string; fields: Record<string, unknown> }[] = [];
        await until(
          async () => {
            const from = client.messages.length;
            await client.send({ cmd: "products", exchange: "kraken" });
            const answer = await client.next((m) => m.kind === "products", 30_000, "list", from);
            docs = answer.docs as typeof docs;
            return docs.length === 2;
          },
          30_000,
          "Kraken's product documents",
        );
        deepStrictEqual(docs.map((d) => d.id).sort(), ["BTC-USD", "ETH-USD"]);
        for (const d of docs) {
          const [base, quote] = d.id.split("-");
          deepStrictEqual(d.fields, {
            product_id: d.id,
            base_currency: base,
            quote_currency: quote,
            status: "online",
          });
        }
      });

      await t.step(
        "trading_pairs/exchanges has kraken.BTC-USD beside coinbase.BTC-USD",
        async () => {
          let answer: ClientMessage | undefined;
          await until(
            async () => {
              const from = client.messages.length;
              await client.send({
                cmd: "catalogue",
                exchange: "kraken",
                ids: ["BTC-USD", "ETH-USD"],
              });
              answer = await client.next((m) => m.kind === "catalogue", 30_000, "catalogue", from);
              const byPath = answer.byPath as Record<string, unknown>;
              return byPath["BTC-USD"] !== null && byPath["ETH-USD"] !== null;
            },
            30_000,
            "the catalogue's kraken rows",
          );
          const byPath = answer!.byPath as Record<string, Record<string, unknown>>;
          const rows = answer!.rows as Record<string, Record<string, unknown>>;
          deepStrictEqual(Object.keys(rows).sort(), ["BTC-USD", "ETH-USD"]);
          for (const id of ["BTC-USD", "ETH-USD"]) {
            const row = byPath[id]!;
            deepStrictEqual(row, rows[id], `${id}: the dotted path reads the same row`);
            equal(row.status, "online", id);
            equal(row.quote_currency, "USD");
            equal(row.base_currency, id.split("-")[0]);
            const ms = Date.parse((answer!.lastUpdated as Record<string, string>)[id]!);
            ok(ms >= START && ms <= clock(), `${id}: new Date(last_updated) in the service's time`);
          }
          const from = client.messages.length;
          await client.send({ cmd: "catalogue", ids: ["BTC-USD"] });
          const coinbase = await client.next((m) => m.kind === "catalogue", 30_000, "cb", from);
          equal(
            (coinbase.byPath as Record<string, { status: string }>)["BTC-USD"]?.status,
            "online",
          );
          deepStrictEqual(Object.keys(coinbase.coinbase as object), ["BTC-USD"]);
        },
      );

      await t.step(
        "after the service stops, the listener's last Kraken snapshot is the stored document",
        async () => {
          await stop();
          const stored = (await admin.doc("exchanges/kraken/products/BTC-USD/intervals/ONE_MINUTE")
            .get()).data()!;
          const { lastUpdate, ...fields } = stored;
          await until(
            () => {
              const last = snapshots("kraken").at(-1);
              return JSON.stringify(last?.fields && sortKeys(last.fields)) ===
                  JSON.stringify(sortKeys(fields)) &&
                (last!.lastUpdate as { ms: number }).ms === lastUpdate.toMillis();
            },
            15_000,
            "the client's last Kraken snapshot to equal the stored document",
          );
        },
      );
    } finally {
      await stop();
      await admin.terminate();
    }
  },
);
