/**
 * @module
 * In-process fan-out of candle updates to subscribers (the SSE API and the dashboard's islands).
 * Publishing is synchronous and never blocks on a subscriber: each subscriber decides what to
 * do with a burst (the SSE route drops a client whose buffer is full rather than buffering
 * without bound). Filtering by product and granularity happens here, once per update and
 * distinct filter: subscribers with equal filters (e.g. 20 dashboards on the same products) share
 * one filtered array per publish, so what they do with it (SSE serialisation) can be cached by it.
 * It keeps no candles: a new subscriber's first frame comes from the aggregator
 * (`Aggregator.snapshot`), current whatever has been published.
 */
import type { CandleUpdate } from "../candles/candle.ts";
import { GRANULARITIES, type GranularityId } from "../candles/granularity.ts";

/** Which updates a subscriber wants; `products: undefined` means every product. */
export interface HubFilter {
  products?: ReadonlySet<string>;
  granularities: ReadonlySet<GranularityId>;
}

interface Subscription {
  filter: HubFilter;
  deliver: (updates: CandleUpdate[]) => void;
  onClose?: () => void;
}

/** Subscribers whose filters are equal. */
interface FilterGroup {
  filter: HubFilter;
  subs: Set<Subscription>;
}

/** Bit mask of a filter's granularity indexes, as `Aggregator.drain` and `snapshot` take. */
export function granularityBits(f: HubFilter): number {
  let bits = 0;
  for (const g of GRANULARITIES) if (f.granularities.has(g.id)) bits |= 1 << g.index;
  return bits;
}

/** A string equal for equal filters. */
function filterKey(f: HubFilter): string {
  const gs = [...f.granularities].sort().join(",");
  return f.products === undefined ? `${gs}|*` : `${gs}|${[...f.products].sort().join(",")}`;
}

/** Fans candle updates out to subscribers. */
export class Hub {
  readonly #subs = new Set<Subscription>();
  readonly #groups = new Map<string, FilterGroup>();
  #granularityBits = 0;
  #published = 0;

  /**
   * Registers a subscriber; `deliver` gets the updates of each publish that match its filter.
   * `onClose` is called if the hub shuts down first. Returns the function that unsubscribes.
   */
  subscribe(
    filter: HubFilter,
    deliver: (updates: CandleUpdate[]) => void,
    onClose?: () => void,
  ): () => void {
    const sub = { filter, deliver, onClose };
    this.#subs.add(sub);
    const key = filterKey(filter);
    let group = this.#groups.get(key);
    if (!group) this.#groups.set(key, group = { filter, subs: new Set() });
    group.subs.add(sub);
    this.#granularityBits |= granularityBits(filter);
    return () => {
      this.#subs.delete(sub);
      group.subs.delete(sub);
      if (group.subs.size === 0 && this.#groups.get(key) === group) {
        this.#groups.delete(key);
        this.#granularityBits = 0;
        for (const g of this.#groups.values()) this.#granularityBits |= granularityBits(g.filter);
      }
    };
  }

  /** Publishes updates to every matching subscriber (it keeps none of them). */
  publish(updates: CandleUpdate[]): void {
    if (updates.length === 0) return;
    this.#published += updates.length;
    for (const group of this.#groups.values()) {
      const mine = updates.filter((u) => matches(group.filter, u));
      if (mine.length === 0) continue;
      // The same array for the whole group: a subscriber must not modify it.
      for (const sub of group.subs) sub.deliver(mine);
    }
  }

  /**
   * The granularities some subscriber wants, as a bit mask of granularity indexes: the live
   * updates worth draining on every trade (the others can wait for the next flush).
   */
  get granularityMask(): number {
    return this.#granularityBits;
  }

  /** Ends every subscription (at shutdown, so streaming responses finish). */
  closeAll(): void {
    const subs = [...this.#subs];
    this.#subs.clear();
    this.#groups.clear();
    this.#granularityBits = 0;
    for (const s of subs) s.onClose?.();
  }

  /** Number of current subscribers. */
  get subscribers(): number {
    return this.#subs.size;
  }

  /** Updates published since start. */
  get published(): number {
    return this.#published;
  }
}

/** Whether `u` is one of the updates `f` asks for. */
export function matches(f: HubFilter, u: CandleUpdate): boolean {
  return f.granularities.has(u.granularity) &&
    (f.products === undefined || f.products.has(u.product));
}
