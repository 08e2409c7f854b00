import assert from "node:assert/strict";
import { parseUnits } from "../../lib/candles/decimal.ts";
import { parseGranularity } from "../../lib/candles/granularity.ts";
import { demoProducts, type Simulator, startSimulator } from "../../lib/coinbase/simulator.ts";
import { createJwtSigner } from "../../lib/coinbase/auth.ts";
import { parseFrame, parseTrade, type ServerFrame } from "../../lib/coinbase/messages.ts";
import { checkJwtShape } from "../../lib/coinbase/simulator/ws_client.ts";

type Raw = Record<string, unknown> & {
  sequence_num?: number;
  channel?: string;
  events?: unknown[];
};

/** A bare WebSocket client recording raw frames. */
class Client {
  readonly frames: Raw[] = [];
  readonly texts: string[] = [];
  closeCode?: number;
  readonly closed: Promise<void>;
  constructor(readonly ws: WebSocket) {
    ws.onmessage = (e) => {
      this.texts.push(e.data);
      try {
        this.frames.push(JSON.parse(e.data));
      } catch {
        this.frames.push({ garbage: e.data });
      }
    };
    this.closed = new Promise((r) => ws.onclose = (e) => (this.closeCode = e.code, r()));
  }
  static async open(sim: Simulator): Promise<Client> {
    const c = new Client(new WebSocket(sim.wsUrl));
    await new Promise((r) => c.ws.onopen = r);
    return c;
  }
  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }
  of(channel: string): Raw[] {
    return this.frames.filter((f) => f.channel === channel);
  }
  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    await this.closed;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function withSim(
  ws: Record<string, unknown>,
  fn: (sim: Simulator) => Promise<void>,
): Promise<void> {
  const sim = await startSimulator({
    products: demoProducts(3, { tradesPerSecond: 10 }),
    historyMs: 60_000,
    historyTradesPerSecond: 10,
    ws: { heartbeatIntervalMs: 100, flushIntervalMs: 50, candleIntervalMs: 100, ...ws },
  });
  try {
    await fn(sim);
  } finally {
    await sim.close();
  }
}

