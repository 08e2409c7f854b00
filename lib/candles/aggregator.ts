/**
 * @module
 * The candle aggregator: trades in, candle updates out, for the eight granularities. Pure: no
 * timers and no I/O; the caller passes the clock's time to {@linkcode Aggregator.tick}.
 *
 * Input is the one parsed {@linkcode Trade} (validated by the exchange adapter, never wire
 * strings).
 *
 * Rules (DESIGN.md invariants 1–3):
 * - 1-minute candles are built from trades, bucketed by trade time (UTC); every coarser
 *   granularity is rolled up from 1-minute candles (plus the seed loaded at start).
 * - Open and close go by (trade time, trade id), so out-of-order trades inside a bucket are right.
 * - Duplicate trade ids are dropped here, and only here ({@linkcode TradeIdWindow}, constant
 *   memory per product): snapshot replays after a reconnect, repeated frames, trades buffered
 *   while seeding. The aggregator owns dedupe because "counted once" is its invariant and it
 *   decides the neighbouring cases in the same place (before the seed cutoff, in a minute
 *   already replaced from REST, older than the retention); whatever path a trade takes in
 *   (feed, seeding buffer, a new feed after a restart of the connections), it passes this
 *   window, and the check reuses the per-product lookup every trade needs anyway. The feed
 *   therefore delivers what Coinbase sent, replays included.
 * - A bucket completes when a trade of a later bucket arrives, or when the clock passes its end
 *   plus `graceMs`. A trade for a completed bucket still within `retentionMs` corrects it and
 *   the corrected candles are re-emitted with `correction: true`.
 * - Completed candles leave memory after `retentionMs`.
 */
import {
  type Acc,
  accFromCandle,
  accFromTrade,
  addTrade,
  cloneAcc,
  emptyCandle,
  fillCandle,
  mergeAcc,
  toCandle,
} from "./accumulator.ts";
import type { Candle, CandleUpdate } from "./candle.ts";
import { addUnits, subUnits, type Units } from "./decimal.ts";
import { TradeIdWindow } from "./dedupe.ts";
import {
  GRANULARITIES,
  type Granularity,
  granularityById,
  type GranularityId,
  ONE_MINUTE,
} from "./granularity.ts";
import type { Trade } from "./trade.ts";

const N = GRANULARITIES.length;
const SECONDS = GRANULARITIES.map((g) => g.seconds);
const IDS = GRANULARITIES.map((g) => g.id);
const ALL_DIRTY = (1 << N) - 1;
const ONE_HOUR = granularityById("ONE_HOUR");

/** Options for {@linkcode Aggregator}. */
export interface AggregatorOptions {
  /** How long after a bucket's end the clock closes it. @default 2000 */
  graceMs?: number;
  /** How long completed candles stay correctable by late trades and repairs. @default 30 min */
  retentionMs?: number;
  /** Trade ids remembered per product for duplicate detection. @default 8192 */
  dedupeWindow?: number;
}

/** Counters, for metrics and the status page. */
export interface AggregatorStats {
  trades: number;
  duplicates: number;
  /** Late trades applied as corrections to completed candles. */
  late: number;
  /** Late trades older than the retention (left to REST repair). */
  tooLate: number;
  /** Trades before a product's seed cutoff (already counted in the seed). */
  seeded: number;
  /** Late trades of a minute already replaced from REST (which counted them). */
  repaired: number;
}

/** A completed candle of a finer granularity used to seed a coarser in-progress one. */
export interface SeedTile {
  granularity: GranularityId;
  candle: Candle;
}

