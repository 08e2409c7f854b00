/**
 * @module
 * The real Firestore emulator for tests, end-to-end runs and the bench.
 *
 * {@linkcode startEmulator} uses `FIRESTORE_EMULATOR_HOST` when it is set (an emulator someone
 * else runs; `stop()` then leaves it alone and `restart()` is unavailable); otherwise it runs
 * the emulator jar of the Google Cloud SDK directly with `java` (what `gcloud emulators
 * firestore start` ends up running, minus the Python and shell wrappers, so the process we
 * stop is the JVM itself and no orphan java survives) on a free port, waits until it answers,
 * and stops it with SIGTERM (SIGKILL after 5 s). Emulator start takes 1-3 s: share one per
 * test file, inside one `Deno.test` with `t.step`s (the resource sanitizer checks each test).
 *
 * {@linkcode emulatorTest} wraps that: when no emulator can be found it ignores the test with a
 * loud line saying why, unless `REQUIRE_EMULATOR=1`, in which case the test runs and fails.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

/** A running emulator. */
export interface Emulator {
  /** `127.0.0.1:PORT`, for `FIRESTORE_EMULATOR_HOST` / `FirestoreClientOptions.emulatorHost`. */
  host: string;
  /** A `demo-` project id (the emulator accepts any). */
  projectId: string;
  /** Deletes every document of the project (awaited). */
  clear(): Promise<void>;
  /** Stops the emulator (no-op for an external one). */
  stop(): Promise<void>;
  /** Kills the emulator abruptly; `start()` brings it back on the same port. */
  kill(): Promise<void>;
  /** Starts it again on the same port after {@linkcode kill}: empty, or from an export. */
  start(options?: { importFrom?: string }): Promise<void>;
  /** Exports every document to a temporary directory (removed by `stop`); returns the metadata file. */
  exportData(): Promise<string>;
  /**
   * Exports the data, kills the emulator and starts it again on the same port with the
   * export imported (the emulator keeps data only in memory).
   */
  restart(options?: { keepData?: boolean }): Promise<void>;
}

/** Options for {@linkcode startEmulator}. */
export interface EmulatorOptions {
  /** @default {"demo-spot-test"} */
  projectId?: string;
  /** A `firestore.rules` file to enforce for requests without `Bearer owner`. */
  rules?: string;
}

const MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore";
const JAR_DIR = "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar";

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

function which(command: string): string | undefined {
  for (const dir of (env("PATH") ?? "").split(":")) {
    const path = join(dir, command);
    if (dir && existsSync(path)) return path;
  }
  return undefined;
}

/** The emulator jar, if one can be found (`FIRESTORE_EMULATOR_JAR` overrides). */
export function findEmulatorJar(): string | undefined {
  const candidates = [env("FIRESTORE_EMULATOR_JAR")];
  const gcloud = which("gcloud");
  if (gcloud) {
    const real = Deno.realPathSync(gcloud);
    candidates.push(join(dirname(dirname(real)), JAR_DIR));
  }
  for (
    const root of [
      "/usr/lib/google-cloud-sdk",
      "/usr/share/google-cloud-sdk",
      "/opt/google-cloud-sdk",
    ]
  ) {
    candidates.push(join(root, JAR_DIR));
  }
  const home = env("HOME");
  if (home) candidates.push(join(home, "google-cloud-sdk", JAR_DIR));
  return candidates.find((path) => path !== undefined && existsSync(path));
}

