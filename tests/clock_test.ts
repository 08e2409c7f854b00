import assert from "node:assert/strict";
import { abortableSleep } from "../lib/clock.ts";

Deno.test("abortableSleep waits, or resolves early on abort, and never rejects", async (t) => {
  await t.step("without a signal it waits about the time asked", async () => {
    const started = performance.now();
    await abortableSleep(40);
    assert.ok(performance.now() - started >= 35, `${performance.now() - started} ms`);
  });
  await t.step("an abort mid-wait resolves it at once", async () => {
    const abort = new AbortController();
    const started = performance.now();
    setTimeout(() => abort.abort(new Error("stop")), 20);
    await abortableSleep(10_000, abort.signal);
    assert.ok(performance.now() - started < 1000, `${performance.now() - started} ms`);
    assert.ok(abort.signal.aborted);
  });
  await t.step("an already aborted signal resolves it without waiting", async () => {
    const started = performance.now();
    await abortableSleep(10_000, AbortSignal.abort(new Error("stopped")));
    assert.ok(performance.now() - started < 100, `${performance.now() - started} ms`);
  });
});
