/**
 * A Firestore outage seen by the whole service (issue 25 part 4): the real service, trading
 * against the Coinbase simulator on an accelerated clock, writes to the real emulator through
 * a fault proxy that refuses connections, then hangs them, then answers `503 UNAVAILABLE`, then
 * passes again. During the outage the live path and SSE keep flowing, `/health` answers 200
 * `degraded` naming the store, and pending writes stay bounded (the writer's cap is passed, its
 * oldest completed candles dropped from memory, logged once); once the store is back, `/health`
 * is healthy, nothing is pending, the REST refill is done, and every stored completed candle of
 * every granularity and every live document equals the simulator's truth.
 *
 * Scale: the outage is 60 s; here each face lasts {@linkcode FACE_MS} (3 s of real
 * time, 9 s in all: 3/20 of it) so that the test stays well under a minute. The market clock
 * runs 20× the wall clock (3 market minutes in the outage: at least 3 minutes complete per
 * product, plus the coarser buckets crossed), so completions pile up as in a long outage on a
 * full shard. What depends on the outage's length is scaled with it: the writer's cap of queued
 * completed candles is {@linkcode CAP} (100,000 in production, over an hour of a full shard's
 * completions; here a fraction of the outage's completions, so it is passed), its retry backoff
 * is 100 ms first, 1 s at most (1 s / 30 s in production: a 30 s wait would outlast the scaled
 * outage three times over), and a call hanging 1 s counts as failing (30 s in production: the
 * hanging face lasts 3 s here).
 *
 * A cap this small is also passed at startup (the seed tiles and the startup repair's
 * corrections go through the same queue, and the emulator on a loaded 2-core machine commits in
 * seconds); those drops are refilled like any other. The outage starts once the writer is back
 * under its cap and the refill idle, so its drops are its own episode (one log line).
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { reset } from "@logtape/logtape";
import { bucketStart, GRANULARITIES, ONE_MINUTE } from "../../lib/candles/granularity.ts";
import type { Clock } from "../../lib/clock.ts";
import { setupLogging } from "../../lib/log.ts";
import { FirestoreCandleStore } from "../../lib/store/firestore.ts";
import { createApp } from "../../routes/app.ts";
import type { CandleEvent } from "../../routes/sse.ts";
import { emulatorTest } from "../helpers/emulator.ts";
import { type FaultMode, FaultProxy } from "../helpers/fault_proxy.ts";
import { type Harness, startHarness, until } from "../helpers/service.ts";

const SPEED = 20;
/** 11:57:30 UTC: after a quick startup the outage spans noon (buckets up to 6 h complete). */
const START = Date.UTC(2026, 2, 14, 11, 57, 30);
/** Real ms per face of the outage. */
const FACE_MS = 3000;
/** Completed candles the writer queues at most (see the module comment). */
const CAP = 4;
const PRODUCTS = 3;
/** Live documents: one per product and granularity. */
const LIVE_DOCS = PRODUCTS * GRANULARITIES.length;
/**
 * Pending writes at most: queued completed candles (≤ CAP) and live documents (≤ one each),
 * plus one cycle's batch in flight (taken from those queues, so at most as many again).
 */
const PENDING_BOUND = 2 * (CAP + LIVE_DOCS);

/** An accelerated clock that can stand still (the end compares open candles with the truth). */
function freezableClock(speed: number, startMs: number): { clock: Clock; freeze(): number } {
  const origin = performance.now();
  let frozen: number | undefined;
  const clock = () => frozen ?? Math.floor(startMs + (performance.now() - origin) * speed);
  return { clock, freeze: () => frozen = clock() };
}

/** An SSE client reading `/api/stream` in the background. */
interface SseClient {
  events: { atMs: number; event: CandleEvent }[];
  close(): Promise<void>;
}

function sseClient(response: Response): SseClient {
  equal(response.status, 200);
  match(response.headers.get("content-type") ?? "", /text\/event-stream/);
  const events: SseClient["events"] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const reading = (async () => {
    let text = "";
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      text += value;
      let end;
      while ((end = text.indexOf("\n\n")) >= 0) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const data = /^event: candle\ndata: (.*)$/m.exec(block);
        if (data) events.push({ atMs: Date.now(), event: JSON.parse(data[1]!) });
      }
    }
  })();
  return {
    events,
    close: async () => {
      await reader.cancel().catch(() => {});
      await reading;
    },
  };
}

