/**
 * @module
 * The one trade the candle core takes: already validated and parsed (by the exchange adapter,
 * `lib/coinbase/messages.ts`), so the core never sees the wire's strings. Prices are compared,
 * never summed, so a double is exact enough; sizes are summed, so they are exact
 * {@linkcode Units}.
 */
import type { Units } from "./decimal.ts";

/** A parsed trade. */
export interface Trade {
  product: string;
  /** Exchange trade id: integers rising per product (they order trades within a millisecond). */
  id: number;
  /** Positive price in quote currency. */
  price: number;
  /** Positive base-currency size, exact in 10^-8 units. */
  size: Units;
  /** Exchange time, integer epoch milliseconds (sub-millisecond digits dropped). */
  timeMs: number;
}