interface ProductState {
  id: string;
  ids: TradeIdWindow;
  /** Trades before this time (epoch ms) are already in the seed. */
  cutoffMs: number;
  /** Per granularity: start (epoch s) of the open bucket; earlier buckets are complete. */
  open: number[];
  /** Per granularity: the open bucket's accumulator. For g > 0 it holds completed minutes. */
  cur: (Acc | undefined)[];
  /** Per granularity: completed candles still correctable, by start. */
  done: Map<number, Acc>[];
  /** Bit g set: the open candle of granularity g changed since the last drain. */
  dirty: number;
  /** In the aggregator's list of dirty products (`dirty` may have been cleared since). */
  inDirty: boolean;
  /** In the aggregator's list of products marked dirty since the last drain. */
  recent: boolean;
  /**
   * Bit g set: the bucket of granularity g starting at `seedBucket[g]` began before the cutoff
   * and waits for its seed; until then it is neither published nor completed (never partial).
   */
  unseeded: number;
  /** Per granularity: start (epoch s) of the bucket that waits for the seed. */
  seedBucket: number[];
  /** {@linkcode Aggregator.expectSeed} was called and the seed has not been loaded yet. */
  seedPending: boolean;
}

/** Changed open candles to name instead of building (see {@linkcode Aggregator.drain}). */
export interface LiveMarks {
  /** Granularity indexes (bit mask) to name. */
  bits: number;
  /** Called once per changed open candle: product, granularity index, bucket start (epoch s). */
  mark: (product: string, g: number, start: number) => void;
}

/** Builds exact candles at every granularity from a stream of trades. */
export class Aggregator {
  readonly stats: AggregatorStats = {
    trades: 0,
    duplicates: 0,
    late: 0,
    tooLate: 0,
    seeded: 0,
    repaired: 0,
  };
  readonly #graceMs: number;
  readonly #retentionMs: number;
  readonly #dedupeWindow: number;
  readonly #products = new Map<string, ProductState>();
  readonly #out: CandleUpdate[] = [];
  /** Products with dirty bits (and, until the next full pass, some whose bits were cleared). */
  readonly #dirty: ProductState[] = [];
  /** Products marked dirty since the last drain. */
  #recent: ProductState[] = [];
  /**
   * The last drain's mask. Every product not in `#recent` has none of these bits dirty, so a
   * drain of a subset of them only needs `#recent` (a shard's per-turn drains of the subscribed
   * granularities would otherwise walk every product that traded since the last full drain).
   */
  #lastMask = ALL_DIRTY;
  readonly #corrected = new Map<Acc, [ProductState, number]>();
  #nowMs = 0;
  /** Minutes before this start (epoch s) are complete by the clock; NaN before the first tick. */
  #closedBefore = NaN;

  constructor(options: AggregatorOptions = {}) {
    this.#graceMs = options.graceMs ?? 2000;
    this.#retentionMs = options.retentionMs ?? 30 * 60_000;
    this.#dedupeWindow = options.dedupeWindow ?? 8192;
  }

  #state(product: string): ProductState {
    let p = this.#products.get(product);
    if (!p) {
      p = {
        id: product,
        ids: new TradeIdWindow(this.#dedupeWindow),
        cutoffMs: -Infinity,
        open: new Array(N).fill(NaN),
        cur: new Array(N).fill(undefined),
        done: Array.from({ length: N }, () => new Map()),
        dirty: 0,
        inDirty: false,
        recent: false,
        unseeded: 0,
        seedBucket: new Array(N).fill(NaN),
        seedPending: false,
      };
      this.#products.set(product, p);
    }
    return p;
  }

