/**
 * @module
 * Aggregation throughput runners over the same `market_trades` frames (see `frames.ts`):
 *
 * - floor: `JSON.parse` of every frame, nothing else;
 * - spot-server: the service's path, frame text → `parseFrame` (validation, parsed trades) →
 *   `Aggregator.add` (dedupe included) → `tick` once a simulated second → `drain` after every
 *   frame (every update of all eight granularities);
 * - spot-server aggregator only: pre-parsed trades → `Aggregator.add` → `drain`, the same work
 *   the peers are given;
 * - tardis-dev: `compute()` with eight `computeTradeBars` time bars over an async iterable of
 *   its normalized `Trade` messages;
 * - ccxt: `buildOHLCVC` per product for the eight timeframes over its unified trades.
 *
 * The peers' inputs are built from the parsed frames before timing (their parsing is not
 * measured), and they only emit completed bars (ccxt: one batch at the end), while
 * spot-server emits the live candles of every granularity after every frame. The parsed trade
 * carries no side (candles do not need it), so the peers get every trade as a buy: OHLCV bars
 * do not depend on it either.
 */
import ccxt, { type OHLCVC, type Trade as CcxtTrade } from "ccxt";
import { compute, computeTradeBars, type Trade as TardisTrade } from "tardis-dev";
import { Aggregator } from "../lib/candles/aggregator.ts";
import type { Candle } from "../lib/candles/candle.ts";
import { unitsToNumber } from "../lib/candles/decimal.ts";
import { GRANULARITIES } from "../lib/candles/granularity.ts";
import type { Trade } from "../lib/candles/trade.ts";
import { parseFrame, parseFrameReference } from "../lib/coinbase/messages.ts";

/** What this process prints. */
export interface RunnerResult {
  runner: string;
  trades: number;
  frames: number;
  bytes: number;
  /** Best trades/s over the rounds. */
  tradesPerS: number;
  /** Outputs of the best round (updates, bars or candles). */
  outputs: number;
  /** spot-server only: completed 1-minute candles compared against ccxt, and how many differed. */
  checked?: number;
  mismatches?: number;
}

/** The runners, by name. */
export const RUNNERS = [
  "floor",
  "spot-server",
  "spot-server aggregator only",
  "tardis-dev",
  "ccxt",
  // Kraken v2 frames (kraken_frames.ts, kraken_throughput.ts).
  "kraken floor",
  "kraken spot-server",
] as const;

/** One runner's result for one round. */
export interface RoundResult {
  seconds: number;
  /** What the runner produced (updates, bars or candles), to show the work was done. */
  outputs: number;
}

/**
 * Trades of every frame, parsed and validated once (untimed), for the runners that need them.
 * Parsed by `parseFrameReference` (the same trades as `parseFrame`: tests/coinbase/
 * trade_scan_test.ts), not by the timed path's scanner: these trades are kept for the whole
 * run, and V8 "pretenures" an allocation site whose objects survive collections (allocates its
 * objects in old space from then on). Kept from the scanner's own site, they made every trade
 * of the spot-server runner's timed rounds (the cross-check parses first) an old-space object,
 * which the service, never keeping its parsed trades, does not pay.
 */
export function parseAll(frames: string[]): Trade[][] {
  return frames.map((text) => {
    const f = parseFrameReference(text);
    if (f.kind !== "market_trades" || f.rejected.length) {
      throw new Error(`Bench frame did not parse as clean market_trades: ${text.slice(0, 120)}`);
    }
    return f.trades;
  });
}

/** The floor: `JSON.parse` of each frame. */
export function runFloor(frames: string[]): RoundResult {
  let events = 0;
  const t0 = performance.now();
  for (const text of frames) events += JSON.parse(text).events.length;
  return { seconds: (performance.now() - t0) / 1000, outputs: events };
}

/**
 * The service's path from frame text to drained candle updates. When `oneMinute` is given,
 * completed (non-correction) 1-minute candles of `product` are collected into it.
 */
export function runSpotServer(
  frames: string[],
  check?: { product: string; oneMinute: Candle[] },
): RoundResult {
  const agg = new Aggregator();
  let nextTick = -Infinity;
  let updates = 0;
  const t0 = performance.now();
  for (const text of frames) {
    const f = parseFrame(text);
    if (f.kind !== "market_trades") throw new Error(`Unexpected ${f.kind} frame in the bench`);
    // As Service.#onTrades: the parsed trades go in as they are.
    for (const t of f.trades) agg.add(t);
    const now = f.timestampMs!;
    if (now >= nextTick) {
      agg.tick(now);
      nextTick = now + 1000;
    }
    const out = agg.drain();
    updates += out.length;
    if (check) {
      for (const u of out) {
        if (
          u.complete && !u.correction && u.granularity === "ONE_MINUTE" &&
          u.product === check.product
        ) check.oneMinute.push(u.candle);
      }
    }
  }
  return { seconds: (performance.now() - t0) / 1000, outputs: updates };
}

