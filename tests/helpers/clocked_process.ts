/**
 * @module
 * The service of `clocked_service.ts` in a process of its own, as the kill -9 and restart tests
 * run it: started with `env`, its output kept, ended with a signal.
 */

const ENTRY = new URL("./clocked_service.ts", import.meta.url).pathname;

/** A running service process. */
export interface Child {
  url: string;
  log(): string;
  /** Sends `signal`, resolves with the exit status. */
  end(signal: "SIGKILL" | "SIGTERM"): Promise<Deno.CommandStatus>;
}

/** Starts the clocked service with `env` (on a free port) and resolves once it listens. */
export async function spawn(env: Record<string, string>): Promise<Child> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ENTRY],
    env: { PORT: "0", LOG_FORMAT: "json", LOG_LEVEL: "info", ...env },
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
  child.status.then((s) => listening.reject(new Error(`exited (${s.code}): ${text}`)));
  const timer = setTimeout(() => listening.reject(new Error(`did not listen: ${text}`)), 30_000);
  const port = await listening.promise.finally(() => clearTimeout(timer));
  return {
    url: `http://127.0.0.1:${port}`,
    log: () => text,
    end: async (signal) => {
      try {
        child.kill(signal);
      } catch { /* gone */ }
      const status = await child.status;
      await drained;
      return status;
    },
  };
}
