/**
 * @module
 * The simulators' market, shared by Coinbase's (`lib/coinbase/simulator.ts`) and Kraken's
 * (`lib/kraken/simulator.ts`): a seeded random-walk trade generator per product, the trade log the
 * WebSocket side streams from, and exact 1-minute ground-truth candles from which the REST side
 * answers every granularity. Trades are generated lazily up to the time asked for, so the market
 * follows whatever clock drives it. Wire concerns (frames, HTTP) live in the WS and REST parts.
 *
 * History and live trading share one market: the same trade rate, size distribution and
 * volatility per minute, so charts, volumes and "change since open" run on continuously across
 * the start of live trading. To keep long histories cheap, history is generated at a lower trade
 * rate and each history trade stands for the `k` live trades (k = live rate / history rate) that
 * would have happened in its place: its size is the sum of `k` draws of the live size
 * distribution and its price step that of `k` live steps (√k times the spread, `k` times the
 * pull back), so volume per minute and price variance per minute are the live ones.
 */
import type { Candle } from "../candles/candle.ts";
import { addUnits, type Units, unitsToNumber } from "../candles/decimal.ts";
import type { Granularity } from "../candles/granularity.ts";
import type { Trade } from "../candles/trade.ts";

/** A product the simulator lists. */
export interface SimProductSpec {
  id: string;
  /** Starting price, in quote currency. */
  price: number;
  /** Mean live trades per second (Poisson). Small values make an illiquid product. */
  tradesPerSecond: number;
  /** Price tick; prices are whole ticks, formatted with its decimals. @default 0.01 */
  tick?: number;
  /** `online` or `delisted`; delisted products are listed but never trade. @default "online" */
  status?: "online" | "delisted";
  /**
   * The product this one is an alias of (`BTC-USDC` → `BTC-USD`): listed with `alias` set,
   * never trading on its own. @default none
   */
  alias?: string;
}

/** Options for {@linkcode Market}. */
export interface MarketOptions {
  products: SimProductSpec[];
  /** PRNG seed; the same seed and clock give the same trades. @default 1 */
  seed?: number;
  /** Epoch ms where live trading begins; history is generated before it. */
  startMs: number;
  /** How much history exists before `startMs`. @default 6 h */
  historyMs?: number;
  /**
   * Trades generated per second of history, per product (kept low so a week of history stays
   * small); each stands for several live trades, so volume per minute is the live one.
   * @default 0.1
   */
  historyTradesPerSecond?: number;
  /** Raw trades kept per product (older ones survive only inside the 1-minute truth). @default 20000 */
  maxTradesPerProduct?: number;
  /**
   * The `product` of each parsed trade, from its spec id (the Kraken simulator lists `BTC/USD`
   * and parses to the market key `kraken:BTC-USD`). @default the spec id
   */
  tradeProduct?: (id: string) => string;
  /**
   * Share of trades that are further fills of the previous trade's taker order: the same
   * microsecond, the same side, the price at most one tick further in the taker's direction
   * (Kraken's REST shows such runs; its WebSocket was reported to send only their first trade).
   * Trades per second stay `tradesPerSecond`. Such markets set {@linkcode SimTrade.fill}.
   * @default 0 (every trade its own time; no extra random draws, so seeds give the same trades)
   */
  multiFillShare?: number;
}

/** A generated trade: its wire strings (coinbase-protocol.md §3.2) and the same trade parsed. */
export interface SimTrade {
  trade_id: string;
  product_id: string;
  price: string;
  size: string;
  side: "BUY" | "SELL";
  /** RFC 3339 with microseconds, as Coinbase's Go servers print it. */
  time: string;
  /** Epoch microseconds of `time`. */
  timeUs: number;
  /** What `parseFrame` yields for it; the ground truth is folded from these. */
  parsed: Trade;
  /**
   * Index of this trade among the fills of one taker order (0 = the first; the others share its
   * `timeUs`). Present only when the market's `multiFillShare` is above 0.
   */
  fill?: number;
}

interface TruthCandle {
  start: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: Units;
}