/** Why no emulator can be used here, or undefined when one can. */
export function emulatorUnavailable(): string | undefined {
  if (env("FIRESTORE_EMULATOR_HOST")) return undefined;
  if (!findEmulatorJar()) {
    return "no Firestore emulator: no gcloud and no cloud-firestore-emulator.jar under the " +
      "Google Cloud SDK (set FIRESTORE_EMULATOR_JAR or FIRESTORE_EMULATOR_HOST)";
  }
  if (!which("java")) return "no Firestore emulator: java is not on PATH";
  return undefined;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function answers(host: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** Starts (or attaches to) an emulator; see the module comment. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const projectId = options.projectId ?? "demo-spot-test";
  const external = env("FIRESTORE_EMULATOR_HOST");
  const clear = async (host: string) => {
    const url = `http://${host}/emulator/v1/projects/${projectId}/databases/(default)/documents`;
    const response = await fetch(url, { method: "DELETE" });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`Cannot clear the emulator at ${host}: ${response.status}`);
  };
  if (external) {
    const unsupported = () =>
      Promise.reject(
        new Error("Cannot stop or restart an external emulator (FIRESTORE_EMULATOR_HOST)"),
      );
    return {
      host: external,
      projectId,
      clear: () => clear(external),
      stop: () => Promise.resolve(),
      kill: unsupported,
      start: unsupported,
      exportData: unsupported,
      restart: unsupported,
    };
  }
  const reason = emulatorUnavailable();
  if (reason) throw new Error(`Cannot start the Firestore emulator: ${reason}`);
  const jar = findEmulatorJar()!;
  const host = `127.0.0.1:${freePort()}`;
  const [hostname, port] = host.split(":");
  let child: Deno.ChildProcess | undefined;
  let output = "";
  let drain: Promise<void> = Promise.resolve();
  let importFrom: string | undefined;
  const exportDirs: string[] = [];

  const launch = async () => {
    const args = ["-Duser.language=en", "-cp", jar, MAIN_CLASS, "start", `--host=${hostname}`];
    args.push(`--port=${port}`, `--project_id=${projectId}`);
    if (options.rules) args.push(`--rules=${options.rules}`);
    if (importFrom) args.push(`--import-data=${importFrom}`);
    const process = new Deno.Command("java", { args, stdout: "piped", stderr: "piped" }).spawn();
    child = process;
    output = "";
    const keep = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        output = (output + decoder.decode(chunk, { stream: true })).slice(-4000);
      }
    };
    drain = Promise.all([keep(process.stdout), keep(process.stderr)]).then(() => {});
    const deadline = Date.now() + 60_000;
    let exited = false;
    process.status.then(() => exited = true);
    while (!(await answers(host))) {
      if (exited || Date.now() > deadline) {
        await halt();
        throw new Error(
          `Cannot start the Firestore emulator on ${host} (${
            exited ? "it exited" : "not ready in 60 s"
          }): ${output.trim().split("\n").slice(-5).join(" | ")}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  };

  const halt = async (signal: Deno.Signal = "SIGTERM") => {
    const process = child;
    if (!process) return;
    child = undefined;
    try {
      process.kill(signal);
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        process.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 5000);
    await process.status;
    clearTimeout(timer);
    await drain;
  };

  const exportData = async (): Promise<string> => {
    const dir = await Deno.makeTempDir({ prefix: "firestore-export-" });
    exportDirs.push(dir);
    const response = await fetch(`http://${host}/emulator/v1/projects/${projectId}:export`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        database: `projects/${projectId}/databases/(default)`,
        export_directory: dir,
      }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`Cannot export the emulator's data: ${text}`);
    for await (const entry of Deno.readDir(dir)) {
      return join(dir, entry.name, `${entry.name}.overall_export_metadata`);
    }
    throw new Error(`Cannot export the emulator's data: nothing written to ${dir}`);
  };

  await launch();
  return {
    host,
    projectId,
    clear: () => clear(host),
    stop: async () => {
      await halt();
      for (const dir of exportDirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    kill: () => halt("SIGKILL"),
    start: (startOptions = {}) => {
      importFrom = startOptions.importFrom;
      return launch();
    },
    exportData,
    restart: async ({ keepData = true } = {}) => {
      importFrom = keepData ? await exportData() : undefined;
      await halt("SIGKILL");
      await launch();
    },
  };
}

/**
 * Registers a `Deno.test` that gets a fresh emulator (stopped at the end), or is ignored with
 * a loud reason when none is available and `REQUIRE_EMULATOR` is not `1`.
 */
export function emulatorTest(
  name: string,
  fn: (t: Deno.TestContext, emulator: Emulator) => Promise<void>,
  options: EmulatorOptions = {},
): void {
  const reason = emulatorUnavailable();
  const required = env("REQUIRE_EMULATOR") === "1";
  if (reason && !required) {
    // deno-lint-ignore no-console
    console.error(`\n*** SKIPPING "${name}": ${reason} (REQUIRE_EMULATOR=1 makes this fail) ***\n`);
  }
  Deno.test({
    name,
    ignore: reason !== undefined && !required,
    fn: async (t) => {
      const emulator = await startEmulator(options);
      try {
        await fn(t, emulator);
      } finally {
        await emulator.stop();
      }
    },
  });
}
