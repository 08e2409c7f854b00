import assert from "node:assert/strict";
import { type LogRecord, reset } from "@logtape/logtape";
import fc from "fast-check";
import { SlidingWindows } from "../../lib/coinbase/simulator/rest_limits.ts";
import { RateLimiter, retryAfterMs } from "../../lib/exchange/rate_limit.ts";
import { setupLogging } from "../../lib/log.ts";

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

/**
 * Workers that each send, wait for the answer (`holds`, cycled), and send again; the answers to
 * the sends numbered in `throttles` are rate-limit answers (`throttled()` when they come).
 */
async function workers(options: {
  rate: number;
  workers: number;
  holds: number[];
  late: number[];
  pauses: { afterSend: number; ms: number }[];
  throttles?: number[];
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
  /** The scheduled rate as each request was sent. */
  const rates: number[] = [];
  let k = 0;
  const worker = async () => {
    while (time.clock() < options.untilMs) {
      // What a send must respect: every pause asked before it.
      const pausedAsked = limiter.pausedUntil;
      const sentAt = await limiter.acquire();
      const now = time.clock();
      assert.equal(sentAt, now);
      sends.push(now);
      pausedUntil.push(pausedAsked);
      rates.push(limiter.stats.effectiveRatePerSecond);
      const n = k++;
      for (const p of options.pauses) if (p.afterSend === n) limiter.pause(p.ms);
      await time.sleep(options.holds[n % options.holds.length]!);
      if (options.throttles?.includes(n)) limiter.throttled(sentAt);
    }
  };
  await time.run(
    Array.from({ length: options.workers }, worker),
    (n) => options.late[n % options.late.length]!,
  );
  return { limiter, sends, pausedUntil, rates };
}

Deno.test("RateLimiter property: no sliding window of send times holds more than the rate, whatever the stalls, pauses and cuts", async () => {
  let withCuts = 0;
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
        // Rate-limit answers (each cuts, unless it belongs to the last cut's episode).
        throttles: fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 6 }),
      }),
      async (o) => {
        const { limiter, sends, pausedUntil, rates } = await workers({ ...o, untilMs: 8000 });
        assert.ok(mostInWindow(sends, limiter.windowMs) <= limiter.capacity);
        assert.ok(limiter.capacity <= o.rate || o.rate < 1);
        const spacing = limiter.windowMs / limiter.capacity;
        for (let i = 0; i < sends.length; i++) {
          assert.ok(sends[i]! >= pausedUntil[i]!, "no send before a pause asked earlier ends");
          if (i === 0) continue;
          assert.ok(sends[i]! - sends[i - 1]! >= limiter.minGapMs);
          // No burst at a cut rate either: the spacing of the rate the previous send was
          // scheduled at (rounded to 0.01/s in stats), less the tolerance, 1 ms for ceil().
          const slower = Math.max(spacing, 1000 / (rates[i - 1]! + 0.005));
          assert.ok(
            sends[i]! - sends[i - 1]! >= slower - limiter.toleranceMs - 1,
            `send ${i} ${sends[i]! - sends[i - 1]!} ms after the last at ${rates[i - 1]}/s`,
          );
        }
        assert.ok(rates.every((r) => r >= limiter.minRatePerSecond - 0.005 && r <= o.rate + 0.005));
        if (limiter.stats.rateCuts > 0) withCuts++;
      },
    ),
    { numRuns: 300 },
  );
  assert.ok(withCuts > 100, `only ${withCuts} of 300 runs cut the rate`);
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

