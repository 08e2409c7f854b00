/**
 * The `market_trades` scanner (`lib/coinbase/trade_scan.ts`) against the reference parser
 * (`parseFrameReference`, `JSON.parse` and a walk): `parseFrame` must give the same frame for
 * every text, whether the scanner recognises it or gives up. Real frames, the simulator's and
 * the bench's frames, and random frames, valid and mutated (keys reordered, dropped, repeated or
 * added, escapes, whitespace, numbers for strings, bad values, truncation, stray characters).
 */
import { deepStrictEqual, equal, notEqual } from "node:assert/strict";
import fc from "fast-check";
import { generateFrames } from "../../bench/frames.ts";
import { parseFrame, parseFrameReference } from "../../lib/coinbase/messages.ts";
import { scanMarketTrades } from "../../lib/coinbase/trade_scan.ts";

const REAL = new URL("../fixtures/coinbase-real/ws-2026-08-09-btc-eth.jsonl", import.meta.url);
const SHAPES = new URL("../fixtures/coinbase_ws_frames.json", import.meta.url);

/** Both parsers agree on `text`; returns whether the scanner read it itself. */
function same(text: string): boolean {
  const want = parseFrameReference(text);
  deepStrictEqual(parseFrame(text), want, text);
  return scanMarketTrades(text) !== undefined;
}

Deno.test("parseFrame() equals the reference on every recorded frame, scanning every market_trades frame", async () => {
  const lines = (await Deno.readTextFile(REAL)).split("\n").filter((l) => l !== "");
  let trades = 0;
  let scanned = 0;
  for (const line of lines) {
    const rec = JSON.parse(line) as { t: string; data?: string };
    if (rec.t !== "recv" || rec.data === undefined) continue;
    const isTrades = rec.data.startsWith('{"channel":"market_trades"');
    if (isTrades) trades++;
    if (same(rec.data)) scanned++;
    // The scanner reads nothing else (it would give up anyway).
    if (!isTrades) equal(scanMarketTrades(rec.data), undefined);
  }
  equal(trades, 59, "the README's count of market_trades frames");
  equal(scanned, trades, "every recorded market_trades frame is read by the scanner");
});

Deno.test("parseFrame() equals the reference on the recorded-shape fixtures and the bench's frames", async () => {
  const shapes = JSON.parse(await Deno.readTextFile(SHAPES)) as Record<string, unknown>;
  for (const value of Object.values(shapes)) {
    // As pretty-printed in the fixture (spaces: not scanned) and compact (documented key order).
    same(JSON.stringify(value, null, 1));
    same(JSON.stringify(value));
  }
  const set = generateFrames({ products: 20, tradesPerSecond: 5, minutes: 2 });
  for (const text of set.frames) equal(same(text), true, text);
});

Deno.test("scanMarketTrades() reads several events, empty lists and a snapshot", () => {
  const t = (id: number, time: string) =>
    `{"product_id":"BTC-USD","trade_id":"${id}","price":"65083.67","size":"0.002186",` +
    `"time":"${time}","side":"SELL"}`;
  const env = '{"channel":"market_trades","timestamp":"2026-08-09T21:05:48.228568804Z",' +
    '"sequence_num":0,"events":';
  for (
    const text of [
      `${env}[]}`,
      `${env}[{"type":"update","trades":[]}]}`,
      `${env}[{"type":"snapshot","trades":[${t(3, "2026-08-09T21:05:42.5Z")},${
        t(2, "2026-08-09T21:05:42.5Z")
      }]},{"type":"update","trades":[${t(4, "2026-08-09T21:05:41Z")}]}]}`,
    ]
  ) {
    equal(same(text), true, text);
  }
  const f = parseFrame(
    `${env}[{"type":"snapshot","trades":[${t(2, "2026-08-09T21:05:43Z")},${
      t(1, "2026-08-09T21:05:42Z")
    }]}]}`,
  );
  equal(f.kind, "market_trades");
  if (f.kind !== "market_trades") return;
  equal(f.snapshot, true);
  deepStrictEqual(f.trades.map((x) => x.id), [1, 2]);
  deepStrictEqual(f.rejected, []);
  equal(f.clientId, undefined);
  notEqual(f.timestampMs, undefined);
});

