/**
 * Test helper: a real shard, `deno run main.ts` in its own process, against a simulator and a
 * store given by environment variables (`STORE`, `KV_PATH` or the emulator). It listens on a
 * free port read from its first log line; `stop()` sends SIGTERM (the Cloud Run signal) and waits
 * for the exit; `kill()` ends it without a shutdown. Its log is kept for failure messages.
 */

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
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      MAIN,
    ],
    env: {
      PORT: "0",
      SHARD_INDEX: String(index),
      SHARD_COUNT: String(count),
      LOG_FORMAT: "json",
      LOG_LEVEL: "info",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const listening = Promise.withResolvers<number>();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      const m = text.match(/Listening on http:\/\/localhost:(\d+)\//);
      if (m) listening.resolve(Number(m[1]));
    }
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const timer = setTimeout(
    () => listening.reject(new Error(`Shard ${index}-of-${count} did not listen: ${text}`)),
    timeoutMs,
  );
  child.status.then((s) =>
    listening.reject(new Error(`Shard ${index}-of-${count} exited (${s.code}): ${text}`))
  );
  let port: number;
  try {
    port = await listening.promise;
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await drained;
    throw e;
  } finally {
    clearTimeout(timer);
  }
  let stopped: Promise<number> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    id: `${index}-of-${count}`,
    log: () => text,
    stop: () =>
      stopped ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
        const status = await child.status;
        await drained;
        return status.code;
      })(),
  };
}
