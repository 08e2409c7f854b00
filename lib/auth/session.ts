/**
 * @module
 * Dashboard and API sessions when `DASHBOARD_PASSWORD` is set: constant-time password checks and
 * HS256 JWTs (signed with `jose`) that carry nothing but their expiry. The signing key is derived
 * from the password with PBKDF2, so every instance of a Cloud Run service (same password) accepts
 * the others' sessions, and changing the password logs everyone out. HTTP (cookies, headers,
 * rate limiting) lives in `routes/auth.ts`.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { jwtVerify, SignJWT } from "jose";
import { type Clock, systemClock } from "../clock.ts";

/** Issuer and audience of every session token. */
export const TOKEN_AUDIENCE = "spot-server";
const SALT = "spot-server dashboard session key v1";
const PBKDF2_ITERATIONS = 200_000;

/** Options for {@linkcode Sessions}. */
export interface SessionOptions {
  /** The dashboard password (never logged, never put in a token). */
  password: string;
  /** Lifetime of a token, seconds. @default 43200 (12 h) */
  ttlS?: number;
  /** @default systemClock */
  clock?: Clock;
}

/** A signed session token and its lifetime. */
export interface IssuedToken {
  token: string;
  /** Seconds until it expires. */
  expiresIn: number;
}

/** Checks passwords and issues and verifies session tokens. */
export class Sessions {
  readonly ttlS: number;
  readonly #clock: Clock;
  /** Per-process key for comparing password digests (not for signing). */
  readonly #compareKey = crypto.getRandomValues(new Uint8Array(32));
  readonly #passwordDigest: Buffer;
  readonly #signingKey: Promise<Uint8Array>;

  constructor(options: SessionOptions) {
    if (!options.password) throw new RangeError("Cannot create sessions: the password is empty");
    this.ttlS = options.ttlS ?? 12 * 3600;
    this.#clock = options.clock ?? systemClock;
    this.#passwordDigest = this.#digest(options.password);
    this.#signingKey = deriveKey(options.password);
    // An unhandled rejection would crash the process; verify() and issue() surface it instead.
    this.#signingKey.catch(() => {});
  }

  #digest(value: string): Buffer {
    return createHmac("sha256", this.#compareKey).update(value, "utf8").digest();
  }

  /** Whether `candidate` is the password, in time independent of where they differ. */
  checkPassword(candidate: string): boolean {
    return timingSafeEqual(this.#digest(candidate), this.#passwordDigest);
  }

  /** Signs a new session token valid for {@linkcode ttlS} seconds. */
  async issue(kind: "session" | "api"): Promise<IssuedToken> {
    const nowS = Math.floor(this.#clock() / 1000);
    const token = await new SignJWT({ kind })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(TOKEN_AUDIENCE)
      .setAudience(TOKEN_AUDIENCE)
      .setIssuedAt(nowS)
      .setExpirationTime(nowS + this.ttlS)
      .sign(await this.#signingKey);
    return { token, expiresIn: this.ttlS };
  }

  /** Whether `token` is a valid, unexpired token signed with this password's key. */
  async verify(token: string): Promise<boolean> {
    if (!token || token.length > 4096) return false;
    try {
      await jwtVerify(token, await this.#signingKey, {
        algorithms: ["HS256"],
        issuer: TOKEN_AUDIENCE,
        audience: TOKEN_AUDIENCE,
        currentDate: new Date(this.#clock()),
        requiredClaims: ["exp", "iat"],
      });
      return true;
    } catch {
      return false;
    }
  }
}

async function deriveKey(password: string): Promise<Uint8Array> {
  const material = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    {
      name: "PBKDF2",
      hash: "SHA-256",
      salt: new TextEncoder().encode(SALT),
      iterations: PBKDF2_ITERATIONS,
    },
    material,
    256,
  );
  return new Uint8Array(bits);
}
