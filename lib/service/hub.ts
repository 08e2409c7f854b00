/**
 * @module
 * In-process fan-out of candle updates to subscribers (the SSE API and the dashboard's islands).
 * Publishing never blocks on a subscriber: each subscriber decides what to do with a burst (the
 * SSE route drops a client whose buffer is full rather than buffering without bound).
 *
 * Deliveries are coalesced: a publish less than `coalesceMs` after the previous delivery waits
 * for the window's end and goes out with whatever else was published meanwhile, as one batch
 * (at 1,000 products the feed's ~4,000 frames a second each end their own event-loop turn: one
 * delivery per frame was one socket write per SSE client per frame, ~80,000 writes a second
 * with 20 clients). A publish after a quiet window is delivered at once, so a lightly loaded
 * hub adds no latency; a busy one adds at most `coalesceMs`. A new subscriber is added after
 * the pending batch went out, so it never gets an update older than its first frame. Filtering by product and granularity happens here, once per update and
 * distinct filter: subscribers with equal filters (e.g. 20 dashboards on the same products) share
 * one filtered array per publish, so what they do with it (SSE serialisation) can be cached by it.
 * It keeps no candles: a new subscriber's first frame comes from the aggregator
 * (`Aggregator.snapshot`), current whatever has been published.
 */
import type { CandleUpdate } from "../candles/candle.ts";
import { GRANULARITIES, type GranularityId } from "../candles/granularity.ts";
import { DEFAULT_SSE_COALESCE_MS } from "../config.ts";

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

/** Options for {@linkcode Hub}. */
export interface HubOptions {
  /**
   * Longest wait of a publish for the batch it goes out in; 0 delivers each at once.
   * @default DEFAULT_SSE_COALESCE_MS (`SSE_COALESCE_MS`)
   */
  coalesceMs?: number;
}

/** Fans candle updates out to subscribers. */
export class Hub {
  readonly #subs = new Set<Subscription>();
  readonly #groups = new Map<string, FilterGroup>();
  readonly #coalesceMs: number;
  #granularityBits = 0;
  #published = 0;
  /** Published, waiting for the window's end. */
  #pending: CandleUpdate[] = [];
  /** The window's timer, or `"turn"` when the batch goes out at the end of this turn. */
  #timer?: ReturnType<typeof setTimeout> | "turn";
  /** When the last delivery went out (performance.now()). */
  #lastDelivery = -Infinity;

  constructor(options: HubOptions = {}) {
    this.#coalesceMs = options.coalesceMs ?? DEFAULT_SSE_COALESCE_MS;
  }

  /**
   * Registers a subscriber; `deliver` gets the updates of each publish that match its filter.
   * `onClose` is called if the hub shuts down first. Returns the function that unsubscribes.
   */
  subscribe(
    filter: HubFilter,
    deliver: (updates: CandleUpdate[]) => void,
    onClose?: () => void,
  ): () => void {
    // What was published before it subscribed is not its to get (its first frame is newer).
    this.flush();
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

  /**
   * Publishes updates to every matching subscriber, at once or with the window's batch (see
   * the module comment); the hub keeps none of them after that.
   */
  publish(updates: CandleUpdate[]): void {
    if (updates.length === 0) return;
    this.#published += updates.length;
    if (this.#groups.size === 0) return;
    if (this.#coalesceMs <= 0) return this.#deliver(updates);
    const pending = this.#pending;
    for (let i = 0; i < updates.length; i++) pending.push(updates[i]!);
    if (this.#timer === "turn") return;
    const wait = this.#lastDelivery + this.#coalesceMs - performance.now();
    if (wait > 0) {
      this.#timer ??= setTimeout(() => this.flush(), wait);
      return;
    }
    // The window is over (a busy event loop runs its timers late: the first publish after the
    // window's end sends the batch, not the timer): out at the end of this turn, with the rest
    // of the turn's publishes.
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = "turn";
    queueMicrotask(() => {
      if (this.#timer === "turn") this.flush();
    });
  }

  /** Delivers what waits for the window's end now. */
  flush(): void {
    if (this.#timer !== undefined) {
      if (this.#timer !== "turn") clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const updates = this.#pending;
    if (updates.length === 0) return;
    this.#pending = [];
    this.#deliver(updates);
  }

  #deliver(updates: CandleUpdate[]): void {
    this.#lastDelivery = performance.now();
    for (const group of this.#groups.values()) {
      const f = group.filter;
      const mine = updates.filter((u) => matches(f, u));
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
    this.flush();
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
