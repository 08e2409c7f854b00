import assert from "node:assert/strict";
import fc from "fast-check";
import { addUnits, type Units, unitsToNumber } from "../../lib/candles/decimal.ts";
import {
  jsonNumberToUnits,
  type KrakenMessage,
  parseKrakenMessage,
  rawDataNumbers,
  subMillisecond,
} from "../../lib/kraken/messages.ts";

function as<K extends KrakenMessage["kind"]>(
  m: KrakenMessage,
  kind: K,
): Extract<KrakenMessage, { kind: K }> {
  if (m.kind !== kind) assert.fail(`expected ${kind}, got ${m.kind}`);
  return m as Extract<KrakenMessage, { kind: K }>;
}

/** A documented v2 trade row (kraken-protocol.md). */
const row = (over: Record<string, unknown> = {}) => ({
  symbol: "BTC/USD",
  side: "sell",
  price: 26385.1,
  qty: 0.0015,
  ord_type: "market",
  trade_id: 61_001_234,
  timestamp: "2023-09-25T07:48:36.925533Z",
  ...over,
});
const frame = (rows: unknown[], type = "update") =>
  JSON.stringify({ channel: "trade", type, data: rows });

Deno.test("parseKrakenMessage() reads a trade frame", async (t) => {
  await t.step("fields, market key, exact size, microseconds", () => {
    const m = as(parseKrakenMessage(frame([row()], "snapshot")), "trades");
    assert.equal(m.type, "snapshot");
    assert.equal(m.rejected, 0);
    assert.deepEqual(m.trades, [{
      product: "kraken:BTC-USD",
      id: 61_001_234,
      price: 26385.1,
      size: 150_000,
      timeMs: Date.UTC(2023, 8, 25, 7, 48, 36, 925),
      symbol: "BTC/USD",
      side: "sell",
      subMs: 533,
    }]);
  });

  await t.step("several trades, several symbols, oldest first", () => {
    const text = frame([
      row({ trade_id: 3, timestamp: "2023-09-25T07:48:37.000001Z" }),
      row({ trade_id: 1, symbol: "DOGE/USD", side: "buy", price: 0.06123 }),
      row({ trade_id: 2, timestamp: "2023-09-25T07:48:36.925534Z" }),
    ]);
    const m = as(parseKrakenMessage(text), "trades");
    assert.deepEqual(m.trades.map((x) => [x.product, x.id, x.subMs]), [
      ["kraken:DOGE-USD", 1, 533],
      ["kraken:BTC-USD", 2, 534],
      ["kraken:BTC-USD", 3, 1],
    ]);
  });

  await t.step("0.1 + 0.2 sums to exactly 0.3", () => {
    const text = frame([row({ qty: 0.1, trade_id: 1 }), row({ qty: 0.2, trade_id: 2 })]);
    const { trades } = as(parseKrakenMessage(text), "trades");
    assert.equal(trades.reduce<Units>((s, x) => addUnits(s, x.size), 0), 30_000_000);
  });

  await t.step("qty read from the frame's text: exponents and trailing zeros", () => {
    const text = `{"channel":"trade","type":"update","data":[` +
      `{"symbol":"BTC/USD","side":"buy","price":1,"qty":1e-8,"trade_id":1,"timestamp":"2024-01-01T00:00:00.000000Z"},` +
      `{"symbol":"BTC/USD","side":"buy","price":1,"qty":2.5E+3,"trade_id":2,"timestamp":"2024-01-01T00:00:00.000001Z"},` +
      `{"symbol":"BTC/USD","side":"buy","price":1,"qty":0.100000000000,"trade_id":3,"timestamp":"2024-01-01T00:00:00.000002Z"},` +
      `{"symbol":"BTC/USD","side":"buy","price":1,"qty":12345678.87654321,"trade_id":4,"timestamp":"2024-01-01T00:00:00.000003Z"}` +
      `]}`;
    const { trades, rejected } = as(parseKrakenMessage(text), "trades");
    assert.equal(rejected, 0);
    assert.deepEqual(trades.map((x) => x.size), [1, 250_000_000_000, 10_000_000, 1234567887654321]);
  });

  await t.step("invalid trades are counted, the valid ones kept", () => {
    const bad = [
      row({ qty: 0.123456789 }), // 9 decimals
      row({ qty: 1.5e-8 }),
      row({ qty: 0 }),
      row({ qty: -1 }),
      row({ qty: "0.5" }), // v2 sends numbers
      row({ price: 0 }),
      row({ price: "26385.1" }),
      row({ trade_id: 0 }),
      row({ trade_id: 1.5 }),
      row({ trade_id: "7" }),
      row({ side: "BUY" }),
      row({ symbol: "BTCUSD" }),
      row({ symbol: "btc/usd" }),
      row({ timestamp: "2023-09-25 07:48:36Z" }),
      row({ timestamp: 1695628116 }),
      null,
      "trade",
    ];
    for (const b of bad) {
      const m = as(
        parseKrakenMessage(frame([row({ trade_id: 1 }), b, row({ trade_id: 2 })])),
        "trades",
      );
      assert.equal(m.rejected, 1, JSON.stringify(b));
      assert.deepEqual(m.trades.map((x) => x.id), [1, 2], JSON.stringify(b));
      assert.deepEqual(m.trades.map((x) => x.size), [150_000, 150_000]);
    }
  });

  await t.step("a qty key elsewhere in the text falls back to the exact scan", () => {
    const text = `{"channel":"trade","type":"update","data":[` +
      `{"extra":{"qty":7},"symbol":"BTC/USD","side":"buy","price":1,"qty":0.5,"trade_id":1,` +
      `"timestamp":"2024-01-01T00:00:00Z"},` +
      `{"symbol":"BTC/USD","qty":0.25,"side":"buy","price":1,"trade_id":2,` +
      `"timestamp":"2024-01-01T00:00:00Z","qty":0.75}]}`;
    const { trades, rejected } = as(parseKrakenMessage(text), "trades");
    assert.equal(rejected, 0);
    assert.deepEqual(trades.map((x) => x.size), [50_000_000, 75_000_000]);
  });

  await t.step("pretty-printed frames", () => {
    const text = JSON.stringify({ channel: "trade", type: "update", data: [row()] }, null, 2);
    assert.equal(as(parseKrakenMessage(text), "trades").trades[0]!.size, 150_000);
  });

  await t.step("a trade frame without data or with an unknown type is other", () => {
    assert.deepEqual(parseKrakenMessage(`{"channel":"trade","type":"update"}`), {
      kind: "other",
      channel: "trade",
    });
    assert.deepEqual(parseKrakenMessage(frame([row()], "delta")), {
      kind: "other",
      channel: "trade",
    });
  });
});