Deno.test("WsSimulator speaks the market-data protocol", async (t) => {
  await withSim({}, async (sim) => {
    const c = await Client.open(sim);
    c.send({ type: "subscribe", channel: "market_trades", product_ids: ["BTC-USD", "NOPE-USD"] });
    c.send({ type: "subscribe", channel: "heartbeats" });
    await until("trade updates and heartbeats", () =>
      c.of("heartbeats").length >= 3 &&
      c.of("market_trades").some((f) => (f.events![0] as Raw).type === "update"));
    await c.close();

    await t.step("one 0-based sequence counter per connection, +1 per frame", () => {
      assert.deepEqual(c.frames.map((f) => f.sequence_num), c.frames.map((_, i) => i));
    });
    await t.step("envelope: Go timestamps, no client_id by default", () => {
      for (const f of c.frames) {
        assert.equal("client_id" in f, false);
        assert.match(String(f.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
        assert.ok(!/\.\d*0Z$/.test(String(f.timestamp)), "trailing zeros are trimmed");
      }
    });
    await t.step("a snapshot of the 100 latest trades, newest first, before the ack", () => {
      const snap = c.frames[0]!;
      assert.equal(snap.channel, "market_trades");
      const ev = snap.events![0] as {
        type: string;
        trades: { trade_id: string; product_id: string }[];
      };
      assert.equal(ev.type, "snapshot");
      assert.equal(ev.trades.length, 100);
      assert.ok(ev.trades.every((x) => x.product_id === "BTC-USD"));
      const ids = ev.trades.map((x) => Number(x.trade_id));
      assert.deepEqual(ids, [...ids].sort((a, b) => b - a));
      const latest = sim.market.latestTrades("BTC-USD", 1, Date.now())[0]!;
      assert.ok(ids[0]! <= latest.parsed.id);
    });
    await t.step("the market's parsed trades are what parseTrade reads from the wire", () => {
      const trades = sim.market.latestTrades("BTC-USD", 100, Date.now());
      assert.equal(trades.length, 100);
      for (const t of trades) {
        const { parsed, timeUs: _, ...wire } = t;
        assert.deepEqual(parseTrade(wire), parsed, t.trade_id);
      }
    });
    await t.step("the ack lists the full set with the unknown product left out", () => {
      const acks = c.of("subscriptions").map((f) => (f.events![0] as Raw).subscriptions);
      assert.deepEqual(acks, [
        { market_trades: ["BTC-USD"] },
        { market_trades: ["BTC-USD"], heartbeats: ["heartbeats"] },
      ]);
    });
    await t.step("updates: string fields, maker side, newest first", () => {
      const updates = c.of("market_trades").slice(1);
      assert.ok(updates.length > 0);
      for (const u of updates) {
        const trades = (u.events![0] as { trades: Record<string, unknown>[] }).trades;
        const times = trades.map((x) => Date.parse(String(x.time)));
        assert.deepEqual(times, [...times].sort((a, b) => b - a));
        for (const x of trades) {
          // The recorded field order (tests/fixtures/coinbase-real).
          assert.deepEqual(Object.keys(x), [
            "product_id",
            "trade_id",
            "price",
            "size",
            "time",
            "side",
          ]);
          assert.ok(Object.values(x).every((v) => typeof v === "string"));
          assert.ok(x.side === "BUY" || x.side === "SELL");
        }
      }
    });
    await t.step("heartbeats: integer server counter starting high, +1 each", () => {
      const counters = c.of("heartbeats").map((f) =>
        (f.events![0] as Raw).heartbeat_counter as number
      );
      assert.ok(counters[0]! > 1000);
      for (let i = 1; i < counters.length; i++) assert.equal(counters[i], counters[i - 1]! + 1);
      const ct = String((c.of("heartbeats")[0]!.events![0] as Raw).current_time);
      assert.match(ct, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC m=\+\d+\.\d{9}$/);
    });
  });
});

Deno.test("WsSimulator answers bad subscriptions with authentication failure", async (t) => {
  await withSim({}, async (sim) => {
    const c = await Client.open(sim);
    const cases: [string, unknown][] = [
      ["channels array", {
        type: "subscribe",
        channels: ["market_trades"],
        product_ids: ["BTC-USD"],
      }],
      ["unknown channel", { type: "subscribe", channel: "heartbeat" }],
      ["non-string channel", { type: "subscribe", channel: 5 }],
      ["malformed jwt", { type: "subscribe", channel: "heartbeats", jwt: "not.a.jwt" }],
      ["not JSON", "hello"],
    ];
    for (const [name, msg] of cases) {
      await t.step(name, async () => {
        const before = c.frames.length;
        c.send(msg);
        await until("a reply", () => c.frames.length > before);
        assert.deepEqual(c.frames[before], { type: "error", message: "authentication failure" });
      });
    }
    await t.step(
      "a well-formed jwt is accepted; error frames carry no sequence number",
      async () => {
        const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
          "sign",
        ]) as CryptoKeyPair;
        const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
        const seed = atob(jwk.d!.replace(/-/g, "+").replace(/_/g, "/"));
        const signer = createJwtSigner({
          name: "organizations/o/apiKeys/k",
          privateKey: btoa(seed),
        });
        const before = c.frames.length;
        c.send({ type: "subscribe", channel: "heartbeats", jwt: await signer.forWebSocket() });
        await until(
          "the ack",
          () => c.frames.slice(before).some((f) => f.channel === "subscriptions"),
        );
        const ack = c.frames.slice(before).find((f) => f.channel === "subscriptions")!;
        assert.equal(ack.sequence_num, 0, "the errors before it consumed no sequence numbers");
      },
    );
    await c.close();
  });
  await t.step("checkJwtShape() requires alg, kid, sub, iss, nbf and exp", () => {
    const enc = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, "");
    const now = Date.now();
    const claims = { sub: "k", iss: "cdp", nbf: now / 1000, exp: now / 1000 + 120 };
    const tok = (h: unknown, c: unknown) => `${enc(h)}.${enc(c)}.sig`;
    assert.ok(checkJwtShape(tok({ alg: "ES256", kid: "k" }, claims), now));
    assert.ok(!checkJwtShape(tok({ alg: "HS256", kid: "k" }, claims), now));
    assert.ok(!checkJwtShape(tok({ alg: "ES256" }, claims), now));
    assert.ok(
      !checkJwtShape(tok({ alg: "ES256", kid: "k" }, { ...claims, iss: "coinbase-cloud" }), now),
    );
    assert.ok(
      !checkJwtShape(tok({ alg: "ES256", kid: "k" }, { ...claims, exp: now / 1000 - 1 }), now),
    );
    assert.ok(!checkJwtShape(tok({ alg: "ES256", kid: "k" }, { ...claims, nbf: undefined }), now));
  });
});

