/**
 * @module
 * The store ingest tests write to.
 */
import type { CandleStore } from "../../lib/store/store.ts";
import { MemoryStore } from "./_memory_store.ts";

export function openTestStore(): Promise<CandleStore> {
  return Promise.resolve(new MemoryStore());
}
