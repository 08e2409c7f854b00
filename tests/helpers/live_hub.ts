/**
 * @module
 * A {@linkcode Hub} that also remembers the latest live candle per product and granularity, as
 * the service's aggregator does: a `CandleSource` for route tests that publish updates by hand.
 */
import type { CandleUpdate } from "../../lib/candles/candle.ts";
import { Hub, type HubFilter, matches } from "../../lib/service/hub.ts";

/** A hub plus the live candles it published (a completion clears its bucket's live one). */
export class LiveHub extends Hub {
  readonly #live = new Map<string, CandleUpdate>();

  override publish(updates: CandleUpdate[]): void {
    for (const u of updates) {
      const key = `${u.product}|${u.granularity}`;
      if (!u.complete) this.#live.set(key, u);
      else if ((this.#live.get(key)?.candle.start ?? Infinity) <= u.candle.start) {
        this.#live.delete(key);
      }
    }
    super.publish(updates);
  }

  /** The current live candles matching `filter`. */
  live(filter: HubFilter): CandleUpdate[] {
    return [...this.#live.values()].filter((u) => matches(filter, u));
  }
}
