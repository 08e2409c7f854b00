/**
 * @module
 * Builds the official `@google-cloud/firestore` client, which the store uses only for its
 * maintenance call (`deletePluralDocuments`: listing, counting, recursive deletes) and the
 * tests use as an independent reader; the store's own calls are `firestore_rest.ts`. The
 * client gets the transport chosen for Deno: REST
 * (`preferRest: true`) carried by Deno's own `fetch`, never gRPC.
 *
 * Why: gRPC in Deno runs on the `node:http2` compatibility layer, the weak point of
 * `@grpc/grpc-js` under Deno (denoland/deno#26907: no reconnect after a server restart;
 * #36788, open for Deno 2.9.5/2.9.6: an abort inside nghttp2 when GOAWAY hits a long-idle
 * session, which is exactly what an idle Firestore channel sees). With `preferRest` every call
 * the writer and the routes make (Commit, BatchGet, RunQuery) is a plain HTTP request; gRPC
 * would load only for `onSnapshot`, which this service does not use. Requests go through
 * Deno's native `fetch` (Rust hyper, HTTP/1.1 or HTTP/2 by ALPN), not the `node:http`
 * polyfill that gaxios would otherwise pick through node-fetch:
 *
 * - against the emulator the client gets a credential-free auth object whose `fetch` is the
 *   global one (the library's default `GoogleAuth` would fail: REST always asks it for
 *   credentials, and there are none); the library itself adds `Authorization: Bearer owner`;
 * - in production the default `GoogleAuth` (ADC: the Cloud Run service identity via the
 *   metadata server) signs the requests, with `fetchImplementation: fetch` handed to its
 *   transporter so that the same native `fetch` carries them.
 *
 * The cost of REST: one HTTP request per call instead of a multiplexed stream; at one batched
 * Commit per flush interval that is immaterial. Deno quirk: google-gax arms an
 * `AbortSignal.timeout` (the 60 s call deadline) per request, and Deno keeps the process alive
 * until it fires, so entry points should `Deno.exit()` after closing the store.
 */
import { Firestore, type Settings } from "@google-cloud/firestore";
import { createRequire } from "node:module";

export type { FirestoreClientOptions } from "./firestore_rest.ts";

import {
  CALL_DEADLINE_MS,
  DEFAULT_EMULATOR_PROJECT,
  type FirestoreClientOptions,
} from "./firestore_rest.ts";

let deadlinesShortened = false;

/**
 * Lowers the per-attempt deadline of every Firestore call from 60 s to
 * {@linkcode CALL_DEADLINE_MS}, keeping the library's retries (10 minutes in all).
 *
 * Why: google-gax's REST stub arms an `AbortSignal.timeout` for the deadline of each call, and
 * its listener's closure shares a V8 context with the call's request and decoded response, so
 * both stay reachable until the timer fires. With one batched Commit per flush interval a 60 s
 * deadline kept a minute of Commit payloads alive (measured with the sampling heap profiler:
 * ≈150 MB live at 200 products, compat layout). The deadline comes from the retry parameters
 * the library reads from its shared client-config JSON, which no setting exposes; this edits
 * that object once, before the first call.
 */
function shortenCallDeadlines(): void {
  if (deadlinesShortened) return;
  deadlinesShortened = true;
  const require = createRequire(import.meta.resolve("@google-cloud/firestore"));
  const config = require("@google-cloud/firestore-api/build/src/v1/firestore_client_config.json");
  const params = config?.interfaces?.["google.firestore.v1.Firestore"]?.retry_params ?? {};
  for (const p of Object.values(params) as Record<string, number>[]) {
    p.initial_rpc_timeout_millis = CALL_DEADLINE_MS;
    p.max_rpc_timeout_millis = CALL_DEADLINE_MS;
  }
}

/** A google-auth-library stand-in for the emulator: no credentials, Deno's fetch. */
const emulatorAuth = {
  getRequestHeaders: () => Promise.resolve(new Headers()),
  fetch: (url: string | URL, init?: RequestInit) => fetch(url, init),
};

function envEmulatorHost(): string | undefined {
  try {
    return Deno.env.get("FIRESTORE_EMULATOR_HOST") || undefined;
  } catch {
    return undefined;
  }
}

/** Creates a Firestore client on REST over Deno's `fetch` (see the module comment for why). */
export function createFirestoreClient(options: FirestoreClientOptions = {}): Firestore {
  const emulatorHost = options.emulatorHost ?? envEmulatorHost();
  shortenCallDeadlines();
  const settings: Settings = { preferRest: true };
  if (emulatorHost) {
    Object.assign(settings, {
      projectId: options.projectId ?? DEFAULT_EMULATOR_PROJECT,
      host: emulatorHost,
      ssl: false,
      authClient: emulatorAuth,
    });
  } else {
    if (options.projectId) settings.projectId = options.projectId;
    settings.clientOptions = { transporterOptions: { fetchImplementation: fetch } };
  }
  return new Firestore(settings);
}
