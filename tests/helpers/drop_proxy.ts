/**
 * @module
 * A TCP proxy in front of the HTTP server for browser tests: {@linkcode DropProxy.drop} cuts every
 * connection and refuses new ones (what a browser sees while a server restarts), and
 * {@linkcode DropProxy.restore} listens again on the same port.
 */

/** Forwards `127.0.0.1:port` to `127.0.0.1:targetPort` until dropped. */
export class DropProxy {
  readonly #targetPort: number;
  #listener?: Deno.Listener;
  #port = 0;
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<unknown>>();

  constructor(targetPort: number) {
    this.#targetPort = targetPort;
    this.#listen();
  }

  /** The port browsers connect to (stable across drops). */
  get port(): number {
    return this.#port;
  }

  #listen(): void {
    const listener = this.#listener = Deno.listen({ hostname: "127.0.0.1", port: this.#port });
    this.#port = (listener.addr as Deno.NetAddr).port;
    this.#track(
      (async () => {
        for await (const conn of listener) this.#track(this.#forward(conn));
      })().catch(() => {}),
    );
  }

  #track(p: Promise<unknown>): void {
    this.#tasks.add(p);
    p.finally(() => this.#tasks.delete(p));
  }

  async #forward(client: Deno.Conn): Promise<void> {
    this.#conns.add(client);
    let upstream: Deno.Conn | undefined;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#targetPort });
      this.#conns.add(upstream);
      await Promise.allSettled([
        client.readable.pipeTo(upstream.writable),
        upstream.readable.pipeTo(client.writable),
      ]);
    } catch {
      /* the target is gone */
    } finally {
      for (const c of [client, upstream]) {
        if (!c) continue;
        this.#conns.delete(c);
        try {
          c.close();
        } catch { /* already closed by a pipe */ }
      }
    }
  }

  /** Closes the listener and every open connection. */
  async drop(): Promise<void> {
    this.#listener?.close();
    this.#listener = undefined;
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    this.#conns.clear();
    await Promise.allSettled([...this.#tasks]);
  }

  /** Listens again on the same port. */
  restore(): void {
    if (!this.#listener) this.#listen();
  }

  /** Drops everything for good. */
  async close(): Promise<void> {
    await this.drop();
  }
}