interface ProductState {
  spec: SimProductSpec;
  /**
   * The product's own random stream (from the seed and its place in the list): its trades do not
   * depend on how generation is cut into `advance` calls, nor on the other products, so two
   * markets built alike answer alike however each is driven (the bench's REST side runs one of
   * its own in a Worker).
   */
  rand: () => number;
  decimals: number;
  tickValue: number;
  priceTicks: number;
  nextId: number;
  /** Epoch µs of the next trade to generate. */
  nextUs: number;
  trades: SimTrade[];
  /** Parsed trades' `product`. */
  tradeProduct: string;
  /** Fill index of the next trade (0 = a new taker order); multi-fill markets only. */
  nextFill: number;
  /** Side of the last trade (a further fill keeps it). */
  lastSide: "BUY" | "SELL";
  /** 1-minute ground truth keyed by start (epoch s). */
  minutes: Map<number, TruthCandle>;
  /** Sorted starts of `minutes`. */
  minuteStarts: number[];
}

/** Largest size of one simulated trade, in base units (sizes are 5 · u³, u uniform). */
const MAX_TRADE_SIZE = 5;
/** Mean size of one simulated trade: E[5 · u³] = 5/4. */
export const MEAN_TRADE_SIZE = MAX_TRADE_SIZE / 4;

/** A seeded PRNG (mulberry32), uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A decimal with trailing zeros (and a bare point) trimmed, as recorded from Coinbase:
 * prices `65091`, `1919.6`, sizes `0.002186`.
 */
