import assert from "node:assert/strict";
import fc from "fast-check";
import {
  isV2Symbol,
  marketKeyToSymbol,
  normalizeAsset,
  PairDirectory,
  pairNames,
  restPairName,
  restPairToStoredId,
  storedId,
  storedIdOfKey,
  symbolToMarketKey,
  v2Symbol,
  wsnameToSymbol,
} from "../../lib/kraken/symbols.ts";

Deno.test("storedId() and v2Symbol() map BTC/USD ⇄ BTC-USD", () => {
  assert.equal(storedId("BTC/USD"), "BTC-USD");
  assert.equal(storedId("1INCH/EUR"), "1INCH-EUR");
  assert.equal(v2Symbol("DOGE-USD"), "DOGE/USD");
  assert.equal(symbolToMarketKey("BTC/USD"), "kraken:BTC-USD");
  assert.equal(marketKeyToSymbol("kraken:ETH-USDT"), "ETH/USDT");
  assert.equal(storedIdOfKey("kraken:ETH-USDT"), "ETH-USDT");
});

Deno.test("symbol mappings reject bad input, naming it", () => {
  for (const s of ["BTCUSD", "BTC-USD", "btc/usd", "BTC/USD/EUR", "/USD", "BTC/", "", "BTC/U$D"]) {
    assert.throws(
      () => storedId(s),
      new RegExp(`Kraken symbol ${JSON.stringify(s).replace("$", "\\$")}`),
    );
  }
  for (const s of ["BTC/USD", "BTCUSD", "BTC-", "A-B-C"]) {
    assert.throws(() => v2Symbol(s), /Cannot map stored id/);
  }
  assert.throws(() => storedIdOfKey("BTC-USD"), /"BTC-USD" is not a Kraken market key/);
  assert.throws(() => storedIdOfKey("kraken:BTC/USD"), /"kraken:BTC\/USD" is not a Kraken/);
  assert.throws(() => marketKeyToSymbol("binance:BTC-USD"), /Unknown exchange "binance"/);
  assert.throws(() => restPairToStoredId("FOO"), /Cannot split Kraken REST pair name "FOO"/);
  assert.throws(() => wsnameToSymbol("XBTUSD"), /Cannot read Kraken wsname "XBTUSD"/);
});

Deno.test("normalizeAsset() and wsnameToSymbol() speak v2", () => {
  const cases: [string, string][] = [
    ["XXBT", "BTC"],
    ["XBT", "BTC"],
    ["XXDG", "DOGE"],
    ["XDG", "DOGE"],
    ["ZUSD", "USD"],
    ["ZEUR", "EUR"],
    ["XETH", "ETH"],
    ["SOL", "SOL"],
    ["USDC", "USDC"],
    ["XTZ", "XTZ"],
    ["XION", "XION"],
    ["zusd", "USD"],
  ];
  for (const [code, v2] of cases) assert.equal(normalizeAsset(code), v2, code);
  assert.equal(wsnameToSymbol("XBT/USD"), "BTC/USD");
  assert.equal(wsnameToSymbol("XDG/EUR"), "DOGE/EUR");
  assert.equal(wsnameToSymbol("ETH/XBT"), "ETH/BTC");
});

Deno.test("REST pair names: derived altnames and names without AssetPairs", () => {
  assert.equal(restPairName("BTC-USD"), "XBTUSD");
  assert.equal(restPairName("DOGE-EUR"), "XDGEUR");
  assert.equal(restPairName("SOL-USD"), "SOLUSD");
  assert.equal(restPairName("ETH-BTC"), "ETHXBT");
  assert.throws(
    () => restPairName("BTC/USD"),
    /Cannot derive a Kraken REST pair name from "BTC\/USD"/,
  );
  const cases: [string, string][] = [
    ["XXBTZUSD", "BTC-USD"],
    ["XETHXXBT", "ETH-BTC"],
    ["XXDGZEUR", "DOGE-EUR"],
    ["XBTUSD", "BTC-USD"],
    ["XDGUSD", "DOGE-USD"],
    ["SOLUSDT", "SOL-USDT"],
    ["USDTUSD", "USDT-USD"],
    ["ETHXBT", "ETH-BTC"],
    ["xbtusd", "BTC-USD"],
  ];
  for (const [name, id] of cases) assert.equal(restPairToStoredId(name), id, name);
});

