/**
 * Test helper: runs Prometheus's `promtool check metrics` on exposition text. promtool comes
 * with Debian's `prometheus` package (CI installs it). Without it, {@linkcode promtoolTest}
 * ignores its test with a loud line saying why, unless `REQUIRE_PROMTOOL=1`, in which case the
 * test runs and fails.
 */

/** The promtool binary: `PROMTOOL` or the first `promtool` on `PATH`. */
export function findPromtool(): string | undefined {
  const explicit = Deno.env.get("PROMTOOL");
  if (explicit) return explicit;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      if (Deno.statSync(`${dir}/promtool`).isFile) return `${dir}/promtool`;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** What promtool said about a text. */
export interface PromtoolResult {
  /** Exit status: 0 when the text passed. */
  code: number;
  /** Its stdout and stderr: one line per problem. */
  output: string;
}

/** Feeds `text` to `promtool check metrics`. */
export async function promtoolCheck(text: string, promtool: string): Promise<PromtoolResult> {
  const child = new Deno.Command(promtool, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, output: (dec.decode(out.stdout) + dec.decode(out.stderr)).trim() };
}

/**
 * Registers a `Deno.test` that gets the promtool path, or is ignored with a loud reason when
 * there is none and `REQUIRE_PROMTOOL` is not `1`.
 */
export function promtoolTest(
  name: string,
  fn: (t: Deno.TestContext, promtool: string) => Promise<void>,
): void {
  const promtool = findPromtool();
  const required = Deno.env.get("REQUIRE_PROMTOOL") === "1";
  if (!promtool && !required) {
    // deno-lint-ignore no-console
    console.error(
      `\n*** SKIPPING "${name}": no promtool on PATH (apt-get install prometheus; ` +
        `REQUIRE_PROMTOOL=1 makes this fail) ***\n`,
    );
  }
  Deno.test({
    name,
    ignore: !promtool && !required,
    fn: async (t) => {
      if (!promtool) throw new Error("REQUIRE_PROMTOOL=1 but no promtool on PATH");
      await fn(t, promtool);
    },
  });
}
