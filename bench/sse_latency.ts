/**
 * @module
 * Trade-frame-to-SSE latency for the end-to-end bench (used by `simulator_process.ts`): the
 * simulator's flushes, per flush phase (each product's trades go out on its own phase: when
 * each flush started, which fixes the trades it carried, and when its frames had all been
 * handed to the sockets), every product's recent cumulative 1-minute
 * volumes by trade, and the SSE clients' receipts (from `sse_clients_process.ts`), each matched
 * back to the flush that carried the trade which brought the candle to that volume. Quantiles
 * come from a 0.1 ms histogram.
 */
import { addUnits, type Units, unitsToNumber } from "../lib/candles/decimal.ts";

const KEEP_MS = 3 * 60_000;
const BIN_MS = 0.1;
const BINS = 100_000; // 10 s

interface MinuteLog {
  cum: Units;
  volumes: number[];
  timesMs: number[];
}

/** Latency quantiles and counters since the previous report. */
export interface LatencyReport {
  /** Changed live 1-minute updates received and matched to a flush. */
  matched: number;
  /** Changed live 1-minute updates no trade's cumulative volume explained. */
  unmatched: number;
  /** From the flush's frames handed to the sockets to the SSE receipt. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The simulator's own work per flush (generating, serialising): not counted above. */
  flushWorkP50Ms: number;
}

/** One flush phase's log. */
interface PhaseLog {
  /** Flush times (epoch ms; a trade at or before one went out with the first such flush). */
  flushes: number[];
  /** When each flush's frames had all been handed to the sockets (epoch ms; NaN until then). */
  sent: number[];
}

/** Flush and trade log, matching the SSE clients' receipts. */
export class SseLatency {
  /** The flush phase of a product (the simulator's `phaseOf`). */
  readonly #phaseOf: (product: string) => number;
  readonly #phases = new Map<number, PhaseLog>();
  readonly #minutes = new Map<string, Map<number, MinuteLog>>();
  readonly #bins = new Uint32Array(BINS + 1);
  #work: number[] = [];
  #maxMs = 0;
  #matched = 0;
  #unmatched = 0;

  constructor(phaseOf: (product: string) => number) {
    this.#phaseOf = phaseOf;
  }

  #phase(phase: number): PhaseLog {
    let log = this.#phases.get(phase);
    if (!log) this.#phases.set(phase, log = { flushes: [], sent: [] });
    return log;
  }

  /**
   * A `market_trades` flush of `phase` at `ms` sends every trade of that phase's products with a
   * time up to `ms`.
   */
  flushed(phase: number, ms: number): void {
    const log = this.#phase(phase);
    log.flushes.push(ms);
    log.sent.push(NaN);
    if (log.flushes.length > 4096) {
      log.flushes.splice(0, 2048);
      log.sent.splice(0, 2048);
    }
  }

  /** The flush of `phase` at `ms` handed its last frame to a socket at `atMs` (epoch ms). */
  sent(phase: number, ms: number, atMs: number): void {
    const log = this.#phase(phase);
    const i = log.flushes.lastIndexOf(ms);
    if (i < 0) return;
    log.sent[i] = atMs;
    this.#work.push(atMs - ms);
  }

  /** A trade the market generated (recent ones only are kept). */
  traded(product: string, timeMs: number, size: Units): void {
    if (timeMs < Date.now() - KEEP_MS) return;
    let byStart = this.#minutes.get(product);
    if (!byStart) this.#minutes.set(product, byStart = new Map());
    const start = Math.floor(timeMs / 60_000) * 60;
    let log = byStart.get(start);
    if (!log) {
      byStart.set(start, log = { cum: 0, volumes: [], timesMs: [] });
      for (const s of byStart.keys()) if (s * 1000 < timeMs - KEEP_MS) byStart.delete(s);
    }
    log.cum = addUnits(log.cum, size);
    log.volumes.push(unitsToNumber(log.cum));
    log.timesMs.push(timeMs);
  }

  /**
   * A changed live `ONE_MINUTE` update received by a client in another process at `receiptMs`
   * (epoch ms, same machine clock): matched to the flush that carried the trade which brought
   * the candle to `volume`, and counted from when that flush's frames were sent.
   */
  received(product: string, start: number, volume: number, receiptMs: number): void {
    const log = this.#minutes.get(product)?.get(start);
    const i = log ? log.volumes.lastIndexOf(volume) : -1;
    const phase = this.#phase(this.#phaseOf(product));
    const f = i >= 0 ? flushAtOrAfter(phase.flushes, log!.timesMs[i]!) : -1;
    const sentAt = f >= 0 ? phase.sent[f]! : NaN;
    if (Number.isNaN(sentAt)) {
      this.#unmatched++;
      return;
    }
    const ms = receiptMs - sentAt;
    this.#matched++;
    if (ms > this.#maxMs) this.#maxMs = ms;
    this.#bins[Math.min(BINS, Math.max(0, Math.floor(ms / BIN_MS)))]!++;
  }

  /** Quantiles and counters since the previous report (then resets them). */
  report(): LatencyReport {
    const work = this.#work.sort((a, b) => a - b);
    const r: LatencyReport = {
      matched: this.#matched,
      unmatched: this.#unmatched,
      p50Ms: this.#quantile(0.5),
      p99Ms: this.#quantile(0.99),
      maxMs: this.#maxMs,
      flushWorkP50Ms: work.length ? work[Math.floor(work.length / 2)]! : NaN,
    };
    this.#bins.fill(0);
    this.#work = [];
    this.#matched = this.#unmatched = this.#maxMs = 0;
    return r;
  }

  #quantile(q: number): number {
    const target = Math.ceil(this.#matched * q);
    if (target === 0) return NaN;
    let n = 0;
    for (let i = 0; i <= BINS; i++) {
      n += this.#bins[i]!;
      if (n >= target) return (i + 1) * BIN_MS;
    }
    return NaN;
  }
}

/** Index of the first flush time in `f` (ascending) at or after `ms`, or -1. */
function flushAtOrAfter(f: number[], ms: number): number {
  let lo = 0;
  let hi = f.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (f[mid]! < ms) lo = mid + 1;
    else hi = mid;
  }
  return lo < f.length ? lo : -1;
}
