/**
 * @module
 * Kraken's names for one pair and how they map to the service's (kraken-protocol.md "Symbols"):
 * the WebSocket v2 symbol `BTC/USD` ⇄ the stored id `BTC-USD` (`/` → `-`: Firestore ids cannot
 * hold `/`) ⇄ the market key `kraken:BTC-USD` (`lib/exchange/market.ts`). REST still speaks v1:
 * pair names such as `XBTUSD` (`altname`) or `XXBTZUSD` (the AssetPairs key), asset codes such
 * as `XXBT`, `ZUSD`, and a `wsname` of `XBT/USD`; {@linkcode PairDirectory} maps those from an
 * AssetPairs answer, {@linkcode restPairName} derives an `altname` when none is at hand.
 * Every mapping throws a `RangeError` naming the input it could not read. Fetching AssetPairs
 * lives in `rest.ts`.
 */
import { type ExchangeId, marketKey, splitMarketKey } from "../exchange/market.ts";

/** The exchange id of Kraken's market keys. */
export const KRAKEN: ExchangeId = "kraken";

/** One side of a pair as the service stores it: upper-case letters and digits, 1–20 of them. */
function isAssetCode(s: string, from: number, to: number): boolean {
  const n = to - from;
  if (n < 1 || n > 20) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90))) return false;
  }
  return true;
}

/** `BASE{sep}QUOTE` with both sides asset codes, else undefined; returns the separator index. */
function splitAt(s: string, sep: string): number | undefined {
  const i = s.indexOf(sep);
  if (i < 0 || s.indexOf(sep, i + 1) >= 0) return undefined;
  return isAssetCode(s, 0, i) && isAssetCode(s, i + 1, s.length) ? i : undefined;
}

/** Whether `s` is a v2 symbol the service can store (`BTC/USD`, `1INCH/EUR`). */
export function isV2Symbol(s: string): boolean {
  return splitAt(s, "/") !== undefined;
}

/** Whether `s` is a Kraken stored id (`BTC-USD`). */
export function isStoredId(s: string): boolean {
  return splitAt(s, "-") !== undefined;
}

/**
 * The stored id of a v2 symbol: `BTC/USD` → `BTC-USD`.
 *
 * @throws {RangeError} naming the symbol when it is not `BASE/QUOTE` in upper-case letters/digits
 */
export function storedId(symbol: string): string {
  const i = splitAt(symbol, "/");
  if (i === undefined) {
    throw new RangeError(
      `Cannot map Kraken symbol ${
        JSON.stringify(symbol)
      } to a stored id: expected BASE/QUOTE such as BTC/USD`,
    );
  }
  return `${symbol.slice(0, i)}-${symbol.slice(i + 1)}`;
}

/**
 * The v2 symbol of a stored id: `BTC-USD` → `BTC/USD`.
 *
 * @throws {RangeError} naming the id when it is not `BASE-QUOTE`
 */
export function v2Symbol(id: string): string {
  const i = splitAt(id, "-");
  if (i === undefined) {
    throw new RangeError(
      `Cannot map stored id ${
        JSON.stringify(id)
      } to a Kraken symbol: expected BASE-QUOTE such as BTC-USD`,
    );
  }
  return `${id.slice(0, i)}/${id.slice(i + 1)}`;
}

/** The market key of a v2 symbol: `BTC/USD` → `kraken:BTC-USD`. @throws {RangeError} as {@linkcode storedId} */
export function symbolToMarketKey(symbol: string): string {
  return marketKey(KRAKEN, storedId(symbol));
}

/**
 * The stored id of a Kraken market key: `kraken:BTC-USD` → `BTC-USD`.
 *
 * @throws {RangeError} naming the key when it is not a Kraken market key with a valid id
 */
export function storedIdOfKey(key: string): string {
  const { exchange, product } = splitMarketKey(key);
  if (exchange !== KRAKEN || !isStoredId(product)) {
    throw new RangeError(
      `Product ${JSON.stringify(key)} is not a Kraken market key such as kraken:BTC-USD`,
    );
  }
  return product;
}

/** The v2 symbol of a Kraken market key: `kraken:BTC-USD` → `BTC/USD`. @throws {RangeError} as {@linkcode storedIdOfKey} */
export function marketKeyToSymbol(key: string): string {
  return v2Symbol(storedIdOfKey(key));
}

/**
 * Kraken's legacy asset codes (REST `base`/`quote` and AssetPairs keys): an `X` (crypto) or `Z`
 * (fiat) prefix on the assets listed before 2018. A list, not a rule: newer four-letter codes
 * may start with X or Z too (`XION`), and keep their name.
 */
