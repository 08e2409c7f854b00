import assert from "node:assert/strict";
import type { CandleUpdate } from "../../lib/candles/candle.ts";
import { FirestoreCandleStore } from "../../lib/store/firestore.ts";
import { CandleWriter } from "../../lib/store/writer.ts";
import { emulatorTest } from "../helpers/emulator.ts";

const T0 = 1773500700;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Minute `i` completes and minute `i + 1` goes live, as the aggregator would emit them. */
function minute(i: number): CandleUpdate[] {
  const candle = (start: number, close: number) => ({
    start,
    open: 100,
    high: Math.max(100, close),
    low: Math.min(100, close),
    close,
    volume: 0.5 + i / 1e8,
  });
  return [
    {
      product: "BTC-USD",
      granularity: "ONE_MINUTE",
      candle: candle(T0 + 60 * i, 1000 + i),
      complete: true,
    },
    {
      product: "BTC-USD",
      granularity: "ONE_MINUTE",
      candle: candle(T0 + 60 * (i + 1), 2000 + i),
      complete: false,
    },
    {
      product: "BTC-USD",
      granularity: "ONE_HOUR",
      candle: candle(T0 - (T0 % 3600), 2000 + i),
      complete: false,
    },
  ];
}

emulatorTest(
  "FirestoreCandleStore + CandleWriter survive an emulator restart mid-stream",
  async (t, emulator) => {
    const store = new FirestoreCandleStore({
      emulatorHost: emulator.host,
      projectId: emulator.projectId,
    });
    const writer = new CandleWriter(store, {
      flushIntervalMs: 100,
      backoffInitialMs: 100,
      backoffMaxMs: 500,
    });
    writer.start();
    let next = 0;
    const pushFor = async (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        for (const u of minute(next)) writer.push(u);
        next++;
        await sleep(25);
      }
    };
    try {
      await t.step("before the restart: a stream of candles lands", async () => {
        await pushFor(600);
        assert.deepEqual(await writer.flush(5000), { pending: 0, timedOut: false });
        const stored = await store.readCompleted("BTC-USD", "ONE_MINUTE", { limit: 5000 });
        assert.equal(stored.length, next);
      });

      await t.step("while the emulator is down and after it is back, nothing is lost", async () => {
        // The emulator keeps data in memory only: export what is stored, kill it abruptly, keep
        // pushing while it is down (the writer's calls fail or hang in the client's retries),
        // then start it again on the same port with the export.
        const saved = await emulator.exportData();
        const beforeKill = next;
        await emulator.kill();
        await pushFor(1500);
        assert.ok(writer.stats().pending > 0, "writes are pending while the emulator is down");
        await emulator.start({ importFrom: saved });
        await pushFor(1000);
        const result = await writer.flush(20_000);
        assert.deepEqual(result, { pending: 0, timedOut: false });
        assert.ok(next > beforeKill + 40, `pushed ${next - beforeKill} minutes across the restart`);

        const stored = await store.readCompleted("BTC-USD", "ONE_MINUTE", { limit: 5000 });
        assert.deepEqual(
          stored.map((c) => [c.start, c.close]),
          Array.from({ length: next }, (_, i) => [T0 + 60 * i, 1000 + i]),
          "every completed candle, before, during and after the outage, exactly once",
        );
        const live = await store.readLive("BTC-USD");
        assert.deepEqual(
          live.map((d) => [d.granularity, d.candle.start, d.candle.close]),
          [
            ["ONE_MINUTE", T0 + 60 * next, 2000 + next - 1],
            ["ONE_HOUR", T0 - (T0 % 3600), 2000 + next - 1],
          ],
          "the live documents hold the latest values",
        );
      });
    } finally {
      await writer.stop(5000);
      await store.close();
    }
  },
);