emulatorTest(
  "service end to end: a Firestore outage (refused, hanging, 503) keeps the live path and SSE up, /health degraded, writes bounded, and loses nothing",
  async (t, emulator) => {
    const records: LogRecord[] = [];
    await setupLogging({ level: "info", format: "pretty", sink: (r) => records.push(r) });
    const [host, port] = emulator.host.split(":");
    const proxy = new FaultProxy({ hostname: host, port: Number(port) });
    const direct = new FirestoreCandleStore({
      emulatorHost: emulator.host,
      projectId: emulator.projectId,
    });
    const { clock, freeze } = freezableClock(SPEED, START);
    let h: Harness | undefined;
    let server: Deno.HttpServer<Deno.NetAddr> | undefined;
    const clients: SseClient[] = [];
    const began = Date.now();
    try {
      h = await startHarness({
        clock,
        products: PRODUCTS,
        // The day so far (the live ONE_DAY candle) and the catch-up's hour.
        historyMs: 13 * 3600_000,
        env: { CATCHUP_HOURS: "1" },
        store: new FirestoreCandleStore({
          emulatorHost: proxy.host,
          projectId: emulator.projectId,
        }),
        writer: { maxPending: CAP, backoffInitialMs: 100, backoffMaxMs: 1000, stallMs: 1000 },
      });
      const { service, sim, ids } = h;
      const app = createApp(service);
      server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
      const health = async () => {
        const res = await app.fetch(new Request("http://localhost/health"));
        return { code: res.status, body: await res.json() };
      };
      const storeStatus = () => service.status().store;
      const writerLogs = (pattern: RegExp) =>
        records.filter((r) =>
          r.category.join(".") === "spot.store.writer" && pattern.test(String(r.rawMessage))
        ).length;
      const OVER = /over capacity/;
      const UNDER = /back under capacity/;

      await until(() => service.phase === "running", 30_000, "startup (seeding)");
      await service.ready();
      await until(
        () =>
          ids.every((id) =>
            service.repairHistory(id).some((r) => r.reason === "startup" && r.repairedAt)
          ),
        20_000,
        "the startup repair",
      );
      const cutoffSec = service.repairHistory(ids[0]!).find((r) => r.reason === "startup")!
        .fromSec;

      await t.step("before: healthy, the writer under its cap, SSE clients streaming", async () => {
        await until(
          async () => {
            const r = storeStatus().refill!;
            return (await health()).body.status === "healthy" && !r.running &&
              r.pendingRuns === 0 && writerLogs(OVER) === writerLogs(UNDER);
          },
          20_000,
          `healthy, under the cap, refill idle (${JSON.stringify(storeStatus())})`,
        );
        const query = `products=${ids.join(",")}&granularities=ONE_MINUTE,FIVE_MINUTE`;
        clients.push(
          sseClient(await app.fetch(new Request(`http://localhost/api/stream?${query}`))),
          sseClient(
            await fetch(`http://127.0.0.1:${server!.addr.port}/api/stream?${query}`),
          ),
        );
        await until(() => clients.every((c) => c.events.length > 0), 5000, "first SSE events");
      });

      const outageStart = Date.now();
      const startupMs = outageStart - began;
      const outageAt = clock();
      const before = {
        dropped: storeStatus().droppedTotal!,
        over: writerLogs(OVER),
        refilled: storeStatus().refill!.refilled,
      };
      let maxPending = 0;
      let firstDegradedMs: number | undefined;
      const reasons = new Set<string>();
      /** One face: the live path flows, /health is 200 degraded naming the store, bounded. */
      const face = async (mode: FaultMode) => {
        await proxy.setMode(mode);
        const from = Date.now();
        const trades = service.status().aggregator!.trades;
        const seen = clients.map((c) => c.events.length);
        let degraded = 0;
        while (Date.now() - from < FACE_MS) {
          const { code, body } = await health();
          equal(code, 200, `${mode}: /health ${code}: ${JSON.stringify(body)}`);
          if (body.status === "degraded") {
            degraded++;
            firstDegradedMs ??= Date.now() - outageStart;
            match(body.reason, /store writes failing/, `${mode}: ${body.reason}`);
            reasons.add(body.reason.replace(/\d+/g, "N"));
          } else {
            // Healthy only until the writer's first failed (or stalled) call, and never again
            // while the store is down.
            equal(firstDegradedMs, undefined, `${mode}: ${JSON.stringify(body)}`);
            equal(body.status, "healthy");
          }
          const pending = storeStatus().pendingWrites;
          maxPending = Math.max(maxPending, pending);
          ok(pending <= PENDING_BOUND, `${mode}: ${pending} writes pending`);
          await new Promise((r) => setTimeout(r, 100));
        }
        ok(degraded > 0, `${mode}: degraded`);
        ok(service.status().aggregator!.trades > trades, `${mode}: trades counted`);
        for (const [i, c] of clients.entries()) {
          const fresh = c.events.slice(seen[i]);
          ok(fresh.length > 10, `${mode}: SSE client ${i} got ${fresh.length} events`);
        }
      };

      await t.step("refused, hanging, then 503: live path up, degraded, bounded", async () => {
        await face("refuse");
        await face("hang");
        await face("unavailable");
        equal(storeStatus().ok, false, "the store is failing");
        ok(proxy.stats().accepted.hang > 0, "the hanging face was seen");
        ok(proxy.stats().answered503 > 0, "the 503 face was seen");
        ok(
          [...reasons].some((r) => /UNAVAILABLE/.test(r)),
          `reasons: ${[...reasons].join(" | ")}`,
        );
        const s = storeStatus();
        ok(s.droppedTotal! > before.dropped, `the cap was passed (${s.droppedTotal} dropped)`);
        equal(s.refill!.dropped, s.droppedTotal, "every drop was handed to the refill");
        equal(s.refill!.refilled, before.refilled, "no refill while the store is down");
        equal(writerLogs(OVER) - before.over, 1, "the drops are logged once");
        // Completed minutes went out over SSE while the store was down, equal to the truth.
        const completed = clients[0]!.events.filter((e) =>
          e.atMs >= outageStart && e.event.complete && e.event.granularity === "ONE_MINUTE"
        );
        ok(completed.length >= PRODUCTS, `${completed.length} completed minutes over SSE`);
        for (const { event: e } of completed) {
          const [truth] = sim.market.candles(e.product_id, ONE_MINUTE, e.start, e.start);
          const { start, open, high, low, close, volume } = e;
          deepStrictEqual(
            { start, open, high, low, close, volume },
            truth,
            `${e.product_id} minute ${start} over SSE`,
          );
        }
      });
      const outageMs = Date.now() - outageStart;

      await t.step("back: healthy, refilled, nothing pending, 0 lost, 0 wrong", async () => {
        await proxy.setMode("pass");
        const back = Date.now();
        await until(async () => (await health()).body.status === "healthy", 15_000, "healthy");
        const healthyAfterMs = Date.now() - back;
        await until(
          () => {
            const r = storeStatus().refill!;
            return r.pendingRuns === 0 && !r.running && r.refilled >= r.dropped;
          },
          30_000,
          `the refill (${JSON.stringify(storeStatus().refill)})`,
        );
        const refilledAfterMs = Date.now() - back;
        equal(storeStatus().refill!.failed, 0);
        // Stop the market 20–40 s into a minute (past the 5 s grace of the minute before) a
        // minute after the outage, so that the open candles stand still and the last
        // completions are out.
        await until(
          () => {
            const s = (clock() / 1000) % 60;
            return clock() > outageAt + outageMs * SPEED + 60_000 && s >= 20 && s < 40;
          },
          15_000,
          "a quiet point after the outage",
        );
        const frozenMs = freeze();
        const frozenAt = Date.now();
        await new Promise((r) => setTimeout(r, 500)); // the simulator's last frames
        await until(() => storeStatus().pendingWrites === 0, 15_000, "nothing pending");
        equal((await health()).body.status, "healthy");
        let compared = 0;
        for (const product of ids) {
          for (const g of GRANULARITIES) {
            const open = bucketStart(frozenMs / 1000, g);
            if (g.id !== "ONE_DAY") {
              // History caught up (CATCHUP_HOURS=1 before the seed cutoff), then every bucket the
              // live path completed, the outage's included (no day completes in the test).
              const from = bucketStart(cutoffSec - 3600, g);
              const last = open - g.seconds;
              const stored = await direct.readCompleted(product, g.id, {
                start: from,
                end: last,
                limit: 5000,
              });
              const truth = sim.market.candles(product, g, from, last);
              const bad = truth.find((c, i) => JSON.stringify(c) !== JSON.stringify(stored[i]));
              deepStrictEqual(
                stored,
                truth,
                `${product} ${g.id}: first difference at ${bad?.start} of ${truth.length}`,
              );
              compared += truth.length;
            }
            const live = (await direct.readLive(product)).find((d) => d.granularity === g.id);
            deepStrictEqual(
              live?.candle,
              sim.market.candles(product, g, open, open)[0],
              `${product} live ${g.id}`,
            );
          }
        }
        ok(compared > 80 * PRODUCTS, `compared ${compared} completed candles`);
        const s = storeStatus();
        // deno-lint-ignore no-console
        console.log(
          `startup to outage ${startupMs} ms; outage ${outageMs} ms (${
            outageMs * SPEED / 1000
          } s of market time), degraded after ` +
            `${firstDegradedMs} ms; ${s.droppedTotal! - before.dropped} dropped past the cap of ` +
            `${CAP} (${s.droppedTotal} since start, ${s.refill!.refilled} refilled); at most ` +
            `${maxPending} writes pending (bound ${PENDING_BOUND}); healthy ${healthyAfterMs} ms ` +
            `and refilled ${refilledAfterMs} ms after; ${compared} completed candles and ` +
            `${LIVE_DOCS} live documents equal the truth (${
              Date.now() - frozenAt
            } ms after the freeze)`,
        );
      });
    } finally {
      for (const c of clients) await c.close();
      await server?.shutdown();
      await h?.close();
      await proxy.close();
      await direct.close();
      await reset();
    }
  },
);
