/**
 * @module
 * The service of `clocked_service.ts` in a process of its own, as the kill -9 and restart tests
 * run it: started with `env`, its output kept, ended with a signal.
 */
import { type ListeningProcess, spawnListening } from "./listening_process.ts";

const ENTRY = new URL("./clocked_service.ts", import.meta.url).pathname;

/** A running service process. */
export type Child = ListeningProcess;

/** Starts the clocked service with `env` (on a free port) and resolves once it listens. */
export function spawn(env: Record<string, string>): Promise<Child> {
  return spawnListening(
    "The clocked service",
    ["run", "-A", ENTRY],
    { PORT: "0", LOG_FORMAT: "json", LOG_LEVEL: "info", ...env },
    30_000,
  );
}