const LEGACY_ASSETS: Record<string, string> = {
  XXBT: "XBT",
  XETH: "ETH",
  XETC: "ETC",
  XLTC: "LTC",
  XXRP: "XRP",
  XXLM: "XLM",
  XXMR: "XMR",
  XZEC: "ZEC",
  XMLN: "MLN",
  XREP: "REP",
  XXDG: "XDG",
  XICN: "ICN",
  XDAO: "DAO",
  XNMC: "NMC",
  XXVN: "XVN",
  ZUSD: "USD",
  ZEUR: "EUR",
  ZGBP: "GBP",
  ZJPY: "JPY",
  ZCAD: "CAD",
  ZAUD: "AUD",
  ZCHF: "CHF",
  ZKRW: "KRW",
};

/** v1 names v2 renamed (kraken-protocol.md "Symbols"): v2 rejects `XBT/…` and `XDG/…`. */
const V1_TO_V2: Record<string, string> = { XBT: "BTC", XDG: "DOGE" };
const V2_TO_V1: Record<string, string> = { BTC: "XBT", DOGE: "XDG" };

/**
 * An asset code of any Kraken API in v2 naming: `XXBT`, `XBT` → `BTC`; `XXDG`, `XDG` → `DOGE`;
 * `ZUSD` → `USD`; `XETH` → `ETH`; anything else (`SOL`, `USDC`) unchanged. Upper-cases.
 */
export function normalizeAsset(code: string): string {
  const up = code.toUpperCase();
  const plain = LEGACY_ASSETS[up] ?? up;
  return V1_TO_V2[plain] ?? plain;
}

/**
 * A v1 or REST `wsname` (`XBT/USD`, `XDG/EUR`) as a v2 symbol (`BTC/USD`, `DOGE/EUR`).
 *
 * @throws {RangeError} naming the name when it is not `BASE/QUOTE`
 */
export function wsnameToSymbol(wsname: string): string {
  const i = wsname.indexOf("/");
  const symbol = i < 0
    ? ""
    : `${normalizeAsset(wsname.slice(0, i))}/${normalizeAsset(wsname.slice(i + 1))}`;
  if (!isV2Symbol(symbol)) {
    throw new RangeError(
      `Cannot read Kraken wsname ${JSON.stringify(wsname)}: expected BASE/QUOTE such as XBT/USD`,
    );
  }
  return symbol;
}

/**
 * The REST `altname` Kraken gives a stored id's pair, derived without AssetPairs: v1 asset
 * names, concatenated (`BTC-USD` → `XBTUSD`, `DOGE-EUR` → `XDGEUR`, `SOL-USD` → `SOLUSD`). Right
 * for the pairs checked (kraken-protocol.md's examples); {@linkcode PairDirectory} is
 * authoritative when an AssetPairs answer is at hand.
 *
 * @throws {RangeError} naming the id when it is not `BASE-QUOTE`
 */
export function restPairName(id: string): string {
  const i = splitAt(id, "-");
  if (i === undefined) {
    throw new RangeError(
      `Cannot derive a Kraken REST pair name from ${
        JSON.stringify(id)
      }: expected BASE-QUOTE such as BTC-USD`,
    );
  }
  const base = id.slice(0, i);
  const quote = id.slice(i + 1);
  return `${V2_TO_V1[base] ?? base}${V2_TO_V1[quote] ?? quote}`;
}

/** Quote assets an `altname` may end with, longest first (for {@linkcode restPairToStoredId}). */
const KNOWN_QUOTES = [
  "PYUSD",
  "USDT",
  "USDC",
  "USDG",
  "RLUSD",
  "EURR",
  "USD",
  "EUR",
  "GBP",
  "JPY",
  "CAD",
  "AUD",
  "CHF",
  "XBT",
  "ETH",
  "DAI",
  "DOT",
  "SOL",
].sort((a, b) => b.length - a.length);

/**
 * The stored id of a REST pair name without AssetPairs: the key form of legacy pairs
 * (`XXBTZUSD` → `BTC-USD`, `XETHXXBT` → `ETH-BTC`) or an `altname` ending in a common quote
 * asset (`XBTUSD` → `BTC-USD`, `XDGEUR` → `DOGE-EUR`, `SOLUSDT` → `SOL-USDT`). Use
 * {@linkcode PairDirectory} for anything else.
 *
 * @throws {RangeError} naming the name when it splits into no known base and quote
 */