  /** Completed candles still held for corrections, over every product and granularity. */
  retained(): number {
    let n = 0;
    for (const p of this.#products.values()) for (const d of p.done) n += d.size;
    return n;
  }

  /** Products seen so far. */
  products(): string[] {
    return [...this.#products.keys()];
  }

  /**
   * Adds one trade. Returns false when it was not counted (duplicate, already in the seed, or
   * too late to correct); the reason is in {@linkcode stats}.
   */
  add(trade: Trade): boolean {
    const { product, id, price, size, timeMs } = trade;
    const p = this.#state(product);
    if (timeMs < p.cutoffMs) {
      this.stats.seeded++;
      return false;
    }
    const seen = p.ids.check(id);
    if (seen !== "new") {
      if (seen === "duplicate") this.stats.duplicates++;
      else this.stats.tooLate++;
      return false;
    }
    if (timeMs > this.#nowMs) this.#nowMs = timeMs;
    const minute = Math.floor(timeMs / 60_000) * 60;
    const open = p.open[0]!;
    if (minute === open) {
      const c = p.cur[0];
      if (c) addTrade(c, price, size, timeMs, id);
      else p.cur[0] = accFromTrade(minute, price, size, timeMs, id);
    } else if (minute > open || Number.isNaN(open)) {
      this.#advance(p, minute);
      p.cur[0] = accFromTrade(minute, price, size, timeMs, id);
    } else if ((minute + 60) * 1000 <= this.#nowMs - this.#retentionMs) {
      this.stats.tooLate++;
      return false;
    } else if (p.done[0]!.get(minute)?.fromRest) {
      // REST's candle for this minute already holds every trade of it: e.g. a gap trade that a
      // later reconnect's snapshot replays after the repair.
      this.stats.repaired++;
      return false;
    } else {
      this.#late(p, minute, price, size, timeMs, id);
      this.stats.late++;
    }
    this.stats.trades++;
    this.#markDirty(p, ALL_DIRTY);
    return true;
  }

  #markDirty(p: ProductState, bits: number): void {
    if (!p.inDirty) {
      p.inDirty = true;
      this.#dirty.push(p);
    }
    if (!p.recent) {
      p.recent = true;
      this.#recent.push(p);
    }
    p.dirty |= bits;
  }

  /** Completes every open bucket that ends at or before `minute` and opens `minute`'s buckets. */
  #advance(p: ProductState, minute: number): void {
    const first = Number.isNaN(p.open[0]!);
    if (!first) this.#completeMinute(p);
    for (let g = 0; g < N; g++) {
      const b = Math.floor(minute / SECONDS[g]!) * SECONDS[g]!;
      if (!first && g > 0 && b > p.open[g]!) this.#complete(p, g);
      p.open[g] = b;
    }
  }

  /** Completes the open minute (if it has trades) and rolls it into the coarser buckets. */
  #completeMinute(p: ProductState): void {
    const m = p.cur[0];
    if (!m) return;
    p.cur[0] = undefined;
    this.#finish(p, 0, m);
    for (let g = 1; g < N; g++) {
      const c = p.cur[g];
      if (c) mergeAcc(c, m);
      else p.cur[g] = cloneAcc(m, p.open[g]!);
    }
  }

