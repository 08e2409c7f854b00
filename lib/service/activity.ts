/**
 * @module
 * When each product last traded, for the overview's "last trade" column. The pipeline tells it
 * about every live trade it takes from the feed (seeds, clock closes and REST repairs are not
 * trades and never reach it). Its time and price per product; nothing else is kept.
 */
import { type Clock, systemClock } from "../clock.ts";

/** A product's last trade: updated in place (see {@linkcode TradeActivity}). */
interface LastTrade {
  /** Epoch ms when it was seen. */
  at: number;
  /** Its price; NaN when none was given. */
  price: number;
}

/**
 * Tracks the last trade time of every product. It is told about every trade (thousands a
 * second at a full shard), so each product's record is one object whose number fields are
 * overwritten: a number set into a Map is a new heap object each time, alive until the
 * product's next trade, long enough to be promoted.
 */
export class TradeActivity {
  readonly #clock: Clock;
  readonly #last = new Map<string, LastTrade>();

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /**
   * Notes that `product` traded at `at` (epoch ms on this activity's clock; default now), at
   * `price` when given. The pipeline passes its frame's receipt time: one clock read per frame,
   * not per trade.
   */
  traded(product: string, price?: number, at: number = this.#clock()): void {
    const last = this.#last.get(product);
    if (!last) this.#last.set(product, { at, price: price ?? NaN });
    else {
      last.at = at;
      if (price !== undefined) last.price = price;
    }
  }

  /** The price of `product`'s last trade seen, if any. */
  lastPrice(product: string): number | undefined {
    const price = this.#last.get(product)?.price;
    return price === undefined || Number.isNaN(price) ? undefined : price;
  }

  /** Forgets `product` (no longer served). */
  forget(product: string): void {
    this.#last.delete(product);
  }

  /** Seconds since `product` last traded, or undefined when no trade was seen yet. */
  lastTradeAgeS(product: string): number | undefined {
    const at = this.#last.get(product)?.at;
    return at === undefined ? undefined : Math.max(0, (this.#clock() - at) / 1000);
  }
}