/** A trade as the peers take it: the parsed trade with its size as a double. */
export interface NumTrade {
  product: string;
  id: number;
  price: number;
  size: number;
  timeMs: number;
}

/** Frames of the peers' numeric trades, from the parsed frames. */
export function numericFrames(parsed: Trade[][]): NumTrade[][] {
  return parsed.map((ts) =>
    ts.map((t) => ({
      product: t.product,
      id: t.id,
      price: t.price,
      size: unitsToNumber(t.size),
      timeMs: t.timeMs,
    }))
  );
}

/** The aggregator alone on pre-parsed trades, draining after every frame. */
export function runSpotAggregator(frames: Trade[][]): RoundResult {
  const agg = new Aggregator();
  let nextTick = -Infinity;
  let updates = 0;
  const t0 = performance.now();
  for (const batch of frames) {
    for (const t of batch) agg.add(t);
    const now = batch[batch.length - 1]!.timeMs;
    if (now >= nextTick) {
      agg.tick(now);
      nextTick = now + 1000;
    }
    updates += agg.drain().length;
  }
  return { seconds: (performance.now() - t0) / 1000, outputs: updates };
}

/** tardis-dev's normalized trade messages for the same trades (maker side mapped as tardis does). */
export function tardisMessages(frames: NumTrade[][]): TardisTrade[] {
  const out: TardisTrade[] = [];
  for (const batch of frames) {
    for (const t of batch) {
      const timestamp = new Date(t.timeMs);
      out.push({
        type: "trade",
        symbol: t.product,
        exchange: "coinbase",
        id: String(t.id),
        price: t.price,
        amount: t.size,
        side: "buy",
        timestamp,
        localTimestamp: timestamp,
      });
    }
  }
  return out;
}

async function* iterate<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

/** tardis-dev: `compute()` with eight time-bar computables over the trade messages. */
export async function runTardis(messages: TardisTrade[]): Promise<RoundResult> {
  const bars = GRANULARITIES.map((g) =>
    computeTradeBars({ kind: "time", interval: g.seconds * 1000, name: g.short })
  );
  let outputs = 0;
  const t0 = performance.now();
  for await (const m of compute(iterate(messages), ...bars)) {
    if (m.type === "trade_bar") outputs++;
  }
  return { seconds: (performance.now() - t0) / 1000, outputs };
}

/** ccxt's unified trades per product, oldest first. */
export function ccxtTrades(frames: NumTrade[][]): CcxtTrade[][] {
  const byProduct = new Map<string, CcxtTrade[]>();
  for (const batch of frames) {
    for (const t of batch) {
      let list = byProduct.get(t.product);
      if (!list) byProduct.set(t.product, list = []);
      list.push({
        id: String(t.id),
        symbol: t.product.replace("-", "/"),
        timestamp: Math.floor(t.timeMs),
        datetime: new Date(t.timeMs).toISOString(),
        side: "buy",
        price: t.price,
        amount: t.size,
        cost: t.price * t.size,
        order: undefined,
        type: undefined,
        takerOrMaker: "taker",
        fee: undefined,
        info: {},
      });
    }
  }
  return [...byProduct.values()];
}

const CCXT_TIMEFRAMES = ["1m", "5m", "15m", "30m", "1h", "2h", "6h", "1d"];

/** ccxt: `buildOHLCVC` for each product and each of the eight timeframes. */
export function runCcxt(perProduct: CcxtTrade[][]): RoundResult {
  const ex = new ccxt.Exchange();
  let outputs = 0;
  const t0 = performance.now();
  for (const trades of perProduct) {
    for (const tf of CCXT_TIMEFRAMES) outputs += ex.buildOHLCVC(trades, tf).length;
  }
  return { seconds: (performance.now() - t0) / 1000, outputs };
}

/** ccxt's 1-minute candles of the product whose trades are `trades` (for the cross-check). */
export function ccxtOneMinute(trades: CcxtTrade[]): OHLCVC[] {
  return new ccxt.Exchange().buildOHLCVC(trades, "1m");
}
