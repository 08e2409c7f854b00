import { equal, match } from "node:assert/strict";
import type { ConnectionStatus } from "../../lib/exchange/feed_types.ts";
import { health, type HealthInput } from "../../lib/service/health.ts";

const conn = (state: ConnectionStatus["state"]): ConnectionStatus => ({
  id: "ws-0",
  products: ["BTC-USD"],
  state,
  connectedSince: null,
  reconnects: 0,
  lastMessageAgeS: 0,
  maxGapS: 0,
  sequenceGaps: 0,
  tradesPerS: 0,
  unknownProducts: [],
});
const base: HealthInput = {
  phase: "running",
  nowMs: 1_000_000,
  startedAtMs: 0,
  connections: [conn("subscribed"), conn("subscribed")],
  everConnected: true,
  lastMessageAgeS: 1,
  storeOk: true,
  storeFailingSinceMs: null,
  pendingWrites: 3,
};

Deno.test("health() is starting until startup is done, then healthy", () => {
  equal(health({ ...base, phase: "starting", notes: ["seeding"] }).body.status, "starting");
  const h = health(base);
  equal(h.code, 200);
  equal(h.body.status, "healthy");
  equal(h.body.uptimeS, 1000);
  equal(h.body.lastMessageAgeS, 1);
});

Deno.test("health() calls one stalled connection degraded, not 503", () => {
  const h = health({ ...base, connections: [conn("subscribed"), conn("stale")] });
  equal(h.code, 200);
  equal(h.body.status, "degraded");
  match(h.body.reason!, /1 of 2 exchange connections not subscribed/);
});

Deno.test("health() answers 503 when every connection went silent after working", () => {
  const h = health({ ...base, lastMessageAgeS: 61 });
  equal(h.code, 503);
  match(h.body.reason!, /No message on any of 2 exchange connections for 61 s \(limit 60 s\)/);
});

Deno.test("health() stays 200 when Coinbase was never reachable (a restart cannot help)", () => {
  const h = health({
    ...base,
    phase: "starting",
    everConnected: false,
    lastMessageAgeS: null,
    connections: [conn("reconnecting")],
  });
  equal(h.code, 200);
  equal(h.body.status, "starting");
});

Deno.test("health() answers 503 when the store fails longer than its limit", () => {
  equal(
    health({ ...base, storeOk: false, storeFailingSinceMs: 1_000_000 - 10_000 }).body.status,
    "degraded",
  );
  const h = health({ ...base, storeOk: false, storeFailingSinceMs: 1_000_000 - 301_000 });
  equal(h.code, 503);
  match(h.body.reason!, /Store writes failing for 301 s/);
});

Deno.test("health() calls a store outage under its limit degraded (200) with the reason", () => {
  const h = health({
    ...base,
    storeOk: false,
    storeFailingSinceMs: 1_000_000 - 60_000,
    storeFailingForS: 60,
    storeLastError: "writeCompleted: 503: The service is currently unavailable.",
    pendingWrites: 1234,
  });
  equal(h.code, 200);
  equal(h.body.status, "degraded");
  match(
    h.body.reason!,
    /^store writes failing for 60 s, retrying \(1234 writes pending\): writeCompleted: 503: The service is currently unavailable\.$/,
  );
});

Deno.test("health() measures the store failure in the writer's clock, not the service's", () => {
  // An accelerated service clock: 20 × faster, so its "now" is far past the writer's wall-clock
  // failing-since; 6 real seconds of failure must stay under a 30 s limit.
  const h = health({
    ...base,
    nowMs: 1_000_000 + 20 * 6000,
    storeOk: false,
    storeFailingSinceMs: 1_000_000,
    storeFailingForS: 6,
    storeFailLimitS: 30,
  });
  equal(h.code, 200);
  equal(h.body.status, "degraded");
  match(h.body.reason!, /store writes failing for 6 s/);
  const over = health({
    ...base,
    storeOk: false,
    storeFailingSinceMs: 0,
    storeFailingForS: 31,
    storeFailLimitS: 30,
  });
  equal(over.code, 503);
  match(over.body.reason!, /Store writes failing for 31 s \(limit 30 s\)/);
});
