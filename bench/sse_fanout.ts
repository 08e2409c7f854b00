/**
 * @module
 * The SSE fan-out alone, for the hub's coalescing window (issue 26): a `Deno.serve` with
 * `/api/stream`'s response (`sseResponse` on a real {@linkcode Hub}), 20 clients reading raw
 * sockets in another process (`sse_clients_process.ts`, count only), and a publisher at part 2's
 * rate (~4,000 publishes a second of 1–2 updates, as the feed's frames end their turns): the
 * service process's CPU per publish and its SSE writes, for each window given.
 *
 * Usage: `deno run -A bench/sse_fanout.ts [windowMs,…] [seconds]` (default `0,4` and 20 s).
 */
import process from "node:process";
import type { CandleUpdate } from "../lib/candles/candle.ts";
import { Hub } from "../lib/service/hub.ts";
import { sseResponse } from "../routes/sse.ts";
import { DENO, JsonChild } from "./subprocess.ts";

const windows = (Deno.args[0] ?? "0,4").split(",").map(Number);
const seconds = Number(Deno.args[1] ?? 20);
const PRODUCTS = 1000;
const products = Array.from({ length: PRODUCTS }, (_, i) => `P${i}-USD`);

for (const w of windows) {
  const hub = new Hub({ coalesceMs: w });
  let writes = 0;
  const source = {
    subscribe: (
      f: Parameters<Hub["subscribe"]>[0],
      d: (u: CandleUpdate[]) => void,
      c?: () => void,
    ) =>
      hub.subscribe(f, (u) => {
        writes++;
        d(u);
      }, c),
    live: () => [],
  };
  const filter = { products: new Set(products), granularities: new Set(["ONE_MINUTE" as const]) };
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () => sseResponse(source, filter),
  );
  const url = `http://127.0.0.1:${server.addr.port}/api/stream`;
  const clients = new JsonChild([
    DENO,
    "run",
    "--allow-net=127.0.0.1",
    new URL("./sse_clients_process.ts", import.meta.url).pathname,
  ], { stdin: true });
  await clients.ask({ cmd: "connect", url, clients: 20, countOnly: true }, "connect");
  while ((await clients.ask<{ openClients: number }>({ cmd: "stats" }, "stats")).openClients < 20) {
    await new Promise((r) => setTimeout(r, 100));
  }
  let n = 0;
  let published = 0;
  const start = 1773500700;
  // Every ms, four publishes, each its own turn (a frame's end of turn in the service).
  const timer = setInterval(() => {
    for (let k = 0; k < 4; k++) {
      setTimeout(() => {
        const count = 1 + (n & 1);
        const batch: CandleUpdate[] = [];
        for (let j = 0; j < count; j++) {
          const i = n++ % PRODUCTS;
          batch.push({
            product: products[i]!,
            granularity: "ONE_MINUTE",
            candle: {
              start,
              open: 100 + i,
              high: 101 + i,
              low: 99 + i,
              close: 100.5 + i,
              volume: n * 1e-3,
            },
            complete: false,
          });
        }
        hub.publish(batch);
        published++;
      }, 0);
    }
  }, 1);
  await new Promise((r) => setTimeout(r, 2000));
  const c0 = process.cpuUsage();
  const p0 = published;
  const w0 = writes;
  const e0 = (await clients.ask<{ events: number }>({ cmd: "stats" }, "stats")).events;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = process.cpuUsage(c0);
  const s = (performance.now() - t0) / 1000;
  const pubs = published - p0;
  const events = (await clients.ask<{ events: number }>({ cmd: "stats" }, "stats")).events - e0;
  clearInterval(timer);
  // deno-lint-ignore no-console
  console.log(JSON.stringify({
    windowMs: w,
    publishesPerS: Math.round(pubs / s),
    deliveriesPerClientPerS: Math.round((writes - w0) / 20 / s),
    eventsReceivedPerS: Math.round(events / s),
    cpuShareOfCore: +((cpu.user + cpu.system) / 1e6 / s).toFixed(3),
    cpuUsPerPublish: +((cpu.user + cpu.system) / pubs).toFixed(2),
  }));
  await clients.stop();
  await server.shutdown().catch(() => {});
  hub.closeAll();
}
Deno.exit(0);