Deno.test("parseKrakenMessage() reads control frames", async (t) => {
  await t.step("heartbeat", () => {
    assert.deepEqual(parseKrakenMessage(`{"channel":"heartbeat"}`), { kind: "heartbeat" });
  });
  await t.step("status keeps the 64-bit connection id's digits", () => {
    const text = `{"channel":"status","type":"update","data":[{"api_version":"v2",` +
      `"connection_id":12393906104898154338,"system":"online","version":"2.0.10"}]}`;
    assert.deepEqual(parseKrakenMessage(text), {
      kind: "status",
      system: "online",
      connectionId: "12393906104898154338",
      version: "2.0.10",
    });
    assert.deepEqual(
      parseKrakenMessage(`{"channel":"status","type":"update","data":[{"system":"maintenance"}]}`),
      { kind: "status", system: "maintenance" },
    );
  });
  await t.step("subscribe acknowledgements", () => {
    const ok = `{"method":"subscribe","result":{"channel":"trade","snapshot":true,` +
      `"symbol":"BTC/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z",` +
      `"time_out":"2023-09-25T09:04:31.742648Z","req_id":7}`;
    assert.deepEqual(parseKrakenMessage(ok), {
      kind: "subscribed",
      symbol: "BTC/USD",
      success: true,
      snapshot: true,
      reqId: 7,
    });
    const noSnapshot = `{"method":"subscribe","result":{"channel":"trade","symbol":"ETH/USD"},` +
      `"success":true}`;
    assert.deepEqual(parseKrakenMessage(noSnapshot), {
      kind: "subscribed",
      symbol: "ETH/USD",
      success: true,
      snapshot: false,
    });
    const failed = `{"error":"Currency pair not supported XBT/EUR","method":"subscribe",` +
      `"success":false,"symbol":"XBT/EUR","time_in":"x","time_out":"y","req_id":8}`;
    assert.deepEqual(parseKrakenMessage(failed), {
      kind: "subscribeFailed",
      symbol: "XBT/EUR",
      error: "Currency pair not supported XBT/EUR",
      reqId: 8,
    });
    assert.deepEqual(
      parseKrakenMessage(`{"method":"subscribe","success":false,"error":"Exceeded msg rate"}`),
      { kind: "subscribeFailed", error: "Exceeded msg rate" },
    );
    const heartbeatAck = `{"method":"subscribe","result":{"channel":"heartbeat"},"success":true}`;
    assert.deepEqual(parseKrakenMessage(heartbeatAck), {
      kind: "other",
      channel: "heartbeat",
      method: "subscribe",
    });
  });
  await t.step("unsubscribe, pong", () => {
    const un = `{"method":"unsubscribe","result":{"channel":"trade","symbol":"BTC/USD"},` +
      `"success":true,"req_id":9}`;
    assert.deepEqual(parseKrakenMessage(un), {
      kind: "unsubscribed",
      symbol: "BTC/USD",
      reqId: 9,
    });
    const pong = `{"method":"pong","req_id":3,"time_in":"a","time_out":"b"}`;
    assert.deepEqual(parseKrakenMessage(pong), { kind: "pong", reqId: 3 });
    assert.deepEqual(parseKrakenMessage(`{"method":"pong"}`), { kind: "pong" });
  });
  await t.step("errors", () => {
    assert.deepEqual(parseKrakenMessage(`{"Error":"Exceeded msg rate"}`), {
      kind: "error",
      message: "Exceeded msg rate",
    });
    assert.deepEqual(
      parseKrakenMessage(`{"error":"Malformed request","method":"error","req_id":4}`),
      { kind: "error", message: "Request (req_id 4) failed: Malformed request" },
    );
    assert.deepEqual(
      parseKrakenMessage(
        `{"method":"unsubscribe","success":false,"error":"Subscription Not Found",` +
          `"symbol":"BTC/USD"}`,
      ),
      { kind: "error", message: "unsubscribe (BTC/USD) failed: Subscription Not Found" },
    );
  });
  await t.step("other channels and methods", () => {
    assert.deepEqual(parseKrakenMessage(`{"channel":"book","type":"update","data":[]}`), {
      kind: "other",
      channel: "book",
    });
    assert.deepEqual(parseKrakenMessage(`{"method":"ping_ack","success":true}`), {
      kind: "other",
      method: "ping_ack",
    });
    assert.deepEqual(parseKrakenMessage(`{}`), { kind: "other" });
  });
  await t.step("not a JSON object: SyntaxError naming the problem", () => {
    for (const text of ["", "{", "[1,2]", "null", "42", `"hi"`]) {
      assert.throws(() => parseKrakenMessage(text), (e: unknown) => {
        assert.ok(e instanceof SyntaxError, String(e));
        assert.match(e.message, /Kraken frame is not (JSON|a JSON object)/);
        return true;
      });
    }
  });
});