Deno.test("WsSimulator enforces the subscribe deadline and the idle close", async (t) => {
  await withSim({ subscribeDeadlineMs: 150, idleCloseMs: 200 }, async (sim) => {
    await t.step("no subscribe within the deadline closes the socket", async () => {
      const c = await Client.open(sim);
      await c.closed;
      assert.equal(c.closeCode, 4001);
    });
    await t.step("without heartbeats an idle connection is closed", async () => {
      const c = await Client.open(sim);
      c.send({ type: "subscribe", channel: "candles", product_ids: ["NOPE-USD"] });
      await c.closed;
      assert.equal(c.closeCode, 4002);
    });
    await t.step("heartbeats keep an idle connection open", async () => {
      const c = await Client.open(sim);
      c.send({ type: "subscribe", channel: "heartbeats" });
      await sleep(500);
      assert.equal(c.closeCode, undefined);
      await c.close();
    });
  });
});

Deno.test("WsSimulator sends cumulative 5-minute candles and switchable client_id", async () => {
  await withSim({ clientId: true }, async (sim) => {
    const c = await Client.open(sim);
    c.send({ type: "subscribe", channel: "candles", product_ids: ["BTC-USD"] });
    c.send({ type: "subscribe", channel: "heartbeats" });
    await until("candle updates", () => c.of("candles").length >= 3);
    sim.ws.clientId = false;
    const n = c.frames.length;
    await until("more frames", () => c.frames.length > n + 2);
    await c.close();
    assert.ok(c.frames.slice(0, n).every((f) => f.client_id === ""));
    assert.ok(c.frames.slice(n + 1).every((f) => !("client_id" in f)));
    const frames = c.texts.map(parseFrame).filter((
      f,
    ): f is Extract<ServerFrame, { kind: "candles" }> => f.kind === "candles");
    for (const f of frames) {
      // The open bucket when the frame was sent (a run may cross a bucket's end): an update's
      // only candle, a snapshot's last.
      const sentAt = f.timestampMs! / 1000;
      const candle = f.candles.at(-1);
      assert.equal(candle!.start % 300, 0);
      assert.ok(candle!.start <= sentAt && sentAt - candle!.start < 300, JSON.stringify(f));
      const truth = sim.market.candles(
        "BTC-USD",
        { id: "FIVE_MINUTE", short: "5m", seconds: 300, rest: "FIVE_MINUTE", index: 1 },
        candle!.start,
        candle!.start,
      )[0]!;
      assert.equal(candle!.open, truth.open);
      assert.ok(candle!.volume <= truth.volume);
    }
    // Within one bucket each frame restates it with at least the volume before (a new bucket
    // starts over; a snapshot's open bucket is its last candle).
    const open = frames.map((f) => f.candles.at(-1)!);
    const sameBucket = open.filter((c, i) => i > 0 && c.start === open[i - 1]!.start);
    assert.ok(sameBucket.length > 0, "no two frames of one bucket");
    assert.ok(
      open.every((c, i) =>
        i === 0 || c.start !== open[i - 1]!.start || c.volume >= open[i - 1]!.volume
      ),
      "candles are cumulative",
    );
  });
});

