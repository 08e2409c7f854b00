/**
 * @module
 * One transport of the Firestore write comparison (`firestore_transport_part.ts`), in a process
 * of its own so that its CPU is its own: writes `firestore_docs.mjs`'s rounds to the emulator
 * and prints `{"docs","commits","cpuUs","wallMs"}` for the timed rounds (one untimed round
 * first: connections, the library's loading, JIT).
 *
 * Usage: `firestore_transport_process.ts <rest|grpc|library-rest> <emulatorHost> <projectId>
 * <products> <rounds> [documents per commit]`: `rest` is the store's own transport
 * (`FirestoreRest`, JSON over `fetch`); `grpc` and `library-rest` are `@google-cloud/firestore`
 * (its gRPC transport, or its `preferRest` HTTP/1.1 fallback). The commit size defaults to the
 * store's (`CHUNK`). `firestore_transport_node.mjs` is the same under Node.
 */
import process from "node:process";
import { FirestoreRest } from "../lib/store/firestore_rest.ts";
import { CHUNK, libraryRound, roundCommits } from "./firestore_docs.mjs";
import { WRITE_CONCURRENCY } from "../lib/store/firestore.ts";

const [
  mode = "",
  host = "",
  projectId = "",
  productsText = "200",
  roundsText = "5",
  chunkText = String(CHUNK),
] = Deno.args;
const products = Number(productsText);
const rounds = Number(roundsText);
const chunk = Number(chunkText);

type Round = (round: number) => Promise<void>;

function restRounds(): Round {
  const rest = new FirestoreRest({ projectId, emulatorHost: host });
  return async (round) => {
    const commits = roundCommits(products, round, chunk);
    let next = 0;
    const worker = async () => {
      while (next < commits.length) await rest.commit(commits[next++]!);
    };
    await Promise.all(Array.from({ length: WRITE_CONCURRENCY }, worker));
  };
}

async function libraryRounds(preferRest: boolean): Promise<Round> {
  const { Firestore, FieldValue } = await import("@google-cloud/firestore");
  const db = new Firestore({ projectId, host, ssl: false, preferRest });
  return (round) =>
    libraryRound(db, FieldValue, roundCommits(products, round, chunk), WRITE_CONCURRENCY);
}

const run = mode === "rest"
  ? restRounds()
  : mode === "grpc" || mode === "library-rest"
  ? await libraryRounds(mode === "library-rest")
  : undefined;
if (!run) throw new Error(`Unknown transport ${mode}`);
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
  commits: Math.ceil(perRound / chunk) * rounds,
  cpuUs: cpu.user + cpu.system,
  wallMs,
}));
Deno.exit(0);
