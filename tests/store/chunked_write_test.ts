import assert from "node:assert/strict";
import { type ChunkPosition, writeInChunks } from "../../lib/store/chunked_write.ts";

const items = (n: number) => Array.from({ length: n }, (_, i) => i);

Deno.test("writeInChunks() cuts by count, or by weight with at least one item a chunk", async () => {
  const seen: number[][] = [];
  const record = (chunk: number[]) => {
    seen.push(chunk);
    return Promise.resolve();
  };
  await writeInChunks(items(7), { size: 3, concurrency: 2 }, record);
  assert.deepEqual(seen, [[0, 1, 2], [3, 4, 5], [6]]);
  seen.length = 0;
  const weights = [2, 2, 5, 1, 1, 1];
  await writeInChunks(items(6), { size: 4, concurrency: 1 }, record, (i) => weights[i]!);
  assert.deepEqual(seen, [[0, 1], [2], [3, 4, 5]], "an item heavier than size goes alone");
  seen.length = 0;
  await writeInChunks([], { size: 4, concurrency: 1 }, record);
  assert.deepEqual(seen, []);
});

Deno.test("writeInChunks() passes each chunk's position", async () => {
  const positions: ChunkPosition[] = [];
  await writeInChunks(items(5), { size: 2, concurrency: 3 }, (_, at) => {
    positions.push(at);
    return Promise.resolve();
  });
  assert.deepEqual(positions, [
    { index: 0, count: 3, offset: 0, total: 5 },
    { index: 1, count: 3, offset: 2, total: 5 },
    { index: 2, count: 3, offset: 4, total: 5 },
  ]);
});

Deno.test("writeInChunks() keeps at most `concurrency` in flight and starts each in its own task", async () => {
  let inFlight = 0;
  let most = 0;
  const ticks: number[] = [];
  let tick = 0;
  const interval = setInterval(() => tick++, 0);
  try {
    // Chunks wait until three are in flight (or half a second for the last ones): no timing
    // luck is needed to see three at once, and a fourth may never start meanwhile.
    const parked: (() => void)[] = [];
    const release = () => parked.splice(0).forEach((wake) => wake());
    await writeInChunks(items(40), { size: 2, concurrency: 3 }, async () => {
      ticks.push(tick);
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise<void>((wake) => {
        parked.push(wake);
        if (parked.length === 3) release();
        else setTimeout(release, 500);
      });
      inFlight--;
    });
  } finally {
    clearInterval(interval);
  }
  assert.equal(most, 3);
  assert.equal(ticks.length, 20);
  // A timer callback ran between any two chunk starts: no two chunks start in one task.
  for (let i = 1; i < ticks.length; i++) assert.ok(ticks[i]! > ticks[i - 1]!, `chunk ${i}`);
});

Deno.test("writeInChunks() after a failure starts nothing more, waits for the chunks in flight, rejects", async () => {
  const started: number[] = [];
  const finished: number[] = [];
  const failure = new Error("Cannot write chunk 2: boom");
  const write = writeInChunks(items(20), { size: 2, concurrency: 3 }, async (_, at) => {
    started.push(at.index);
    await new Promise((r) => setTimeout(r, at.index === 2 ? 1 : 30));
    finished.push(at.index);
    if (at.index === 2) throw failure;
  });
  const error = await write.then(() => undefined, (e: Error) => e);
  assert.ok(error instanceof Error);
  assert.equal(error.cause, failure);
  assert.match(
    error.message,
    /^Cannot write chunk 2: boom \(\d+ of 10 chunks landed, 1 failed, \d+ not attempted\)$/,
  );
  assert.deepEqual([...finished].sort(), [...started].sort(), "every chunk started had settled");
  assert.ok(started.length < 10, `stopped starting chunks (started ${started})`);
  const [, landed, , notAttempted] = error.message.match(
    /(\d+) of 10 chunks landed, (\d+) failed, (\d+)/,
  )!
    .map(Number);
  assert.equal(landed! + 1 + notAttempted!, 10);
});

Deno.test("writeInChunks() of one chunk rejects with the chunk's own error", async () => {
  const failure = new Error("Cannot write 3 things: no");
  await assert.rejects(
    writeInChunks(items(3), { size: 5, concurrency: 2 }, () => Promise.reject(failure)),
    (e) => e === failure,
  );
});