export function trimDecimal(s: string): string {
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

/** RFC 3339 with microseconds and trailing zeros trimmed, as Coinbase's Go servers print. */
export function goTime(us: number): string {
  const ms = Math.floor(us / 1000);
  const base = new Date(ms).toISOString().slice(0, 19);
  const frac = String(us % 1_000_000).padStart(6, "0").replace(/0+$/, "");
  return frac ? `${base}.${frac}Z` : `${base}Z`;
}

/** The simulated exchange's trade history and ground truth. */
export class Market {
  readonly startMs: number;
  readonly #products = new Map<string, ProductState>();
  readonly #historyRate: number;
  readonly #maxTrades: number;
  readonly #multiFill: number;
  #generatedToUs: number;

  constructor(options: MarketOptions) {
    const seed = options.seed ?? 1;
    this.startMs = options.startMs;
    this.#historyRate = options.historyTradesPerSecond ?? 0.1;
    this.#maxTrades = options.maxTradesPerProduct ?? 20_000;
    const multiFill = options.multiFillShare ?? 0;
    if (!(multiFill >= 0 && multiFill < 1)) {
      throw new RangeError(`multiFillShare must be in [0, 1), got ${multiFill}`);
    }
    this.#multiFill = multiFill;
    const fromUs = (options.startMs - (options.historyMs ?? 6 * 3600_000)) * 1000;
    this.#generatedToUs = fromUs;
    let idBase = 100_000_000;
    let index = 0;
    for (const spec of options.products) {
      const tick = spec.tick ?? 0.01;
      const decimals = Math.max(0, Math.round(-Math.log10(tick)));
      const state: ProductState = {
        spec,
        rand: prng(Math.imul(seed, 0x9e3779b1) ^ Math.imul(++index, 0x85ebca6b)),
        decimals,
        tickValue: tick,
        priceTicks: Math.max(1, Math.round(spec.price / tick)),
        nextId: idBase,
        nextUs: fromUs,
        trades: [],
        tradeProduct: options.tradeProduct ? options.tradeProduct(spec.id) : spec.id,
        nextFill: 0,
        lastSide: "BUY",
        minutes: new Map(),
        minuteStarts: [],
      };
      idBase += 10_000_000_000;
      state.nextUs = fromUs + this.#gapUs(state, fromUs);
      this.#products.set(spec.id, state);
    }
  }

  /** Product specs, in the order given. */
  get products(): SimProductSpec[] {
    return [...this.#products.values()].map((p) => p.spec);
  }

  /** Whether the simulator lists this product. */
  has(productId: string): boolean {
    return this.#products.has(productId);
  }

  /** Last traded price of a product (its current random-walk level). */
  price(productId: string): string {
    const p = this.#state(productId);
    return trimDecimal((p.priceTicks * p.tickValue).toFixed(p.decimals));
  }

  #state(productId: string): ProductState {
    const p = this.#products.get(productId);
    if (!p) throw new RangeError(`Unknown simulator product "${productId}"`);
    return p;
  }

  /** Trades per second generated at `atUs` (history is thinned; see the module comment). */
  #rate(p: ProductState, atUs: number): number {
    return atUs < this.startMs * 1000
      ? Math.min(this.#historyRate, p.spec.tradesPerSecond)
      : p.spec.tradesPerSecond;
  }

  #gapUs(p: ProductState, atUs: number): number {
    // Taker orders arrive at (1 − share) of the trade rate: their further fills make up the rest.
    const rate = this.#rate(p, atUs) * (1 - this.#multiFill);
    if (rate <= 0) return Number.MAX_SAFE_INTEGER / 4;
    const u = 1 - p.rand();
    return Math.max(1, Math.round((-Math.log(u) / rate) * 1_000_000));
  }

  /**
   * Generates every trade up to `nowMs` and returns the new ones, oldest first (ids rise with
   * time per product).
   */
  advance(nowMs: number): SimTrade[] {
    const toUs = nowMs * 1000;
    if (toUs <= this.#generatedToUs) return [];
    const out: SimTrade[] = [];
    for (const p of this.#products.values()) {
      if (p.spec.status === "delisted" || p.spec.alias) continue;
      const liveUs = this.startMs * 1000;
      while (p.nextUs <= toUs) {
        const at = p.nextUs;
        out.push(this.#trade(p, at));
        if (this.#multiFill > 0 && p.rand() < this.#multiFill) {
          p.nextFill++; // the same taker order fills again, at the same microsecond
          continue;
        }
        if (this.#multiFill > 0) p.nextFill = 0;
        p.nextUs = at + this.#gapUs(p, at);
        // Crossing from sparse history into live trading: redraw the wait at the live rate
        // (arrivals are memoryless, so restarting the draw at the boundary is exact).
        if (at < liveUs && p.nextUs > liveUs) p.nextUs = liveUs + this.#gapUs(p, liveUs);
      }
    }
    this.#generatedToUs = toUs;
    out.sort((a, b) => a.timeUs - b.timeUs);
    return out;
  }

  #trade(p: ProductState, timeUs: number): SimTrade {
    // How many live trades this one stands for: 1 live, more in thinned history.
    const rate = this.#rate(p, timeUs);
    const k = rate > 0 ? p.spec.tradesPerSecond / rate : 1;
    // Random walk in ticks with a soft pull back toward the starting price; k live steps have
    // √k times the spread of one (uniform steps add in variance) and k times the pull.
    const fill = p.nextFill;
    if (fill > 0) {
      // A further fill of the same taker order walks the book in the taker's direction: the
      // maker side SELL means a taker buying, up.
      const up = p.lastSide === "SELL";
      const step = p.rand() < 0.5 ? 0 : 1;
      p.priceTicks = Math.max(1, p.priceTicks + (up ? step : -step));
    } else {
      const start = Math.round(p.spec.price / p.tickValue);
      const scale = Math.max(2, p.priceTicks * 0.0004);
      const noise = (p.rand() - 0.5) * Math.sqrt(k);
      const pull = (start - p.priceTicks) / (start * 20) * k;
      const step = Math.round((noise + pull) * scale);
      p.priceTicks = Math.max(1, p.priceTicks + step);
    }
    // k draws of the live size (a fractional k adds one more draw with that probability).
    const frac = k % 1;
    const draws = Math.floor(k) + (frac > 0 && p.rand() < frac ? 1 : 0);
    let sizeUnits = 0;
    for (let i = 0; i < Math.max(1, draws); i++) {
      sizeUnits += 1 + Math.floor(p.rand() ** 3 * MAX_TRADE_SIZE * 1e8); // 0.00000001 .. 5
    }
    const side = fill > 0 ? p.lastSide : p.rand() < 0.5 ? "BUY" : "SELL";
    p.lastSide = side;
    const id = p.nextId++;
    const price = trimDecimal((p.priceTicks * p.tickValue).toFixed(p.decimals));
    const parsed: Trade = {
      product: p.tradeProduct,
      id,
      price: Number(price),
      size: sizeUnits,
      timeMs: Math.floor(timeUs / 1000),
    };
    const trade: SimTrade = {
      trade_id: String(id),
      product_id: p.spec.id,
      price,
      size: trimDecimal((sizeUnits / 1e8).toFixed(8)),
      side,
      time: goTime(timeUs),
      timeUs,
      parsed,
    };
    if (this.#multiFill > 0) trade.fill = fill;
    p.trades.push(trade);
    if (p.trades.length > this.#maxTrades * 1.25) {
      p.trades.splice(0, p.trades.length - this.#maxTrades);
    }
    this.#record(p, parsed);
    return trade;
  }

  /** Folds one trade into its 1-minute ground truth (trades arrive in time order). */
  #record(p: ProductState, t: Trade): void {
    const start = Math.floor(t.timeMs / 60_000) * 60;
    const { price, size } = t;
    const c = p.minutes.get(start);
    if (!c) {
      p.minutes.set(start, {
        start,
        open: price,
        high: price,
        low: price,
        close: price,
        volume: size,
      });
      p.minuteStarts.push(start);
      return;
    }
    if (price > c.high) c.high = price;
    if (price < c.low) c.low = price;
    c.close = price;
    c.volume = addUnits(c.volume, size);
  }

  /** The `limit` latest trades of a product at or before `nowMs`, newest first. */
  latestTrades(productId: string, limit: number, nowMs?: number): SimTrade[] {
    const trades = this.#state(productId).trades;
    let end = trades.length;
    if (nowMs !== undefined) {
      const us = nowMs * 1000;
      while (end > 0 && trades[end - 1]!.timeUs > us) end--;
    }
    return trades.slice(Math.max(0, end - limit), end).reverse();
  }

  /**
   * At most `limit` trades of a product from epoch microsecond `fromUs` on (inclusive), oldest
   * first (only those still kept): paging without copying the rest of the log.
   */
  tradesFrom(productId: string, fromUs: number, limit: number): SimTrade[] {
    const trades = this.#state(productId).trades;
    const lo = lowerBound(trades, fromUs, (t) => t.timeUs);
    return trades.slice(lo, lo + Math.max(0, limit));
  }

  /** Trades of a product with `fromMs <= time < toMs`, oldest first (only those still kept). */
  trades(productId: string, fromMs: number, toMs: number): SimTrade[] {
    const trades = this.#state(productId).trades;
    const lo = lowerBound(trades, fromMs * 1000, (t) => t.timeUs);
    const hi = lowerBound(trades, toMs * 1000, (t) => t.timeUs);
    return trades.slice(lo, hi);
  }

  /**
   * Ground-truth candles of granularity `g` whose buckets start in `[startSec, endSec]`
   * (inclusive, as Coinbase counts), oldest first, empty buckets absent. Built from the exact
   * 1-minute truth, so it is right for any granularity.
   */
  candles(productId: string, g: Granularity, startSec: number, endSec: number): Candle[] {
    const p = this.#state(productId);
    const from = Math.floor(startSec / g.seconds) * g.seconds;
    const starts = p.minuteStarts;
    const lo = lowerBound(starts, from, (s) => s);
    const out: Candle[] = [];
    let acc: TruthCandle | undefined;
    for (let i = lo; i < starts.length; i++) {
      const m = p.minutes.get(starts[i]!)!;
      const bucket = Math.floor(m.start / g.seconds) * g.seconds;
      if (bucket > endSec) break;
      if (acc && acc.start !== bucket) {
        out.push(toCandle(acc));
        acc = undefined;
      }
      if (!acc) acc = { ...m, start: bucket };
      else {
        if (m.high > acc.high) acc.high = m.high;
        if (m.low < acc.low) acc.low = m.low;
        acc.close = m.close;
        acc.volume = addUnits(acc.volume, m.volume);
      }
    }
    if (acc) out.push(toCandle(acc));
    return out;
  }
}

function toCandle(c: TruthCandle): Candle {
  return {
    start: c.start,
    open: c.open,
    high: c.high,
    low: c.low,
    close: c.close,
    volume: unitsToNumber(c.volume),
  };
}

function lowerBound<T>(xs: T[], key: number, of: (x: T) => number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (of(xs[mid]!) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
