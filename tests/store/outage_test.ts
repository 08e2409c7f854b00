/**
 * A Firestore outage (issue 25 part 4), against the real emulator behind a fault proxy: refused
 * connections, then hanging ones, then `503 UNAVAILABLE` answers, then back.
 *
 * Scale: the outage is 60 s in the issue and ~4.5 s here (1.5 s per face). What depends on its
 * length is scaled with it: the writer's retry backoff (20 ms first, 200 ms cap instead of 1 s /
 * 30 s), its flush interval (50 ms instead of 1 s) and its cap of queued completed candles (100
 * instead of 100,000), so that the cap is passed within the outage as a long one would pass
 * the real cap. The candles written are the simulator's truth for the last two hours (every
 * granularity), completed at a steady pace through the outage.
 */
import assert from "node:assert/strict";
import type { Candle } from "../../lib/candles/candle.ts";
import { bucketStart, GRANULARITIES } from "../../lib/candles/granularity.ts";
import { RestClient } from "../../lib/coinbase/rest.ts";
import { demoProducts, startSimulator } from "../../lib/coinbase/simulator.ts";
import { Refiller } from "../../lib/history/refill.ts";
import { FirestoreCandleStore } from "../../lib/store/firestore.ts";
import type { CandleDoc } from "../../lib/store/store.ts";
import { CandleWriter, type DroppedCandle } from "../../lib/store/writer.ts";
import { emulatorTest } from "../helpers/emulator.ts";
import { type FaultMode, FaultProxy } from "../helpers/fault_proxy.ts";
import { until } from "../helpers/service.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CAP = 100;

