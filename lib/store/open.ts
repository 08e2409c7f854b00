/**
 * @module
 * Opens the store the configuration names: Deno KV at `KV_PATH` (its directory created), or
 * Firestore (`GOOGLE_CLOUD_PROJECT`, `FIRESTORE_EMULATOR_HOST`, `FIRESTORE_LAYOUT`). The
 * Firestore client library is loaded only when it is used.
 */
import { dirname } from "node:path";
import type { Config } from "../config.ts";
import type { CandleStore } from "./store.ts";

/** The configured store. */
export async function openStore(
  config: Pick<
    Config,
    "store" | "kvPath" | "googleCloudProject" | "firestoreEmulatorHost" | "firestoreLayout"
  >,
): Promise<CandleStore> {
  if (config.store === "firestore") {
    const { FirestoreCandleStore } = await import("./firestore.ts");
    return new FirestoreCandleStore({
      projectId: config.googleCloudProject,
      emulatorHost: config.firestoreEmulatorHost,
      layout: config.firestoreLayout,
    });
  }
  const { openKvCandleStore } = await import("./kv.ts");
  if (config.kvPath !== ":memory:") await Deno.mkdir(dirname(config.kvPath), { recursive: true });
  return await openKvCandleStore(config.kvPath);
}