// ---- Random frames -------------------------------------------------------------------------

/** A JSON object as its keys and their values' JSON text (a nested object or list, or raw). */
interface Node {
  pairs: [string, Value][];
  /** Separator after `:` and `,` (a whitespace mutation). */
  space?: string;
}
type Value = string | Node | Node[];

function render(v: Value): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return `[${v.map(render).join(",")}]`;
  const s = v.space ?? "";
  return `{${v.pairs.map(([k, x]) => `${JSON.stringify(k)}:${s}${render(x)}`).join(`,${s}`)}}`;
}

const q = (s: string) => JSON.stringify(s);

const decimal = fc.oneof(
  fc.stringMatching(/^[0-9]{1,6}(\.[0-9]{1,9})?$/),
  fc.stringMatching(/^[0-9]{1,20}(\.[0-9]{0,26})?$/),
  fc.constantFrom(
    "0",
    "0.00",
    "00.5",
    "-1",
    "1e5",
    ".5",
    "5.",
    "1.2.3",
    "",
    " 1",
    "1,5",
    "０",
    "83012.45",
    "0.00000001",
    "0.000000001",
    "0.00150000000",
    "123456789012.5",
    "9007199254740993",
    "999999999999999.9",
    "0.1000000000000000055511151231257827",
    "1".repeat(41),
  ),
);
const tradeId = fc.oneof(
  fc.bigInt({ min: 0n, max: 10n ** 16n }).map(String),
  fc.stringMatching(/^[0-9]{1,17}$/),
  fc.constantFrom("", "12a", "-1", "1.0", "١٢", "999999999999999", "9999999999999999"),
);
const product = fc.oneof(
  fc.constantFrom("BTC-USD", "ETH-USD", "X073-USD"),
  fc.stringMatching(/^[A-Z0-9]{1,22}-[A-Z0-9]{1,22}$/),
  fc.constantFrom("btc-usd", "BTCUSD", "-USD", "BTC-", "A-B-C", "BTC-USDé", "", "BTC\u2010USD"),
  fc.string({ maxLength: 8 }),
);
const BASE_MS = Date.UTC(2026, 7, 9, 21, 5, 48);
const time = fc.oneof(
  fc.tuple(
    fc.oneof(
      fc.integer({ min: BASE_MS, max: BASE_MS + 3000 }),
      fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2099, 11, 31) }),
    ),
    fc.integer({ min: 0, max: 10 }),
    fc.nat(999_999_999),
    fc.constantFrom("Z", "Z", "z", "+02:00", "-01:30", "+24:00", "", "Zx", "+0200"),
  ).map(([ms, w, frac, zone]) =>
    new Date(ms).toISOString().slice(0, 19) +
    (w === 10 ? "." : w > 0 ? "." + String(frac).padStart(9, "0").slice(0, w) : "") + zone
  ),
  fc.constantFrom(
    "2026-02-29T00:00:00Z",
    "2024-02-29T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-03-14 15:09:28Z",
    "2026-03-14t15:09:28Z",
    "0099-03-14T15:09:28Z",
    "2026-03-14T15:09:60Z",
    "",
  ),
  fc.string({ maxLength: 30 }),
);
const side = fc.constantFrom("BUY", "SELL", "SELL", "buy", "", "BUYX");
const str = (g: fc.Arbitrary<string>) =>
  fc.oneof({ weight: 20, arbitrary: g.map(q) }, {
    weight: 1,
    arbitrary: fc.constantFrom("null", "7", "[]", "{}"),
  });
