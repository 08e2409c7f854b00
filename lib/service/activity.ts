/**
 * @module
 * When each product last traded, for the overview's "last trade" column. The pipeline tells it
 * about every live trade it takes from the feed (seeds, clock closes and REST repairs are not
 * trades and never reach it). Its time and price per product; nothing else is kept.
 */
import { type Clock, systemClock } from "../clock.ts";

/** Tracks the last trade time of every product. */
export class TradeActivity {
  readonly #clock: Clock;
  readonly #tradedAt = new Map<string, number>();
  readonly #price = new Map<string, number>();

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /** Notes that `product` traded now, at `price` when given. */
  traded(product: string, price?: number): void {
    this.#tradedAt.set(product, this.#clock());
    if (price !== undefined) this.#price.set(product, price);
  }

  /** The price of `product`'s last trade seen, if any. */
  lastPrice(product: string): number | undefined {
    return this.#price.get(product);
  }

  /** Forgets `product` (no longer served). */
  forget(product: string): void {
    this.#tradedAt.delete(product);
  }

  /** Seconds since `product` last traded, or undefined when no trade was seen yet. */
  lastTradeAgeS(product: string): number | undefined {
    const at = this.#tradedAt.get(product);
    return at === undefined ? undefined : Math.max(0, (this.#clock() - at) / 1000);
  }
}