emulatorTest(
  "A Firestore outage (refused, hanging, 503 UNAVAILABLE) keeps the writer bounded and loses nothing",
  async (t, emulator) => {
    const [host, port] = emulator.host.split(":");
    const proxy = new FaultProxy({ hostname: host, port: Number(port) });
    const nowSec = Math.floor(Date.now() / 1000);
    const sim = await startSimulator({
      products: demoProducts(3),
      historyMs: 3 * 3600_000,
      historyTradesPerSecond: 0.2,
      rest: { publicLimit: { ratePerSecond: 1000, burst: 1000 } },
    });
    const ids = sim.market.products.map((p) => p.id);
    const viaProxy = new FirestoreCandleStore({
      emulatorHost: proxy.host,
      projectId: emulator.projectId,
    });
    const direct = new FirestoreCandleStore({
      emulatorHost: emulator.host,
      projectId: emulator.projectId,
    });
    const abort = new AbortController();
    const refiller = new Refiller({
      rest: new RestClient({
        baseUrl: sim.restUrl,
        ratePerSecond: 500,
        backoffBaseMs: 20,
        backoffMaxMs: 200,
      }),
      store: viaProxy,
      signal: abort.signal,
      backoff: { initialMs: 20, maxMs: 200 },
      settleS: 0,
    });
    const dropped: DroppedCandle[] = [];
    const writer = new CandleWriter(viaProxy, {
      flushIntervalMs: 50,
      backoffInitialMs: 20,
      backoffMaxMs: 200,
      maxPending: CAP,
      onDropped: (docs) => {
        dropped.push(...docs);
        refiller.add(docs);
      },
    });
    writer.start();
    try {
      // Every granularity's completed candles of the two hours before the last ten minutes, in
      // the order they complete.
      sim.market.advance(Date.now()); // the simulator generates its history when asked
      const toSec = nowSec - 600;
      const fromSec = bucketStart(toSec - 2 * 3600, GRANULARITIES[6]!);
      const completions: CandleDoc[] = [];
      for (const product of ids) {
        for (const g of GRANULARITIES.slice(0, 7)) {
          const last = bucketStart(toSec, g) - g.seconds;
          for (const candle of sim.market.candles(product, g, fromSec, last)) {
            completions.push({ product, granularity: g.id, candle });
          }
        }
      }
      const ends = (d: CandleDoc) =>
        d.candle.start + GRANULARITIES.find((g) => g.id === d.granularity)!.seconds;
      completions.sort((a, b) => ends(a) - ends(b));
      assert.ok(completions.length > 5 * CAP, `${completions.length} completions`);

      const live = new Map<string, Candle>();
      let pushed = 0;
      let maxCompleted = 0;
      let maxLive = 0;
      const lastErrors = new Set<string>();
      /** Completes `n` more candles and updates every live document, then notes the queue. */
      const step = (n: number) => {
        for (const d of completions.slice(pushed, pushed + n)) {
          writer.push({ ...d, complete: true });
        }
        pushed = Math.min(completions.length, pushed + n);
        for (const product of ids) {
          for (const g of GRANULARITIES) {
            const start = bucketStart(nowSec, g);
            const close = 100 + pushed / 1000;
            const candle = { start, open: 100, high: close, low: 100, close, volume: pushed };
            live.set(`${product}|${g.id}`, candle);
            writer.push({ product, granularity: g.id, candle, complete: false });
          }
        }
        const s = writer.stats();
        maxCompleted = Math.max(maxCompleted, s.pendingCompleted);
        maxLive = Math.max(maxLive, s.pendingLive);
        if (s.lastError) lastErrors.add(s.lastError.message.replace(/\d+/g, "N"));
      };
      const phase = async (mode: FaultMode, ms: number, perTick: number) => {
        await proxy.setMode(mode);
        const end = Date.now() + ms;
        while (Date.now() < end) {
          step(perTick);
          await sleep(50);
        }
      };
      const perTick = Math.ceil(completions.length / 110);

      await t.step("writes land while the store answers", async () => {
        await phase("pass", 500, perTick);
        await until(() => writer.stats().writesTotal > 0, 5000, "a first write");
        assert.equal(writer.stats().failingSinceMs, null);
      });

      await t.step("refused, hanging, then 503: bounded, failing, reported", async () => {
        await phase("refuse", 1500, perTick);
        assert.notEqual(writer.stats().failingSinceMs, null, "failing while refused");
        await phase("hang", 1500, perTick);
        await phase("unavailable", 1500, perTick);
        const s = writer.stats();
        assert.notEqual(s.failingSinceMs, null);
        assert.ok(s.failingForMs! >= 4000, `failing for ${s.failingForMs} ms`);
        assert.ok(proxy.stats().answered503 > 0, "the 503 face was seen");
        assert.ok(proxy.stats().accepted.hang > 0, "the hanging face was seen");
        assert.ok(maxCompleted <= CAP, `at most ${CAP} completed candles queued (${maxCompleted})`);
        assert.ok(maxLive <= ids.length * 8, `live documents coalesce (${maxLive})`);
        assert.ok(s.droppedTotal > 0 && s.overCapacity, "the cap was passed");
        assert.equal(dropped.length, s.droppedTotal, "every drop was handed to the refill");
        assert.ok(
          [...lastErrors].some((m) => /UNAVAILABLE/.test(m)),
          `errors: ${[...lastErrors].join(" | ")}`,
        );
      });

      await t.step("back: everything is written, 0 lost, 0 wrong", async () => {
        await phase("pass", 300, completions.length);
        assert.equal(pushed, completions.length);
        assert.deepEqual(await writer.flush(20_000), { pending: 0, timedOut: false });
        await refiller.idle();
        const r = refiller.stats();
        assert.ok(r.refilled >= dropped.length, `${r.refilled} refilled of ${dropped.length}`);
        assert.equal(r.failed, 0);
        assert.equal(writer.stats().overCapacity, false);
        let compared = 0;
        for (const product of ids) {
          for (const g of GRANULARITIES.slice(0, 7)) {
            const truth = completions.filter((d) => d.product === product && d.granularity === g.id)
              .map((d) => d.candle);
            const stored = await direct.readCompleted(product, g.id, {
              start: fromSec,
              end: nowSec,
              limit: 5000,
            });
            assert.deepEqual(stored, truth, `${product} ${g.id}`);
            compared += truth.length;
          }
          const docs = await direct.readLive(product);
          for (const g of GRANULARITIES) {
            const doc = docs.find((d) => d.granularity === g.id);
            assert.deepEqual(
              doc?.candle,
              live.get(`${product}|${g.id}`),
              `${product} live ${g.id}`,
            );
          }
        }
        assert.equal(compared, completions.length);
      });
    } finally {
      abort.abort();
      await writer.stop(2000);
      await proxy.close();
      await viaProxy.close();
      await direct.close();
      await sim.close();
    }
  },
);
