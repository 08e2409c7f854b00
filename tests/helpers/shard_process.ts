/**
 * Test helper: a real shard, `deno run main.ts` in its own process, against a simulator and a
 * store given by environment variables (`STORE`, `KV_PATH` or the emulator). It listens on a
 * free port read from its first log line; `stop()` sends SIGTERM (the Cloud Run signal) and waits
 * for the exit; `kill()` ends it without a shutdown. Its log is kept for failure messages.
 */

import { spawnListening } from "./listening_process.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** A running shard process. */
export interface ShardProcess {
  /** `http://127.0.0.1:{port}`. */
  url: string;
  /** `{index}-of-{count}`. */
  id: string;
  /** Everything it logged so far. */
  log(): string;
  /** SIGTERM, then waits for the exit; resolves with the exit code. */
  stop(): Promise<number>;
}

/** Starts shard `index` of `count` with `env`; resolves once it listens. */
export async function startShard(
  index: number,
  count: number,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<ShardProcess> {
  const id = `${index}-of-${count}`;
  const child = await spawnListening(
    `Shard ${id}`,
    ["run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-sys", MAIN],
    {
      PORT: "0",
      SHARD_INDEX: String(index),
      SHARD_COUNT: String(count),
      LOG_FORMAT: "json",
      LOG_LEVEL: "info",
      ...env,
    },
    timeoutMs,
  );
  let stopped: Promise<number> | undefined;
  return {
    url: child.url,
    id,
    log: child.log,
    stop: () => stopped ??= child.end("SIGTERM").then((s) => s.code),
  };
}
