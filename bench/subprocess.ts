/**
 * @module
 * Child `deno run` processes for the bench: spawning with narrow permissions, reading JSON lines
 * from their stdout (stderr is passed through as progress), and stopping them by pid.
 */

/** A running child that speaks JSON lines on stdout and takes JSON lines on stdin. */
export class JsonChild {
  readonly child: Deno.ChildProcess;
  readonly #lines: AsyncIterator<string>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  readonly #encoder = new TextEncoder();

  constructor(
    args: string[],
    options: { env?: Record<string, string>; stdin?: boolean; stderr?: "inherit" | "null" } = {},
  ) {
    const cmd = new Deno.Command(args[0]!, {
      args: args.slice(1),
      env: childEnv(options.env ?? {}),
      clearEnv: true,
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: options.stderr ?? "inherit",
    });
    this.child = cmd.spawn();
    this.#lines = lines(this.child.stdout)[Symbol.asyncIterator]();
    this.#writer = options.stdin ? this.child.stdin.getWriter() : undefined;
  }

  get pid(): number {
    return this.child.pid;
  }

  /** The next JSON line of stdout; throws when stdout ends first. */
  async next<T>(what: string): Promise<T> {
    const { value, done } = await this.#lines.next();
    if (done) {
      const status = await this.child.status;
      throw new Error(`${what}: the child process exited (code ${status.code}) before answering`);
    }
    return JSON.parse(value) as T;
  }

  /** Sends one JSON line and returns the answer. */
  async ask<T>(command: unknown, what: string): Promise<T> {
    await this.#writer!.write(this.#encoder.encode(JSON.stringify(command) + "\n"));
    return await this.next<T>(what);
  }

  /** Closes stdin (the child's cue to stop), then SIGTERM after `graceMs`; waits for the exit. */
  async stop(graceMs = 5000): Promise<void> {
    await this.#writer?.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGTERM");
      } catch { /* already gone */ }
    }, this.#writer ? graceMs : 0);
    await this.child.status;
    clearTimeout(timer);
    await this.child.stdout.cancel().catch(() => {});
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line.startsWith("{")) yield line;
    }
  }
  if (buf.trim().startsWith("{")) yield buf.trim();
}

/** What a child process keeps of the bench's own environment: where Deno and its cache are. */
const KEPT_ENV = ["PATH", "HOME", "DENO_DIR", "TMPDIR", "XDG_CACHE_HOME", "LANG", "TZ"];

/**
 * The environment of a child the bench launches: `own` and nothing of the caller's settings
 * beyond {@linkcode KEPT_ENV}, so a service run "with its defaults" has them even when the shell
 * that started the bench exports `COINBASE_REST_RATE`, `FLUSH_INTERVAL_MS` or the like.
 */
export function childEnv(own: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of KEPT_ENV) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...own };
}

/** The `deno` executable running this bench. */
export const DENO = Deno.execPath();

/** Whether `taskset` can pin a child to one core. */
export async function hasTaskset(): Promise<boolean> {
  try {
    const out = await new Deno.Command("taskset", { args: ["-c", "0", "true"] }).output();
    return out.success;
  } catch {
    return false;
  }
}