export function restPairToStoredId(name: string): string {
  const up = name.toUpperCase();
  if (up.length === 8 && LEGACY_ASSETS[up.slice(0, 4)] && LEGACY_ASSETS[up.slice(4)]) {
    return `${normalizeAsset(up.slice(0, 4))}-${normalizeAsset(up.slice(4))}`;
  }
  for (const quote of KNOWN_QUOTES) {
    if (up.length > quote.length && up.endsWith(quote)) {
      const id = `${normalizeAsset(up.slice(0, -quote.length))}-${normalizeAsset(quote)}`;
      if (isStoredId(id)) return id;
    }
  }
  throw new RangeError(
    `Cannot split Kraken REST pair name ${
      JSON.stringify(name)
    } into base and quote: look it up in AssetPairs`,
  );
}

/** The names of one pair, from one AssetPairs row. */
export interface PairNames {
  /** The AssetPairs key, e.g. `XXBTZUSD` (what Trades answers under). */
  key: string;
  /** e.g. `XBTUSD` (what requests send as `pair`). */
  altname: string;
  /** v2 symbol, e.g. `BTC/USD`. */
  symbol: string;
  /** e.g. `BTC-USD`. */
  storedId: string;
}

/** The fields of an AssetPairs row the directory reads. */
export interface AssetPairNames {
  altname?: unknown;
  wsname?: unknown;
  base?: unknown;
  quote?: unknown;
}

/**
 * The names of one AssetPairs row (`key` → row): the v2 symbol from `wsname` (XBT → BTC), or from
 * `base`/`quote` when a row has no `wsname`.
 *
 * @throws {RangeError} naming the key when the row gives no readable pair
 */
export function pairNames(key: string, row: AssetPairNames): PairNames {
  let symbol: string;
  if (typeof row.wsname === "string" && row.wsname !== "") {
    symbol = wsnameToSymbol(row.wsname);
  } else if (typeof row.base === "string" && typeof row.quote === "string") {
    symbol = `${normalizeAsset(row.base)}/${normalizeAsset(row.quote)}`;
    if (!isV2Symbol(symbol)) {
      throw new RangeError(
        `Cannot read Kraken asset pair ${JSON.stringify(key)}: base ${
          JSON.stringify(row.base)
        } / quote ${JSON.stringify(row.quote)} is not a pair the service can store`,
      );
    }
  } else {
    throw new RangeError(`Cannot read Kraken asset pair ${JSON.stringify(key)}: no wsname`);
  }
  const altname = typeof row.altname === "string" && row.altname !== "" ? row.altname : key;
  return { key, altname, symbol, storedId: storedId(symbol) };
}

/**
 * Every pair of one AssetPairs answer, looked up by stored id or by any REST name (key or
 * `altname`, case-insensitive). Dark-pool rows (`.d`) and rows whose names the service cannot
 * store are left out and listed in `skipped`.
 */
export class PairDirectory {
  readonly #byId = new Map<string, PairNames>();
  readonly #byRestName = new Map<string, PairNames>();
  /** AssetPairs keys that were left out, with the reason. */
  readonly skipped: { key: string; reason: string }[] = [];

  constructor(rows: Iterable<[string, AssetPairNames]>) {
    for (const [key, row] of rows) {
      if (key.endsWith(".d") || (typeof row.altname === "string" && row.altname.endsWith(".d"))) {
        // Dark-pool books: their trades are not the public market's.
        this.skipped.push({ key, reason: "a dark-pool pair" });
        continue;
      }
      let names: PairNames;
      try {
        names = pairNames(key, row);
      } catch (e) {
        this.skipped.push({ key, reason: (e as Error).message });
        continue;
      }
      // Two rows for one symbol: keep the first (AssetPairs lists each pair once; defensive).
      if (!this.#byId.has(names.storedId)) this.#byId.set(names.storedId, names);
      this.#byRestName.set(key.toUpperCase(), names);
      this.#byRestName.set(names.altname.toUpperCase(), names);
    }
  }

  /** Pairs known. */
  get size(): number {
    return this.#byId.size;
  }

  /** Every pair, in AssetPairs order. */
  pairs(): PairNames[] {
    return [...this.#byId.values()];
  }

  /** The pair of a stored id (`BTC-USD`), if listed. */
  byStoredId(id: string): PairNames | undefined {
    return this.#byId.get(id);
  }

  /** The pair of a REST name (`XBTUSD`, `XXBTZUSD`), if listed. */
  byRestName(name: string): PairNames | undefined {
    return this.#byRestName.get(name.toUpperCase());
  }
}
