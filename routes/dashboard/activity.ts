/**
 * @module
 * When each product last traded, for the overview's "last trade" column: a hub subscriber
 * that watches every product's 1-minute candle and notes the time whenever its volume grows
 * or a new minute opens (both only happen on a trade). Seeds and REST corrections do not
 * count for the age. It also keeps each product's last known 1-minute close and when it was
 * made (the trade's time when one was seen, else the start of its minute), so a product without a
 * trade in the current interval still shows a price. A few numbers per product; nothing else.
 */
import type { CandleUpdate } from "../../lib/candles/candle.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import type { Hub } from "../../lib/service/hub.ts";

/** Tracks the last trade time of every product. */
export class TradeActivity {
  readonly #clock: Clock;
  readonly #last = new Map<
    string,
    { start: number; volume: number; close: number; closeAt: number; tradedAt?: number }
  >();
  readonly #unsubscribe: () => void;

  constructor(hub: Hub, clock: Clock = systemClock) {
    this.#clock = clock;
    this.#unsubscribe = hub.subscribe(
      { granularities: new Set(["ONE_MINUTE"]) },
      (updates) => this.#see(updates),
    );
  }

  #see(updates: CandleUpdate[]): void {
    const now = this.#clock();
    for (const u of updates) {
      if (u.correction) continue;
      const prev = this.#last.get(u.product);
      const { start, volume, close } = u.candle;
      if (!prev) {
        this.#last.set(u.product, { start, volume, close, closeAt: start * 1000 });
        continue;
      }
      if (start < prev.start) continue;
      const traded = start > prev.start ? !u.complete && volume > 0 : volume !== prev.volume;
      this.#last.set(u.product, {
        start,
        volume,
        close,
        closeAt: traded ? now : close === prev.close ? prev.closeAt : start * 1000,
        tradedAt: traded ? now : prev.tradedAt,
      });
    }
  }

  /** Seconds since `product` last traded, or undefined when no trade was seen yet. */
  lastTradeAgeS(product: string): number | undefined {
    const at = this.#last.get(product)?.tradedAt;
    return at === undefined ? undefined : Math.max(0, (this.#clock() - at) / 1000);
  }

  /**
   * The last 1-minute close seen for `product` and its age in seconds (since the trade that made
   * it, or since the start of its minute when that trade was not seen), if any.
   */
  lastClose(product: string): { close: number; ageS: number } | undefined {
    const last = this.#last.get(product);
    if (last === undefined) return undefined;
    return { close: last.close, ageS: Math.max(0, (this.#clock() - last.closeAt) / 1000) };
  }

  /** Stops watching the hub. */
  close(): void {
    this.#unsubscribe();
  }
}
