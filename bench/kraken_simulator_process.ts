/**
 * @module
 * The bench's Kraken: `startKrakenSimulator` in its own process (so the service's RSS and CPU
 * are its own), on the wall clock, with its defaults otherwise (50 ms flushes, REST limited to
 * 1 request/s with a burst of 3, nothing withheld).
 *
 * Usage: `bench/kraken_simulator_process.ts <products> <tradesPerSecond>
 * <historyTradesPerSecond> <historyHours>`. Prints one JSON line `{"wsUrl","restUrl","products"}`
 * (v2 symbols) when listening, then answers each stdin line `{"cmd":"rest"}` with
 * `{requests, rateLimited}` since the last such command; stdin closing stops it.
 */
import { krakenDemoProducts, startKrakenSimulator } from "../lib/kraken/simulator.ts";

const [products, tps, historyTps, historyHours] = Deno.args.map(Number);
if (!(products! > 0 && tps! > 0 && historyTps! > 0 && historyHours! >= 0)) {
  throw new Error(`Bad kraken_simulator_process arguments: ${Deno.args.join(" ")}`);
}

const sim = await startKrakenSimulator({
  products: krakenDemoProducts(products!, { tradesPerSecond: tps }),
  historyMs: historyHours! * 3600_000,
  historyTradesPerSecond: historyTps,
  // The history plus a few minutes of live trades: what REST seeding reads.
  maxTradesPerProduct: Math.ceil(historyHours! * 3600 * historyTps! + 600 * tps!),
});

function reply(value: unknown): void {
  // deno-lint-ignore no-console
  console.log(JSON.stringify(value));
}

// Generate the history before saying so (as simulator_process.ts does for Coinbase).
sim.market.advance(Date.now());
reply({
  wsUrl: sim.wsUrl,
  restUrl: sim.restUrl,
  products: sim.market.products.map((p) => p.id),
});

let restSeen = 0;
const decoder = new TextDecoder();
let buffered = "";
for await (const chunk of Deno.stdin.readable) {
  buffered += decoder.decode(chunk, { stream: true });
  let nl;
  while ((nl = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    if (!line) continue;
    const fresh = sim.rest.requests.slice(restSeen);
    restSeen = sim.rest.requests.length;
    reply({
      requests: fresh.length,
      rateLimited: fresh.filter((r) => r.forced === "rate-limit").length,
    });
  }
}
await sim.close();
