/**
 * @module
 * What both exchanges' simulators share around their market (`market.ts`): one `Deno.serve` on a
 * local port answering WebSocket upgrades with the exchange's WebSocket side and everything else
 * with its REST side, and the demo/bench product list (five majors, then synthetic products).
 */
import type { SimProductSpec } from "./market.ts";

/** Where and how {@linkcode serveSimulator} listens. */
export interface SimulatorServeOptions {
  /** @default "127.0.0.1" */
  hostname?: string;
  /** @default 0 (a free port) */
  port?: number;
  /** The WebSocket's path; an upgrade elsewhere is a 404. @default any path */
  wsPath?: string;
}

/** A simulator's listening server. */
export interface SimulatorServer {
  /** `hostname:port` as bound. */
  readonly host: string;
  /** Stops listening; resolves when the port is free. */
  shutdown(): Promise<void>;
}

/** Serves `ws` (WebSocket upgrades) and `rest` (every other request) on one local port. */
export function serveSimulator(
  options: SimulatorServeOptions,
  ws: (req: Request) => Response,
  rest: (req: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>,
): SimulatorServer {
  const server = Deno.serve({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    onListen: () => {},
  }, (req, info) => {
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      if (options.wsPath === undefined || new URL(req.url).pathname === options.wsPath) {
        return ws(req);
      }
      return new Response("Not Found\n", { status: 404 });
    }
    return rest(req, info);
  });
  const { hostname, port } = server.addr;
  return { host: `${hostname}:${port}`, shutdown: () => server.shutdown() };
}

/**
 * `n` product specs for demos and benches: `majors` first, then synthetic ones named by
 * `syntheticId(k)` (`k` from 1); every third synthetic product is illiquid (one trade a minute),
 * the others trade twice a second. `tradesPerSecond` overrides every product's rate.
 */
export function demoProductSpecs(
  n: number,
  majors: readonly SimProductSpec[],
  syntheticId: (k: number) => string,
  options: { tradesPerSecond?: number } = {},
): SimProductSpec[] {
  const out: SimProductSpec[] = [];
  for (let i = 0; i < n; i++) {
    const major = majors[i];
    if (major) {
      out.push({ ...major, tradesPerSecond: options.tradesPerSecond ?? major.tradesPerSecond });
      continue;
    }
    const k = i - majors.length + 1;
    const illiquid = k % 3 === 0;
    out.push({
      id: syntheticId(k),
      price: 1 + ((k * 37) % 500),
      tradesPerSecond: options.tradesPerSecond ?? (illiquid ? 1 / 60 : 0.5),
      tick: 0.001,
    });
  }
  return out;
}

/** `X001`, `X002`, …: the synthetic products' base currency. */
export function syntheticBase(k: number): string {
  return `X${String(k).padStart(3, "0")}`;
}