Deno.test("WsSimulator fault injection", async (t) => {
  await withSim({}, async (sim) => {
    const a = await Client.open(sim);
    const b = await Client.open(sim);
    a.send({ type: "subscribe", channel: "market_trades", product_ids: ["BTC-USD"] });
    b.send({ type: "subscribe", channel: "market_trades", product_ids: ["ETH-USD"] });
    for (const c of [a, b]) c.send({ type: "subscribe", channel: "heartbeats" });
    await until(
      "both subscribed",
      () => a.of("heartbeats").length > 0 && b.of("heartbeats").length > 0,
    );

    await t.step("withheld frames leave a sequence gap and are recorded", async () => {
      const n = a.frames.length;
      assert.equal(sim.withholdFrames(1, { product: "BTC-USD" }), 1);
      await until("the withheld frame", () => sim.ws.withheldTrades.length > 0);
      await until("a frame after it", () => a.frames.length > n + 2);
      const seqs = a.frames.slice(n - 1).map((f) => f.sequence_num!);
      assert.ok(seqs.some((s, i) => i > 0 && s === seqs[i - 1]! + 2), `no gap in ${seqs}`);
      assert.ok(sim.ws.withheldTrades.every((x) => x.product_id === "BTC-USD"));
    });
    await t.step("a stall sends nothing to that socket only", async () => {
      // Long enough that a loaded machine's late timers cannot outlast it before the check.
      sim.stall(1500, { product: "BTC-USD" });
      const na = a.frames.length;
      const nb = b.frames.length;
      await until("frames on the other socket", () => b.frames.length > nb + 1);
      assert.equal(a.frames.length, na);
      await until("the stall to end", () => a.frames.length > na);
    });
    await t.step("duplicates repeat the frame, replays resend old trades", async () => {
      await until("an update", () => a.texts.some((x) => x.includes('"update"')));
      const n = a.texts.length;
      sim.duplicateLastFrame({ product: "BTC-USD" });
      sim.replayTrades(3, { product: "BTC-USD" });
      sim.sendError("Failed to subscribe", { product: "BTC-USD" });
      sim.sendGarbage(4, { product: "BTC-USD" });
      await until("the fault frames", () => a.texts.length >= n + 7);
      // The last frame sent before the fault may be a heartbeat or an update: any verbatim repeat.
      assert.ok(new Set(a.texts).size < a.texts.length, "no frame was repeated verbatim");
      assert.ok(a.texts.some((x) => x === '{"type":"error","message":"Failed to subscribe"}'));
    });
    await t.step("drop closes only the matching sockets", async () => {
      assert.equal(sim.dropConnections({ product: "ETH-USD" }), 1);
      await b.closed;
      assert.equal(b.closeCode, 4000);
      await until("the count to drop", () => sim.connections() === 1);
    });
    await a.close();
  });
});

Deno.test("WsSimulator candles snapshot: one frame per product, the latest 100 buckets as recorded", async () => {
  const sim = await startSimulator({
    products: demoProducts(2, { tradesPerSecond: 1 }),
    historyMs: 12 * 3600_000,
    historyTradesPerSecond: 0.01,
    ws: { heartbeatIntervalMs: 100, flushIntervalMs: 50, candleIntervalMs: 100 },
  });
  try {
    const c = await Client.open(sim);
    c.send({ type: "subscribe", channel: "candles", product_ids: ["BTC-USD", "ETH-USD"] });
    await until("the ack", () => c.of("subscriptions").length > 0);
    await c.close();
    const snaps = c.of("candles").filter((f) =>
      (f.events![0] as { type: string }).type === "snapshot"
    );
    assert.equal(snaps.length, 2, "one snapshot frame per product");
    const now = Date.now() / 1000;
    const five = parseGranularity("FIVE_MINUTE");
    for (const [i, product] of ["BTC-USD", "ETH-USD"].entries()) {
      const list = (snaps[i]!.events![0] as { candles: Record<string, string>[] }).candles;
      assert.equal(list.length, 100, `${product}: 100 non-empty buckets`);
      assert.ok(list.every((x) => x.product_id === product));
      const starts = list.map((x) => Number(x.start));
      assert.deepEqual(starts, [...starts].sort((a, b) => a - b), "oldest first");
      assert.ok(starts.every((s) => s % 300 === 0), "5-minute buckets");
      const open = Math.floor(now / 300) * 300;
      const done = list.filter((x) => Number(x.start) < open);
      assert.ok(
        list.length - done.length <= 1 && starts.at(-1)! <= open,
        "only the open bucket follows",
      );
      const truth = sim.market.candles(product, five, starts[0]!, open - 300);
      assert.deepEqual(
        done.map((x) => [Number(x.start), Number(x.volume)]),
        truth.map((k) => [k.start, k.volume]),
        `${product}: completed buckets are the truth, empty ones absent`,
      );
      assert.ok(list.every((x) => !/\.\d*0$/.test(x.volume!)), "volumes without trailing zeros");
    }
  } finally {
    await sim.close();
  }
});

