/**
 * @module
 * The bench's SSE clients in their own process (so neither the service's nor the simulator's
 * figures include them, and their work does not delay the simulator's sends). Reads JSON
 * commands, one per line, on stdin and answers each with one JSON line on stdout:
 *
 * - `{"cmd":"connect","url":…,"clients":20,"sample":[ids],"expect":1000}` opens the clients,
 *   retrying until the service listens; client 0 records when each product's first
 *   `ONE_MINUTE` candle arrived and the changed live `ONE_MINUTE` updates of the sampled
 *   products (for latency, matched in the simulator's process: `match` there); the others only
 *   read and count. With `"countOnly":true` every client only reads and counts (the measured
 *   client can then run alone in a process of its own, nothing else in its event loop);
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
  if (index !== 0) return await rawClient(url);
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
  } catch {
    // Aborted at the end, or dropped by the server.
  }
  open--;
  ended++;
}

/** Sockets of the raw clients, closed when stdin closes. */
const rawSockets = new Set<Deno.Conn>();
abort.signal.addEventListener("abort", () => {
  for (const conn of rawSockets) {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
});

/**
 * Clients 1…N−1: the same request, read off a plain TCP socket into one reused buffer, counting
 * events in the raw bytes. They only read (as fast as a browser would, so the service serves 20
 * real streams), without `fetch`'s per-chunk stream machinery: through `fetch`, reading 19 streams
 * cost this process ~45 % of a core on the machine the service and the simulator share, noise in
 * the latency the bench measures rather than anything a remote client costs the service.
 */
async function rawClient(url: string): Promise<void> {
  const u = new URL(url);
  const request = new TextEncoder().encode(
    `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nAccept: text/event-stream\r\n\r\n`,
  );
  const buf = new Uint8Array(64 * 1024);
  while (!abort.signal.aborted) {
    let conn: Deno.Conn | undefined;
    try {
      conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
      rawSockets.add(conn);
      await writeAll(conn, request);
      // The status line and headers: keep reading until the blank line.
      let head = "";
      let body: Uint8Array | undefined;
      while (body === undefined) {
        const n = await conn.read(buf);
        if (n === null) throw new Error("closed before the headers");
        const text = new TextDecoder().decode(buf.subarray(0, n));
        const end = (head + text).indexOf("\r\n\r\n");
        if (end < 0) {
          head += text;
          continue;
        }
        const all = head + text;
        head = all.slice(0, end);
        body = new TextEncoder().encode(all.slice(end + 4));
      }
      if (!/^HTTP\/1\.1 200 /.test(head)) throw new Error(head.split("\r\n")[0]);
      open++;
      events += countEvents(body);
      try {
        for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
          events += countEvents(buf.subarray(0, n));
        }
      } catch {
        // Closed at the end, or dropped by the server.
      }
      open--;
      ended++;
      return;
    } catch {
      // Not listening yet, or not serving yet: try again.
    } finally {
      if (conn) {
        rawSockets.delete(conn);
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
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
      const first = cmd.countOnly ? 1 : 0;
      for (let i = first; i < first + cmd.clients; i++) clients.push(client(cmd.url, i));
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
