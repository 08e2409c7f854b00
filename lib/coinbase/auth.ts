/**
 * @module
 * CDP API key JWTs for Coinbase Advanced Trade (coinbase-protocol.md §5): ES256 from a SEC1
 * `BEGIN EC PRIVATE KEY` PEM or a PKCS#8 PEM, and EdDSA from a base64 Ed25519 key (64-byte
 * seed‖public key, or a bare 32-byte seed). Every call signs a fresh token (new nonce, nbf =
 * now, exp = now + 120 s). The key and the tokens never appear in logs, errors, `toString`
 * or `JSON.stringify` of the signer. Sending the tokens is the REST client's and the feed's job.
 */
import { SignJWT } from "jose";
import type { Clock } from "../clock.ts";
import { systemClock } from "../clock.ts";

/** A CDP key as found in the portal's JSON file (`name`, or `id` for newer keys). */
export interface CdpKey {
  /** `organizations/{org}/apiKeys/{key}` or a bare UUID; used verbatim as `kid` and `sub`. */
  name: string;
  /** PEM (SEC1 or PKCS#8, literal `\n` and surrounding quotes tolerated) or base64 Ed25519. */
  privateKey: string;
}

/** Signs Coinbase JWTs with one key. */
export interface JwtSigner {
  /** `ES256` or `EdDSA`, known once the key has been imported (see {@linkcode JwtSigner.ready}). */
  readonly algorithm: Promise<"ES256" | "EdDSA">;
  /** Resolves once the key is imported; rejects with a {@linkcode KeyImportError} if it cannot be. */
  ready(): Promise<void>;
  /** A fresh token for a WebSocket subscribe message (no `uri` claim). */
  forWebSocket(): Promise<string>;
  /** A fresh token for one REST request: `uri` = `"<METHOD> <host><path>"`, no query. */
  forRest(method: string, url: string | URL): Promise<string>;
}

/** The private key could not be read. The message never contains key material. */
export class KeyImportError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeyImportError";
  }
}

/** Options for {@linkcode createJwtSigner}. */
export interface JwtSignerOptions {
  /** Source of `nbf`/`exp`. @default systemClock */
  clock?: Clock;
  /** Token lifetime in seconds. @default 120 */
  lifetimeS?: number;
}

const EC_PKCS8_PREFIX = "308193020100301306072a8648ce3d020106082a8648ce3d0301070479";
const ED25519_PKCS8_PREFIX = "302e020100300506032b657004220420";

interface Imported {
  key: CryptoKey;
  alg: "ES256" | "EdDSA";
}

/**
 * Creates a signer for `key`. The key is imported once, lazily; a bad key surfaces as a
 * {@linkcode KeyImportError} from the first signing call (or from `ready()`).
 *
 * @example
 * ```ts ignore
 * const signer = createJwtSigner({ name: "organizations/o/apiKeys/k", privateKey: pem });
 * const jwt = await signer.forRest("GET", "https://api.coinbase.com/api/v3/brokerage/products");
 * ```
 */
export function createJwtSigner(key: CdpKey, options: JwtSignerOptions = {}): JwtSigner {
  const clock = options.clock ?? systemClock;
  const lifetime = options.lifetimeS ?? 120;
  const kid = key.name.trim();
  if (!kid) throw new KeyImportError("Cannot create a JWT signer: the key name is empty");
  const imported = importPrivateKey(key.privateKey);
  imported.catch(() => {}); // reported by the calls that await it
  const sign = async (uri?: string): Promise<string> => {
    const { key: cryptoKey, alg } = await imported;
    const now = Math.floor(clock() / 1000);
    const claims: Record<string, unknown> = { sub: kid, iss: "cdp", nbf: now, exp: now + lifetime };
    if (uri !== undefined) claims.uri = uri;
    return await new SignJWT(claims)
      .setProtectedHeader({ alg, kid, nonce: randomHex(16), typ: "JWT" })
      .sign(cryptoKey);
  };
  const signer: JwtSigner = {
    algorithm: imported.then((i) => i.alg),
    ready: () => imported.then(() => {}),
    forWebSocket: () => sign(),
    forRest: (method, url) => {
      const u = typeof url === "string" ? new URL(url) : url;
      return sign(`${method.toUpperCase()} ${u.host}${u.pathname}`);
    },
  };
  // Nothing of the key may leak through printing or serialising the signer.
  const describe = () => "JwtSigner {}";
  Object.defineProperties(signer, {
    toString: { value: describe },
    toJSON: { value: () => ({ type: "JwtSigner" }) },
    [Symbol.for("Deno.customInspect")]: { value: describe },
    [Symbol.for("nodejs.util.inspect.custom")]: { value: describe },
  });
  (signer.algorithm as Promise<unknown>).catch(() => {});
  return signer;
}

