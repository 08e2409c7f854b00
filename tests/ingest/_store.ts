/**
 * @module
 * The store ingest tests write to: the real KV store, in memory.
 */
import { openKvCandleStore } from "../../lib/store/kv.ts";
import type { CandleStore } from "../../lib/store/store.ts";

export function openTestStore(): Promise<CandleStore> {
  return openKvCandleStore(":memory:");
}
