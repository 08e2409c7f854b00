/**
 * @module
 * A Spot Canvas client for tests: the real Firebase web SDK (npm `firebase`, as rs-charts and
 * sc-app use it) reading the Firestore emulator, run under Node because the SDK's gRPC `Listen`
 * stream does not deliver updates under Deno's `node:http2`.
 *
 * Usage: `node client.mjs HOST:PORT PROJECT_ID`. Commands come on stdin, one JSON object a line;
 * answers go to stdout, one JSON object a line:
 *
 * - `{"cmd":"products"}` → `{"kind":"products","docs":[{id, fields, lastUpdate}]}`: sc-app's
 *   `getDocs(collection(db, "exchanges/coinbase/products"))`
 * - `{"cmd":"listen","products":[…],"granularities":[…]}` → `{"kind":"listening"}`, then one
 *   `{"kind":"snapshot", exchange, product, granularity, exists, fields, types, lastUpdate}` per
 *   snapshot of `exchanges/coinbase/products/{product}/intervals/{granularity}` (rs-charts'
 *   `onSnapshot`)
 * - `{"cmd":"catalogue"}` → `{"kind":"catalogue","coinbase":{…},"lastUpdated":{id: iso}}`:
 *   rs-charts' read of `trading_pairs/exchanges` with `new Date(last_updated)`
 *
 * `products`, `listen` and `catalogue` take an optional `"exchange"` (default `coinbase`): the
 * same reads under `exchanges/{exchange}/…`, and the catalogue's `{exchange}` field; answers
 * then carry `exchange`, the catalogue's rows under that name as well as `rows`, and `byPath`:
 * each of `"ids"` read as the dotted field path `{exchange}.{id}` (`snapshot.get("kraken.BTC-USD")`).
 * - `{"cmd":"quit"}` → unsubscribes, terminates the SDK and exits 0
 *
 * `lastUpdate` is `{iso, ms}` from the SDK's `Timestamp.toDate()` (sc-app's call), or the error
 * text when that call is impossible. Errors are `{"kind":"error","message":…}` lines.
 */
import { initializeApp } from "firebase/app";
import {
  collection,
  connectFirestoreEmulator,
  doc,
  getDoc,
  getDocs,
  getFirestore,
  onSnapshot,
  terminate,
} from "firebase/firestore";
import { createInterface } from "node:readline";

const [hostPort, projectId] = process.argv.slice(2);
if (!hostPort || !projectId) {
  process.stderr.write("usage: node client.mjs HOST:PORT PROJECT_ID\n");
  process.exit(2);
}
const [host, port] = hostPort.split(":");
const app = initializeApp({ projectId, apiKey: "test-api-key" });
const db = getFirestore(app);
connectFirestoreEmulator(db, host, Number(port));

const send = (message) => process.stdout.write(JSON.stringify(message) + "\n");
const unsubscribes = [];

function lastUpdateOf(value) {
  try {
    const date = value.toDate();
    return { iso: date.toISOString(), ms: date.getTime() };
  } catch (error) {
    return { error: String(error) };
  }
}

function describe(data) {
  if (!data) return { fields: null, types: null, lastUpdate: null };
  const { lastUpdate, ...fields } = data;
  const types = Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, v?.constructor?.name ?? typeof v]),
  );
  return { fields, types, lastUpdate: lastUpdate === undefined ? null : lastUpdateOf(lastUpdate) };
}

async function handle(command) {
  const exchange = command.exchange ?? "coinbase";
  switch (command.cmd) {
    case "products": {
      const snapshot = await getDocs(collection(db, `exchanges/${exchange}/products`));
      send({
        kind: "products",
        exchange,
        docs: snapshot.docs.map((d) => ({ id: d.id, ...describe(d.data()) })),
      });
      return;
    }
    case "catalogue": {
      const snapshot = await getDoc(doc(db, "trading_pairs/exchanges"));
      const rows = snapshot.get(exchange) ?? {};
      const lastUpdated = Object.fromEntries(
        Object.entries(rows).map(([id, row]) => [id, new Date(row.last_updated).toISOString()]),
      );
      const byPath = Object.fromEntries(
        (command.ids ?? []).map((id) => [id, snapshot.get(`${exchange}.${id}`) ?? null]),
      );
      send({ kind: "catalogue", exchange, [exchange]: rows, rows, lastUpdated, byPath });
      return;
    }
    case "listen": {
      for (const product of command.products) {
        for (const granularity of command.granularities) {
          const path = `exchanges/${exchange}/products/${product}/intervals/${granularity}`;
          unsubscribes.push(onSnapshot(
            doc(db, path),
            (s) =>
              send({
                kind: "snapshot",
                exchange,
                product,
                granularity,
                exists: s.exists(),
                ...describe(s.data()),
              }),
            (error) => send({ kind: "error", message: `onSnapshot ${path}: ${error}` }),
          ));
        }
      }
      send({ kind: "listening" });
      return;
    }
    case "quit": {
      for (const unsubscribe of unsubscribes) unsubscribe();
      await terminate(db);
      send({ kind: "bye" });
      process.exit(0);
      return;
    }
    default:
      send({ kind: "error", message: `unknown command ${JSON.stringify(command)}` });
  }
}

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  if (!line.trim()) return;
  queue = queue.then(() => handle(JSON.parse(line))).catch((error) =>
    send({ kind: "error", message: String(error?.stack ?? error) })
  );
});
lines.on("close", () => queue.then(() => handle({ cmd: "quit" })));
send({ kind: "ready" });
