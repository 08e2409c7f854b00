/**
 * @module
 * When each product last traded, for the overview's "last trade" column: a hub subscriber
 * that watches every product's 1-minute candle and notes the time whenever its volume grows
 * or a new minute opens (both only happen on a trade). Seeds and REST corrections do not
 * count. One number per product; nothing else is kept.
 */
import type { CandleUpdate } from "../../lib/candles/candle.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import type { Hub } from "../../lib/service/hub.ts";

/** Tracks the last trade time of every product. */
export class TradeActivity {
  readonly #clock: Clock;
  readonly #last = new Map<string, { start: number; volume: number; tradedAt?: number }>();
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
      const { start, volume } = u.candle;
      if (!prev) {
        this.#last.set(u.product, { start, volume });
        continue;
      }
      if (start < prev.start) continue;
      const traded = start > prev.start ? !u.complete && volume > 0 : volume !== prev.volume;
      this.#last.set(u.product, { start, volume, tradedAt: traded ? now : prev.tradedAt });
    }
  }

  /** Seconds since `product` last traded, or undefined when no trade was seen yet. */
  lastTradeAgeS(product: string): number | undefined {
    const at = this.#last.get(product)?.tradedAt;
    return at === undefined ? undefined : Math.max(0, (this.#clock() - at) / 1000);
  }

  /** Stops watching the hub. */
  close(): void {
    this.#unsubscribe();
  }
}
