/**
 * @module
 * Trade-frame-to-SSE latency for the end-to-end bench (used by `simulator_process.ts`): the
 * simulator's flushes (when each started, which fixes the trades it carried, and when its
 * frames had all been handed to the sockets), every product's recent cumulative 1-minute
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

/** Flush and trade log, matching the SSE clients' receipts. */
export class SseLatency {
  /** Flush times (epoch ms; a trade at or before one went out with the first such flush). */
  readonly #flushes: number[] = [];
  /** When each flush's frames had all been handed to the sockets (epoch ms; NaN until then). */
  readonly #sent: number[] = [];
  readonly #minutes = new Map<string, Map<number, MinuteLog>>();
  readonly #bins = new Uint32Array(BINS + 1);
  #work: number[] = [];
  #maxMs = 0;
  #matched = 0;
  #unmatched = 0;

  /** A `market_trades` flush at `ms` sends every trade with a time up to `ms`. */
  flushed(ms: number): void {
    this.#flushes.push(ms);
    this.#sent.push(NaN);
    if (this.#flushes.length > 4096) {
      this.#flushes.splice(0, 2048);
      this.#sent.splice(0, 2048);
    }
  }

  /** The flush at `ms` handed its last frame to a socket at `atMs` (epoch ms). */
  sent(ms: number, atMs: number): void {
    const i = this.#flushes.lastIndexOf(ms);
    if (i < 0) return;
    this.#sent[i] = atMs;
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
    const f = i >= 0 ? this.#flushAtOrAfter(log!.timesMs[i]!) : -1;
    const sentAt = f >= 0 ? this.#sent[f]! : NaN;
    if (Number.isNaN(sentAt)) {
      this.#unmatched++;
      return;
    }
    const ms = receiptMs - sentAt;
    this.#matched++;
    if (ms > this.#maxMs) this.#maxMs = ms;
    this.#bins[Math.min(BINS, Math.max(0, Math.floor(ms / BIN_MS)))]!++;
  }

  /** Index of the first flush at or after `ms`, or -1. */
  #flushAtOrAfter(ms: number): number {
    const f = this.#flushes;
    let lo = 0;
    let hi = f.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (f[mid]! < ms) lo = mid + 1;
      else hi = mid;
    }
    return lo < f.length ? lo : -1;
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