/** Trims, strips surrounding quotes and turns literal `\n` into newlines (§5.1). */
export function normalizePrivateKey(raw: string): string {
  let s = raw.trim();
  if (s.length >= 2 && (s[0] === '"' || s[0] === "'") && s[s.length - 1] === s[0]) {
    s = s.slice(1, -1).trim();
  }
  return s.replace(/\\r/g, "").replace(/\\n/g, "\n");
}

async function importPrivateKey(raw: string): Promise<Imported> {
  const text = normalizePrivateKey(raw);
  if (text.includes("-----BEGIN")) {
    const pem = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
    if (!pem) throw new KeyImportError("Cannot read the private key: malformed PEM armour");
    const der = decodeBase64(pem[2]!.replace(/\s+/g, ""), "PEM body");
    if (pem[1] === "EC PRIVATE KEY") return { key: await importEc(sec1ToPkcs8(der)), alg: "ES256" };
    if (pem[1] === "PRIVATE KEY") {
      try {
        return { key: await importEc(der), alg: "ES256" };
      } catch {
        return { key: await importEd25519(der), alg: "EdDSA" };
      }
    }
    throw new KeyImportError(
      `Cannot read the private key: PEM type "${pem[1]}" is not EC PRIVATE KEY or PRIVATE KEY`,
    );
  }
  const bytes = decodeBase64(text.replace(/\s+/g, ""), "Ed25519 key");
  if (bytes.length !== 64 && bytes.length !== 32) {
    throw new KeyImportError(
      `Cannot read the private key: base64 Ed25519 keys are 32 or 64 bytes, got ${bytes.length}`,
    );
  }
  const seed = bytes.subarray(0, 32);
  const key = await importEd25519(concat(hexToBytes(ED25519_PKCS8_PREFIX), seed), true);
  if (bytes.length === 64) {
    const jwk = await crypto.subtle.exportKey("jwk", key);
    const pub = decodeBase64(jwk.x!.replace(/-/g, "+").replace(/_/g, "/"), "public key");
    if (!equalBytes(pub, bytes.subarray(32))) {
      throw new KeyImportError(
        "Cannot read the private key: the Ed25519 public half does not match the seed",
      );
    }
  }
  return { key: await importEd25519(concat(hexToBytes(ED25519_PKCS8_PREFIX), seed)), alg: "EdDSA" };
}

/** Wraps a SEC1 ECPrivateKey in a PKCS#8 PrivateKeyInfo for P-256 (§5.1). */
function sec1ToPkcs8(sec1: Uint8Array): Uint8Array {
  if (sec1.length === 121) return concat(hexToBytes(EC_PKCS8_PREFIX), sec1);
  // Other encodings (no public key, no parameters): build the DER with computed lengths.
  const algId = hexToBytes("301306072a8648ce3d020106082a8648ce3d030107");
  const body = concat(hexToBytes("020100"), algId, derTlv(0x04, sec1));
  return derTlv(0x30, body);
}

function derTlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  const len = n < 128 ? [n] : n < 256 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return concat(new Uint8Array([tag, ...len]), content);
}

async function importEc(pkcs8: Uint8Array): Promise<CryptoKey> {
  try {
    const key = await crypto.subtle.importKey(
      "pkcs8",
      pkcs8 as BufferSource,
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["sign"],
    );
    // Deno parses the key lazily: sign once so a corrupt key fails here, not per request.
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, new Uint8Array(1));
    return key;
  } catch (e) {
    throw new KeyImportError("Cannot import the EC private key as P-256 (ES256)", {
      cause: (e as Error).name,
    });
  }
}

async function importEd25519(pkcs8: Uint8Array, extractable = false): Promise<CryptoKey> {
  try {
    const key = await crypto.subtle.importKey(
      "pkcs8",
      pkcs8 as BufferSource,
      { name: "Ed25519" },
      extractable,
      ["sign"],
    );
    await crypto.subtle.sign({ name: "Ed25519" }, key, new Uint8Array(1));
    return key;
  } catch (e) {
    throw new KeyImportError("Cannot import the private key as Ed25519 (EdDSA)", {
      cause: (e as Error).name,
    });
  }
}

function decodeBase64(b64: string, what: string): Uint8Array {
  try {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    throw new KeyImportError(`Cannot read the private key: the ${what} is not valid base64`);
  }
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function randomHex(bytes: number): string {
  const buf = crypto.getRandomValues(new Uint8Array(bytes));
  let s = "";
  for (const b of buf) s += b.toString(16).padStart(2, "0");
  return s;
}
