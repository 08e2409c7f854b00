/**
 * @module
 * The top self-time frames of a V8 CPU profile (`deno run --cpu-prof`, or the bench's
 * `BENCH_CPU_PROF=<dir>`), as a Markdown table for bench/RESULTS.md.
 *
 * Usage: `deno run --allow-read bench/profile_top.ts <file.cpuprofile> [--top 15] [--by file]`.
 * Self time is the sampled time spent in a frame itself (not its callees), summed over every
 * node of the same function (name, script, line). Shares are of the profile's busy time (every
 * sample but `(idle)`); `(idle)` is the event loop waiting, shown apart. `--by file` sums per
 * script instead (Deno's `ext:` internals, npm packages, the service's own files).
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

/** The JSON of a `.cpuprofile` file. */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** One row of {@linkcode topFrames}. */
export interface FrameTime {
  name: string;
  /** Self time (µs). */
  selfUs: number;
  /** Share of the busy (non-idle) time. */
  share: number;
}

/** Shortens a script URL to what identifies it (repo-relative path, npm package, `ext:`). */
export function shortUrl(url: string): string {
  if (!url) return "";
  const npm = url.match(/\/npm\/registry\.npmjs\.org\/((?:@[^/]+\/)?[^/]+)\/[^/]+\/(.*)$/);
  if (npm) return `npm:${npm[1]}/${npm[2]}`;
  const repo = url.match(/^file:\/\/.*?\/((?:lib|routes|bench|islands|main\.ts|tests)\b.*)$/);
  if (repo) return repo[1]!;
  return url.replace(/^file:\/\//, "");
}

/**
 * Self time per function (or per script with `byFile`), largest first, with `(idle)` apart.
 * Each sample counts the time until the next sample (the last one its own delta).
 */
export function topFrames(
  profile: CpuProfile,
  byFile = false,
): { frames: FrameTime[]; busyUs: number; idleUs: number; totalUs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length) {
    for (let i = 0; i < samples.length; i++) {
      const dt = deltas[i + 1] ?? deltas[i] ?? 0;
      selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, dt));
    }
  } else {
    // No sample list: hit counts at the mean interval.
    const hits = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
    const per = hits ? (profile.endTime - profile.startTime) / hits : 0;
    for (const n of profile.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * per);
  }
  const sums = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    totalUs += us;
    if (f.functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    const where = shortUrl(f.url);
    const key = byFile
      ? (where || f.functionName)
      : where
      ? `${f.functionName || "(anonymous)"} ${where}:${f.lineNumber + 1}`
      : f.functionName;
    sums.set(key, (sums.get(key) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const frames = [...sums].map(([name, us]) => ({ name, selfUs: us, share: us / busyUs }))
    .sort((a, b) => b.selfUs - a.selfUs);
  return { frames, busyUs, idleUs, totalUs };
}

/** The Markdown table of the top `n` frames. */
export function topTable(profile: CpuProfile, n = 15, byFile = false): string {
  const { frames, busyUs, idleUs, totalUs } = topFrames(profile, byFile);
  const lines = [
    `busy ${(busyUs / 1e6).toFixed(1)} s of ${(totalUs / 1e6).toFixed(1)} s sampled ` +
    `(idle ${(100 * idleUs / totalUs).toFixed(0)} %); shares are of the busy time`,
    "",
    `| # | ${byFile ? "script" : "frame (self time)"} | self | share |`,
    "| ---: | --- | ---: | ---: |",
  ];
  frames.slice(0, n).forEach((f, i) =>
    lines.push(
      `| ${i + 1} | \`${f.name.replaceAll("|", "/")}\` | ${(f.selfUs / 1e3).toFixed(0)} ms | ${
        (100 * f.share).toFixed(1)
      } % |`,
    )
  );
  return lines.join("\n");
}

if (import.meta.main) {
  const file = Deno.args.find((a) => !a.startsWith("--") && !/^\d+$/.test(a));
  if (!file) throw new Error("Usage: profile_top.ts <file.cpuprofile> [--top 15] [--by file]");
  const topAt = Deno.args.indexOf("--top");
  const n = topAt >= 0 ? Number(Deno.args[topAt + 1]) : 15;
  const byFile = Deno.args.includes("--by") && Deno.args[Deno.args.indexOf("--by") + 1] === "file";
  const profile = JSON.parse(await Deno.readTextFile(file)) as CpuProfile;
  // deno-lint-ignore no-console
  console.log(topTable(profile, n, byFile));
}
