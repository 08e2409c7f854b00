/**
 * @module
 * What `/health` answers, as a pure function of the service's state. `starting` until the
 * startup backfill and seeding are done, then `healthy` or `degraded`; HTTP 503 only when a
 * restart could help: the feed went silent on every connection after having worked (a wedged
 * process), or the store has been failing longer than its limit (default 5 min: a client wedged
 * that long may need a new process; a store outage shorter than that, refused, hanging or
 * answering 503, is `degraded` with its reason: a restart would not help, and would lose the
 * writes queued in memory). An exchange outage from the start, or one stalled connection, is
 * reported but stays 200: restarting cannot fix it.
 *
 * Durations of the store's failure are the writer's (wall clock): the service's clock may be
 * another (tests and the demo accelerate it), so `storeFailingForS` is compared with the limit,
 * not `nowMs − storeFailingSinceMs`, whenever it is given.
 */
import type { ConnectionStatus } from "../exchange/feed_types.ts";

/** Inputs of {@linkcode health}. */
export interface HealthInput {
  phase: "starting" | "running" | "stopping";
  nowMs: number;
  startedAtMs: number;
  connections: ConnectionStatus[];
  /** Whether any connection has ever been subscribed in this process. */
  everConnected: boolean;
  /** Seconds since the last frame on any connection (real time), or null before the first. */
  lastMessageAgeS: number | null;
  storeOk: boolean;
  /** Epoch ms since which store writes have failed without a success, or null. */
  storeFailingSinceMs: number | null;
  /**
   * Seconds the store writes have been failing, in the writer's clock (`failingForMs / 1000`),
   * or null. Preferred to `nowMs − storeFailingSinceMs`, which mixes two clocks when the
   * service's is not the wall clock.
   */
  storeFailingForS?: number | null;
  /** The writer's last error, for the reason. */
  storeLastError?: string | null;
  pendingWrites: number;
  /** Silence on every connection after which a restart could help. @default 60 */
  staleLimitS?: number;
  /** Store failure duration after which a restart could help. @default 300 */
  storeFailLimitS?: number;
  /** Why the service is not fully well (startup retrying, a connection down …). */
  notes?: string[];
}

/** The `/health` body. */
export interface HealthBody {
  status: "starting" | "healthy" | "degraded" | "unhealthy" | "stopping";
  uptimeS: number;
  connections: { connected: number; total: number };
  lastMessageAgeS: number | null;
  store: { ok: boolean; pendingWrites: number };
  reason?: string;
}

/** Computes the health answer and its HTTP status. */
export function health(i: HealthInput): { code: 200 | 503; body: HealthBody } {
  const connected = i.connections.filter((c) => c.state === "subscribed").length;
  const total = i.connections.length;
  const lastMessageAgeS = i.lastMessageAgeS === null ? null : round1(i.lastMessageAgeS);
  const body: HealthBody = {
    status: "healthy",
    uptimeS: Math.round((i.nowMs - i.startedAtMs) / 1000),
    connections: { connected, total },
    lastMessageAgeS,
    store: { ok: i.storeOk, pendingWrites: i.pendingWrites },
  };
  const staleLimit = i.staleLimitS ?? 60;
  const storeLimit = i.storeFailLimitS ?? 300;
  if (i.everConnected && total > 0 && lastMessageAgeS !== null && lastMessageAgeS > staleLimit) {
    body.status = "unhealthy";
    body.reason = `No message on any of ${total} exchange connections for ${
      Math.round(lastMessageAgeS)
    } s (limit ${staleLimit} s)`;
    return { code: 503, body };
  }
  const failingS = i.storeFailingForS !== undefined
    ? i.storeFailingForS
    : i.storeFailingSinceMs === null
    ? null
    : Math.max(0, (i.nowMs - i.storeFailingSinceMs) / 1000);
  const storeError = i.storeLastError ? `: ${i.storeLastError}` : "";
  if (failingS !== null && failingS > storeLimit) {
    body.status = "unhealthy";
    body.reason = `Store writes failing for ${
      Math.round(failingS)
    } s (limit ${storeLimit} s)${storeError}`;
    return { code: 503, body };
  }
  const notes = [...(i.notes ?? [])];
  if (total > 0 && connected < total) {
    notes.push(`${total - connected} of ${total} exchange connections not subscribed`);
  }
  if (!i.storeOk) {
    const since = failingS === null ? "" : ` for ${Math.round(failingS)} s`;
    notes.push(
      `store writes failing${since}, retrying (${i.pendingWrites} writes pending)${storeError}`,
    );
  }
  if (i.phase === "stopping") body.status = "stopping";
  else if (i.phase === "starting") body.status = "starting";
  else if (notes.length > 0) body.status = "degraded";
  if (notes.length > 0) body.reason = notes.join("; ");
  return { code: 200, body };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