Deno.test("RateLimiter.throttled() cuts the scheduled rate ×0.8, once an episode, never below a quarter", async (t) => {
  await t.step("a cut spaces the next sends at the cut rate", async () => {
    const time = fakeTime();
    const limiter = new RateLimiter({ ratePerSecond: 8, clock: time.clock, sleep: time.sleep });
    const sends: number[] = [];
    const send = async () => {
      const at = await limiter.acquire();
      assert.equal(at, time.clock(), "acquire() resolves with the send time");
      sends.push(at);
    };
    await time.run(Array.from({ length: 4 }, send));
    assert.deepEqual(sends, [0, 63, 188, 313]);
    assert.deepEqual(limiter.stats, { effectiveRatePerSecond: 8, rateCuts: 0 });
    assert.equal(limiter.throttled(188), true, "the 429 of the request sent at 188 ms");
    assert.deepEqual(limiter.stats, { effectiveRatePerSecond: 6.4, rateCuts: 1 });
    await time.run(Array.from({ length: 6 }, send));
    // The 4th was due at 375 ms (sent 62.5 ms early): the 5th is due 1000 / 6.4 = 156.25 ms
    // later, and each is still allowed 62.5 ms early.
    assert.equal(sends[4], Math.ceil(375 + 156.25 - 62.5));
    for (let i = 5; i < sends.length; i++) {
      assert.ok(Math.abs(sends[i]! - sends[i - 1]! - 156.25) < 1, `sends ${sends.join(", ")}`);
    }
  });
  await t.step("one cut an episode; repeated episodes go down to the floor", () => {
    let now = 10_000;
    const limiter = new RateLimiter({ ratePerSecond: 8, clock: () => now });
    assert.equal(limiter.throttled(9_900), true);
    now += 50;
    assert.equal(limiter.throttled(9_950), false, "sent before the cut: the same episode");
    assert.equal(limiter.throttled(10_999), false, "sent within a window of the cut: the same");
    assert.equal(limiter.stats.rateCuts, 1);
    const rates = [6.4];
    for (let i = 0; i < 7; i++) {
      now += 1100;
      assert.equal(limiter.throttled(now - 10), true);
      rates.push(limiter.stats.effectiveRatePerSecond);
    }
    assert.deepEqual(rates, [6.4, 5.12, 4.1, 3.28, 2.62, 2.1, 2, 2], "×0.8, never below 8 / 4");
    assert.equal(limiter.stats.rateCuts, 8, "at the floor a 429 still counts (and restarts)");
  });
  await t.step("options are checked", () => {
    assert.throws(() => new RateLimiter({ ratePerSecond: 8, cutFactor: 1 }), RangeError);
    assert.throws(() => new RateLimiter({ ratePerSecond: 8, minRatePerSecond: 9 }), RangeError);
    assert.throws(() => new RateLimiter({ ratePerSecond: 8, recoveryStepMs: 0 }), RangeError);
  });
});

Deno.test("RateLimiter recovers 3 s after a cut, then +10 % of the rate every 2 s, back to the rate", async () => {
  const time = fakeTime();
  const limiter = new RateLimiter({ ratePerSecond: 8, clock: time.clock, sleep: time.sleep });
  const rateAt: Record<number, number> = {};
  const watch = async () => {
    for (let s = 0; s <= 8; s++) {
      rateAt[s] = limiter.stats.effectiveRatePerSecond;
      await time.sleep(1000);
    }
  };
  const sends: number[] = [];
  const send = async () => {
    await limiter.acquire();
    sends.push(time.clock());
    await time.sleep(1); // the answer
  };
  const workers = Array.from({ length: 4 }, async () => {
    while (time.clock() < 8_000) await send();
  });
  assert.equal(limiter.throttled(0), true); // at 0 ms: a 429 of an earlier request
  await time.run([watch(), ...workers]);
  assert.deepEqual(rateAt, { 0: 6.4, 1: 6.4, 2: 6.4, 3: 7.2, 4: 7.2, 5: 8, 6: 8, 7: 8, 8: 8 });
  const inSpell = (from: number, to: number) =>
    sends.filter((t) => t >= from * 1000 && t < to * 1000).length;
  // 6.4/s for 3 s (the first send starts the schedule), 7.2/s for 2 s, then 8/s, and never
  // more than the window's 8 in any second.
  assert.deepEqual([inSpell(0, 3), inSpell(3, 5), inSpell(5, 8)], [
    Math.floor(3 * 6.4) + 1,
    Math.round(2 * 7.2),
    3 * 8,
  ]);
  assert.ok(mostInWindow(sends, 1000) <= 8);
});

/** A seeded PRNG in [0, 1) (mulberry32). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A cold start against a strict receiver on fake time: `count` requests from 20 workers through
 * a limiter at 8/s; the receiver counts each when its event loop handles it (its arrival, 2–10 ms
 * after the send, or the end of a stall it arrives in: stalls of 300 ms on average, one every
 * second or so through busy spells of 15 s, one every 60 s) and refuses any beyond 10 in a
 * sliding second. A refused request is retried after a pause of every request (uniform in
 * [0, 1 s), the transport's first backoff), and, when `adaptive`, `throttled()` first.
 */
