import assert from "node:assert/strict";
import {
  applyQuery,
  parseTableQuery,
  type QueryRow,
  tableSearch,
} from "../../islands/product_query.ts";
import { applyEvent, initialRows, queryRow, type RowState } from "../../islands/product_table.tsx";
import type { CandleEvent } from "../../islands/stream.ts";

const NOW = Date.UTC(2026, 10, 29, 21, 0, 30);
const MINUTE = Math.floor(NOW / 60_000) * 60;

function row(product: string, over: Partial<QueryRow> = {}): QueryRow {
  const [base = "", quote = ""] = product.split("-");
  return { product, base, quote, ...over };
}

function event(start: number, volume: number, over: Partial<CandleEvent> = {}): CandleEvent {
  return {
    product_id: "ETH-USD",
    granularity: "ONE_MINUTE",
    start,
    open: 10,
    high: 12,
    low: 9,
    close: 11,
    volume,
    complete: false,
    ...over,
  };
}

Deno.test("parseTableQuery() and tableSearch()", async (t) => {
  await t.step("reads q, sort and dir; defaults the direction by column", () => {
    const { query, notice } = parseTableQuery(new URLSearchParams("q=eth&sort=change"));
    assert.deepEqual(query, { q: "eth", sort: "change", dir: "desc" });
    assert.equal(notice, undefined);
  });
  await t.step("an unknown sort or dir falls back and says which", () => {
    const { query, notice } = parseTableQuery(new URLSearchParams("sort=price&dir=up"));
    assert.deepEqual(query, { q: "", sort: "product", dir: "asc" });
    assert.match(notice!, /sort "price" \(one of product, close, change, volume, trade\)/);
    assert.match(notice!, /dir "up" \(asc or desc\)/);
  });
  await t.step("tableSearch() leaves defaults out and round-trips", () => {
    assert.equal(tableSearch({ q: "", sort: "product", dir: "asc" }), "");
    const search = tableSearch({ q: "eth", sort: "change", dir: "asc" }, { g: "5m" });
    assert.equal(search, "?g=5m&q=eth&sort=change&dir=asc");
    assert.deepEqual(parseTableQuery(new URLSearchParams(search)).query, {
      q: "eth",
      sort: "change",
      dir: "asc",
    });
  });
});

Deno.test("applyQuery()", async (t) => {
  const rows = [
    row("ETH-USD", { close: 3000, change: 1.5, volume: 10, tradeAgeS: 3 }),
    row("BTC-USD", { close: 80000, change: -0.5, volume: 2, tradeAgeS: 1 }),
    row("ETH-BTC", { close: 0.04, change: undefined, volume: undefined, tradeAgeS: 500 }),
    row("SOL-EUR", { close: 150, change: 0.2, volume: 30 }),
  ];
  await t.step("filters by part of the id, base or quote, any case", () => {
    assert.deepEqual(
      applyQuery(rows, { q: "eth", sort: "product", dir: "asc" }).map((r) => r.product),
      [
        "ETH-BTC",
        "ETH-USD",
      ],
    );
    assert.deepEqual(
      applyQuery(rows, { q: "btc", sort: "product", dir: "asc" }).map((r) => r.product),
      [
        "BTC-USD",
        "ETH-BTC",
      ],
    );
    assert.deepEqual(
      applyQuery(rows, { q: "h-u", sort: "product", dir: "asc" }).map((r) => r.product),
      [
        "ETH-USD",
      ],
    );
  });
  await t.step("sorts by a column both ways; rows without a value go last", () => {
    const desc = applyQuery(rows, { q: "", sort: "change", dir: "desc" }).map((r) => r.product);
    assert.deepEqual(desc, ["ETH-USD", "SOL-EUR", "BTC-USD", "ETH-BTC"]);
    const asc = applyQuery(rows, { q: "", sort: "change", dir: "asc" }).map((r) => r.product);
    assert.deepEqual(asc, ["BTC-USD", "SOL-EUR", "ETH-USD", "ETH-BTC"]);
    const trade = applyQuery(rows, { q: "", sort: "trade", dir: "asc" }).map((r) => r.product);
    assert.deepEqual(trade, ["BTC-USD", "ETH-USD", "ETH-BTC", "SOL-EUR"]);
  });
  await t.step("finds one product among 1,000 by part of its id", () => {
    const many = Array.from({ length: 1000 }, (_, i) => row(`X${String(i).padStart(3, "0")}-USD`));
    const found = applyQuery(many, { q: "x42", sort: "product", dir: "asc" }).map((r) => r.product);
    assert.deepEqual(found, Array.from({ length: 10 }, (_, i) => `X42${i}-USD`));
    assert.deepEqual(
      applyQuery(many, { q: "x421", sort: "product", dir: "asc" }).map((r) => r.product),
      ["X421-USD"],
    );
  });
});

Deno.test("applyEvent() and initialRows()", async (t) => {
  const quiet = initialRows(
    [{
      product: "ETH-USD",
      base: "ETH",
      quote: "USD",
      lastTradeAgeS: 90,
      lastClose: { close: 10.5, ageS: 90 },
    }],
    "1m",
    NOW,
  ).get("ETH-USD")!;

  await t.step("a quiet product starts with its last close and its age", () => {
    const q = queryRow(quiet, NOW);
    assert.equal(q.close, 10.5);
    assert.equal(q.tradeAgeS, 90);
    assert.equal(q.change, undefined);
  });
  await t.step("its next candle in the current interval is a trade", () => {
    const next = applyEvent(quiet, event(MINUTE, 1), NOW + 1000);
    assert.equal(next.lastTradeAt, NOW + 1000);
    assert.equal(queryRow(next, NOW + 1000).close, 11);
  });
  await t.step("the first candle of a product shown live is not a trade; volume growing is", () => {
    const live = initialRows(
      [{
        product: "ETH-USD",
        base: "ETH",
        quote: "USD",
        candle: { start: MINUTE, open: 10, high: 12, low: 9, close: 11, volume: 1 },
        lastTradeAgeS: 5,
      }],
      "1m",
      NOW,
    ).get("ETH-USD")!;
    const same = applyEvent(live, event(MINUTE, 1), NOW + 1000);
    assert.equal(same.lastTradeAt, NOW - 5000);
    const more = applyEvent(same, event(MINUTE, 2), NOW + 2000);
    assert.equal(more.lastTradeAt, NOW + 2000);
  });
  await t.step("completion drops the candle and keeps its close; the age keeps growing", () => {
    const traded = applyEvent(quiet, event(MINUTE, 1), NOW);
    const done = applyEvent(
      traded,
      event(MINUTE, 1, { complete: true, close: 11.2 }),
      NOW + 40_000,
    );
    assert.equal(done.candle, undefined);
    const q = queryRow(done, NOW + 60_000);
    assert.equal(q.close, 11.2);
    assert.equal(q.tradeAgeS, 60);
    const again = applyEvent(done, event(MINUTE + 120, 3), NOW + 150_000);
    assert.equal(again.lastTradeAt, NOW + 150_000, "the next minute's first trade counts");
  });
  await t.step("a correction of an older interval changes nothing", () => {
    const traded: RowState = applyEvent(quiet, event(MINUTE, 1), NOW);
    assert.equal(applyEvent(traded, event(MINUTE - 60, 9, { complete: true }), NOW), traded);
  });
});
