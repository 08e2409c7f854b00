/**
 * @module
 * Test helper: a Spot Canvas client in a child process — the real Firebase web SDK
 * (`tests/clients/node/client.mjs`, npm `firebase` 12.x under Node 20) reading a Firestore
 * emulator — and {@linkcode clientTest}, which registers a test that gets an emulator and that
 * client. The SDK's dependencies are installed with `npm ci --prefer-offline` from the committed
 * lock when `node_modules` is missing (a clean clone). Without Node, npm or an emulator the test
 * is ignored with a message saying why, unless `REQUIRE_EMULATOR=1` (CI), where it fails.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Emulator, emulatorUnavailable, startEmulator } from "../helpers/emulator.ts";

const NODE_DIR = new URL("./node/", import.meta.url).pathname;

/** One line the client printed. */
export type ClientMessage = { kind: string } & Record<string, unknown>;

/** The client process. */
export interface FirebaseClient {
  /** Every message so far, oldest first. */
  readonly messages: ClientMessage[];
  /** Sends one command (see client.mjs). */
  send(command: Record<string, unknown>): Promise<void>;
  /** The first message from index `from` on that matches, waiting up to `timeoutMs`. */
  next(
    match: (m: ClientMessage) => boolean,
    timeoutMs: number,
    what: string,
    from?: number,
  ): Promise<ClientMessage>;
  /** Quits the client (unsubscribes, terminates the SDK) and waits for the process. */
  close(): Promise<void>;
}

function onPath(command: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) =>
    dir && existsSync(join(dir, command))
  );
}

/** Why the client cannot run here, or undefined. */
export function clientUnavailable(): string | undefined {
  if (!onPath("node")) return "no Firebase client: node is not on PATH";
  if (!existsSync(join(NODE_DIR, "node_modules", "firebase")) && !onPath("npm")) {
    return "no Firebase client: tests/clients/node/node_modules is missing and npm is not on PATH";
  }
  return undefined;
}

/** Installs the SDK from the lock when it is missing. */
async function install(): Promise<void> {
  if (existsSync(join(NODE_DIR, "node_modules", "firebase"))) return;
  const out = await new Deno.Command("npm", {
    args: ["ci", "--prefer-offline", "--no-audit", "--no-fund"],
    cwd: NODE_DIR,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `Cannot install the Firebase SDK (npm ci in ${NODE_DIR}): ${
        new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join(" | ")
      }`,
    );
  }
}

/** Starts the client against `emulator`. */
export async function startFirebaseClient(emulator: Emulator): Promise<FirebaseClient> {
  await install();
  const child = new Deno.Command("node", {
    args: [join(NODE_DIR, "client.mjs"), emulator.host, emulator.projectId],
    cwd: NODE_DIR,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const messages: ClientMessage[] = [];
  let stderr = "";
  const readLines = async (stream: ReadableStream<Uint8Array>, onLine: (l: string) => void) => {
    let rest = "";
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      rest += decoder.decode(chunk, { stream: true });
      const lines = rest.split("\n");
      rest = lines.pop()!;
      for (const line of lines) if (line.trim()) onLine(line);
    }
  };
  const reading = Promise.all([
    readLines(child.stdout, (line) => messages.push(JSON.parse(line))),
    readLines(child.stderr, (line) => stderr = (stderr + line + "\n").slice(-4000)),
  ]);
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });

  const next: FirebaseClient["next"] = async (match, timeoutMs, what, from = 0) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = messages.slice(from).find(match);
      if (found) return found;
      const errors = messages.filter((m) => m.kind === "error");
      if (errors.length > 0) {
        throw new Error(`The Firebase client failed: ${JSON.stringify(errors[0])}`);
      }
      if (exited || Date.now() > end) {
        throw new Error(
          `Timed out after ${timeoutMs} ms waiting for the Firebase client's ${what}${
            exited ? " (it exited)" : ""
          }: ${stderr.trim().split("\n").slice(-3).join(" | ")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await next((m) => m.kind === "ready", 60_000, "start");
  return {
    messages,
    send: (command) => writer.write(encoder.encode(JSON.stringify(command) + "\n")),
    next,
    close: async () => {
      if (!exited) {
        await writer.write(encoder.encode(`{"cmd":"quit"}\n`)).catch(() => {});
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* gone */ }
        }, 10_000);
        await status;
        clearTimeout(timer);
      }
      await writer.close().catch(() => {});
      await reading;
    },
  };
}

/**
 * Registers a test that gets a fresh emulator and a started Firebase client (both stopped at
 * the end), or is ignored with a loud reason when either cannot run and `REQUIRE_EMULATOR` is
 * not `1`.
 */
export function clientTest(
  name: string,
  fn: (t: Deno.TestContext, emulator: Emulator, client: FirebaseClient) => Promise<void>,
): void {
  const reason = emulatorUnavailable() ?? clientUnavailable();
  const required = Deno.env.get("REQUIRE_EMULATOR") === "1";
  if (reason && !required) {
    // deno-lint-ignore no-console
    console.error(`\n*** SKIPPING "${name}": ${reason} (REQUIRE_EMULATOR=1 makes this fail) ***\n`);
  }
  Deno.test({
    name,
    ignore: reason !== undefined && !required,
    fn: async (t) => {
      const emulator = await startEmulator();
      try {
        const client = await startFirebaseClient(emulator);
        try {
          await fn(t, emulator, client);
        } finally {
          await client.close();
        }
      } finally {
        await emulator.stop();
      }
    },
  });
}
