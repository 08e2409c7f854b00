/**
 * @module
 * The bench's SSE clients in their own process (so neither the service's nor the simulator's
 * figures include them, and their work does not delay the simulator's sends). Reads JSON
 * commands, one per line, on stdin and answers each with one JSON line on stdout:
 *
 * - `{"cmd":"connect","url":…,"clients":20,"sample":[ids],"expect":1000}` opens the clients,
 *   retrying until the service listens; client 0 records when each product's first
 *   `ONE_MINUTE` candle arrived and the changed live `ONE_MINUTE` updates of the sampled
 *   products (for latency, matched in the simulator's process: `match` there);
 * - `{"cmd":"firsts"}` answers `{connectedAtMs, products, allAtMs, lastFirstMs}` (epoch ms;
 *   `allAtMs` once `expect` products have arrived);
 * - `{"cmd":"firstTimes"}` answers `{times: {product: epoch ms}}`, each product's first arrival;
 * - `{"cmd":"samples"}` answers and forgets `{samples: [[product, start, volume, receiptMs]]}`;
 * - `{"cmd":"stats"}` answers `{events, openClients, endedClients}`;
 * - stdin closing stops everything.
 */

const abort = new AbortController();
let sample = new Set<string>();
let expect = Infinity;
const firstAt = new Map<string, number>();
let connectedAtMs: number | null = null;
let allAtMs: number | null = null;
let samples: [string, number, number, number][] = [];
let events = 0;
let open = 0;
let ended = 0;
const clients: Promise<void>[] = [];

const now = () => performance.timeOrigin + performance.now();

async function client(url: string, index: number): Promise<void> {
  let res: Response | undefined;
  while (!abort.signal.aborted) {
    try {
      res = await fetch(url, { signal: abort.signal });
      if (res.ok && res.body) break;
      await res.body?.cancel();
    } catch {
      // Not listening yet.
    }
    res = undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!res?.body) return;
  open++;
  const since = now();
  connectedAtMs ??= since;
  const lastVolume = new Map<string, number>();
  const decoder = new TextDecoder();
  let text = "";
  try {
    if (index !== 0) {
      // The other clients only read (as fast as a browser would) and count events cheaply, so
      // that client 0's receipt times do not wait behind 19 clients' parsing in this process.
      for await (const chunk of res.body) events += countEvents(chunk);
    } else {
      for await (const chunk of res.body) {
        const at = now();
        text += decoder.decode(chunk, { stream: true });
        let end;
        let from = 0;
        while ((end = text.indexOf("\n\n", from)) >= 0) {
          const block = text.slice(from, end);
          from = end + 2;
          if (!block.startsWith("event: candle")) continue;
          events++;
          onEvent(block, at, at - since > 2000, lastVolume);
        }
        text = text.slice(from);
      }
    }
  } catch {
    // Aborted at the end, or dropped by the server.
  }
  open--;
  ended++;
}

/** `event: candle` lines in a chunk (the events of an SSE stream start with that line). */
function countEvents(chunk: Uint8Array): number {
  // "event: c" at the start of a line; the server writes whole batches, so a chunk boundary
  // inside that line (a miscount of this statistic only) is rare.
  let n = 0;
  for (let i = chunk.indexOf(0x65); i >= 0; i = chunk.indexOf(0x65, i + 1)) {
    if (
      (i === 0 || chunk[i - 1] === 0x0a) && chunk[i + 1] === 0x76 && chunk[i + 5] === 0x3a &&
      chunk[i + 7] === 0x63
    ) n++;
  }
  return n;
}

function onEvent(block: string, at: number, measure: boolean, last: Map<string, number>): void {
  const data = block.indexOf("data: ");
  const id = block.indexOf('"product_id":"', data);
  if (data < 0 || id < 0) return;
  const product = block.slice(id + 14, block.indexOf('"', id + 14));
  const minute = block.includes('"granularity":"ONE_MINUTE"', data);
  if (minute && !firstAt.has(product)) {
    firstAt.set(product, at);
    if (firstAt.size >= expect && allAtMs === null) allAtMs = at;
  }
  if (!minute || !sample.has(product)) return;
  const u = JSON.parse(block.slice(data + 6));
  if (u.complete) return;
  const key = `${product}|${u.start}`;
  if (last.get(key) === u.volume) return;
  last.set(key, u.volume);
  if (measure) samples.push([product, u.start, u.volume, at]);
}

function reply(value: unknown): void {
  // deno-lint-ignore no-console
  console.log(JSON.stringify(value));
}

const decoder = new TextDecoder();
let buffered = "";
for await (const chunk of Deno.stdin.readable) {
  buffered += decoder.decode(chunk, { stream: true });
  let nl;
  while ((nl = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    if (!line) continue;
    const cmd = JSON.parse(line);
    if (cmd.cmd === "connect") {
      sample = new Set(cmd.sample ?? []);
      expect = cmd.expect ?? Infinity;
      for (let i = 0; i < cmd.clients; i++) clients.push(client(cmd.url, i));
      reply({ ok: true });
    } else if (cmd.cmd === "firsts") {
      reply({
        connectedAtMs,
        products: firstAt.size,
        allAtMs,
        lastFirstMs: firstAt.size ? Math.max(...firstAt.values()) : null,
      });
    } else if (cmd.cmd === "firstTimes") {
      reply({ times: Object.fromEntries(firstAt) });
    } else if (cmd.cmd === "samples") {
      reply({ samples });
      samples = [];
    } else if (cmd.cmd === "stats") {
      reply({ events, openClients: open, endedClients: ended });
    } else {
      reply({ error: `unknown command ${line}` });
    }
  }
}
abort.abort();
await Promise.allSettled(clients);