Deno.test("jsonNumberToUnits() is exact for every JSON number form", () => {
  const cases: [string, Units][] = [
    ["0.00150000", 150_000],
    ["12", 1_200_000_000],
    ["1e-8", 1],
    ["1E-8", 1],
    ["10e-9", 1],
    ["0.5e1", 500_000_000],
    ["5e+0", 500_000_000],
    ["123.456e-2", 123_456_000],
    ["0e5", 0],
    ["0.0", 0],
    ["1e20", 10n ** 28n],
    ["99999999999", 9_999_999_999_900_000_000n],
  ];
  for (const [raw, units] of cases) assert.equal(jsonNumberToUnits(raw), units, raw);
  for (
    const raw of [
      "1e-9",
      "0.123456789",
      "-1",
      "-1e2",
      "1e",
      "e5",
      "1.e5",
      ".5e1",
      "1e+",
      "1e1234567",
      "1e31",
      "0x10",
      "",
    ]
  ) {
    assert.ok(Number.isNaN(jsonNumberToUnits(raw)), raw);
  }
});

Deno.test("subMillisecond() reads the microseconds of a timestamp", () => {
  assert.equal(subMillisecond("2023-09-25T07:48:36.925533Z"), 533);
  assert.equal(subMillisecond("2023-09-25T07:48:36.925000Z"), 0);
  assert.equal(subMillisecond("2023-09-25T07:48:36.9255Z"), 500);
  assert.equal(subMillisecond("2023-09-25T07:48:36.92Z"), 0);
  assert.equal(subMillisecond("2023-09-25T07:48:36.925533123Z"), 533);
  assert.equal(subMillisecond("2023-09-25T07:48:36Z"), 0);
  assert.equal(subMillisecond("2023-09-25T07:48:36.92+05:00"), 0);
});

