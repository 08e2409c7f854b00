/**
 * @module
 * Part 1's Kraken input: WebSocket v2 `trade` update frames as JSON text, built the way the
 * Kraken simulator (`lib/kraken/simulator/ws.ts`) sends them: one frame per symbol per 50 ms
 * flush holding that symbol's trades since the last flush, oldest first, each trade written by
 * the simulator's own `wsTradeJson` (`price`/`qty` JSON numbers from the exact decimal text,
 * RFC 3339 microsecond `timestamp`, taker `side`, `ord_type`, integer `trade_id`). The market
 * is the simulator's (multi-fill taker orders: 30 % of trades are further fills sharing a
 * microsecond, so a frame holds several trades at times), seeded as `frames.ts`'s. Nothing is
 * withheld: every trade is in a frame.
 */
import { krakenDemoProducts, simSymbolKey } from "../lib/kraken/simulator.ts";
import { Market } from "../lib/simulator/market.ts";
import { wsTradeJson } from "../lib/kraken/simulator/wire.ts";
import type { FrameSet, FrameSpec } from "./frames.ts";

/** The Kraken simulator's default flush interval (ms): one update per symbol per flush. */
export const KRAKEN_FLUSH_MS = 50;

/** Kraken v2 frames for `spec` (deterministic for a given spec). */
export function generateKrakenFrames(spec: FrameSpec): FrameSet {
  const startMs = spec.startMs ?? Date.UTC(2026, 2, 14, 23, 55);
  const spanMs = spec.minutes * 60_000;
  const market = new Market({
    products: krakenDemoProducts(spec.products, { tradesPerSecond: spec.tradesPerSecond }),
    seed: spec.seed ?? 7,
    startMs,
    historyMs: 0,
    maxTradesPerProduct: 100,
    tradeProduct: simSymbolKey,
    multiFillShare: 0.3,
  });
  const frames: string[] = [];
  let bytes = 0;
  let trades = 0;
  for (let at = startMs; at < startMs + spanMs; at += 60_000) {
    const minute = market.advance(at + 60_000);
    // Per flush window, per symbol (in first-trade order, as the simulator's clients iterate
    // their subscriptions): that symbol's trades of the window, oldest first.
    let window = -1;
    let bySymbol = new Map<string, string[]>();
    const emit = () => {
      for (const parts of bySymbol.values()) {
        const frame = `{"channel":"trade","type":"update","data":[${parts.join(",")}]}`;
        frames.push(frame);
        bytes += frame.length;
        trades += parts.length;
      }
      bySymbol = new Map();
    };
    for (const t of minute) {
      const w = Math.floor(t.timeUs / 1000 / KRAKEN_FLUSH_MS);
      if (w !== window) {
        emit();
        window = w;
      }
      let parts = bySymbol.get(t.product_id);
      if (!parts) bySymbol.set(t.product_id, parts = []);
      parts.push(wsTradeJson(t, t.product_id));
    }
    emit();
  }
  return { frames, trades, bytes, products: spec.products, spanMs };
}
