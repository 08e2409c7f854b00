/**
 * @module
 * {@linkcode FirestoreRest}: the few calls of the Firestore REST API (v1) the candle store makes
 * on its hot paths and at startup — `commit`, `batchGet`, a document `get` and `runQuery` — as
 * plain JSON over Deno's `fetch`, with the value encoding of the official client (a safe integer
 * is an `integerValue`, any other number a `doubleValue`; `serverTimestamp` fields are
 * `REQUEST_TIME` transforms).
 *
 * Why not the `@google-cloud/firestore` client for these: through its REST transport every
 * call converts the request to protobuf objects and back to JSON (google-gax's fallback), which
 * measured about 3 ms of main-thread CPU per commit plus 0.09 ms per document, 14 % of the
 * process in garbage collection during a 1,000-product start, and ~50 MB of resident memory for
 * the library and its protobuf descriptors. The library stays for the rare maintenance calls
 * (`firestore_client.ts`), loaded only when one runs.
 *
 * Auth: against an emulator, `Authorization: Bearer owner` (what the official clients send);
 * in production, Application Default Credentials (the Cloud Run service identity) through
 * google-auth-library, loaded on first use.
 */
import { callDeadline } from "../deadline.ts";
import { backoffDelay } from "../backoff.ts";

/** Attempts of a read (`batchGet`, `get`, `runQuery`) before its error is raised. */
export const READ_ATTEMPTS = 3;
const READ_BACKOFF = { initialMs: 200, maxMs: 2000 };

/** Where a Firestore client connects (the store's and the official client's options). */
export interface FirestoreClientOptions {
  /** Project id; required with an emulator (use a `demo-` id), else found by ADC. */
  projectId?: string;
  /** `host:port` of a Firestore emulator; also read from `FIRESTORE_EMULATOR_HOST`. */
  emulatorHost?: string;
}

/** The project used against an emulator when none is given. */
export const DEFAULT_EMULATOR_PROJECT = "demo-spot";

/** Per-attempt deadline of a call (the writer and startup retry failed calls themselves). */
export const CALL_DEADLINE_MS = 10_000;

/** A decoded Firestore document: field name → JS value (timestamps as `Date`). */
export type DocData = Record<string, unknown>;

/** One write of a commit. */
export interface RestWrite {
  /** Document path relative to the database's documents root, e.g. `a/b/c/d`. */
  path: string;
  /** Fields to write (nested objects are maps; `undefined` values are left out). */
  data: DocData;
  /**
   * How the write merges: `false` (default) replaces the document; `true` sets the leaf fields
   * given (nested maps are descended, as the official client's `{merge: true}`) and keeps the
   * others; a list sets exactly those field paths (each a list of segments, e.g.
   * `[["0-of-3"]]`, as `{mergeFields}`) and keeps everything else.
   */
  merge?: boolean | string[][];
  /**
   * Fields (segment lists) set to the commit's server time, as `FieldValue.serverTimestamp()`;
   * they must not also be in `data`.
   */
  serverTimestamps?: string[][];
}

/** A filter of {@linkcode RestQuery}: `[field, operator, value]`. */
export type RestFilter = [string, "<" | "<=" | "==" | ">=" | ">", number | string];

/** A single-collection query. */
export interface RestQuery {
  /** Path of the collection, e.g. `exchanges/coinbase/products/BTC-USD/intervals`. */
  collection: string;
  where?: RestFilter[];
  orderBy?: { field: string; direction: "asc" | "desc" };
  limit?: number;
}

/** Canonical codes worth another try of a read. */
const RETRYABLE_READ = new Set([4, 8, 10, 13, 14]); // deadline, exhausted, aborted, internal, unavailable

/** An error answered by Firestore, with its canonical code (e.g. 14 UNAVAILABLE). */
export class FirestoreRestError extends Error {
  constructor(
    message: string,
    /** gRPC canonical code (as the official client reports it). */
    readonly code: number,
    /** HTTP status (0: no answer). */
    readonly status: number,
  ) {
    super(message);
    this.name = "FirestoreRestError";
  }
}

/** Options for {@linkcode FirestoreRest}. */
export interface FirestoreRestOptions {
  /** The project; without it (production only) the one of the default credentials. */
  projectId?: string;
  /** `host:port` of an emulator (plain HTTP, owner credentials). */
  emulatorHost?: string;
  /** The transport (tests wrap it). @default globalThis.fetch */
  fetch?: typeof fetch;
}

const CODES = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const OPS = {
  "<": "LESS_THAN",
  "<=": "LESS_THAN_OR_EQUAL",
  "==": "EQUAL",
  ">=": "GREATER_THAN_OR_EQUAL",
  ">": "GREATER_THAN",
} as const;