  /** Completes the open bucket of coarse granularity `g`. */
  #complete(p: ProductState, g: number): void {
    const c = p.cur[g];
    if (!c) return;
    p.cur[g] = undefined;
    this.#finish(p, g, c);
  }

  #finish(p: ProductState, g: number, c: Acc): void {
    p.done[g]!.set(c.start, c);
    if (this.#withheld(p, g, c.start)) return;
    this.#out.push({ product: p.id, granularity: IDS[g]!, candle: toCandle(c), complete: true });
  }

  /** Whether the bucket of granularity `g` at `start` waits for its seed (not publishable). */
  #withheld(p: ProductState, g: number, start: number): boolean {
    return (p.unseeded & (1 << g)) !== 0 && p.seedBucket[g] === start;
  }

  /** A trade for a completed minute: correct the minute and every bucket containing it. */
  #late(p: ProductState, minute: number, price: number, size: Units, t: number, id: number): void {
    for (let g = 0; g < N; g++) {
      const b = Math.floor(minute / SECONDS[g]!) * SECONDS[g]!;
      if (g > 0 && b === p.open[g]) {
        const c = p.cur[g];
        if (c) addTrade(c, price, size, t, id);
        else p.cur[g] = accFromTrade(b, price, size, t, id);
        continue;
      }
      const done = p.done[g]!;
      let c = done.get(b);
      if (c) addTrade(c, price, size, t, id);
      else done.set(b, c = accFromTrade(b, price, size, t, id));
      this.#corrected.set(c, [p, g]);
    }
  }

  /**
   * Moves the clock: completes every bucket whose end plus the grace has passed, and forgets
   * completed candles older than the retention.
   */
  tick(nowMs: number): void {
    if (nowMs > this.#nowMs) this.#nowMs = nowMs;
    const closeBefore = Math.floor((nowMs - this.#graceMs) / 60_000) * 60;
    if (!(closeBefore <= this.#closedBefore)) this.#closedBefore = closeBefore;
    const forgetBefore = (this.#nowMs - this.#retentionMs) / 1000;
    for (const p of this.#products.values()) {
      if (!Number.isNaN(p.open[0]!) && closeBefore > p.open[0]!) {
        this.#completeMinute(p);
        for (let g = 0; g < N; g++) {
          const b = Math.floor(closeBefore / SECONDS[g]!) * SECONDS[g]!;
          if (g > 0 && b > p.open[g]!) this.#complete(p, g);
          p.open[g] = b;
        }
        this.#markDirty(p, ALL_DIRTY);
      }
      for (let g = 0; g < N; g++) {
        const done = p.done[g]!;
        if (done.size === 0) continue;
        for (const [start, c] of done) {
          if (start + SECONDS[g]! <= forgetBefore && !this.#withheld(p, g, start)) {
            done.delete(start);
            this.#corrected.delete(c);
          }
        }
      }
    }
  }

  /**
   * Declares that `product`'s candles before `cutoffSec` (a minute boundary) will come from a
   * seed ({@linkcode seed}), so that live trades can flow before it arrives: trades from the
   * cutoff on are counted at once and the `ONE_MINUTE` candle is published from the first one;
   * a coarser bucket that began before the cutoff is held back (never published as a partial
   * figure, its completion withheld) until the seed is loaded; buckets that begin at or after the
   * cutoff flow at once. Trades before the cutoff are ignored (they are in the seed). Any earlier
   * state of the product is replaced.
   */
  expectSeed(product: string, cutoffSec: number): void {
    if (cutoffSec % 60 !== 0) {
      throw new RangeError(`Seed cutoff ${cutoffSec} is not a minute boundary`);
    }
    this.#products.delete(product);
    const p = this.#state(product);
    p.cutoffMs = cutoffSec * 1000;
    p.seedPending = true;
    for (let g = 0; g < N; g++) {
      p.open[g] = Math.floor(cutoffSec / SECONDS[g]!) * SECONDS[g]!;
      if (g > 0 && p.open[g]! < cutoffSec) {
        p.unseeded |= 1 << g;
        p.seedBucket[g] = p.open[g]!;
      }
    }
  }

  /**
   * Forgets everything about `product` (its seeding failed for good): its candles are no longer
   * tracked, and nothing of it is emitted by the next drain.
   */
  forget(product: string): void {
    const p = this.#products.get(product);
    if (!p) return;
    this.#products.delete(product);
    p.dirty = 0;
    const dirty = this.#dirty.filter((d) => d !== p);
    this.#dirty.length = 0;
    this.#dirty.push(...dirty);
    this.#recent = this.#recent.filter((d) => d !== p);
    const out = this.#out.filter((u) => u.product !== product);
    this.#out.length = 0;
    this.#out.push(...out);
    for (const [c, [q]] of this.#corrected) if (q === p) this.#corrected.delete(c);
  }

  /** Whether `product` waits for no seed (its candles that began before the cutoff are in). */
  isSeeded(product: string): boolean {
    return !this.#products.get(product)?.seedPending;
  }

  /**
   * Loads the candles of a product that began before its cutoff `cutoffSec` (a minute boundary):
   * every bucket of a coarser granularity open at the cutoff gets the fold of the `tiles` inside
   * it, added to the live minutes counted since (when {@linkcode expectSeed} was called with the
   * same cutoff; otherwise the product's state is replaced first, as by `expectSeed`). A seeded
   * bucket that completed while it waited is emitted as complete now. {@linkcode seedPlan} says
   * which tiles to fetch.
   */
  seed(product: string, cutoffSec: number, tiles: SeedTile[]): void {
    const existing = this.#products.get(product);
    if (!existing?.seedPending || existing.cutoffMs !== cutoffSec * 1000) {
      this.expectSeed(product, cutoffSec);
    }
    const p = this.#state(product);
    p.seedPending = false;
    const parts: (Acc | undefined)[] = new Array(N).fill(undefined);
    const sorted = tiles.map((t) => ({ g: granularityById(t.granularity), c: t.candle }))
      .sort((a, b) => a.c.start - b.c.start);
    for (const { g, c } of sorted) {
      if (c.start + g.seconds > cutoffSec) {
        throw new RangeError(
          `Seed tile ${g.id} at ${c.start} for ${product} ends after the cutoff ${cutoffSec}`,
        );
      }
      for (let k = 1; k < N; k++) {
        if (!(p.unseeded & (1 << k)) || c.start < p.seedBucket[k]!) continue;
        const part = accFromCandle(c, g.seconds, p.seedBucket[k]!);
        const cur = parts[k];
        if (cur) mergeAcc(cur, part);
        else parts[k] = part;
      }
    }
    for (let k = 1; k < N; k++) {
      if (!(p.unseeded & (1 << k))) continue;
      const b = p.seedBucket[k]!;
      p.unseeded &= ~(1 << k);
      const part = parts[k];
      if (b === p.open[k]) {
        if (part) {
          const cur = p.cur[k];
          if (cur) mergeAcc(cur, part);
          else p.cur[k] = part;
        }
        this.#markDirty(p, 1 << k);
        continue;
      }
      // The bucket completed while it waited: its live part is in `done`.
      const done = p.done[k]!;
      let c = done.get(b);
      if (c && part) mergeAcc(c, part);
      else if (part) done.set(b, c = part);
      if (c) this.#out.push({ product, granularity: IDS[k]!, candle: toCandle(c), complete: true });
    }
  }

  /**
   * Replaces completed minutes of `[fromSec, toSec)` with REST 1-minute candles and corrects
   * every coarser candle containing them. A minute is replaced only when REST counted at least
   * as much volume as the live path (REST is a superset of what the feed delivered; a smaller
   * REST value is a lagging cache, not a truth). Minutes before the seed cutoff, still open, or
   * past the retention are left alone. Returns the starts of the minutes replaced.
   */
  repair(product: string, fromSec: number, toSec: number, minutes: Candle[]): number[] {
    const p = this.#state(product);
    if (Number.isNaN(p.open[0]!)) {
      // No trade yet: the clock alone says which minutes are complete.
      if (Number.isNaN(this.#closedBefore)) return [];
      for (let g = 0; g < N; g++) {
        p.open[g] = Math.floor(this.#closedBefore / SECONDS[g]!) * SECONDS[g]!;
      }
    }
    const lo = Math.max(fromSec, p.cutoffMs / 1000);
    const hi = Math.min(toSec, p.open[0]!);
    const forgetBefore = (this.#nowMs - this.#retentionMs) / 1000;
    const replaced: number[] = [];
    for (const c of minutes) {
      if (c.start % 60 !== 0 || c.start < lo || c.start >= hi || c.start + 60 <= forgetBefore) {
        continue;
      }
      const fresh = accFromCandle(c, 60);
      fresh.fromRest = true;
      const done = p.done[0]!;
      const old = done.get(c.start);
      if (old && fresh.volume <= old.volume) {
        // Equal: REST confirms the live minute, which is then complete too. Smaller: REST lags.
        if (fresh.volume === old.volume || BigInt(fresh.volume) === BigInt(old.volume)) {
          old.fromRest = true;
        }
        continue;
      }
      const delta: Units = old ? subUnits(fresh.volume, old.volume) : fresh.volume;
      done.set(c.start, fresh);
      this.#corrected.delete(old!);
      this.#corrected.set(fresh, [p, 0]);
      for (let g = 1; g < N; g++) {
        const b = Math.floor(c.start / SECONDS[g]!) * SECONDS[g]!;
        const part = { ...fresh, start: b, volume: delta, fromRest: false };
        if (b === p.open[g]) {
          const cur = p.cur[g];
          if (cur) replaceInto(cur, part);
          else p.cur[g] = part;
          this.#markDirty(p, 1 << g);
          continue;
        }
        const dg = p.done[g]!;
        const target = dg.get(b);
        if (target) replaceInto(target, part);
        else dg.set(b, part);
        this.#corrected.set(dg.get(b)!, [p, g]);
      }
      replaced.push(c.start);
    }
    return replaced;
  }

  /** The current candle of one product and granularity (undefined before any trade or seed). */
  live(product: string, granularity: Granularity): Candle | undefined {
    const p = this.#products.get(product);
    return p ? this.#liveCandle(p, granularity.index) : undefined;
  }

  /**
   * {@linkcode live} written into `into` instead of a new candle (the store writer keeps one
   * candle per document and refills it); whether there was a live candle (if not, `into` is
   * untouched).
   */
  liveInto(product: string, g: number, into: Candle): boolean {
    const p = this.#products.get(product);
    if (!p || !this.#hasLive(p, g)) return false;
    this.#fillLive(p, g, into);
    return true;
  }

  #liveCandle(p: ProductState, g: number): Candle | undefined {
    return this.#hasLive(p, g) ? this.#fillLive(p, g, emptyCandle()) : undefined;
  }

  /** Writes `p`'s open candle at `g` into `into` (it has one: see `#hasLive`). */
  #fillLive(p: ProductState, g: number, into: Candle): Candle {
    const m = p.cur[0];
    if (g === 0) return fillCandle(into, m!);
    const c = p.cur[g];
    if (c) return fillCandle(into, c, m);
    fillCandle(into, m!);
    into.start = p.open[g]!;
    return into;
  }

  /**
   * The open candles of `products` (default: every product) in the granularities of the bit
   * mask `granularities` (indexes; default: all), as live updates: what a new subscriber is sent
   * first. Built on demand, so always current, whatever has been drained.
   */
  snapshot(products?: ReadonlySet<string>, granularities: number = ALL_DIRTY): CandleUpdate[] {
    const out: CandleUpdate[] = [];
    for (const p of this.#products.values()) {
      if (products && !products.has(p.id)) continue;
      for (let g = 0; g < N; g++) {
        if (!(granularities & (1 << g))) continue;
        const candle = this.#liveCandle(p, g);
        if (candle) out.push({ product: p.id, granularity: IDS[g]!, candle, complete: false });
      }
    }
    return out;
  }

  /**
   * Returns the updates since the last call, in order: completions as they happened, then
   * corrections, then the latest value of every open candle that changed. With `live` (a bit
   * mask of granularity indexes) only those granularities' open candles are emitted; the others
   * stay pending, and a later drain including them emits their latest value (so a caller can
   * drain what someone waits for on every trade, and the rest once per flush). The changed open
   * candles of `marked.bits` are not built but named to `marked.mark` (product, granularity
   * index, bucket start): what a writer that reads the value when it writes needs.
   */
  drain(live: number = ALL_DIRTY, marked?: LiveMarks): CandleUpdate[] {
    const out = this.#out.splice(0);
    for (const [c, [p, g]] of this.#corrected) {
      // A correction of a bucket still waiting for its seed is emitted with the seed.
      if (this.#withheld(p, g, c.start)) continue;
      out.push({
        product: p.id,
        granularity: IDS[g]!,
        candle: toCandle(c),
        complete: true,
        correction: true,
      });
    }
    this.#corrected.clear();
    const mask = live | (marked?.bits ?? 0);
    // Only the products marked since the last drain can be dirty in its granularities.
    const full = (mask & ~this.#lastMask) !== 0;
    for (const p of full ? this.#dirty : this.#recent) {
      this.#drainProduct(p, live, mask, out, marked);
    }
    if (full) {
      // Still dirty in granularities not drained now: the next drain that includes them emits
      // their latest value.
      let kept = 0;
      for (const p of this.#dirty) {
        if (p.dirty !== 0) this.#dirty[kept++] = p;
        else p.inDirty = false;
      }
      this.#dirty.length = kept;
    }
    for (const p of this.#recent) p.recent = false;
    this.#recent = [];
    this.#lastMask = mask;
    return out;
  }

  #drainProduct(
    p: ProductState,
    live: number,
    mask: number,
    out: CandleUpdate[],
    marked: LiveMarks | undefined,
  ): void {
    const due = p.dirty & mask;
    if (due === 0) return;
    for (let g = 0; g < N; g++) {
      const bit = 1 << g;
      if (!(due & bit)) continue;
      if (live & bit) {
        const candle = this.#liveCandle(p, g);
        if (candle) out.push({ product: p.id, granularity: IDS[g]!, candle, complete: false });
      } else if (this.#hasLive(p, g)) marked!.mark(p.id, g, p.open[g]!);
    }
    p.dirty &= ~mask;
  }

  /** Whether `p` has an open candle to show at `g` (what `#liveCandle` builds, unbuilt). */
  #hasLive(p: ProductState, g: number): boolean {
    if (g === 0) return p.cur[0] !== undefined;
    if (this.#withheld(p, g, p.open[g]!)) return false;
    return p.cur[g] !== undefined || p.cur[0] !== undefined;
  }
}

/**
 * Folds a repaired minute into a candle that already contained the minute's old value: `part`
 * carries the minute's new prices and the volume delta. Prices only widen (the repair is a
 * superset); at equal times the repaired open/close win over the old ones.
 */
function replaceInto(target: Acc, part: Acc): void {
  if (part.high > target.high) target.high = part.high;
  if (part.low < target.low) target.low = part.low;
  if (part.openT <= target.openT) {
    target.open = part.open;
    target.openT = part.openT;
    target.openId = part.openId;
  }
  if (part.closeT >= target.closeT) {
    target.close = part.close;
    target.closeT = part.closeT;
    target.closeId = part.closeId;
  }
  target.volume = addUnits(target.volume, part.volume);
}

/**
 * The REST requests that seed a product at `cutoffSec`: at most two, the day's completed hours
 * as `ONE_HOUR` candles and the current hour's completed minutes as `ONE_MINUTE` candles.
 * Together they tile `[day start, cutoff)` without overlap, so every bucket open at the cutoff
 * (whatever its granularity: every one is a whole number of hours within the day, or of minutes
 * within the hour) is the fold of the tiles inside it.
 */
export function seedPlan(
  cutoffSec: number,
): { granularity: Granularity; startSec: number; endSec: number }[] {
  const plan = [];
  const day = Math.floor(cutoffSec / 86400) * 86400;
  const hour = Math.floor(cutoffSec / 3600) * 3600;
  const minute = Math.floor(cutoffSec / 60) * 60;
  if (hour > day) plan.push({ granularity: ONE_HOUR, startSec: day, endSec: hour - 3600 });
  if (minute > hour) plan.push({ granularity: ONE_MINUTE, startSec: hour, endSec: minute - 60 });
  return plan;
}
