/**
 * @module
 * The candle as the rest of the service sees it (plain numbers, start in epoch seconds), and the
 * update the aggregator emits. Exact arithmetic lives in the aggregator; this is the output shape.
 */
import type { GranularityId } from "./granularity.ts";

/** One OHLCV candle. `start` is the bucket start in epoch seconds (UTC-aligned). */
export interface Candle {
  start: number;
  open: number;
  high: number;
  low: number;
  close: number;
  /** Base-currency volume, exact to the feed's 8 decimals, as the nearest double. */
  volume: number;
}

/** A candle of one product and granularity, as emitted by the aggregator. */
export interface CandleUpdate {
  product: string;
  granularity: GranularityId;
  candle: Candle;
  /** True once the bucket has ended (by a later trade or by the clock). */
  complete: boolean;
  /** True when this re-emits a completed candle changed by a late trade or a REST repair. */
  correction?: boolean;
}
