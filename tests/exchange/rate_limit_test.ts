import assert from "node:assert/strict";
import fc from "fast-check";
import { RateLimiter, retryAfterMs } from "../../lib/exchange/rate_limit.ts";

/**
 * A fake clock and timers: `sleep` registers a wake-up, and `run` jumps time to the next one
 * (`late(n)` ms late at the n-th wake-up: a stalled event loop) until every task is done.
 */
function fakeTime() {
  let now = 0;
  let timers: { due: number; wake: () => void }[] = [];
  const sleep = (ms: number) =>
    new Promise<void>((wake) => timers.push({ due: now + Math.max(0, ms), wake }));
  return {
    clock: () => now,
    sleep,
    async run(tasks: Promise<unknown>[], late: (n: number) => number = () => 0): Promise<void> {
      let done = 0;
      const all = tasks.map((t) => t.finally(() => done++));
      let wakes = 0;
      while (true) {
        // Lets every woken task run until it sleeps again (its chains are a few awaits deep).
        for (let i = 0; i < 100; i++) await null;
        if (done === tasks.length) break;
        if (timers.length === 0) throw new Error("Tasks wait for nothing the fake time can wake");
        timers.sort((a, b) => a.due - b.due);
        const due = timers[0]!.due;
        const ready = timers.filter((t) => t.due <= due);
        timers = timers.filter((t) => t.due > due);
        now = Math.max(now, due) + late(++wakes);
        for (const t of ready) t.wake();
      }
      await Promise.all(all);
    },
  };
}

/**
 * `count` requests through a limiter on fake time; the k-th to be sent (1-based) is then
 * answered after `holdMs(k)` ms. Returns the send times in send order.
 */
async function paced(
  ratePerSecond: number,
  count: number,
  options: { holdMs?: (k: number) => number; late?: (n: number) => number } = {},
): Promise<number[]> {
  const time = fakeTime();
  const limiter = new RateLimiter({ ratePerSecond, clock: time.clock, sleep: time.sleep });
  const sends: number[] = [];
  const tasks = Array.from({ length: count }, async () => {
    await limiter.acquire();
    sends.push(time.clock());
    const hold = options.holdMs?.(sends.length) ?? 0;
    if (hold > 0) await time.sleep(hold);
  });
  await time.run(tasks, options.late);
  return sends;
}

/** The most send times in any window `[t, t + windowMs)`. */
function mostInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, lo = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[lo]! >= windowMs) lo++;
    most = Math.max(most, i - lo + 1);
  }
  return most;
}

Deno.test("RateLimiter.acquire() never sends more than the rate in any sliding second, whatever the answers take", async () => {
  // Half the answers take 1.5 s: slow answers hold nothing.
  const sends = await paced(8, 40, { holdMs: (k) => k % 2 === 0 ? 1500 : 0 });
  assert.equal(mostInWindow(sends, 1000), 8);
  // Counted from send times: the 9th goes a second after the 1st, the 33rd four seconds after.
  assert.equal(sends[8], 1000);
  assert.equal(sends[32], 4000);
  for (let i = 1; i < sends.length; i++) {
    assert.ok(sends[i]! - sends[i - 1]! >= 62.5, `sends ${sends.join(", ")}`);
  }
  assert.throws(() => new RateLimiter({ ratePerSecond: 0 }), RangeError);
  assert.throws(() => new RateLimiter({ ratePerSecond: 8, toleranceMs: 126 }), RangeError);
});

Deno.test("RateLimiter.acquire() sends on an even schedule, never a window's worth at once", async () => {
  // Due 125 ms apart, each allowed up to 62.5 ms early; the window then binds a second on.
  const sends = await paced(8, 18);
  assert.deepEqual(sends.slice(0, 10), [0, 63, 188, 313, 438, 563, 688, 813, 1000, 1063]);
  assert.deepEqual(sends.slice(16), [2000, 2063]);
  const even = new RateLimiter({ ratePerSecond: 8, toleranceMs: 0 });
  assert.equal(even.spacingMs, 125);
});

