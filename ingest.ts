/**
 * @module
 * Entry point of `deno task ingest`: parses the flags, reads the service's environment, builds
 * the REST client and the store, resolves and checks the products, then runs the catalogue sync
 * and/or {@linkcode runBackfill} with a progress bar (stderr) and prints the summary (stdout).
 * Exit status: 0 done, 1 failed (the message says whether a retry can help), 2 bad
 * flag/date/product/environment, 130 interrupted.
 */
import { isFinalError } from "./lib/backoff.ts";
import { INGEST_RATE_PER_SECOND, runBackfill } from "./lib/history/backfill.ts";
import { type Config, ConfigError, loadConfig } from "./lib/config.ts";
import { RestClient } from "./lib/coinbase/rest.ts";
import type { MarketRest } from "./lib/exchange/exchange.ts";
import { marketKey } from "./lib/exchange/market.ts";
import { KrakenRest } from "./lib/kraken/rest.ts";
import { checkProductList, isServedByAll, syncCatalogue } from "./lib/history/catalogue.ts";
import { INGEST_HELP, type IngestFlags, parseIngestArgs, UsageError } from "./lib/ingest/flags.ts";
import { createProgressReporter } from "./lib/ingest/progress.ts";
import { formatSummary } from "./lib/ingest/summary.ts";
import { setupLogging } from "./lib/log.ts";
import { productsForShard } from "./lib/history/shard.ts";
import { openStore } from "./lib/store/open.ts";

const encoder = new TextEncoder();

function write(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += stream.writeSync(bytes.subarray(off));
}
const out = (text: string) => write(Deno.stdout, text);
const err = (text: string) => write(Deno.stderr, text);

/**
 * The products to fetch: the flag's, or the configured ones of this shard, by the service's own
 * catalogue rule (`lib/history/catalogue.ts`): `all` is every product the service would serve
 * with `PRODUCTS=all`; ids Coinbase does not know are a {@linkcode UsageError}, known rows that
 * are not served (delisted, disabled, aliases) are warned about and skipped.
 */
async function resolveProducts(
  flags: IngestFlags,
  config: Config,
  rest: MarketRest,
  signal: AbortSignal,
): Promise<string[]> {
  const kraken = flags.exchange === "kraken";
  const selection = kraken ? config.kraken : config;
  const wanted = flags.products ?? selection.products;
  const quotes = selection.quoteCurrencies;
  let ids: string[];
  if (wanted === "all") {
    const listed = await rest.products({ quoteCurrencies: quotes, signal });
    ids = listed.filter((p) => isServedByAll(p, quotes)).map((p) => p.productId);
  } else {
    const variable = flags.products !== undefined
      ? "--products"
      : kraken
      ? "KRAKEN_PRODUCTS"
      : "PRODUCTS";
    const keys = wanted.map((id) => marketKey(flags.exchange, id));
    const name = kraken ? "Kraken" : "Coinbase";
    try {
      ids = (await checkProductList(rest, keys, variable, signal, name)).map((p) => p.productId);
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
  }
  return flags.products === undefined
    ? productsForShard(ids, config.shardCount, config.shardIndex)
    : ids;
}

/** Runs the command; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let flags: IngestFlags;
  let config: Config;
  try {
    flags = parseIngestArgs(args, Date.now());
    if (flags.help) {
      out(INGEST_HELP);
      return 0;
    }
    config = loadConfig();
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) {
      err(`ingest: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const tty = Deno.stderr.isTerminal();
  await setupLogging({
    // On a terminal the progress bar tells the story; warnings still show.
    level: tty && !Deno.env.get("LOG_LEVEL") ? "warning" : config.logLevel,
    format: config.logFormat,
  });
  const rest: MarketRest = flags.exchange === "kraken"
    ? new KrakenRest({ baseUrl: config.krakenRestUrl, ratePerSecond: config.krakenRestRate })
    : new RestClient({
      baseUrl: config.coinbaseRestUrl,
      key: config.coinbaseKey,
      ratePerSecond: INGEST_RATE_PER_SECOND,
    });
  const stop = new AbortController();
  const onSigint = () => {
    if (stop.signal.aborted) Deno.exit(130);
    err(
      "\ningest: interrupted; stopping and keeping the progress made (Ctrl-C again to quit now)\n",
    );
    stop.abort(new Error("interrupted"));
  };
  Deno.addSignalListener("SIGINT", onSigint);
  try {
    const products = flags.candles ? await resolveProducts(flags, config, rest, stop.signal) : [];
    const store = await openStore({ ...config, store: flags.store ?? config.store });
    try {
      if (flags.deletePlural) {
        const r = await store.deletePluralDocuments({ dryRun: flags.dryRun });
        out(
          `Plural documents: ${r.documents.toLocaleString("en-US")} in ${r.products} products ${
            flags.dryRun ? "would be deleted (dry run)" : "deleted"
          }\n`,
        );
        for (const path of r.examples) out(`  ${path}\n`);
      }
      if (flags.catalogue) {
        const c = await syncCatalogue({ rest, store }, stop.signal);
        out(`Catalogue: ${c.online} online and ${c.delisted} delisted products written\n`);
      }
      if (!flags.candles) return 0;
      if (products.length === 0) {
        err(`ingest: no products to fetch on shard ${config.shardIndex} of ${config.shardCount}\n`);
        return 0;
      }
      const progress = createProgressReporter({ write: err, tty });
      const summary = await runBackfill({
        rest,
        store,
        products,
        granularities: flags.granularities,
        fromSec: flags.fromSec,
        toSec: flags.toSec,
        signal: stop.signal,
        onProgress: (p) => progress.update(p),
      });
      progress.finish();
      out(formatSummary(summary));
      return summary.aborted ? 130 : 0;
    } finally {
      await store.close();
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`ingest: ${e.message}\n`);
      return 2;
    }
    if (stop.signal.aborted) return 130;
    const hint = isFinalError(e)
      ? "a retry cannot help: check the products, range and key"
      : "a later run resumes from the checkpoints";
    err(`ingest: ${e instanceof Error ? e.message : String(e)} (${hint})\n`);
    return 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