/** What is used of google-auth-library's `GoogleAuth`. */
interface GoogleAuthLike {
  getRequestHeaders(): Promise<Headers | Record<string, string>>;
  getProjectId(): Promise<string>;
}

/** A Firestore REST value. */
type Value = Record<string, unknown>;

/** Encodes a JS value as the official client does (see the module comment). */
export function encodeValue(v: unknown): Value {
  if (v === null) return { nullValue: null };
  switch (typeof v) {
    case "number":
      return Number.isSafeInteger(v) && !Object.is(v, -0)
        ? { integerValue: String(v) }
        : { doubleValue: Number.isFinite(v) ? v : String(v) };
    case "string":
      return { stringValue: v };
    case "boolean":
      return { booleanValue: v };
    case "bigint":
      return { integerValue: v.toString() };
    case "object":
      if (v instanceof Date) return { timestampValue: v.toISOString() };
      if (Array.isArray(v)) return { arrayValue: { values: v.map(encodeValue) } };
      return { mapValue: { fields: encodeFields(v as DocData) } };
  }
  throw new TypeError(`Cannot store a ${typeof v} in Firestore`);
}

function encodeFields(data: DocData): Record<string, Value> {
  const fields: Record<string, Value> = {};
  for (const key in data) {
    const v = data[key];
    if (v !== undefined) fields[key] = encodeValue(v);
  }
  return fields;
}

/**
 * `JSON.stringify(encodeValue(v))`, written directly: a commit's body is text built field by
 * field, without the `{integerValue: …}` object of every field of every document (at a compat
 * flush ~7 per document, ~1,500 documents a second at 200 products: the collector's work).
 */
export function encodeValueJson(v: unknown): string {
  if (v === null) return '{"nullValue":null}';
  switch (typeof v) {
    case "number":
      // `${n}` is JSON's number text (and "0" for -0, as JSON.stringify writes it).
      return Number.isSafeInteger(v) && !Object.is(v, -0)
        ? `{"integerValue":"${v}"}`
        : Number.isFinite(v)
        ? `{"doubleValue":${v}}`
        : `{"doubleValue":"${v}"}`;
    case "string":
      return `{"stringValue":${JSON.stringify(v)}}`;
    case "boolean":
      return v ? '{"booleanValue":true}' : '{"booleanValue":false}';
    case "bigint":
      return `{"integerValue":"${v}"}`;
    case "object":
      if (v instanceof Date) return `{"timestampValue":"${v.toISOString()}"}`;
      if (Array.isArray(v)) {
        return `{"arrayValue":{"values":[${v.map(encodeValueJson).join(",")}]}}`;
      }
      return `{"mapValue":{"fields":${encodeFieldsJson(v as DocData)}}}`;
  }
  throw new TypeError(`Cannot store a ${typeof v} in Firestore`);
}

function encodeFieldsJson(data: DocData): string {
  let out = "{";
  for (const key in data) {
    const v = data[key];
    if (v === undefined) continue;
    if (out.length > 1) out += ",";
    out += `${JSON.stringify(key)}:${encodeValueJson(v)}`;
  }
  return out + "}";
}

/** The JSON text of a `commit` request of `writes` under `root` (see {@linkcode RestWrite}). */
export function commitBodyJson(root: string, writes: RestWrite[]): string {
  let out = '{"writes":[';
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!;
    if (i > 0) out += ",";
    out += `{"update":{"name":${JSON.stringify(`${root}/${w.path}`)},"fields":${
      encodeFieldsJson(w.data)
    }}`;
    const mask = w.merge === true
      ? leafPaths(w.data, []).map(fieldPath)
      : Array.isArray(w.merge)
      ? w.merge.map(fieldPath)
      : undefined;
    if (mask) out += `,"updateMask":{"fieldPaths":${JSON.stringify(mask)}}`;
    if (w.serverTimestamps?.length) {
      out += ',"updateTransforms":[';
      w.serverTimestamps.forEach((f, k) => {
        out += `${k > 0 ? "," : ""}{"fieldPath":${
          JSON.stringify(fieldPath(f))
        },"setToServerValue":"REQUEST_TIME"}`;
      });
      out += "]";
    }
    out += "}";
  }
  return out + "]}";
}

/** Decodes a REST value (integers as numbers, timestamps as `Date`). */
export function decodeValue(v: Value): unknown {
  if ("integerValue" in v) return Number(v.integerValue);
  if ("doubleValue" in v) return Number(v.doubleValue);
  if ("stringValue" in v) return v.stringValue;
  if ("booleanValue" in v) return v.booleanValue;
  if ("timestampValue" in v) return new Date(v.timestampValue as string);
  if ("mapValue" in v) {
    return decodeFields((v.mapValue as { fields?: Record<string, Value> }).fields);
  }
  if ("arrayValue" in v) {
    return ((v.arrayValue as { values?: Value[] }).values ?? []).map(decodeValue);
  }
  if ("nullValue" in v) return null;
  // bytes, references, geo points: none of our documents holds one; keep the raw value.
  return v;
}

