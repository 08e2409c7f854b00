import assert from "node:assert/strict";
import {
  compareTrades,
  parseFrame,
  parseRfc3339,
  type ServerFrame,
  tradeProblem,
} from "../../lib/coinbase/messages.ts";

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
    assert.ok(Math.abs(f.timestampMs! - (Date.UTC(2026, 2, 14, 15, 9, 28) + 250.118)) < 1e-3);
    assert.equal(f.snapshot, false);
    assert.deepEqual(f.trades.map((x) => x.trade_id), ["912345678", "912345679"]);
    assert.deepEqual(f.rejected, []);
    const [a] = f.trades;
    assert.ok(Math.abs(a!.timeMs - (Date.UTC(2026, 2, 14, 15, 9, 28) + 113.024)) < 1e-3);
    assert.deepEqual({ ...a, timeMs: 0 }, {
      trade_id: "912345678",
      product_id: "BTC-USD",
      price: "83012.44",
      size: "0.02",
      side: "BUY",
      time: "2026-03-14T15:09:28.113024Z",
      timeMs: 0,
      id: 912345678,
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

Deno.test("tradeProblem() rejects trades that would corrupt candles", async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["missing price", { price: undefined }, /price/],
    ["non-numeric price", { price: "abc" }, /price/],
    ["zero price", { price: "0.00" }, /price/],
    ["negative price", { price: "-1" }, /price/],
    ["exponent price", { price: "1e5" }, /price/],
    ["empty size", { size: "" }, /size/],
    ["numeric size", { size: 1.5 }, /size/],
    ["zero size", { size: "0" }, /size/],
    ["size finer than 1e-8", { size: "0.000000001" }, /size/],
    ["missing time", { time: undefined }, /time/],
    ["bad time", { time: "2026-13-01T00:00:00Z" }, /time/],
    ["time without zone", { time: "2026-03-14T15:09:28.2" }, /time/],
    ["non-digit trade id", { trade_id: "12a" }, /trade_id/],
    ["numeric trade id", { trade_id: 12 }, /trade_id/],
    ["lower-case product", { product_id: "btc-usd" }, /product_id/],
    ["product without dash", { product_id: "BTCUSD" }, /product_id/],
  ];
  for (const [name, patch, re] of cases) {
    await t.step(name, () => assert.match(tradeProblem({ ...good, ...patch }) ?? "", re));
  }
  await t.step("valid trades pass, side is not required", () => {
    assert.equal(tradeProblem(good), undefined);
    assert.equal(tradeProblem({ ...good, side: undefined, size: "3.50000000000" }), undefined);
  });
});

Deno.test("parseRfc3339() reads Go timestamps of any fraction width", () => {
  const base = Date.UTC(2026, 2, 14, 15, 9, 26);
  assert.equal(parseRfc3339("2026-03-14T15:09:26Z"), base);
  assert.equal(parseRfc3339("2026-03-14T15:09:26.5Z"), base + 500);
  assert.ok(Math.abs(parseRfc3339("2026-03-14T15:09:26.53589793Z") - (base + 535.898)) < 1e-3);
  assert.equal(parseRfc3339("2026-03-14T17:09:26.25+02:00"), base + 250);
  for (const bad of ["2026-03-14", "2026-03-14T15:09:26.Z", "2026-03-14T15:09:26Zx", "yesterday"]) {
    assert.ok(Number.isNaN(parseRfc3339(bad)), bad);
  }
});

Deno.test("compareTrades() orders by time, then product, then id", () => {
  const t = (id: number, timeMs: number, product_id = "BTC-USD") => ({
    ...good,
    id,
    timeMs,
    product_id,
    trade_id: String(id),
  });
  const sorted = [t(3, 2), t(1, 1), t(2, 1), t(9, 1, "ADA-USD")].sort(compareTrades);
  assert.deepEqual(sorted.map((x) => x.id), [9, 1, 2, 3]);
});
