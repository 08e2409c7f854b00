/**
 * @module
 * The bench's input: Coinbase `market_trades` frames as JSON text, built from the simulator's
 * seeded market (realistic prices, 8-place sizes, microsecond RFC 3339 times, rising ids).
 * Trades are cut, in time order, into frames of 1–20 trades (uniform), each frame newest
 * first with the Go-style envelope of coinbase-protocol.md §3.2 (`client_id`, a nanosecond
 * `timestamp`, a rising `sequence_num`). Every runner measures the same frames.
 */
import { demoProducts } from "../lib/coinbase/simulator.ts";
import { goTime, Market, prng, type SimTrade } from "../lib/simulator/market.ts";
import { tradeJson } from "../lib/coinbase/simulator/ws_frames.ts";

/** What to generate. */
export interface FrameSpec {
  products: number;
  tradesPerSecond: number;
  minutes: number;
  /** Epoch ms of the first trade. The default crosses midnight UTC, so every bucket closes. */
  startMs?: number;
  seed?: number;
}

/** Generated frames and the trades inside them. */
export interface FrameSet {
  frames: string[];
  trades: number;
  bytes: number;
  products: number;
  /** Simulated span, ms. */
  spanMs: number;
}

/** Generates the frames described by `spec` (deterministic for a given spec). */
export function generateFrames(spec: FrameSpec): FrameSet {
  const startMs = spec.startMs ?? Date.UTC(2026, 2, 14, 23, 55);
  const spanMs = spec.minutes * 60_000;
  const market = new Market({
    products: demoProducts(spec.products, { tradesPerSecond: spec.tradesPerSecond }),
    seed: spec.seed ?? 7,
    startMs,
    historyMs: 0,
    maxTradesPerProduct: 100,
  });
  const rand = prng((spec.seed ?? 7) + 1);
  const frames: string[] = [];
  let bytes = 0;
  let trades = 0;
  let seq = 0;
  // Advance a minute at a time so the market's trade log stays small.
  for (let at = startMs; at < startMs + spanMs; at += 60_000) {
    const minute = market.advance(at + 60_000);
    for (let i = 0; i < minute.length;) {
      const n = Math.min(minute.length - i, 1 + Math.floor(rand() * 20));
      const frame = frameText(minute.slice(i, i + n), seq++, rand);
      frames.push(frame);
      bytes += frame.length;
      trades += n;
      i += n;
    }
  }
  return { frames, trades, bytes, products: spec.products, spanMs };
}

/** One `market_trades` update frame: `batch` is oldest first; the wire has it newest first. */
function frameText(batch: SimTrade[], seq: number, rand: () => number): string {
  const parts: string[] = [];
  for (let i = batch.length - 1; i >= 0; i--) parts.push(tradeJson(batch[i]!));
  const newest = batch[batch.length - 1]!;
  // Sent a few ms after the newest trade, printed with nanoseconds as Go does.
  const sentUs = newest.timeUs + 1000 + Math.floor(rand() * 4000);
  const ns = String((sentUs % 1_000_000) * 1000 + Math.floor(rand() * 1000)).padStart(9, "0");
  const frac = ns.replace(/0+$/, "");
  const ts = `${goTime(sentUs).slice(0, 19)}${frac ? "." + frac : ""}Z`;
  return `{"channel":"market_trades","client_id":"","timestamp":"${ts}","sequence_num":${seq},` +
    `"events":[{"type":"update","trades":[${parts.join(",")}]}]}`;
}
