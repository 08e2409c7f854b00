/**
 * @module
 * {@linkcode ShardRegistry}: this shard's entry in the store's shard registry
 * (`spot_server/shards/{index}-of-{count}`, DESIGN.md "Stored data") and its view of the others.
 * It writes a heartbeat every ~15 s from a snapshot the service provides (status, products,
 * connection and gap summary), marks the entry `stopped` on shutdown, and reads every entry plus
 * the catalogue to compute the fleet report (`fleet.ts`) for `/fleet`, `/api/fleet` and the
 * `spot_fleet_*` gauges. A failing store write is logged and retried at the next beat; it never
 * touches this shard's own health (a neighbour's outage must not restart this one).
 *
 * The entry also carries the repair windows still pending (`pendingRepairs`, see
 * {@linkcode ShardDoc}), the outage of every connection down whose reconnect has not reported
 * its gap yet ({@linkcode pendingRepairsOf}), and the previous run's, until this run's startup has
 * fetched them again ({@linkcode ShardRegistry.previousRepairsDone}), so that a run stopped or
 * killed meanwhile has the next run re-fetch those minutes instead of trusting them. It is
 * written exactly at every beat and in the `stopped` mark; between beats
 * {@linkcode ShardRegistry.checkPending} (every clock tick) writes it only for a change that adds
 * risk, and at most once per `pendingIntervalMs` ({@linkcode pendingIntervalFor}: 5 s, longer in
 * a fleet of more than one shard):
 *
 * - a change that adds risk (a product newly pending, or pending from an earlier minute than the
 *   stored entry says: {@linkcode pendingCovers} is false) is written at the first tick at least
 *   `pendingIntervalMs` after the previous write of any kind — at once after a quiet spell, and
 *   never more than the interval (and a tick) late: a kill -9 in that time is the exposure;
 * - a change that only removes (repairs done and stored) waits for the next heartbeat (15 s): the
 *   stored entry then still covers what is pending, and a kill before that beat costs the next
 *   run only the REST of re-fetching minutes that were right. Writing removals too would have a
 *   Kraken shard, whose gaps come and go every few seconds, write at every interval, for no
 *   candle.
 *
 * Why 5 s, and longer with more shards: the registry is one Firestore document for the whole
 * fleet (`spot_server/shards`, one field per shard), and one document takes about one sustained
 * write per second (platform-notes.md §1). The fleet's pending writes get a quarter of that:
 * each of `count` shards at most one per `4 s × count` (5 s at least: one shard whose record
 * changes on every tick writes ~0.27/s with its heartbeats' 1/15 s; 1 → 5 s, 3 → 12 s,
 * 10 → 40 s), so even with every shard's record changing all the time (Kraken's gaps come every
 * few seconds) the document stays under one write a second up to ~11 shards, where the
 * heartbeats alone approach it (DESIGN.md: past ~15 shards the heartbeat interval grows).
 * Shorter than 5 s would let two such shards fill the document; longer only widens the
 * exposure.
 */
import type { Clock } from "../clock.ts";
import type { Config } from "../config.ts";
import type { ConnectionStatus } from "../exchange/feed_types.ts";
import { getLogger } from "../log.ts";
import type { CandleStore, CatalogueEntry, ShardDoc } from "../store/store.ts";
import { shardId } from "../store/store.ts";
import { checkFleet, FLEET_STATUSES, type FleetReport, PROBLEM_KINDS } from "./fleet.ts";
import { Gauge, type Registry } from "./prometheus.ts";

const log = getLogger(["spot", "registry"]);

/** What the service reports of itself at each heartbeat. */
export type ShardSnapshot = Pick<ShardDoc, "status" | "products" | "connections" | "gaps">;

/** What {@linkcode shardSnapshot} reads of the running service. */
export interface SnapshotSource {
  health(): { body: { status: string } };
  products(): { productId: string }[];
  connections(): ConnectionStatus[];
}

/**
 * Products listed one by one in `pendingRepairs`; beyond, one `*` key holds the oldest start (and
 * the next run re-fetches every product from it). A full shard (1,000 products, the bench's cold
 * start stopped while its startup repairs were still running) fits: ~25 bytes a product, ~25 KB
 * per shard in the one registry document. At 100, such a restart re-fetched all 1,000 products
 * (127 s before `/health` left `starting` instead of a few seconds).
 */
export const PENDING_REPAIRS_CAP = 1000;