const ASSET_PAIRS = {
  XXBTZUSD: { altname: "XBTUSD", wsname: "XBT/USD", base: "XXBT", quote: "ZUSD" },
  XDGUSD: { altname: "XDGUSD", wsname: "XDG/USD", base: "XXDG", quote: "ZUSD" },
  SOLUSD: { altname: "SOLUSD", wsname: "SOL/USD", base: "SOL", quote: "ZUSD" },
  "XBTUSD.d": { altname: "XBTUSD.d", base: "XXBT", quote: "ZUSD" },
  WEIRD: { altname: "WEIRD", wsname: "we ird" },
  NOWS: { altname: "ADAEUR", base: "ADA", quote: "ZEUR" },
};

Deno.test("PairDirectory maps AssetPairs rows both ways", () => {
  const dir = new PairDirectory(Object.entries(ASSET_PAIRS));
  assert.deepEqual(dir.byStoredId("BTC-USD"), {
    key: "XXBTZUSD",
    altname: "XBTUSD",
    symbol: "BTC/USD",
    storedId: "BTC-USD",
  });
  assert.equal(dir.byRestName("XXBTZUSD")?.storedId, "BTC-USD");
  assert.equal(dir.byRestName("xbtusd")?.storedId, "BTC-USD");
  assert.equal(dir.byStoredId("DOGE-USD")?.altname, "XDGUSD");
  assert.equal(dir.byStoredId("ADA-EUR")?.key, "NOWS");
  assert.equal(dir.byRestName("XBTUSD.d"), undefined);
  assert.deepEqual(dir.skipped.map((s) => s.key), ["XBTUSD.d", "WEIRD"]);
  assert.match(dir.skipped[1]!.reason, /wsname "we ird"/);
  assert.deepEqual(dir.pairs().map((p) => p.storedId), [
    "BTC-USD",
    "DOGE-USD",
    "SOL-USD",
    "ADA-EUR",
  ]);
  assert.equal(dir.size, 4);
  assert.throws(() => pairNames("X", {}), /asset pair "X": no wsname/);
});

const assetCode = fc.stringMatching(/^[A-Z0-9]{1,20}$/);

Deno.test("id mappings round-trip (property)", () => {
  fc.assert(
    fc.property(assetCode, assetCode, (base, quote) => {
      const symbol = `${base}/${quote}`;
      assert.ok(isV2Symbol(symbol));
      const id = storedId(symbol);
      assert.equal(id, `${base}-${quote}`);
      assert.equal(v2Symbol(id), symbol);
      const key = symbolToMarketKey(symbol);
      assert.equal(key, `kraken:${id}`);
      assert.equal(marketKeyToSymbol(key), symbol);
      assert.equal(storedIdOfKey(key), id);
    }),
  );
});

Deno.test("derived altnames read back to the stored id for common quotes (property)", () => {
  const quotes = ["USD", "EUR", "USDT", "USDC", "BTC", "GBP"];
  // A base ending in a quote's v1 code (`AUSD` + `T`) splits elsewhere: the directory is
  // authoritative for those, so the property covers the others.
  const v1Quotes = [...quotes.map(restPairNameOfAsset), "DAI", "DOT", "SOL", "ETH", "JPY"];
  const base = assetCode.filter((a) =>
    normalizeAsset(a) === a && !v1Quotes.some((q) => a.endsWith(q.slice(0, -1)) || a.endsWith(q))
  );
  fc.assert(
    fc.property(base, fc.constantFrom(...quotes), (b, q) => {
      const id = `${b}-${q}`;
      assert.equal(restPairToStoredId(restPairName(id)), id);
    }),
  );
});

function restPairNameOfAsset(asset: string): string {
  return restPairName(`A-${asset}`).slice(1);
}
