/**
 * @module
 * What `/health` answers, as a pure function of the service's state. `starting` until the
 * startup backfill and seeding are done, then `healthy` or `degraded`; HTTP 503 only when a
 * restart could help: the feed went silent on every connection after having worked (a wedged
 * process), or the store has been failing longer than its limit. An exchange outage from the
 * start, or one stalled connection, is reported but stays 200: restarting cannot fix it.
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
    body.reason = `No message on any of ${total} Coinbase connections for ${
      Math.round(lastMessageAgeS)
    } s (limit ${staleLimit} s)`;
    return { code: 503, body };
  }
  if (i.storeFailingSinceMs !== null && i.nowMs - i.storeFailingSinceMs > storeLimit * 1000) {
    body.status = "unhealthy";
    body.reason = `Store writes failing for ${
      Math.round((i.nowMs - i.storeFailingSinceMs) / 1000)
    } s (limit ${storeLimit} s)`;
    return { code: 503, body };
  }
  const notes = [...(i.notes ?? [])];
  if (total > 0 && connected < total) {
    notes.push(`${total - connected} of ${total} Coinbase connections not subscribed`);
  }
  if (!i.storeOk) notes.push("store writes failing, retrying");
  if (i.phase === "stopping") body.status = "stopping";
  else if (i.phase === "starting") body.status = "starting";
  else if (notes.length > 0) body.status = "degraded";
  if (notes.length > 0) body.reason = notes.join("; ");
  return { code: 200, body };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