Deno.test("WsSimulator candles trail the trades they cover, as Coinbase's recorded ones do", async () => {
  await withSim({ candleLagMs: 2000 }, async (sim) => {
    const c = await Client.open(sim);
    c.send({ type: "subscribe", channel: "candles", product_ids: ["BTC-USD"] });
    c.send({ type: "subscribe", channel: "heartbeats" });
    await until("candle updates", () => c.of("candles").length >= 4);
    await c.close();
    for (const f of c.of("candles")) {
      const events = f.events as { candles: Record<string, string>[] }[];
      const open = events[0]!.candles.at(-1)!;
      const frameMs = Date.parse(String(f.timestamp));
      const start = Number(open.start);
      const bucket = sim.market.trades("BTC-USD", start * 1000, start * 1000 + 300_000);
      // The candle is the fold of a prefix of the bucket's trades…
      const k = bucket.findIndex((_, i) => {
        const prices = bucket.slice(0, i + 1).map((x) => Number(x.price));
        const units = bucket.slice(0, i + 1).reduce((n, x) => n + BigInt(parseUnits(x.size)), 0n);
        return Number(open.open) === prices[0] && Number(open.high) === Math.max(...prices) &&
          Number(open.low) === Math.min(...prices) && Number(open.close) === prices.at(-1) &&
          BigInt(parseUnits(open.volume!)) === units;
      });
      assert.ok(k >= 0, `the candle at ${f.timestamp} folds a prefix of the bucket's trades`);
      // …ending about two seconds before the frame.
      const cutoff = frameMs - 2000;
      assert.ok(bucket[k]!.timeUs / 1000 <= cutoff, "no trade newer than the lag");
      const next = bucket[k + 1];
      assert.ok(!next || next.timeUs / 1000 > cutoff - 50, "every trade older than the lag");
    }
  });
});

/** Frame time in fractional ms from a `timestamp` with up to nanoseconds. */
function frameMs(timestamp: string): number {
  const m = /^(.{19})(?:\.(\d+))?Z$/.exec(timestamp);
  assert.ok(m, `timestamp ${timestamp}`);
  return Date.parse(`${m[1]}Z`) + Number(`0.${m[2] ?? "0"}`) * 1000;
}

/**
 * The cadence of `market_trades` updates: the products of each frame, and per product the
 * intervals (ms) between its consecutive frames.
 */
function updateCadence(frames: Raw[]): { productsPerFrame: number[]; gaps: number[] } {
  const productsPerFrame: number[] = [];
  const last = new Map<string, number>();
  const gaps: number[] = [];
  for (const f of frames) {
    const events = f.events as { type: string; trades?: { product_id: string }[] }[];
    if (events[0]?.type !== "update") continue;
    const products = new Set(events.flatMap((e) => e.trades ?? []).map((x) => x.product_id));
    productsPerFrame.push(products.size);
    const ms = frameMs(String(f.timestamp));
    for (const p of products) {
      const before = last.get(p);
      if (before !== undefined) gaps.push(ms - before);
      last.set(p, ms);
    }
  }
  return { productsPerFrame, gaps };
}

Deno.test("WsSimulator sends trade updates with Coinbase's recorded cadence", async (t) => {
  // The recording (fixtures/coinbase-real): one product per update; each product's updates on
  // a 100 ms grid of its own (BTC-USD at …x52 ms, ETH-USD at …x78 ms), never closer together.
  const recorded = (await Deno.readTextFile(
    new URL("../fixtures/coinbase-real/ws-2026-08-09-btc-eth.jsonl", import.meta.url),
  )).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { t: string; data?: string })
    .filter((l) => l.t === "recv").map((l) => JSON.parse(l.data!) as Raw)
    .filter((f) => f.channel === "market_trades");
  const real = updateCadence(recorded);
  await t.step("the recording: one product per frame, a product's frames ≥ 95 ms apart", () => {
    assert.ok(real.productsPerFrame.length > 50);
    assert.ok(real.productsPerFrame.every((n) => n === 1));
    assert.ok(Math.min(...real.gaps) >= 95, `closest ${Math.min(...real.gaps)} ms`);
    // Whole multiples of 100 ms, give or take a few.
    assert.ok(real.gaps.every((g) => Math.abs(g - Math.round(g / 100) * 100) < 10));
  });
  await withSim({ flushIntervalMs: 100 }, async (sim) => {
    const c = await Client.open(sim);
    c.send({
      type: "subscribe",
      channel: "market_trades",
      product_ids: ["BTC-USD", "ETH-USD", "ADA-USD"],
    });
    await sleep(1500);
    await c.close();
    const ours = updateCadence(c.of("market_trades"));
    await t.step("the simulator: the same shape", () => {
      assert.ok(ours.productsPerFrame.length > 20, `${ours.productsPerFrame.length} updates`);
      assert.ok(ours.productsPerFrame.every((n) => n === 1));
      // Timers may fire late (never early by more than a tick of the 10 ms phase timer).
      assert.ok(Math.min(...ours.gaps) >= 85, `closest ${Math.min(...ours.gaps)} ms`);
      const phases = new Set(["BTC-USD", "ETH-USD", "ADA-USD"].map((p) => sim.ws.phaseOf(p)));
      assert.equal(phases.size, 3, "the three products flush on different phases");
    });
  });
});
