/**
 * @module
 * How the Kraken simulator names a pair on each surface (kraken-protocol.md "Symbols"): the v2
 * WebSocket symbol (`BTC/USD`, the simulator's product id), and REST `AssetPairs`' key
 * (`XXBTZUSD`), `altname` (`XBTUSD`), `wsname` (the v1 form `XBT/USD`) and asset codes (`XXBT`,
 * `ZUSD`). Also the decimals a pair is listed with. Wire payloads live in `wire.ts`.
 */
import type { SimProductSpec } from "../../simulator/market.ts";

/** v2 asset codes whose v1/REST name differs (`BTC` → `XBT`, `DOGE` → `XDG`). */
const V1_NAME: Record<string, string> = { BTC: "XBT", DOGE: "XDG" };

/** Assets REST still names with Kraken's legacy X/Z prefix. */
const LEGACY_ASSET: Record<string, string> = {
  BTC: "XXBT",
  ETH: "XETH",
  DOGE: "XXDG",
  LTC: "XLTC",
  XRP: "XXRP",
  XLM: "XXLM",
  USD: "ZUSD",
  EUR: "ZEUR",
  GBP: "ZGBP",
  CAD: "ZCAD",
  JPY: "ZJPY",
};

/** The names of one pair. */
export interface PairNames {
  /** v2 WebSocket symbol, e.g. `BTC/USD`. */
  symbol: string;
  /** `AssetPairs` key and the key of `Trades`/`OHLC` results, e.g. `XXBTZUSD`. */
  key: string;
  /** e.g. `XBTUSD`. */
  altname: string;
  /** The v1 WebSocket name, e.g. `XBT/USD`. */
  wsname: string;
  /** REST asset code of the base, e.g. `XXBT`. */
  base: string;
  /** REST asset code of the quote, e.g. `ZUSD`. */
  quote: string;
}

/**
 * The REST names of a v2 symbol. Pairs of two legacy assets keep Kraken's old key
 * (`XXBTZUSD`, `XETHZUSD`); the others are keyed by their altname (`SOLUSD`, `XDGUSD`), as
 * Kraken's `AssetPairs` lists them.
 *
 * @throws {RangeError} when `symbol` is not `BASE/QUOTE`
 */
export function pairNames(symbol: string): PairNames {
  const m = /^([A-Z0-9]+)\/([A-Z0-9]+)$/.exec(symbol);
  if (!m) throw new RangeError(`Kraken symbol "${symbol}" is not BASE/QUOTE`);
  const [, b, q] = m as unknown as [string, string, string];
  const v1Base = V1_NAME[b] ?? b;
  const v1Quote = V1_NAME[q] ?? q;
  const base = LEGACY_ASSET[b] ?? b;
  const quote = LEGACY_ASSET[q] ?? q;
  const altname = `${v1Base}${v1Quote}`;
  // DOGE's pairs took altname keys (`XDGUSD`) although its asset code is legacy.
  const legacy = LEGACY_ASSET[b] !== undefined && LEGACY_ASSET[q] !== undefined && b !== "DOGE";
  return {
    symbol,
    key: legacy ? `${base}${quote}` : altname,
    altname,
    wsname: `${v1Base}/${v1Quote}`,
    base,
    quote,
  };
}

/**
 * Every name a REST `pair` parameter may use for this pair: the key, the altname, the v1
 * wsname, the v2 symbol and it without its slash (`BTCUSD`). Kraken accepts at least the first
 * two; the others are a lenience of the simulator.
 */
export function pairAliases(names: PairNames): string[] {
  return [names.key, names.altname, names.wsname, names.symbol, names.symbol.replace("/", "")];
}

/** Price decimals of a spec (its tick's). */
export function priceDecimals(spec: SimProductSpec): number {
  return Math.max(0, Math.round(-Math.log10(spec.tick ?? 0.01)));
}

/** Size decimals: the market's sizes are whole 10^-8 units. */
export const LOT_DECIMALS = 8;

/** Whether Kraken lists the pair: delisted pairs and aliases are absent from Kraken. */
export function isListed(spec: SimProductSpec): boolean {
  return spec.status !== "delisted" && spec.alias === undefined;
}