Deno.test("rawDataNumbers() lists each data element's raw member", () => {
  const text = `{"a":"[\\"qty\\":1]","data":[{"qty":1.50},{"x":{"qty":2}},3,{"qty":"4"},` +
    `{"qty":5e-1,"s":"\\u0071ty"}],"qty":9}`;
  assert.deepEqual(rawDataNumbers(text, "qty"), ["1.50", undefined, undefined, undefined, "5e-1"]);
  assert.equal(rawDataNumbers(`{"data":{}}`, "qty"), undefined);
  assert.equal(rawDataNumbers(`{"data":[`, "qty"), undefined);
});

/** A qty of `units` (1e-8) rendered as some JSON number text with the same value. */
const qtyText = (units: bigint) =>
  fc.record({
    form: fc.constantFrom("plain", "exponent", "leadingZero"),
    zeros: fc.integer({ min: 0, max: 4 }),
    point: fc.nat(),
    e: fc.constantFrom("e", "E"),
    sign: fc.constantFrom("", "+", "-"),
  }).map(({ form, zeros, point, e, sign }) => {
    const digits = units.toString() + "0".repeat(zeros);
    const scale = 8 + zeros; // value = digits × 10^-scale
    if (form === "plain") {
      const padded = digits.padStart(scale + 1, "0");
      return `${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
    }
    const mantissa = form === "leadingZero" ? `0.${digits}` : (() => {
      const p = 1 + (point % digits.length);
      return p < digits.length ? `${digits.slice(0, p)}.${digits.slice(p)}` : digits;
    })();
    const fracDigits = form === "leadingZero" ? digits.length : digits.length - 1 -
      (point % digits.length);
    const exp = fracDigits - scale;
    const s = exp < 0 ? "-" : sign === "-" ? (exp === 0 ? "-" : "+") : sign;
    return `${mantissa}${e}${s}${Math.abs(exp)}`;
  });

const tradeArb = fc.record({
  units: fc.bigInt({ min: 1n, max: 10n ** 16n }),
  symbol: fc.constantFrom("BTC/USD", "ETH/EUR", "DOGE/USD", "1INCH/USD"),
  side: fc.constantFrom("buy", "sell"),
  price: fc.double({ min: 1e-9, max: 1e7, noNaN: true, noDefaultInfinity: true }),
  id: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  ms: fc.integer({ min: Date.UTC(2015, 0, 1), max: Date.UTC(2035, 0, 1) }),
  us: fc.integer({ min: 0, max: 999 }),
}).chain((t) => qtyText(t.units).map((qty) => ({ ...t, qty })));

Deno.test("parseKrakenMessage() sums random sizes exactly and round-trips every field", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(tradeArb, { minLength: 1, maxLength: 40, selector: (t) => t.id }),
      fc.boolean(),
      (list, pretty) => {
        const objects = list.map((t) => {
          const iso = new Date(t.ms).toISOString().slice(0, -1) + String(t.us).padStart(3, "0") +
            "Z";
          return `{"symbol":"${t.symbol}","side":"${t.side}","price":${JSON.stringify(t.price)},` +
            `"qty":${t.qty},"ord_type":"limit","trade_id":${t.id},"timestamp":"${iso}"}`;
        });
        const sep = pretty ? ",\n    " : ",";
        const text = `{"channel":"trade","type":"update","data":[${objects.join(sep)}]}`;
        const m = as(parseKrakenMessage(text), "trades");
        assert.equal(m.rejected, 0, text);
        assert.equal(m.trades.length, list.length);
        let sum: Units = 0;
        for (const t of m.trades) sum = addUnits(sum, t.size);
        const reference = list.reduce((s, t) => s + t.units, 0n);
        assert.equal(BigInt(sum), reference);
        const byId = new Map(list.map((t) => [t.id, t]));
        for (const t of m.trades) {
          const src = byId.get(t.id)!;
          assert.equal(BigInt(t.size), src.units);
          assert.equal(unitsToNumber(t.size), Number(src.qty));
          assert.equal(t.price, src.price);
          assert.equal(t.timeMs, src.ms);
          assert.equal(t.subMs, src.us);
          assert.equal(t.symbol, src.symbol);
          assert.equal(t.product, `kraken:${src.symbol.replace("/", "-")}`);
          assert.equal(t.side, src.side);
        }
      },
    ),
    { numRuns: 300 },
  );
});
