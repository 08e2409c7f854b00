/**
 * @module
 * Loading the in-progress candles at start (DESIGN.md invariant 2): for every product, the REST
 * candles of {@linkcode seedPlan} tile the current day up to a minute boundary (the cutoff); the
 * aggregator folds them into the open candle of every granularity and ignores live trades
 * before the cutoff, so no trade is counted twice. Live trades that arrive while a product is
 * being seeded wait in a bounded buffer and are applied after its seed; when the buffer
 * overflows, the oldest trades are dropped and their window is repaired from REST instead.
 */
import { type Aggregator, seedPlan, type SeedTile } from "../candles/aggregator.ts";
import type { Trade } from "../candles/trade.ts";
import type { Clock } from "../clock.ts";
import type { RestClient } from "../coinbase/rest.ts";
import { getLogger } from "../log.ts";
import { HistoryFetchError } from "./fetch_error.ts";

const log = getLogger(["spot", "seed"]);

/** Seconds into a minute before its previous minute is trusted complete in REST (cache lag). */
export const REST_SETTLE_S = 5;

/** Trades buffered over all products while seeding, before the oldest are dropped. */
export const SEED_BUFFER_TRADES = 300_000;

/** What {@linkcode SeedGate.release} hands back for one product. */
export interface Released {
  trades: Trade[];
  /** Time (epoch ms) of the newest trade dropped for lack of room, if any: repair up to it. */
  droppedThroughMs?: number;
}

/** Buffers live trades per product until the product is seeded, within a memory bound. */
export class SeedGate {
  readonly #pending = new Map<string, Trade[]>();
  readonly #droppedThrough = new Map<string, number>();
  readonly #ready = new Set<string>();
  readonly #cap: number;
  dropped = 0;

  /**
   * @param cap trades buffered per product before the oldest are dropped (and repaired);
   * by default {@linkcode SEED_BUFFER_TRADES} shared out, at least 1,000 per product
   */
  constructor(
    products: string[],
    cap = Math.max(1000, Math.floor(SEED_BUFFER_TRADES / Math.max(1, products.length))),
  ) {
    for (const p of products) this.#pending.set(p, []);
    this.#cap = cap;
  }

  /** Whether `product` has been seeded. */
  isReady(product: string): boolean {
    return this.#ready.has(product);
  }

  /** Whether every product has been seeded. */
  get allReady(): boolean {
    return this.#pending.size === 0;
  }

  /** Keeps a trade of a product not yet seeded; returns false when the product is ready. */
  hold(t: Trade): boolean {
    const buf = this.#pending.get(t.product);
    if (!buf) return false;
    buf.push(t);
    if (buf.length > this.#cap) {
      // Drop the oldest half at once (amortised), remembering how far the loss reaches.
      const gone = buf.splice(0, buf.length - Math.floor(this.#cap / 2));
      this.dropped += gone.length;
      let through = this.#droppedThrough.get(t.product) ?? -Infinity;
      for (const g of gone) through = Math.max(through, g.timeMs);
      this.#droppedThrough.set(t.product, through);
    }
    return true;
  }

  /** Marks a product seeded and returns its buffered trades (and how far any loss reaches). */
  release(product: string): Released {
    const trades = this.#pending.get(product) ?? [];
    const droppedThroughMs = this.#droppedThrough.get(product);
    this.#pending.delete(product);
    this.#droppedThrough.delete(product);
    this.#ready.add(product);
    return { trades, droppedThroughMs };
  }
}

/** The cutoff to seed at: the current minute, once REST has settled the previous one. */
export async function seedCutoff(
  clock: Clock,
  sleep: (ms: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<number> {
  while ((clock() % 60_000) / 1000 < REST_SETTLE_S) {
    signal?.throwIfAborted();
    await sleep(100);
  }
  return Math.floor(clock() / 60_000) * 60;
}

/**
 * Fetches the seed tiles of one product at `cutoffSec` (one REST request per granularity).
 * @throws {HistoryFetchError} naming the product, granularity and window, `retryable: false` when
 * Coinbase's answer is final (e.g. it does not know the product)
 */
export async function fetchSeedTiles(
  rest: Pick<RestClient, "candles">,
  product: string,
  cutoffSec: number,
  signal?: AbortSignal,
): Promise<SeedTile[]> {
  const tiles: SeedTile[] = [];
  for (const { granularity, startSec, endSec } of seedPlan(cutoffSec)) {
    const candles = await rest.candles(product, granularity, startSec, endSec, { signal })
      .catch((e) => {
        if (signal?.aborted) throw e;
        throw new HistoryFetchError(
          "seeding",
          { product, granularity: granularity.id, fromSec: startSec, toSec: endSec },
          e,
        );
      });
    for (const candle of candles) {
      if (candle.start >= startSec && candle.start <= endSec) {
        tiles.push({ granularity: granularity.id, candle });
      }
    }
  }
  return tiles;
}

/**
 * Seeds one product: fetches its tiles, loads them, then applies the trades that waited.
 * Returns the trades applied from the buffer and, when the buffer overflowed, the time up to
 * which trades were dropped (the caller repairs `[cutoff, that]` from REST).
 */
export async function seedProduct(
  options: {
    rest: RestClient;
    aggregator: Aggregator;
    gate: SeedGate;
    cutoffSec: number;
    signal?: AbortSignal;
  },
  product: string,
): Promise<{ applied: number; droppedThroughMs?: number }> {
  const tiles = await fetchSeedTiles(options.rest, product, options.cutoffSec, options.signal);
  options.aggregator.seed(product, options.cutoffSec, tiles);
  const { trades: waiting, droppedThroughMs } = options.gate.release(product);
  let applied = 0;
  for (const t of waiting) if (options.aggregator.add(t)) applied++;
  log.debug(
    "Seeded {product} at {cutoff} from {tiles} REST candles; {applied} buffered trades applied",
    {
      product,
      cutoff: new Date(options.cutoffSec * 1000).toISOString(),
      tiles: tiles.length,
      applied,
    },
  );
  return { applied, droppedThroughMs };
}