/**
 * The least time (ms) between two pending-triggered writes of one shard's entry in a fleet of
 * `count` shards: the fleet's share of the one registry document, see the module comment.
 */
export function pendingIntervalFor(count: number): number {
  return Math.max(5000, 4000 * Math.max(1, count));
}

/** Per product, the oldest pending repair start, as the registry entry stores it (capped). */
export function pendingRepairsEntry(
  starts: ReadonlyMap<string, number>,
): Record<string, number> | undefined {
  if (starts.size === 0) return undefined;
  if (starts.size > PENDING_REPAIRS_CAP) return { "*": Math.min(...starts.values()) };
  return Object.fromEntries([...starts].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Whether the pending record `written` (as the entry stores it) covers `pending`: every product
 * pending now is in it (or under its `*`) from the same minute or an earlier one, so that the
 * next run would re-fetch at least what is pending now. Past {@linkcode PENDING_REPAIRS_CAP}
 * products `pending` is stored as `*`, covered only by a `*` as early.
 */
export function pendingCovers(
  written: Readonly<Record<string, number>>,
  pending: ReadonlyMap<string, number>,
): boolean {
  for (const [product, from] of Object.entries(pendingRepairsEntry(pending) ?? {})) {
    const w = product === "*" ? written["*"] : earliest(written[product], written["*"]);
    if (w === undefined || w > from) return false;
  }
  return true;
}

/** The earlier of two optional starts. */
function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

/**
 * The untrusted-from (epoch s) of each of `products`, from the previous run's `pendingRepairs`:
 * only starts before `cutoffSec` (the live path owns the rest).
 */
export function untrustedFrom(
  pending: Record<string, number> | undefined,
  products: readonly string[],
  cutoffSec: number,
): Map<string, number> {
  const out = new Map<string, number>();
  if (!pending) return out;
  const valid = (x: unknown) => typeof x === "number" && Number.isFinite(x) ? x : undefined;
  for (const product of products) {
    // A product's own key and `*` (a carried-on entry may hold both): the earlier counts.
    const from = earliest(valid(pending[product]), valid(pending["*"]));
    if (from !== undefined && from < cutoffSec) {
      out.set(product, Math.floor(from / 60) * 60);
    }
  }
  return out;
}

/** What {@linkcode pendingRepairsOf} reads. */
export interface PendingRepairsSource {
  repairer: { pendingStarts(repairedSinceMs?: number): Map<string, number> };
  /** Whether the writer holds no completed candle (queued or in flight). */
  writerIdle: () => boolean;
  clock: Clock;
  /**
   * Every feed connection's status: a connection not receiving says from when its trades may be
   * missing (`missingFromMs`, kept by `lib/exchange/connection_set.ts`). @default none
   */
  connections?: () => readonly ConnectionStatus[];
}

/**
 * The pending repair starts to persist, per product (epoch s, a minute start): the earliest of
 *
 * - the windows queued for repair;
 * - those repaired whose corrections may not be stored yet — held until a check (`advance`: the
 *   clock tick's) finds the writer idle of completed candles after another check had passed
 *   since the repair (corrections reach the writer's queue in the microtask after the repair);
 * - for every product of a connection not receiving (down, reconnecting, not yet resubscribed:
 *   `missingFromMs`), the minute its outage began: the window its reconnect will report, not
 *   known to the repairer until then. Products the exchange does not know are left out.
 *
 * A read without `advance` changes nothing.
 */
export function pendingRepairsOf(
  source: PendingRepairsSource,
): (advance?: boolean) => Map<string, number> {
  let heldSinceMs = source.clock();
  let previousCheckMs = heldSinceMs;
  return (advance = false) => {
    if (advance) {
      const now = source.clock();
      if (source.writerIdle()) heldSinceMs = previousCheckMs;
      previousCheckMs = now;
    }
    const out = source.repairer.pendingStarts(heldSinceMs);
    for (const c of source.connections?.() ?? []) {
      if (c.missingFromMs === undefined) continue;
      const fromSec = Math.floor(c.missingFromMs / 60_000) * 60;
      const unknown = new Set(c.unknownProducts);
      for (const product of c.products) {
        if (unknown.has(product)) continue;
        const from = out.get(product);
        if (from === undefined || fromSec < from) out.set(product, fromSec);
      }
    }
    return out;
  };
}

/** This shard's state for its registry entry, from the running service. */
export function shardSnapshot(service: SnapshotSource): ShardSnapshot {
  const health = service.health().body.status;
  const connections = service.connections();
  return {
    status: health === "starting" || health === "healthy"
      ? health
      : health === "stopping"
      ? "stopped"
      : "degraded",
    products: service.products().map((p) => p.productId),
    connections: {
      connected: connections.filter((c) => c.state === "subscribed").length,
      total: connections.length,
      reconnects: connections.reduce((n, c) => n + c.reconnects, 0),
    },
    gaps: {
      sequenceGaps: connections.reduce((n, c) => n + c.sequenceGaps, 0),
      maxGapS: connections.reduce((m, c) => Math.max(m, c.maxGapS), 0),
    },
  };
}

/** Who a shard is, from its configuration, started at `startedAt`. */
export function shardIdentity(
  config:
    & Pick<Config, "shardIndex" | "shardCount" | "version" | "products" | "quoteCurrencies">
    & Partial<Pick<Config, "exchanges" | "kraken">>,
  startedAt: number,
): ShardRegistryOptions["identity"] {
  const exchanges: NonNullable<ShardDoc["exchanges"]> = {};
  for (const e of config.exchanges ?? ["coinbase"]) {
    exchanges[e] = e === "kraken" && config.kraken
      ? { products: config.kraken.products, quoteCurrencies: config.kraken.quoteCurrencies }
      : { products: config.products, quoteCurrencies: config.quoteCurrencies };
  }
  return {
    index: config.shardIndex,
    count: config.shardCount,
    version: config.version,
    startedAt,
    selection: { products: config.products, quoteCurrencies: config.quoteCurrencies },
    exchanges,
  };
}

/** Options for {@linkcode ShardRegistry}. */
export interface ShardRegistryOptions {
  store: Pick<CandleStore, "writeShard" | "readShards" | "readCatalogue">;
  /** Who this shard is: never changes while it runs. */
  identity: Pick<ShardDoc, "index" | "count" | "version" | "selection" | "startedAt" | "exchanges">;
  /** This shard's state now. */
  snapshot: () => ShardSnapshot;
  /** @default Date.now */
  clock?: Clock;
  /** Real milliseconds between heartbeats. @default 15000 */
  intervalMs?: number;
  /** Real milliseconds the read of the previous run's entry may take at start. @default 3000 */
  previousReadMs?: number;
  /** No heartbeat for longer than this makes a shard `silent`. @default 60 */
  silentAfterS?: number;
  /**
   * Per product, the oldest repair start still pending (see {@linkcode pendingRepairsOf}),
   * written as `pendingRepairs`. @default none
   */
  pendingRepairs?: (advance?: boolean) => ReadonlyMap<string, number>;
  /**
   * Least real time (ms) from any write of the entry to one that a pending change triggers
   * ({@linkcode ShardRegistry.checkPending}; see the module for the choice).
   * @default pendingIntervalFor(identity.count)
   */
  pendingIntervalMs?: number;
  /** The real-time clock (ms) `pendingIntervalMs` is measured on. @default performance.now */
  realClock?: () => number;
  /** A fleet report younger than this is served again instead of read anew. @default 5000 */
  reportMaxAgeMs?: number;
  /**
   * The catalogue (what the fleet should serve; it changes when Coinbase lists or delists, and
   * is refreshed hourly) is read again after this long, not at every heartbeat: reading ~1,000
   * entries holds the event loop for tens of milliseconds. @default 300000
   */
  catalogueMaxAgeMs?: number;
}

/** This shard's registry entry and the fleet report. */
export class ShardRegistry {
  readonly #o: ShardRegistryOptions;
  readonly #clock: Clock;
  readonly #realClock: () => number;
  #timer?: ReturnType<typeof setInterval>;
  #stopped = false;
  #writing: Promise<void> = Promise.resolve();
  #failing = false;
  #busy = false;
  #report?: { atMs: number; report: FleetReport };
  #reading?: Promise<FleetReport>;
  #catalogue?: { atMs: number; entries: Promise<CatalogueEntry[]> };
  /** `pendingRepairs` as handed to the last write, and as the last successful one stored it. */
  #pendingWritten: Record<string, number> = {};
  #pendingStored: Record<string, number> = {};
  /** Real time (`realClock`) the last write was handed to the store. */
  #lastWriteMs = -Infinity;
  /** The previous run's `pendingRepairs`, written on until {@linkcode previousRepairsDone}. */
  #carried?: Map<string, number>;
  /** Whether a beat has run yet. */
  #started = false;

  constructor(options: ShardRegistryOptions) {
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
    this.#realClock = options.realClock ?? (() => performance.now());
  }

  /** The registry id of this shard, `{index}-of-{count}`. */
  get id(): string {
    return shardId(this.#o.identity);
  }

  /**
   * Reads this shard's entry as the previous run left it, then writes the first heartbeat and one
   * every interval. Resolves with that entry: undefined when there is none, or when the read
   * failed or took longer than `previousReadMs` (the heartbeats start then anyway).
   */
  start(): Promise<ShardDoc | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = this.#o.store.readShards().then(
      (entries) =>
        entries.find((e) => shardId(e) === this.id && e.startedAt !== this.#o.identity.startedAt),
      (error) => {
        log.warn("Cannot read the previous run's registry entry {shard}: {error}", {
          shard: this.id,
          error: error instanceof Error ? error.message : String(error),
        });
        return undefined;
      },
    );
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.#o.previousReadMs ?? 3000);
    });
    const previous = Promise.race([read, late]).finally(() => clearTimeout(timer));
    void previous.then((entry) => {
      // Written on from the first beat: the next run must still find them if this one dies
      // before it has fetched those minutes again.
      const carried = Object.entries(entry?.pendingRepairs ?? {})
        .filter(([, from]) => typeof from === "number" && Number.isFinite(from));
      if (carried.length > 0) this.#carried = new Map(carried);
      if (this.#stopped) return;
      this.#started = true;
      void this.beat();
      this.#timer = setInterval(() => void this.beat(), this.#o.intervalMs ?? 15_000);
    });
    return previous;
  }

  /**
   * Writes this shard's entry now, unless a write is still in flight (beats never queue up behind
   * a slow store). Never throws: a failure is logged and the next beat retries.
   */
  beat(): Promise<void> {
    if (this.#stopped || this.#busy) return this.#writing;
    return this.#write(this.#o.snapshot());
  }

  /**
   * Writes the entry now if the pending repairs gained risk since the last write (the service
   * calls it every clock tick): a product newly pending, or pending from an earlier minute, is
   * recorded at the first call `pendingIntervalMs` after the previous write; a change that only
   * removes waits for the next beat (see the module). A write in flight makes it wait for the
   * next call. Resolves when the write (if any) is done; never throws.
   */
  checkPending(): Promise<void> {
    if (!this.#started || this.#stopped || this.#busy || !this.#o.pendingRepairs) {
      return this.#writing;
    }
    const pending = this.#pending(true);
    if (pendingCovers(this.#pendingWritten, pending)) return this.#writing;
    const sinceMs = this.#realClock() - this.#lastWriteMs;
    const interval = this.#o.pendingIntervalMs ?? pendingIntervalFor(this.#o.identity.count);
    return sinceMs >= interval ? this.beat() : this.#writing;
  }

  /**
   * Tells the registry that this run has fetched again the minutes the previous run left
   * pending (startup's seeding and catch-up are done): they leave the entry at the next beat.
   * Until then every write carries them on, merged with this run's own (the earlier start of a
   * product wins), so that a kill or stop during the startup passes them on in turn.
   */
  previousRepairsDone(): void {
    this.#carried = undefined;
  }

  /** This run's pending repairs (`advance`: the clock tick's read), and the carried ones. */
  #pending(advance: boolean): ReadonlyMap<string, number> {
    const own = this.#o.pendingRepairs?.(advance) ?? new Map<string, number>();
    if (!this.#carried) return own;
    const out = new Map(own);
    for (const [product, from] of this.#carried) {
      const o = out.get(product);
      if (o === undefined || from < o) out.set(product, from);
    }
    return out;
  }

  /** Stops the heartbeat and marks the entry `stopped` (its products then show as uncovered). */
  async stop(): Promise<void> {
    if (this.#stopped) return await this.#writing;
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#write({ ...this.#o.snapshot(), status: "stopped" });
  }

  /** The fleet as the registry shows it now (read at most every `reportMaxAgeMs`). */
  async fleet(): Promise<FleetReport> {
    const cached = this.#report;
    if (cached && this.#clock() - cached.atMs < (this.#o.reportMaxAgeMs ?? 5000)) {
      return cached.report;
    }
    return await (this.#reading ??= this.#read().finally(() => this.#reading = undefined));
  }

  async #refresh(): Promise<void> {
    try {
      await (this.#reading ??= this.#read().finally(() => this.#reading = undefined));
    } catch (error) {
      log.warn("Cannot read the shard registry: {error}", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /** The last fleet report computed, if any (for scrape-time gauges). */
  get lastReport(): FleetReport | undefined {
    return this.#report?.report;
  }

  /** Adds the `spot_fleet_*` gauges (from the last report; refreshed at each heartbeat). */
  addMetrics(registry: Registry): void {
    const report = () => this.lastReport;
    registry.add(
      new Gauge("spot_fleet_shards", "Shards in the registry by status", () => {
        const r = report();
        return FLEET_STATUSES.map((status) => [
          { status },
          r?.shards.filter((s) => s.status === status).length ?? 0,
        ]);
      }, ["status"]),
    );
    registry.add(
      new Gauge("spot_fleet_problems", "Fleet problems by kind", () => {
        const r = report();
        return PROBLEM_KINDS.map((kind) => [
          { kind },
          r?.problems.filter((p) => p.kind === kind).length ?? 0,
        ]);
      }, ["kind"]),
    );
    registry.add(
      new Gauge("spot_fleet_products", "Products the fleet should serve, by coverage", () => {
        const p = report()?.products;
        return [
          [{ coverage: "expected" }, p?.expected ?? 0],
          [{ coverage: "covered" }, p?.covered ?? 0],
          [{ coverage: "uncovered" }, p?.uncovered ?? 0],
          [{ coverage: "double" }, p?.double ?? 0],
        ];
      }, ["coverage"]),
    );
  }

  async #read(): Promise<FleetReport> {
    const [shards, catalogue] = await Promise.all([
      this.#o.store.readShards(),
      this.#readCatalogue(),
    ]);
    const nowMs = this.#clock();
    const report = checkFleet({ shards, catalogue, nowMs, silentAfterS: this.#o.silentAfterS });
    this.#report = { atMs: nowMs, report };
    return report;
  }

  /** Makes the next fleet report read the catalogue again (it was just written). */
  forgetCatalogue(): void {
    this.#catalogue = undefined;
  }

  /** The stored catalogue, every exchange's entries (market keys), cached for a few minutes. */
  catalogue(): Promise<CatalogueEntry[]> {
    return this.#readCatalogue();
  }

  #readCatalogue(): Promise<CatalogueEntry[]> {
    const cached = this.#catalogue;
    if (cached && this.#clock() - cached.atMs < (this.#o.catalogueMaxAgeMs ?? 300_000)) {
      return cached.entries;
    }
    const entries = this.#o.store.readCatalogue();
    this.#catalogue = { atMs: this.#clock(), entries };
    // A failed read is not kept: the next report reads again.
    entries.catch(() => {
      if (this.#catalogue?.entries === entries) this.#catalogue = undefined;
    });
    return entries;
  }

  #write(snapshot: ShardSnapshot): Promise<void> {
    const doc: ShardDoc = { ...this.#o.identity, ...snapshot, heartbeatAt: this.#clock() };
    const pending = pendingRepairsEntry(this.#pending(false));
    if (pending) doc.pendingRepairs = pending;
    const written = pending ?? {};
    this.#pendingWritten = written;
    this.#lastWriteMs = this.#realClock();
    // One write at a time, in order: the `stopped` entry is never overwritten by a late beat.
    this.#busy = true;
    this.#writing = this.#writing.then(async () => {
      try {
        await this.#o.store.writeShard(doc);
        this.#pendingStored = written;
        if (this.#failing) log.info("Shard registry entry {id} written again", { id: this.id });
        this.#failing = false;
      } catch (error) {
        if (!this.#failing) {
          log.warn("Cannot write shard registry entry {id}: {error}", {
            id: this.id,
            error: error instanceof Error ? error.message : String(error),
          });
        }
        this.#failing = true;
        // What this write added is written again at the next check the interval allows, not
        // only at the next beat.
        if (this.#pendingWritten === written) this.#pendingWritten = this.#pendingStored;
        return;
      } finally {
        this.#busy = false;
      }
      // Refreshes the report for the gauges, outside the write chain: a slow read must not hold
      // back the next heartbeat or the `stopped` mark.
      if (doc.status !== "stopped") void this.#refresh();
    });
    return this.#writing;
  }
}
