/**
 * @module
 * {@linkcode FaultProxy}: a TCP proxy on `127.0.0.1` in front of a real server (the Firestore
 * emulator, the HTTP server of browser tests) that plays the ways a server goes away:
 *
 * - `pass`: forwards bytes both ways;
 * - `refuse`: nothing listens on the port (connection refused), as while a server restarts;
 * - `hang`: accepts connections and reads requests but never answers (a black-holed network,
 *   a wedged server): clients wait for their own deadlines;
 * - `unavailable`: answers every HTTP/1.1 request with `503 Service Unavailable` and the JSON
 *   error body Google APIs send for gRPC's `UNAVAILABLE`
 *   (`{"error":{"code":503,"message":…,"status":"UNAVAILABLE"}}`), keeping the connection.
 *
 * Every mode change cuts the connections open at that moment (the network event that caused
 * it): a request caught in `hang` fails when the outage changes face, not at its deadline. The
 * port stays the same across modes. `tests/helpers/drop_proxy.ts` is this proxy seen as
 * drop/restore.
 */

/** How the proxy treats connections; see the module comment. */
export type FaultMode = "pass" | "refuse" | "hang" | "unavailable";

/** The body of the proxy's 503 answers (Google's JSON error for gRPC `UNAVAILABLE`, code 14). */
export const UNAVAILABLE_BODY = JSON.stringify({
  error: { code: 503, message: "The service is currently unavailable.", status: "UNAVAILABLE" },
});

/** Counters of what the proxy did. */
export interface FaultProxyStats {
  /** Connections accepted, per mode they were accepted in. */
  accepted: Record<Exclude<FaultMode, "refuse">, number>;
  /** Requests answered 503 in `unavailable`. */
  answered503: number;
}

/** Forwards `127.0.0.1:port` to the target, or fails as its mode says. */
export class FaultProxy {
  readonly #target: { hostname: string; port: number };
  #mode: FaultMode = "pass";
  #listener?: Deno.Listener;
  #port = 0;
  readonly #conns = new Set<Deno.Conn>();
  /** The accept loop of the current listener. */
  #accepting?: Promise<void>;
  /** Each connection's handler. */
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #stats: FaultProxyStats = {
    accepted: { pass: 0, hang: 0, unavailable: 0 },
    answered503: 0,
  };

  /** Starts listening on a free port (`pass`), forwarding to `target`. */
  constructor(target: number | { hostname?: string; port: number }) {
    const t = typeof target === "number" ? { port: target } : target;
    this.#target = { hostname: t.hostname ?? "127.0.0.1", port: t.port };
    this.#listen();
  }

  /** The port clients connect to (stable across modes). */
  get port(): number {
    return this.#port;
  }

  /** `127.0.0.1:port`, e.g. for `FIRESTORE_EMULATOR_HOST`. */
  get host(): string {
    return `127.0.0.1:${this.#port}`;
  }

  get mode(): FaultMode {
    return this.#mode;
  }

  stats(): FaultProxyStats {
    return structuredClone(this.#stats);
  }

  /**
   * Switches mode: cuts every open connection and listens (or stops, for `refuse`) at once;
   * resolves when the cut connections are closed.
   */
  async setMode(mode: FaultMode): Promise<void> {
    this.#mode = mode;
    const accepting = this.#accepting;
    if (mode === "refuse") {
      this.#listener?.close();
      this.#listener = undefined;
      this.#accepting = undefined;
    }
    this.#cut();
    if (mode !== "refuse") this.#listen();
    await Promise.allSettled([...this.#tasks, mode === "refuse" ? accepting : undefined]);
  }

  /** Cuts everything and stops listening for good. */
  async close(): Promise<void> {
    await this.setMode("refuse");
  }

  #listen(): void {
    if (this.#listener) return;
    const listener = this.#listener = Deno.listen({ hostname: "127.0.0.1", port: this.#port });
    this.#port = (listener.addr as Deno.NetAddr).port;
    this.#accepting = (async () => {
      for await (const conn of listener) {
        const mode = this.#mode;
        if (mode === "refuse") {
          conn.close();
          continue;
        }
        this.#stats.accepted[mode]++;
        this.#conns.add(conn);
        const handle = mode === "pass"
          ? this.#forward(conn)
          : mode === "hang"
          ? this.#hang(conn)
          : this.#unavailable(conn);
        this.#track(handle.finally(() => this.#close(conn)));
      }
    })().catch(() => {});
  }

  #track(p: Promise<unknown>): void {
    this.#tasks.add(p);
    p.finally(() => this.#tasks.delete(p));
  }

  #close(conn: Deno.Conn): void {
    this.#conns.delete(conn);
    try {
      conn.close();
    } catch { /* already closed */ }
  }

  #cut(): void {
    for (const c of [...this.#conns]) this.#close(c);
  }

  async #forward(client: Deno.Conn): Promise<void> {
    let upstream: Deno.Conn | undefined;
    try {
      upstream = await Deno.connect(this.#target);
      this.#conns.add(upstream);
      await Promise.allSettled([
        client.readable.pipeTo(upstream.writable),
        upstream.readable.pipeTo(client.writable),
      ]);
    } catch {
      /* the target is gone */
    } finally {
      if (upstream) this.#close(upstream);
    }
  }

  /** Reads and discards until the connection is cut. */
  async #hang(conn: Deno.Conn): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      while ((await conn.read(buf)) !== null) { /* never answered */ }
    } catch { /* cut */ }
  }

  /** Answers each HTTP/1.1 request on `conn` with a 503 `UNAVAILABLE`. */
  async #unavailable(conn: Deno.Conn): Promise<void> {
    const answer = new TextEncoder().encode(
      "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=UTF-8\r\n" +
        `content-length: ${new TextEncoder().encode(UNAVAILABLE_BODY).length}\r\n` +
        `connection: keep-alive\r\n\r\n${UNAVAILABLE_BODY}`,
    );
    const reader = new HttpRequestReader(conn);
    try {
      while (await reader.next()) {
        this.#stats.answered503++;
        await writeAll(conn, answer);
      }
    } catch { /* cut, or not HTTP */ }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** Reads whole HTTP/1.1 requests (head, then a `content-length` or chunked body) off a socket. */