Deno.test("RateLimiter.acquire() after late wake-ups", async (t) => {
  await t.step(
    "a wake-up 600 ms late (a long GC) releases no burst and costs it once",
    async () => {
      const sends = await paced(8, 40, { late: (n) => n === 4 ? 600 : 0 });
      for (let i = 1; i < sends.length; i++) {
        assert.ok(sends[i]! - sends[i - 1]! >= 62.5, `sends ${sends.join(", ")}`);
      }
      assert.ok(mostInWindow(sends, 1000) <= 8);
      assert.ok(sends.includes(438 + 600), "the late request is sent when the loop is back");
      const quiet = await paced(8, 40);
      assert.ok(sends.at(-1)! <= quiet.at(-1)! + 600 + 63, `${sends.at(-1)} vs ${quiet.at(-1)}`);
    },
  );
  await t.step(
    "every wake-up 5 ms late (a busy machine) costs 5 ms a window, not a request",
    async () => {
      const sends = await paced(8, 81, { late: () => 5 });
      assert.ok(mostInWindow(sends, 1000) <= 8);
      // The 81st opens the 11th window: 10 × 5 ms late. Spaced 125 ms from each actual send it
      // would be 80 × 130 ms = 10,400 ms.
      assert.equal(sends[80], 10 * 1005);
      const ingest = await paced(9.5, 160, { late: () => 1 });
      // Ingest's bench run: 159 × 111.1 ms − 55.6 ms early + 17 windows × 1 ms late.
      assert.equal(ingest[159], 17_630);
    },
  );
});

Deno.test("RateLimiter at a fractional rate keeps every sliding window under it, the first included", async () => {
  const sends = await paced(9.5, 60);
  assert.equal(mostInWindow(sends, 1000), 9, "at most 9 (≤ 9.5) requests in any sliding second");
  assert.equal(sends.filter((t) => t < 1000).length, 9, "the first second included");
  const slow = await paced(0.5, 4);
  assert.deepEqual(slow, [0, 2000, 4000, 6000], "under 1/s: one per 1 / rate seconds");
});

Deno.test("RateLimiter.pause() holds every request, waiting or new, and only ever extends", async () => {
  const time = fakeTime();
  const limiter = new RateLimiter({ ratePerSecond: 8, clock: time.clock, sleep: time.sleep });
  const sends: number[] = [];
  const send = async () => {
    await limiter.acquire();
    sends.push(time.clock());
  };
  const tasks = [send(), send()];
  await time.run(tasks);
  assert.deepEqual(sends, [0, 63]);
  limiter.pause(2000); // a 429 answered at 63 ms with Retry-After: 2
  limiter.pause(500); // a shorter one does not shorten it
  assert.equal(limiter.pausedUntil, 2063);
  await time.run(Array.from({ length: 10 }, send));
  assert.deepEqual(sends.slice(2, 4), [2063, 2126], "nothing before the pause ends");
  assert.equal(mostInWindow(sends, 1000), 8, "the window still holds after it");
  assert.equal(sends.length, 12);
});

Deno.test("RateLimiter.acquire() rejects with the signal's reason while it waits", async () => {
  const limiter = new RateLimiter({ ratePerSecond: 1 });
  await limiter.acquire(); // its window now runs for a second
  const reason = new Error("stopping");
  const now = new AbortController();
  const waitingNow = limiter.acquire(now.signal);
  now.abort(reason);
  await assert.rejects(waitingNow, (e) => e === reason);
  const later = new AbortController();
  const started = performance.now();
  const waitingLater = limiter.acquire(later.signal);
  setTimeout(() => later.abort(reason), 20);
  await assert.rejects(waitingLater, (e) => e === reason);
  assert.ok(performance.now() - started < 500, "did not wait out the window");
});

