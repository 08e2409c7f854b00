/**
 * @module
 * Part 5 of the bench: CPU per Firestore document written, by transport, against one emulator
 * (issue 26 part 3). The store's own REST transport (`FirestoreRest`, JSON over `fetch`) beside
 * `@google-cloud/firestore`'s gRPC transport and its `preferRest` fallback, under Deno and, as
 * the anchor, under Node; every transport writes the same documents (`firestore_docs.mjs`: a
 * compat flush of 200 products, eight merged live documents with a server timestamp and one
 * completed candle each, in commits of 200, 4 at a time) in a process of its own, one after the
 * other, the emulator cleared between them. A transport that fails is reported, not fatal.
 */
import { type Emulator, startEmulator } from "../tests/helpers/emulator.ts";
import { num, type Row } from "./report.ts";
import { CHUNK } from "./firestore_docs.mjs";
import { childEnv, DENO } from "./subprocess.ts";

/** The load of part 5. */
export const TRANSPORT = { products: 200, rounds: 10 };

interface Result {
  docs: number;
  commits: number;
  cpuUs: number;
  wallMs: number;
}

/** `@google-cloud/firestore`'s version from deno.json, for Node's copy. */
async function libraryVersion(): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  return String(config.imports["@google-cloud/firestore"]).replace(
    /^npm:@google-cloud\/firestore@/,
    "",
  );
}

/** A `node_modules` with the library for Node (npm install into a temp dir), or why not. */
async function nodeModules(): Promise<string | Error> {
  const given = Deno.env.get("BENCH_FIRESTORE_NODE_MODULES");
  if (given) return given;
  try {
    const dir = await Deno.makeTempDir({ prefix: "spot-bench-node-" });
    const out = await new Deno.Command("npm", {
      args: [
        "install",
        "--no-audit",
        "--no-fund",
        "--prefix",
        dir,
        `@google-cloud/firestore@${await libraryVersion()}`,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) return new Error(new TextDecoder().decode(out.stderr).slice(-300));
    return `${dir}/node_modules`;
  } catch (e) {
    return e as Error;
  }
}

async function runOne(args: string[], env: Record<string, string>): Promise<Result> {
  const out = await new Deno.Command(args[0]!, {
    args: args.slice(1),
    env: childEnv({ ...env, NO_COLOR: "1" }),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  if (!out.success || !text.startsWith("{")) {
    // The error's own line (not the stack under it; NO_COLOR: no terminal colours).
    const err = new TextDecoder().decode(out.stderr).split("\n");
    const line = err.find((l) => /^\s*(error: )?(Uncaught )?\w*Error\b/.test(l)) ?? err.at(-1);
    throw new Error(`exit ${out.code}: ${line?.trim().slice(0, 200)}`);
  }
  return JSON.parse(text) as Result;
}

/** Runs part 5; returns its rows and notes. */
export async function firestoreTransportPart(
  progress: (line: string) => void,
): Promise<{ rows: Row[]; notes: string[] }> {
  progress("firestore transports: starting the emulator …");
  const emulator: Emulator = await startEmulator({ projectId: "demo-spot-transport" });
  const rows: Row[] = [];
  const P = `5 Firestore writes (${TRANSPORT.products} products)`;
  try {
    const node = await nodeModules();
    const common = [
      emulator.host,
      emulator.projectId,
      String(TRANSPORT.products),
      String(TRANSPORT.rounds),
    ];
    const denoArgs = (
      mode: string,
      chunk = CHUNK,
    ) => [
      DENO,
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      "--allow-sys",
      new URL("./firestore_transport_process.ts", import.meta.url).pathname,
      mode,
      ...common,
      String(chunk),
    ];
    const nodeScript = new URL("./firestore_transport_node.mjs", import.meta.url).pathname;
    const transports: [string, string[] | Error, Record<string, string>][] = [
      [
        `Deno, the store's REST transport (FirestoreRest: JSON over fetch), commits of ${CHUNK}`,
        denoArgs("rest"),
        {},
      ],
      // What a commit costs besides its documents, for WRITE_CHUNK (lib/store/firestore.ts).
      ["Deno, the store's REST transport, commits of 50", denoArgs("rest", 50), {}],
      ["Deno, the store's REST transport, commits of 500", denoArgs("rest", 500), {}],
      ["Deno, @google-cloud/firestore gRPC", denoArgs("grpc"), {}],
      ["Deno, @google-cloud/firestore preferRest", denoArgs("library-rest"), {}],
      [
        "Node 20, @google-cloud/firestore gRPC",
        node instanceof Error ? node : ["node", nodeScript, "grpc", ...common],
        node instanceof Error ? {} : { FIRESTORE_NODE_MODULES: node },
      ],
      [
        "Node 20, @google-cloud/firestore preferRest",
        node instanceof Error ? node : ["node", nodeScript, "library-rest", ...common],
        node instanceof Error ? {} : {
          FIRESTORE_NODE_MODULES: node,
        },
      ],
    ];
    let restUs: number | undefined;
    for (const [name, args, env] of transports) {
      await emulator.clear();
      progress(`firestore transports: ${name} …`);
      if (args instanceof Error) {
        rows.push({
          part: P,
          measure: name,
          value: `could not run: ${args.message}`.slice(0, 200),
        });
        continue;
      }
      try {
        const r = await runOne(args, env);
        const us = r.cpuUs / r.docs;
        restUs ??= us;
        rows.push({
          part: P,
          measure: `${name}: CPU per document written (${num(r.docs)} documents in ${
            num(r.commits)
          } commits; ${num(r.docs / r.wallMs * 1000)} documents/s)`,
          value: `${us.toFixed(1)} µs (${(us / restUs).toFixed(2)}× REST)`,
        });
      } catch (e) {
        rows.push({
          part: P,
          measure: name,
          value: `could not run: ${(e as Error).message.replaceAll("|", "/")}`,
        });
      }
    }
  } finally {
    await emulator.stop();
  }
  const notes = [
    `Firestore transports: each writes ${TRANSPORT.rounds} rounds (after one untimed) of a compat ` +
    `flush of ${TRANSPORT.products} products (eight merged live documents with a server ` +
    `timestamp and one completed candle each, commits of ${CHUNK}, 4 in flight: the store's ` +
    "settings; the REST transport also at 50 and 500 per commit) to one emulator, in a process of its own; CPU is the process's user+system " +
    "time over the timed rounds (`process.cpuUsage()`, every thread) per document. Node's " +
    "copy of the library is the version deno.json pins, installed with npm.",
  ];
  return { rows, notes };
}
