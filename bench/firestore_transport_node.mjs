/**
 * `firestore_transport_process.ts`'s library transports under Node (the anchor): the same
 * documents (`firestore_docs.mjs`), the same untimed first round and output. Needs a
 * `node_modules` with `@google-cloud/firestore` (the part makes one in a temp dir with
 * `deno install`) and the `NODE_PATH` to it.
 *
 * Usage: `node firestore_transport_node.mjs <grpc|library-rest> <emulatorHost> <projectId>
 * <products> <rounds>`.
 */
import { createRequire } from "node:module";
import process from "node:process";
import { CHUNK, libraryRound, roundCommits } from "./firestore_docs.mjs";

const [mode, host, projectId, productsText = "200", roundsText = "5"] = process.argv.slice(2);
const products = Number(productsText);
const rounds = Number(roundsText);
const require = createRequire(`${process.env.FIRESTORE_NODE_MODULES}/`);
const { Firestore, FieldValue } = require("@google-cloud/firestore");
const db = new Firestore({ projectId, host, ssl: false, preferRest: mode === "library-rest" });
const CONCURRENCY = 4; // the store's WRITE_CONCURRENCY
const run = (round) => libraryRound(db, FieldValue, roundCommits(products, round), CONCURRENCY);
await run(0);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let r = 1; r <= rounds; r++) await run(r);
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const perRound = products * 9;
// deno-lint-ignore no-console
console.log(JSON.stringify({
  docs: perRound * rounds,
  commits: Math.ceil(perRound / CHUNK) * rounds,
  cpuUs: cpu.user + cpu.system,
  wallMs,
}));
process.exit(0);