const validTrade = fc.record({
  product: fc.constantFrom("BTC-USD", "ETH-USD"),
  // Few ids and times sometimes: repeated trades, whose order only the reference's walk fixes.
  id: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2_000_000_000 })),
  price: fc.stringMatching(/^[1-9][0-9]{0,5}\.[0-9]{1,8}$/),
  size: fc.stringMatching(/^0\.[0-9]{1,7}[1-9]$/),
  ms: fc.oneof(fc.constant(BASE_MS), fc.integer({ min: BASE_MS, max: BASE_MS + 3000 })),
}).map((t): Node => ({
  pairs: [
    ["product_id", q(t.product)],
    ["trade_id", q(String(t.id))],
    ["price", q(t.price)],
    ["size", q(t.size)],
    ["time", q(new Date(t.ms).toISOString())],
    ["side", q("BUY")],
  ],
}));
const anyTrade = fc.tuple(
  str(product),
  str(tradeId),
  str(decimal),
  str(decimal),
  str(time),
  str(side),
)
  .map(([p, id, price, size, t, s]): Node => ({
    pairs: [["product_id", p], ["trade_id", id], ["price", price], ["size", size], ["time", t], [
      "side",
      s,
    ]],
  }));
const trade = fc.oneof({ weight: 30, arbitrary: validTrade }, { weight: 1, arbitrary: anyTrade });
const event = fc.tuple(
  fc.constantFrom("update", "update", "update", "snapshot", "snapshot", "other"),
  fc.array(trade, { maxLength: 6 }),
).map(([type, trades]): Node => ({ pairs: [["type", q(type)], ["trades", trades]] }));
const sequenceNum = fc.oneof(
  { weight: 10, arbitrary: fc.nat().map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "01",
      "-1",
      "1.0",
      "1e3",
      "9007199254740993",
      "123456789012345",
      "1234567890123456",
      '"5"',
    ),
  },
);
const frameNode = fc.record({
  clientId: fc.option(fc.oneof(fc.constant(""), fc.string({ maxLength: 6 })), { nil: undefined }),
  timestamp: fc.oneof(
    {
      weight: 10,
      arbitrary: fc.integer({ min: BASE_MS, max: BASE_MS + 3000 }).map((ms) =>
        new Date(ms).toISOString()
      ),
    },
    { weight: 1, arbitrary: time },
  ),
  seq: sequenceNum,
  events: fc.array(event, { minLength: 1, maxLength: 3 }),
}).map((f): Node => ({
  pairs: [
    ["channel", q("market_trades")],
    ...(f.clientId === undefined ? [] : [["client_id", q(f.clientId)] as [string, Value]]),
    ["timestamp", q(f.timestamp)],
    ["sequence_num", f.seq],
    ["events", f.events],
  ],
}));

/** Every object of the tree: the frame, its events, their trades. */
function nodes(v: Value, out: Node[] = []): Node[] {
  if (Array.isArray(v)) { for (const n of v) nodes(n, out); }
  else if (typeof v !== "string") {
    out.push(v);
    for (const [, x] of v.pairs) nodes(x, out);
  }
  return out;
}

/** `s`'s JSON text with the char at `i` written as a `\u` escape (the same string decoded). */
function escapeAt(s: string, i: number): string {
  const code = s.charCodeAt(i).toString(16).padStart(4, "0");
  return `"${q(s.slice(0, i)).slice(1, -1)}\\u${code}${q(s.slice(i + 1)).slice(1, -1)}"`;
}

type Mutation = { kind: string; target: number; at: number; char: string };
const STRUCTURAL = ["swap", "extra", "drop", "repeat", "unquote", "escape", "space"];
const TEXTUAL = ["truncate", "insert", "delete", "trail"];
const mutation = fc.record({
  kind: fc.constantFrom(...STRUCTURAL, ...TEXTUAL),
  target: fc.nat(),
  at: fc.nat(),
  char: fc.constantFrom(" ", "\n", '"', "\\", ",", "}", "]", "[", "0", "a", "é", ":", "\u0000"),
});

