/**
 * @module
 * Trade-frame-to-SSE latency for the end-to-end bench (used by `simulator_process.ts`): the
 * simulator's flush times, every product's recent cumulative 1-minute volumes by trade, and SSE
 * clients whose `ONE_MINUTE` live updates are matched back to the flush that carried the trade
 * which brought the candle to that volume. Quantiles come from a 0.1 ms histogram.
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
  /** SSE `candle` events received, all clients. */
  events: number;
  /** Changed live 1-minute updates matched to a flush. */
  matched: number;
  /** Changed live 1-minute updates no trade's cumulative volume explained. */
  unmatched: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Clients whose stream is still open. */
  openClients: number;
  /** Clients whose stream ended or failed (e.g. dropped as slow). */
  endedClients: number;
}

/** Flush and trade log plus the SSE clients. */
export class SseLatency {
  readonly #flushes: number[] = [];
  readonly #minutes = new Map<string, Map<number, MinuteLog>>();
  readonly #bins = new Uint32Array(BINS + 1);
  readonly #abort = new AbortController();
  #sample = new Set<string>();
  readonly #clients: Promise<void>[] = [];
  #maxMs = 0;
  #events = 0;
  #matched = 0;
  #unmatched = 0;
  #open = 0;
  #ended = 0;

  /** A `market_trades` flush at `ms` sent every trade with a time up to `ms`. */
  flushed(ms: number): void {
    this.#flushes.push(ms);
    if (this.#flushes.length > 4096) this.#flushes.splice(0, 2048);
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

  /** Opens `clients` SSE streams on `url`, measuring the updates of `sample`. */
  connect(url: string, clients: number, sample: string[]): void {
    this.#sample = new Set(sample);
    for (let i = 0; i < clients; i++) this.#clients.push(this.#client(url));
  }

  async #client(url: string): Promise<void> {
    const lastVolume = new Map<string, number>();
    let res: Response;
    try {
      res = await fetch(url, { signal: this.#abort.signal });
    } catch {
      this.#ended++;
      return;
    }
    if (!res.ok || !res.body) {
      this.#ended++;
      await res.body?.cancel();
      return;
    }
    this.#open++;
    const since = Date.now();
    const decoder = new TextDecoder();
    let text = "";
    try {
      for await (const chunk of res.body) {
        const now = performance.timeOrigin + performance.now();
        text += decoder.decode(chunk, { stream: true });
        let end;
        let from = 0;
        while ((end = text.indexOf("\n\n", from)) >= 0) {
          this.#event(text.slice(from, end), now, now - since > 2000, lastVolume);
          from = end + 2;
        }
        text = text.slice(from);
      }
    } catch {
      // Aborted at close, or the server dropped the stream: counted below.
    }
    this.#open--;
    this.#ended++;
  }

  #event(block: string, now: number, measure: boolean, lastVolume: Map<string, number>): void {
    const at = block.indexOf("data: ");
    if (at < 0 || !block.startsWith("event: candle")) return;
    this.#events++;
    // Parse only the sampled products' updates, so the clients stay cheap next to the service.
    const id = block.indexOf('"product_id":"', at);
    if (id < 0) return;
    const product = block.slice(id + 14, block.indexOf('"', id + 14));
    if (!this.#sample.has(product)) return;
    const u = JSON.parse(block.slice(at + 6));
    if (u.complete || u.granularity !== "ONE_MINUTE") return;
    const key = `${u.product_id}|${u.start}`;
    if (lastVolume.get(key) === u.volume) return;
    lastVolume.set(key, u.volume);
    if (!measure) return;
    const log = this.#minutes.get(u.product_id)?.get(u.start);
    const i = log ? log.volumes.lastIndexOf(u.volume) : -1;
    const flush = i >= 0 ? this.#flushAtOrAfter(log!.timesMs[i]!) : undefined;
    if (flush === undefined) {
      this.#unmatched++;
      return;
    }
    const ms = now - flush;
    this.#matched++;
    if (ms > this.#maxMs) this.#maxMs = ms;
    this.#bins[Math.min(BINS, Math.max(0, Math.floor(ms / BIN_MS)))]!++;
  }

  /**
   * A changed live `ONE_MINUTE` update received by a client in another process at `receiptMs`
   * (epoch ms, same machine clock): matched like the in-process clients' updates.
   */
  received(product: string, start: number, volume: number, receiptMs: number): void {
    this.#events++;
    const log = this.#minutes.get(product)?.get(start);
    const i = log ? log.volumes.lastIndexOf(volume) : -1;
    const flush = i >= 0 ? this.#flushAtOrAfter(log!.timesMs[i]!) : undefined;
    if (flush === undefined) {
      this.#unmatched++;
      return;
    }
    const ms = receiptMs - flush;
    this.#matched++;
    if (ms > this.#maxMs) this.#maxMs = ms;
    this.#bins[Math.min(BINS, Math.max(0, Math.floor(ms / BIN_MS)))]!++;
  }

  #flushAtOrAfter(ms: number): number | undefined {
    const f = this.#flushes;
    let lo = 0;
    let hi = f.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (f[mid]! < ms) lo = mid + 1;
      else hi = mid;
    }
    return f[lo];
  }

  /** Quantiles and counters since the previous report (then resets them). */
  report(): LatencyReport {
    const r: LatencyReport = {
      events: this.#events,
      matched: this.#matched,
      unmatched: this.#unmatched,
      p50Ms: this.#quantile(0.5),
      p99Ms: this.#quantile(0.99),
      maxMs: this.#maxMs,
      openClients: this.#open,
      endedClients: this.#ended,
    };
    this.#bins.fill(0);
    this.#events =
      this.#matched =
      this.#unmatched =
      this.#maxMs =
        0;
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

  /** Closes the SSE streams. */
  async close(): Promise<void> {
    this.#abort.abort();
    await Promise.all(this.#clients);
  }
}