function decodeFields(fields: Record<string, Value> | undefined): DocData {
  const out: DocData = {};
  for (const key in fields) out[key] = decodeValue(fields[key]!);
  return out;
}

/** A field path segment as the API wants it: backquoted unless a plain identifier. */
export function fieldSegment(s: string): string {
  return /^[A-Za-z_][A-Za-z_0-9]*$/.test(s) ? s : "`" + s.replace(/[`\\]/g, (c) => "\\" + c) + "`";
}

/** A field path from its segments. */
export function fieldPath(segments: readonly string[]): string {
  return segments.map(fieldSegment).join(".");
}

/** The leaf field paths of `data` (plain objects descended; an empty one is a leaf). */
function leafPaths(data: DocData, prefix: string[]): string[][] {
  const out: string[][] = [];
  for (const key in data) {
    const v = data[key];
    if (v === undefined) continue;
    const path = [...prefix, key];
    const plain = typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
    if (plain && Object.keys(v).length > 0) out.push(...leafPaths(v as DocData, path));
    else out.push(path);
  }
  return out;
}

/** The Firestore REST calls of the candle store; see the module comment. */
export class FirestoreRest {
  #projectId?: string;
  #base: string;
  #fetch: typeof fetch;
  #emulator: boolean;
  #auth?: Promise<GoogleAuthLike>;

  constructor(options: FirestoreRestOptions) {
    this.#projectId = options.projectId;
    this.#emulator = options.emulatorHost !== undefined;
    if (this.#emulator && !options.projectId) {
      throw new Error("A Firestore emulator needs a project id (use a demo- id)");
    }
    this.#base = options.emulatorHost
      ? `http://${options.emulatorHost}/v1`
      : "https://firestore.googleapis.com/v1";
    this.#fetch = options.fetch ?? fetch;
  }

  /** The project (in production found from the default credentials on first use). */
  async projectId(): Promise<string> {
    this.#projectId ??= await (await this.#googleAuth()).getProjectId();
    return this.#projectId;
  }

  /** `projects/{p}/databases/(default)/documents`. */
  async #root(): Promise<string> {
    return `projects/${await this.projectId()}/databases/(default)/documents`;
  }

  /** Commits `writes` atomically (the answer, every write's update time, is not read). */
  async commit(writes: RestWrite[]): Promise<void> {
    const root = await this.#root();
    await this.#call("POST", `${root}:commit`, commitBodyJson(root, writes), false);
  }

  /** The documents at `paths`, in order (`undefined`: missing). */
  async batchGet(paths: string[]): Promise<(DocData | undefined)[]> {
    if (paths.length === 0) return [];
    const root = await this.#root();
    const names = paths.map((p) => `${root}/${p}`);
    const answer = await this.#read("POST", `${root}:batchGet`, { documents: names }) as {
      found?: { name: string; fields?: Record<string, Value> };
      missing?: string;
    }[];
    const byName = new Map<string, DocData>();
    for (const r of answer) if (r.found) byName.set(r.found.name, decodeFields(r.found.fields));
    return names.map((n) => byName.get(n));
  }

  /** The document at `path` (`undefined`: missing). */
  async get(path: string): Promise<DocData | undefined> {
    try {
      const doc = await this.#read("GET", `${await this.#root()}/${path}`) as {
        fields?: Record<string, Value>;
      };
      return decodeFields(doc.fields);
    } catch (e) {
      if (e instanceof FirestoreRestError && e.code === CODES.NOT_FOUND) return undefined;
      throw e;
    }
  }

  /** Runs a single-collection query: the documents' ids and data, in the query's order. */
  async runQuery(q: RestQuery): Promise<{ id: string; data: DocData }[]> {
    const root = await this.#root();
    const cut = q.collection.lastIndexOf("/");
    const parent = cut < 0 ? root : `${root}/${q.collection.slice(0, cut)}`;
    const structuredQuery: Record<string, unknown> = {
      from: [{ collectionId: q.collection.slice(cut + 1) }],
    };
    const filters = (q.where ?? []).map(([field, op, value]) => ({
      fieldFilter: {
        field: { fieldPath: fieldSegment(field) },
        op: OPS[op],
        value: encodeValue(value),
      },
    }));
    if (filters.length === 1) structuredQuery.where = filters[0];
    else if (filters.length > 1) {
      structuredQuery.where = { compositeFilter: { op: "AND", filters } };
    }
    if (q.orderBy) {
      structuredQuery.orderBy = [{
        field: { fieldPath: fieldSegment(q.orderBy.field) },
        direction: q.orderBy.direction === "desc" ? "DESCENDING" : "ASCENDING",
      }];
    }
    if (q.limit !== undefined) structuredQuery.limit = q.limit;
    const answer = await this.#read("POST", `${parent}:runQuery`, { structuredQuery }) as {
      document?: { name: string; fields?: Record<string, Value> };
    }[];
    return answer.flatMap((r) =>
      r.document
        ? [{
          id: r.document.name.slice(r.document.name.lastIndexOf("/") + 1),
          data: decodeFields(r.document.fields),
        }]
        : []
    );
  }

  async #headers(): Promise<Headers> {
    const headers = new Headers({ "content-type": "application/json" });
    if (this.#emulator) {
      headers.set("authorization", "Bearer owner");
      return headers;
    }
    const auth = await (await this.#googleAuth()).getRequestHeaders();
    new Headers(auth as HeadersInit).forEach((v, k) => headers.set(k, v));
    return headers;
  }

  /**
   * A read, retried on an answer that a retry can help (unavailable, deadline, aborted,
   * exhausted, internal) up to {@linkcode READ_ATTEMPTS} times with short jittered backoff, as
   * the official client retries its reads; a commit is retried by its caller (the writer), whole.
   */
  async #read(method: "GET" | "POST", resource: string, body?: unknown): Promise<unknown> {
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#call(method, resource, body);
      } catch (e) {
        const retryable = e instanceof FirestoreRestError && RETRYABLE_READ.has(e.code);
        if (!retryable || attempt >= READ_ATTEMPTS) throw e;
        await new Promise((r) => setTimeout(r, backoffDelay(attempt, READ_BACKOFF)));
      }
    }
  }

  #googleAuth(): Promise<GoogleAuthLike> {
    this.#auth ??= import("google-auth-library").then(({ GoogleAuth }) =>
      new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/datastore"] })
    );
    return this.#auth;
  }

  /** One call; `body` is JSON text or a value to serialise; the answer parsed unless `!parse`. */
  async #call(
    method: "GET" | "POST",
    resource: string,
    body?: unknown,
    parse = true,
  ): Promise<unknown> {
    const url = `${this.#base}/${resource}`;
    // The deadline covers the answer's body too, and lets go of the call when it ends.
    const deadline = callDeadline(CALL_DEADLINE_MS);
    try {
      return await this.#answer(method, resource, url, body, parse, deadline.signal);
    } finally {
      deadline.clear();
    }
  }

  async #answer(
    method: "GET" | "POST",
    resource: string,
    url: string,
    body: unknown,
    parse: boolean,
    signal: AbortSignal,
  ): Promise<unknown> {
    let res: Response;
    try {
      res = await this.#fetch(url, {
        method,
        headers: await this.#headers(),
        body: body === undefined
          ? undefined
          : typeof body === "string"
          ? body
          : JSON.stringify(body),
        signal,
      });
    } catch (e) {
      const timedOut = e instanceof DOMException && e.name === "TimeoutError";
      throw new FirestoreRestError(
        timedOut
          ? `Deadline exceeded: ${method} ${resource} did not answer within ${CALL_DEADLINE_MS} ms`
          : `No answer to ${method} ${resource}: ${(e as Error).message ?? e}`,
        timedOut ? CODES.DEADLINE_EXCEEDED : CODES.UNAVAILABLE,
        0,
      );
    }
    if (res.ok && !parse) {
      // Read to the end (the connection goes back to the pool), not decoded or parsed.
      await res.arrayBuffer();
      return undefined;
    }
    const text = await res.text();
    if (!res.ok) {
      let status = "";
      let message = text.slice(0, 300);
      try {
        const err = (JSON.parse(text) as { error?: { status?: string; message?: string } }).error;
        status = err?.status ?? "";
        message = err?.message ?? message;
      } catch { /* not JSON */ }
      const code = (CODES as Record<string, number>)[status] ?? httpCode(res.status);
      throw new FirestoreRestError(`${status || res.status}: ${message}`, code, res.status);
    }
    return JSON.parse(text);
  }
}

/** The canonical code of an HTTP status without a Firestore error body. */
function httpCode(status: number): number {
  if (status === 404) return CODES.NOT_FOUND;
  if (status === 429) return CODES.RESOURCE_EXHAUSTED;
  if (status === 401) return CODES.UNAUTHENTICATED;
  if (status === 403) return CODES.PERMISSION_DENIED;
  if (status === 409) return CODES.ABORTED;
  if (status >= 500) return CODES.UNAVAILABLE;
  return CODES.UNKNOWN;
}
