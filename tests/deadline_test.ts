import assert from "node:assert/strict";
import { callDeadline } from "../lib/deadline.ts";

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("callDeadline() aborts with a TimeoutError after its time", async () => {
  const d = callDeadline(20);
  assert.equal(d.signal.aborted, false);
  await wait(60);
  assert.equal(d.signal.aborted, true);
  assert.ok(d.signal.reason instanceof DOMException);
  assert.equal(d.signal.reason.name, "TimeoutError");
  assert.match(d.signal.reason.message, /within 20 ms/);
  d.clear();
});

Deno.test("callDeadline().clear() disarms it and lets go of the outer signal", async () => {
  const outer = new AbortController();
  const d = callDeadline(20, outer.signal);
  d.clear();
  await wait(60);
  outer.abort(new Error("stopping"));
  assert.equal(d.signal.aborted, false, "neither the deadline nor the outer signal aborts it");
});

Deno.test("callDeadline() aborts with the outer signal's reason, at once or later", async () => {
  const outer = new AbortController();
  const d = callDeadline(10_000, outer.signal);
  const reason = new Error("service stopping");
  outer.abort(reason);
  assert.equal(d.signal.aborted, true);
  assert.equal(d.signal.reason, reason);
  d.clear();
  const already = callDeadline(10_000, outer.signal);
  assert.equal(already.signal.reason, reason);
  already.clear();
  // An outer abort disarmed the timer: nothing left to fire (the test's op sanitizer checks).
  await wait(1);
});

Deno.test("callDeadline() ends a fetch that does not answer, as AbortSignal.timeout did", async () => {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async () => {
    await wait(500);
    return new Response("late");
  });
  const d = callDeadline(50);
  try {
    await assert.rejects(
      fetch(`http://127.0.0.1:${server.addr.port}/`, { signal: d.signal }),
      (e) => e instanceof DOMException && e.name === "TimeoutError",
    );
  } finally {
    d.clear();
    await server.shutdown();
  }
});