async function coldStart(adaptive: boolean, seed: number, count: number) {
  const time = fakeTime();
  const random = seeded(seed);
  const exp = (mean: number) => -Math.log(1 - random()) * mean;
  const stalls: [number, number][] = [];
  for (let spell = exp(30_000); spell < count * 1000; spell += 15_000 + exp(60_000)) {
    for (let t = spell + exp(1000); t < spell + 15_000; t += exp(1000)) {
      const d = exp(300);
      stalls.push([t, t + d]);
      t += d;
    }
  }
  const handledAt = (arrival: number) =>
    stalls.find(([from, to]) => arrival >= from && arrival < to)?.[1] ?? arrival;
  const receiver = new SlidingWindows(10);
  const limiter = new RateLimiter({ ratePerSecond: 8, clock: time.clock, sleep: time.sleep });
  let left = count;
  let refused = 0;
  const worker = async () => {
    while (left-- > 0) {
      for (;;) {
        const sentAt = await limiter.acquire();
        await time.sleep(handledAt(sentAt + 2 + random() * 8) - time.clock());
        const ok = receiver.take("client", time.clock());
        await time.sleep(20); // the answer's way back
        if (ok) break;
        refused++;
        if (adaptive) limiter.throttled(sentAt);
        limiter.pause(random() * 1000);
      }
    }
  };
  await time.run(Array.from({ length: 20 }, worker));
  return { refused, seconds: time.clock() / 1000, cuts: limiter.stats.rateCuts };
}

Deno.test("RateLimiter.throttled(): a receiver that counts stalled arrivals refuses fewer requests of an adaptive limiter than of a fixed one", async () => {
  const fixed = { refused: 0, seconds: 0 };
  const adaptive = { refused: 0, seconds: 0, cuts: 0 };
  for (let seed = 1; seed <= 8; seed++) {
    const f = await coldStart(false, seed, 2000);
    const a = await coldStart(true, seed, 2000);
    fixed.refused += f.refused;
    fixed.seconds += f.seconds;
    adaptive.refused += a.refused;
    adaptive.seconds += a.seconds;
    adaptive.cuts += a.cuts;
  }
  const summary = JSON.stringify({ fixed, adaptive });
  // 120 and 82 429s in 8 × 2,000 requests; 2,050 s and 2,082 s.
  assert.ok(adaptive.refused <= fixed.refused * 0.75, summary);
  // The cost: each cut runs slower for 5 s (0.8 s of requests at 8/s); 2,000 requests take
  // 250 s at 8/s.
  assert.ok(adaptive.seconds <= fixed.seconds * 1.03, summary);
  assert.ok(adaptive.cuts < adaptive.refused, `one cut an episode, not one a 429: ${summary}`);
});

Deno.test("RateLimiter logs each cut once, with the new rate, and the recovery once", async () => {
  const records: LogRecord[] = [];
  await setupLogging({ level: "debug", format: "pretty", sink: (r) => records.push(r) });
  try {
    let now = 1000;
    const limiter = new RateLimiter({ ratePerSecond: 8, clock: () => now, name: "Coinbase REST" });
    limiter.throttled(900);
    limiter.throttled(950); // sent before the cut: the same episode, no cut, no line
    now += 400;
    limiter.throttled(1300); // sent within a second of the cut: the same
    now += 4000; // 3 s quiet, then a step: 7.2/s
    assert.equal(limiter.stats.effectiveRatePerSecond, 7.2);
    now += 2000;
    assert.equal(limiter.stats.effectiveRatePerSecond, 8);
    assert.equal(limiter.stats.effectiveRatePerSecond, 8);
    const lines = records.filter((r) => r.category.join(".") === "spot.rest.limit");
    assert.deepEqual(lines.map((r) => [r.level, r.properties.ratePerSecond]), [
      ["warning", 6.4],
      ["info", 8],
    ]);
    assert.equal(lines[0]!.properties.name, "Coinbase REST");
    assert.match(String(lines[0]!.message.join("")), /paced at 6\.4\/s/);
  } finally {
    await reset();
  }
});
