/**
 * @module
 * Test helper: a `deno run` child that serves HTTP on a free port (`PORT=0`) and logs
 * `Listening on http://localhost:{port}/` once it does (the service, the clocked service). Its
 * output is kept for failure messages; it is ended with a signal.
 */

/** A running child that listens. */
export interface ListeningProcess {
  /** `http://127.0.0.1:{port}`. */
  url: string;
  /** Everything it printed so far. */
  log(): string;
  /** Sends `signal`, resolves with the exit status once its output is read to the end. */
  end(signal: "SIGKILL" | "SIGTERM"): Promise<Deno.CommandStatus>;
}

/**
 * Starts `deno {args}` with `env` and resolves once it listens; rejects (naming `what`, with its
 * output) if it exits first or does not listen within `timeoutMs`, having killed it.
 */
export async function spawnListening(
  what: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<ListeningProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env,
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
  const end = async (signal: "SIGKILL" | "SIGTERM") => {
    try {
      child.kill(signal);
    } catch { /* gone */ }
    const status = await child.status;
    await drained;
    return status;
  };
  const timer = setTimeout(
    () => listening.reject(new Error(`${what} did not listen: ${text}`)),
    timeoutMs,
  );
  child.status.then((s) => listening.reject(new Error(`${what} exited (${s.code}): ${text}`)));
  let port: number;
  try {
    port = await listening.promise;
  } catch (e) {
    await end("SIGKILL");
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return { url: `http://127.0.0.1:${port}`, log: () => text, end };
}
