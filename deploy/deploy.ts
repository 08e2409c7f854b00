/**
 * `deno task deploy`: builds the image once with Cloud Build and deploys one Cloud Run service
 * per shard (`spot-server-shard-0` …), each with `SHARD_COUNT`/`SHARD_INDEX`, CPU always
 * allocated, exactly one instance, 1 vCPU / 512 Mi, gen2. `--dry-run` prints the exact commands.
 * See README "Deployment" for why each setting.
 */
import { parseArgs } from "node:util";

const HELP = `Usage: deno task deploy --project ID --region REGION [options]

  --project ID          Google Cloud project (required)
  --region REGION       Cloud Run region, e.g. us-central1 (required)
  --shards N            number of shards, one Cloud Run service each (default 1)
  --products LIST       PRODUCTS for every shard (default: all)
  --quotes LIST         QUOTE_CURRENCIES (default USD)
  --layout compat|compact  FIRESTORE_LAYOUT (default compat)
  --repository NAME     Artifact Registry repository (default spot-server)
  --tag TAG             image tag (default: the current git commit)
  --service-account SA  runtime service account (needs roles/datastore.user)
  --password-secret S   Secret Manager secret holding DASHBOARD_PASSWORD (default spot-dashboard-password)
  --dry-run             print the commands instead of running them
  --help                this text`;

function fail(message: string): never {
  // deno-lint-ignore no-console
  console.error(`deploy: ${message}`);
  Deno.exit(2);
}

/** The gcloud commands of a deployment, in order. */
export function deployCommands(o: {
  project: string;
  region: string;
  shards: number;
  products: string;
  quotes: string;
  layout: string;
  repository: string;
  tag: string;
  serviceAccount?: string;
  passwordSecret: string;
}): string[][] {
  const image = `${o.region}-docker.pkg.dev/${o.project}/${o.repository}/spot-server:${o.tag}`;
  const cmds: string[][] = [[
    "gcloud",
    "builds",
    "submit",
    "--project",
    o.project,
    "--tag",
    image,
    ".",
  ]];
  for (let i = 0; i < o.shards; i++) {
    const env = [
      `STORE=firestore`,
      `GOOGLE_CLOUD_PROJECT=${o.project}`,
      `PRODUCTS=${o.products}`,
      `QUOTE_CURRENCIES=${o.quotes}`,
      `SHARD_COUNT=${o.shards}`,
      `SHARD_INDEX=${i}`,
      `FIRESTORE_LAYOUT=${o.layout}`,
      `LOG_FORMAT=json`,
    ].join("@");
    cmds.push([
      "gcloud",
      "run",
      "deploy",
      `spot-server-shard-${i}`,
      "--project",
      o.project,
      "--region",
      o.region,
      "--image",
      image,
      // "@" as the list delimiter: PRODUCTS and QUOTE_CURRENCIES contain commas.
      `--set-env-vars=^@^${env}`,
      `--set-secrets=DASHBOARD_PASSWORD=${o.passwordSecret}:latest`,
      "--no-cpu-throttling",
      "--min-instances=1",
      "--max-instances=1",
      "--cpu=1",
      "--memory=512Mi",
      "--execution-environment=gen2",
      "--port=8080",
      "--timeout=3600",
      "--allow-unauthenticated",
      ...(o.serviceAccount ? [`--service-account=${o.serviceAccount}`] : []),
    ]);
  }
  return cmds;
}

function quote(arg: string): string {
  return /^[\w@%+=:,./^-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

if (import.meta.main) {
  let args;
  try {
    args = parseArgs({
      args: Deno.args,
      options: {
        project: { type: "string" },
        region: { type: "string" },
        shards: { type: "string", default: "1" },
        products: { type: "string", default: "all" },
        quotes: { type: "string", default: "USD" },
        layout: { type: "string", default: "compat" },
        repository: { type: "string", default: "spot-server" },
        tag: { type: "string" },
        "service-account": { type: "string" },
        "password-secret": { type: "string", default: "spot-dashboard-password" },
        "dry-run": { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (e) {
    fail(`${e instanceof Error ? e.message : e} (see --help)`);
  }
  if (args.help) {
    // deno-lint-ignore no-console
    console.log(HELP);
    Deno.exit(0);
  }
  if (!args.project) fail("--project is required (see --help)");
  if (!args.region) fail("--region is required (see --help)");
  const shards = Number(args.shards);
  if (!Number.isInteger(shards) || shards < 1 || shards > 100) {
    fail(`--shards must be 1 to 100, got "${args.shards}"`);
  }
  if (!["compat", "compact"].includes(args.layout!)) {
    fail(`--layout must be compat or compact, got "${args.layout}"`);
  }
  let tag = args.tag;
  if (!tag) {
    const out = await new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"] }).output();
    tag = out.success ? new TextDecoder().decode(out.stdout).trim() : "latest";
  }
  const cmds = deployCommands({
    project: args.project,
    region: args.region,
    shards,
    products: args.products!,
    quotes: args.quotes!,
    layout: args.layout!,
    repository: args.repository!,
    tag,
    serviceAccount: args["service-account"],
    passwordSecret: args["password-secret"]!,
  });
  for (const cmd of cmds) {
    // deno-lint-ignore no-console
    console.log(cmd.map(quote).join(" "));
    if (args["dry-run"]) continue;
    const status = await new Deno.Command(cmd[0]!, {
      args: cmd.slice(1),
      stdout: "inherit",
      stderr: "inherit",
    })
      .spawn().status;
    if (!status.success) fail(`${cmd.slice(0, 3).join(" ")} failed with exit code ${status.code}`);
  }
}
