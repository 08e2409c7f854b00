import assert from "node:assert/strict";
import type { Trade } from "../../lib/candles/trade.ts";
import { parseFrame, parseTrade, type ServerFrame } from "../../lib/coinbase/messages.ts";

const fixtures: Record<string, unknown> = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/coinbase_ws_frames.json", import.meta.url)),
);
const frame = (name: string): ServerFrame => parseFrame(JSON.stringify(fixtures[name]));
function as<K extends ServerFrame["kind"]>(
  f: ServerFrame,
  kind: K,
): Extract<ServerFrame, { kind: K }> {
  assert.equal(f.kind, kind);
  return f as Extract<ServerFrame, { kind: K }>;
}

const good = {
  trade_id: "42",
  product_id: "BTC-USD",
  price: "83012.45",
  size: "0.0015",
  side: "BUY",
  time: "2026-03-14T15:09:28.201551Z",
};

Deno.test("parseFrame() reads every recorded frame shape", async (t) => {
  await t.step("market_trades update: trades oldest first, envelope fields", () => {
    const f = as(frame("market_trades_update"), "market_trades");
    assert.equal(f.clientId, "");
    assert.equal(f.sequenceNum, 6);
    assert.equal(f.timestampMs, Date.UTC(2026, 2, 14, 15, 9, 28) + 250);
    assert.equal(f.snapshot, false);
    assert.deepEqual(f.trades.map((x) => x.id), [912345678, 912345679]);
    assert.deepEqual(f.rejected, []);
    assert.deepEqual(f.trades[0], {
      product: "BTC-USD",
      id: 912345678,
      price: 83012.44,
      size: 2_000_000,
      timeMs: Date.UTC(2026, 2, 14, 15, 9, 28) + 113,
    });
  });
  await t.step("market_trades snapshot without client_id, variable fraction widths", () => {
    const f = as(frame("market_trades_snapshot"), "market_trades");
    assert.equal(f.clientId, undefined);
    assert.equal(f.snapshot, true);
    assert.equal(f.sequenceNum, 0);
    assert.deepEqual(f.trades.map((x) => x.id), [510, 511, 512]);
  });
  await t.step("heartbeats with an integer or a string counter", () => {
    assert.equal(as(frame("heartbeats"), "heartbeats").heartbeatCounter, 512034);
    assert.equal(as(frame("heartbeats_string_counter"), "heartbeats").heartbeatCounter, 3049);
  });
  await t.step("subscriptions, including the empty map", () => {
    assert.deepEqual(as(frame("subscriptions"), "subscriptions").subscriptions, {
      heartbeats: ["heartbeats"],
      level2: ["BTC-USD"],
      market_trades: ["BTC-USD", "ETH-USD"],
    });
    assert.deepEqual(as(frame("subscriptions_empty"), "subscriptions").subscriptions, {});
  });
  await t.step("candles as numbers", () => {
    const f = as(frame("candles"), "candles");
    assert.deepEqual(f.candles, [{
      product_id: "BTC-USD",
      start: 1773500700,
      open: 82990.01,
      high: 83090,
      low: 82950.12,
      close: 83012.45,
      volume: 12.48812345,
    }]);
  });
  await t.step("unknown channels are tolerated and keep their sequence number", () => {
    const f = as(frame("ticker"), "other");
    assert.equal(f.channel, "ticker");
    assert.equal(f.sequenceNum, 8);
  });
  await t.step("error frames", () => {
    assert.deepEqual(frame("error"), { kind: "error", message: "authentication failure" });
    assert.deepEqual(frame("error_with_reason"), {
      kind: "error",
      message: "Failed to subscribe",
      reason: "product not found",
    });
  });
});

