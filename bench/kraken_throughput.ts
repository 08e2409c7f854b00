/**
 * @module
 * Part 1's Kraken runners over the frames of `kraken_frames.ts`:
 *
 * - kraken floor: `JSON.parse` of every frame, nothing else;
 * - kraken spot-server: the service's path, frame text → `parseKrakenMessage` (validation, the
 *   exact `qty` read again from the raw text) → `Aggregator.add` (dedupe included) → `tick`
 *   once a simulated second → `drain` after every frame, as Coinbase's `runSpotServer`.
 *
 * Kraken frames carry no frame timestamp: the tick follows the newest trade's time.
 */
import { Aggregator } from "../lib/candles/aggregator.ts";
import { parseKrakenMessage } from "../lib/kraken/messages.ts";
import type { RoundResult } from "./throughput.ts";

/** The floor: `JSON.parse` of each frame. */
export function runKrakenFloor(frames: string[]): RoundResult {
  let trades = 0;
  const t0 = performance.now();
  for (const text of frames) trades += JSON.parse(text).data.length;
  return { seconds: (performance.now() - t0) / 1000, outputs: trades };
}

/** The service's path from Kraken frame text to drained candle updates. */
export function runKrakenSpotServer(frames: string[]): RoundResult {
  const agg = new Aggregator();
  let nextTick = -Infinity;
  let updates = 0;
  let rejected = 0;
  const t0 = performance.now();
  for (const text of frames) {
    const m = parseKrakenMessage(text);
    if (m.kind !== "trades") throw new Error(`Unexpected ${m.kind} frame in the bench`);
    rejected += m.rejected;
    for (const t of m.trades) agg.add(t);
    const now = m.trades[m.trades.length - 1]!.timeMs;
    if (now >= nextTick) {
      agg.tick(now);
      nextTick = now + 1000;
    }
    updates += agg.drain().length;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (rejected) throw new Error(`${rejected} bench trades were rejected by parseKrakenMessage`);
  return { seconds, outputs: updates };
}