function mutateNode(n: Node, m: Mutation): void {
  const k = n.pairs.length;
  if (k === 0) return;
  const i = m.at % k;
  const [key, value] = n.pairs[i]!;
  switch (m.kind) {
    case "swap":
      if (k > 1) {
        const j = (i + 1) % k;
        [n.pairs[i], n.pairs[j]] = [n.pairs[j]!, n.pairs[i]!];
      }
      break;
    case "extra":
      n.pairs.splice(i, 0, ["extra", '"x"']);
      break;
    case "drop":
      n.pairs.splice(i, 1);
      break;
    case "repeat":
      // JSON.parse keeps the last of a repeated key.
      n.pairs.splice(i + 1, 0, [key, typeof value === "string" ? value : '""']);
      break;
    case "unquote":
      if (typeof value === "string" && value.startsWith('"')) {
        n.pairs[i] = [key, value.slice(1, -1)];
      }
      break;
    case "escape":
      if (typeof value === "string" && value.startsWith('"')) {
        const s = JSON.parse(value) as string;
        if (s.length > 0) n.pairs[i] = [key, escapeAt(s, m.at % s.length)];
      }
      break;
    case "space":
      n.space = m.char === "\n" ? "\n" : " ";
      break;
  }
}

function mutateText(text: string, m: Mutation): string {
  const i = m.at % (text.length + 1);
  switch (m.kind) {
    case "truncate":
      return text.slice(0, i);
    case "insert":
      return text.slice(0, i) + m.char + text.slice(i);
    case "delete":
      return text.slice(0, i) + text.slice(i + 1);
    default:
      return text + m.char;
  }
}

function frameText(frame: Node, mutations: Mutation[]): string {
  const all = nodes(frame);
  const textual: Mutation[] = [];
  for (const m of mutations) {
    if (STRUCTURAL.includes(m.kind)) mutateNode(all[m.target % all.length]!, m);
    else textual.push(m);
  }
  let text = render(frame);
  for (const m of textual) text = mutateText(text, m);
  return text;
}

Deno.test("parseFrame() equals the reference on random market_trades frames, valid and mutated", () => {
  let scanned = 0;
  let runs = 0;
  fc.assert(
    fc.property(
      frameNode,
      fc.oneof(fc.constant<Mutation[]>([]), fc.array(mutation, { minLength: 1, maxLength: 2 })),
      (frame, mutations) => {
        runs++;
        if (same(frameText(frame, mutations))) scanned++;
      },
    ),
    { numRuns: 20_000 },
  );
  // The generators reach both paths often.
  const share = scanned / runs;
  equal(share > 0.05 && share < 0.95, true, `${scanned} of ${runs} scanned`);
});

Deno.test("parseFrame() reads prices as Number does", () => {
  const env = '{"channel":"market_trades","timestamp":"2026-08-09T21:05:48Z","sequence_num":1,' +
    '"events":[{"type":"update","trades":[';
  fc.assert(
    fc.property(
      fc.oneof(
        fc.stringMatching(/^[0-9]{1,17}(\.[0-9]{1,25})?$/),
        fc.tuple(fc.nat(), fc.integer({ min: 0, max: 24 })).map(([m, k]) =>
          k === 0 ? String(m) : `${Math.floor(m / 10 ** k)}.${String(m % 10 ** k).padStart(k, "0")}`
        ),
        fc.double({ min: 1e-8, max: 1e12, noNaN: true }).map((x) => x.toFixed(8)),
      ),
      (price) => {
        const text = `${env}{"product_id":"BTC-USD","trade_id":"1","price":"${price}",` +
          '"size":"1","time":"2026-08-09T21:05:48.1Z","side":"BUY"}]}]}';
        const f = parseFrame(text);
        deepStrictEqual(f, parseFrameReference(text));
        if (f.kind === "market_trades" && f.trades.length === 1) {
          equal(Object.is(f.trades[0]!.price, Number(price)), true, price);
        }
      },
    ),
    { numRuns: 20_000 },
  );
});
