/**
 * @module
 * Linux `/proc` readings for the bench. Deno refuses `/proc` reads without `--allow-all`, so the
 * files are read through `cat` (`--allow-run`): CPU model and cores, a process's resident set
 * (VmRSS) and its user+system CPU time.
 */

/** The text of a `/proc` file, read with `cat`. */
export async function readProc(path: string): Promise<string> {
  const out = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`Cannot read ${path}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Resident set size of `pid`, bytes (VmRSS). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readProc(`/proc/${pid}/status`);
  const kb = status.match(/^VmRSS:\s*(\d+)\s*kB/m)?.[1];
  if (kb === undefined) throw new Error(`No VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

/** User + system CPU time of `pid` so far, microseconds (utime + stime of /proc/pid/stat). */
export async function cpuMicros(pid: number): Promise<number> {
  const stat = await readProc(`/proc/${pid}/stat`);
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(rest[11]) + Number(rest[12]);
  if (!Number.isFinite(ticks)) throw new Error(`Cannot parse /proc/${pid}/stat: ${stat}`);
  return ticks * 1e6 / clockTicksPerSecond;
}

/** USER_HZ; 100 on every Linux build the bench targets (checked with `getconf` when present). */
let clockTicksPerSecond = 100;

/** Reads USER_HZ with `getconf CLK_TCK` (keeps 100 when unavailable). */
export async function loadClockTicks(): Promise<void> {
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).output();
    const hz = Number(new TextDecoder().decode(out.stdout).trim());
    if (hz > 0) clockTicksPerSecond = hz;
  } catch {
    // No getconf: keep 100.
  }
}

/** User + system CPU (µs) of each thread of `pid`, summed by thread name (`comm`). */
export async function threadCpuMicros(pid: number): Promise<Map<string, number>> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `cat /proc/${pid}/task/*/stat 2>/dev/null`],
    stdout: "piped",
  }).output();
  const byName = new Map<string, number>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const open = line.indexOf("(");
    const close = line.lastIndexOf(")");
    if (open < 0 || close < 0) continue;
    // Worker threads are numbered (`tokio-runtime-w`, `V8 DefaultWorke`): one name per kind.
    const name = line.slice(open + 1, close).replace(/[\s-]*\d+$/, "");
    const rest = line.slice(close + 2).split(" ");
    const us = (Number(rest[11]) + Number(rest[12])) * 1e6 / clockTicksPerSecond;
    if (Number.isFinite(us)) byName.set(name, (byName.get(name) ?? 0) + us);
  }
  return byName;
}