class HttpRequestReader {
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Consumes one request; false at the end of the stream. */
  async next(): Promise<boolean> {
    const headEnd = await this.#until((b) => indexOf(b, "\r\n\r\n"));
    if (headEnd < 0) return false;
    const head = new TextDecoder().decode(this.#buf.subarray(0, headEnd));
    this.#buf = this.#buf.subarray(headEnd + 4);
    const length = /^content-length:\s*(\d+)/im.exec(head);
    if (length) {
      const n = Number(length[1]);
      if (await this.#until((b) => b.length >= n ? n : -1) < 0) return false;
      this.#buf = this.#buf.subarray(n);
    } else if (/^transfer-encoding:.*chunked/im.test(head)) {
      const end = await this.#until((b) => indexOf(b, "0\r\n\r\n"));
      if (end < 0) return false;
      this.#buf = this.#buf.subarray(end + 5);
    }
    return true;
  }

  /** Reads until `found` gives a position ≥ 0 in the buffer; -1 at the end of the stream. */
  async #until(found: (b: Uint8Array) => number): Promise<number> {
    const chunk = new Uint8Array(64 * 1024);
    for (;;) {
      const at = found(this.#buf);
      if (at >= 0) return at;
      const n = await this.#conn.read(chunk);
      if (n === null) return -1;
      const grown = new Uint8Array(this.#buf.length + n);
      grown.set(this.#buf);
      grown.set(chunk.subarray(0, n), this.#buf.length);
      this.#buf = grown;
    }
  }
}

function indexOf(b: Uint8Array, text: string): number {
  const t = new TextEncoder().encode(text);
  outer: for (let i = 0; i + t.length <= b.length; i++) {
    for (let j = 0; j < t.length; j++) if (b[i + j] !== t[j]) continue outer;
    return i;
  }
  return -1;
}
