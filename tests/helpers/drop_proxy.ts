/**
 * @module
 * A TCP proxy in front of the HTTP server for browser tests: {@linkcode DropProxy.drop} cuts every
 * connection and refuses new ones (what a browser sees while a server restarts), and
 * {@linkcode DropProxy.restore} listens again on the same port. It is
 * {@linkcode FaultProxy}'s `refuse` and `pass` modes (`fault_proxy.ts`).
 */
import { FaultProxy } from "./fault_proxy.ts";

/** Forwards `127.0.0.1:port` to `127.0.0.1:targetPort` until dropped. */
export class DropProxy {
  readonly #proxy: FaultProxy;

  constructor(targetPort: number) {
    this.#proxy = new FaultProxy(targetPort);
  }

  /** The port browsers connect to (stable across drops). */
  get port(): number {
    return this.#proxy.port;
  }

  /** Closes the listener and every open connection. */
  drop(): Promise<void> {
    return this.#proxy.setMode("refuse");
  }

  /** Listens again on the same port. */
  restore(): void {
    if (this.#proxy.mode === "refuse") void this.#proxy.setMode("pass");
  }

  /** Drops everything for good. */
  close(): Promise<void> {
    return this.#proxy.close();
  }
}
