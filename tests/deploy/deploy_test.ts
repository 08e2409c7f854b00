import { equal, match, ok } from "node:assert/strict";

async function run(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-run=git", "deploy/deploy.ts", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("deploy --dry-run prints one build and one Cloud Run service per shard", async () => {
  const r = await run(
    "--project",
    "demo-spot",
    "--region",
    "us-central1",
    "--shards",
    "3",
    "--tag",
    "t1",
    "--dry-run",
  );
  equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  equal(lines.length, 4);
  match(
    lines[0]!,
    /^gcloud builds submit --project demo-spot --tag us-central1-docker\.pkg\.dev\/demo-spot\/spot-server\/spot-server:t1 \.$/,
  );
  for (let i = 0; i < 3; i++) {
    const l = lines[i + 1]!;
    ok(l.startsWith(`gcloud run deploy spot-server-shard-${i} `), l);
    for (
      const flag of [
        "--no-cpu-throttling",
        "--min-instances=1",
        "--max-instances=1",
        "--cpu=1",
        "--memory=512Mi",
        "--execution-environment=gen2",
      ]
    ) {
      ok(l.includes(flag), `${flag} in ${l}`);
    }
    ok(l.includes(`SHARD_COUNT=3@SHARD_INDEX=${i}`), l);
  }
});

Deno.test("deploy rejects bad flags with exit 2", async () => {
  const r = await run("--region", "us-central1", "--dry-run");
  equal(r.code, 2);
  match(r.stderr, /--project is required/);
  equal((await run("--project", "p", "--region", "r", "--shards", "zero", "--dry-run")).code, 2);
});