Deno.test("retryAfterMs() reads delta-seconds and HTTP dates", () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  assert.equal(retryAfterMs("2", now), 2000);
  assert.equal(retryAfterMs(" 1.5 ", now), 1500);
  assert.equal(retryAfterMs("Thu, 01 Jan 2026 12:00:03 GMT", now), 3000);
  assert.equal(retryAfterMs("Thu, 01 Jan 2026 11:00:00 GMT", now), 0);
  assert.equal(retryAfterMs(null, now), undefined);
  assert.equal(retryAfterMs("soon", now), undefined);
});

/** Workers that each send, wait for the answer (`holds`, cycled), and send again. */
async function workers(options: {
  rate: number;
  workers: number;
  holds: number[];
  late: number[];
  pauses: { afterSend: number; ms: number }[];
  untilMs: number;
}) {
  const time = fakeTime();
  const limiter = new RateLimiter({
    ratePerSecond: options.rate,
    clock: time.clock,
    sleep: time.sleep,
  });
  const sends: number[] = [];
  const pausedUntil: number[] = [];
  let k = 0;
  const worker = async () => {
    while (time.clock() < options.untilMs) {
      // What a send must respect: every pause asked before it.
      const pausedAsked = limiter.pausedUntil;
      await limiter.acquire();
      const now = time.clock();
      sends.push(now);
      pausedUntil.push(pausedAsked);
      const n = k++;
      for (const p of options.pauses) if (p.afterSend === n) limiter.pause(p.ms);
      await time.sleep(options.holds[n % options.holds.length]!);
    }
  };
  await time.run(
    Array.from({ length: options.workers }, worker),
    (n) => options.late[n % options.late.length]!,
  );
  return { limiter, sends, pausedUntil };
}

Deno.test("RateLimiter property: no sliding window of send times holds more than the rate", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        rate: fc.oneof(
          fc.double({ min: 0.3, max: 20, noNaN: true }),
          fc.constantFrom(1, 8, 9.5, 10),
        ),
        workers: fc.integer({ min: 1, max: 30 }),
        holds: fc.array(fc.integer({ min: 0, max: 4000 }), { minLength: 1, maxLength: 20 }),
        late: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 700 })), {
          minLength: 1,
          maxLength: 10,
        }),
        pauses: fc.array(
          fc.record({
            afterSend: fc.integer({ min: 0, max: 60 }),
            ms: fc.integer({ min: 1, max: 3000 }),
          }),
          { maxLength: 3 },
        ),
      }),
      async (o) => {
        const { limiter, sends, pausedUntil } = await workers({ ...o, untilMs: 8000 });
        assert.ok(mostInWindow(sends, limiter.windowMs) <= limiter.capacity);
        assert.ok(limiter.capacity <= o.rate || o.rate < 1);
        for (let i = 0; i < sends.length; i++) {
          if (i > 0) assert.ok(sends[i]! - sends[i - 1]! >= limiter.minGapMs);
          assert.ok(sends[i]! >= pausedUntil[i]!, "no send before a pause asked earlier ends");
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("RateLimiter property: with slow answers and enough requests in flight, throughput reaches the rate", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        rate: fc.constantFrom(1, 2.5, 8, 9.5, 10, 15),
        holds: fc.array(fc.integer({ min: 500, max: 3000 }), { minLength: 1, maxLength: 20 }),
        late: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 10 }),
      }),
      async (o) => {
        const windows = 10;
        const capacity = Math.floor(o.rate);
        // Enough in flight to cover the slowest answer: `capacity` per window it lasts, plus one.
        const inFlight = capacity * 4 + 1;
        const { sends } = await workers({
          ...o,
          workers: inFlight,
          pauses: [],
          untilMs: windows * 1000,
        });
        const inRun = sends.filter((t) => t < windows * 1000).length;
        // The window allows `capacity` per second; lateness (≤ 3 ms a wake-up) may cost one.
        assert.ok(inRun >= capacity * windows - 1, `${inRun} sends in ${windows} s at ${o.rate}/s`);
        assert.ok(inRun <= capacity * windows);
      },
    ),
    { numRuns: 150 },
  );
});