Deno.test("parseFrame() never throws on garbage", () => {
  for (
    const text of [
      "",
      "not json",
      "[1,2]",
      "null",
      "42",
      '{"channel":5}',
      '{"channel":"market_trades"',
      "{}",
    ]
  ) {
    assert.equal(parseFrame(text).kind, "garbage", text);
  }
  const f = parseFrame('{"channel":"market_trades","sequence_num":9,"events":{"x":1}}');
  assert.deepEqual(f, {
    kind: "garbage",
    reason: "market_trades frame without an events array",
    sequenceNum: 9,
    timestampMs: undefined,
  });
  const bad = as(
    parseFrame(
      '{"channel":"market_trades","sequence_num":1,"events":[{"type":"update"},null,{"trades":[1,null]}]}',
    ),
    "market_trades",
  );
  assert.equal(bad.trades.length, 0);
  assert.equal(bad.rejected.length, 4);
});

Deno.test("parseTrade() parses a wire trade into the candle core's trade", () => {
  const want: Trade = {
    product: "BTC-USD",
    id: 42,
    price: 83012.45,
    size: 150_000,
    timeMs: Date.UTC(2026, 2, 14, 15, 9, 28, 201),
  };
  assert.deepEqual(parseTrade(good), want);
  assert.deepEqual(
    parseTrade({ ...good, side: undefined, size: "0.00150000000" }),
    want,
    "side is not required; zeros past 8 places are exact",
  );
  assert.deepEqual(parseTrade({ ...good, size: "123456789012.5" }), {
    ...want,
    size: 12345678901250000000n,
  });
});

Deno.test("parseTrade() rejects trades that would corrupt candles, naming the field", async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ["not an object", null, /not an object/],
    ["missing price", { ...good, price: undefined }, /^price undefined/],
    ["non-numeric price", { ...good, price: "abc" }, /^price "abc"/],
    ["zero price", { ...good, price: "0.00" }, /^price/],
    ["negative price", { ...good, price: "-1" }, /^price/],
    ["exponent price", { ...good, price: "1e5" }, /^price/],
    ["empty size", { ...good, size: "" }, /^size ""/],
    ["numeric size", { ...good, size: 1.5 }, /^size 1.5/],
    ["zero size", { ...good, size: "0" }, /^size/],
    ["size finer than 1e-8", { ...good, size: "0.000000001" }, /^size "0.000000001"/],
    ["missing time", { ...good, time: undefined }, /^time/],
    ["bad time", { ...good, time: "2026-13-01T00:00:00Z" }, /^time "2026-13-01T00:00:00Z"/],
    ["time without zone", { ...good, time: "2026-03-14T15:09:28.2" }, /^time/],
    ["non-digit trade id", { ...good, trade_id: "12a" }, /^trade_id "12a"/],
    ["numeric trade id", { ...good, trade_id: 12 }, /^trade_id 12/],
    ["trade id past 2^53", { ...good, trade_id: "9007199254740993" }, /^trade_id/],
    ["lower-case product", { ...good, product_id: "btc-usd" }, /^product_id "btc-usd"/],
    ["product without dash", { ...good, product_id: "BTCUSD" }, /^product_id/],
  ];
  for (const [name, raw, re] of cases) {
    await t.step(name, () => {
      const got = parseTrade(raw);
      assert.equal(typeof got, "string");
      assert.match(got as string, re);
    });
  }
});

Deno.test("parseFrame() puts trades oldest first: by time, then product, then id", () => {
  const at = (ms: number) => new Date(Date.UTC(2026, 2, 14) + ms).toISOString();
  const raw = (id: number, ms: number, product_id = "BTC-USD") => ({
    ...good,
    trade_id: String(id),
    product_id,
    time: at(ms),
  });
  const text = JSON.stringify({
    channel: "market_trades",
    sequence_num: 3,
    events: [{
      type: "update",
      trades: [raw(3, 2), raw(1, 1), raw(2, 1), raw(9, 1, "ADA-USD"), { ...good, price: "x" }],
    }],
  });
  const f = as(parseFrame(text), "market_trades");
  assert.deepEqual(f.trades.map((x) => [x.product, x.id]), [
    ["ADA-USD", 9],
    ["BTC-USD", 1],
    ["BTC-USD", 2],
    ["BTC-USD", 3],
  ]);
  assert.deepEqual(f.rejected, [{
    reason: 'price "x" is not a positive decimal',
    product_id: "BTC-USD",
    trade_id: "42",
  }]);
});
