/**
 * @module
 * How the simulator's REST side checks a CDP JWT (coinbase-protocol.md §5.2): `Authorization:
 * Bearer <jwt>` whose header has `alg` ES256|EdDSA, `kid`, `nonce`, `typ: JWT`, and whose claims
 * have `sub` = `kid`, `iss: cdp`, integer `nbf`/`exp` at most 120 s apart covering now, and
 * `uri` = `"<METHOD> <host><path>"` without the query. Signatures are checked only when the test
 * hands in public keys; Coinbase's own checks are not knowable beyond this shape.
 */
import { decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";

/** Public keys by key name (`kid`), for signature checks. */
export type VerifyKeys = Map<string, CryptoKey>;

/** Why a request's JWT is rejected, or undefined when it is acceptable. */
export async function jwtProblem(
  req: Request,
  nowSec: number,
  verifyKeys?: VerifyKeys,
): Promise<string | undefined> {
  const header = req.headers.get("authorization") ?? "";
  const m = /^Bearer ([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)$/.exec(header);
  if (!m) return "missing or malformed Authorization: Bearer header";
  const token = m[1]!;
  let h: Record<string, unknown>;
  let c: Record<string, unknown>;
  try {
    h = decodeProtectedHeader(token) as Record<string, unknown>;
    c = decodeJwt(token) as Record<string, unknown>;
  } catch {
    return "JWT does not decode";
  }
  if (h.alg !== "ES256" && h.alg !== "EdDSA") return `unsupported alg ${String(h.alg)}`;
  if (typeof h.kid !== "string" || h.kid === "") return "kid missing";
  if (typeof h.nonce !== "string" || h.nonce === "") return "nonce missing";
  if (h.typ !== undefined && h.typ !== "JWT") return "typ is not JWT";
  if (c.sub !== h.kid) return "sub differs from kid";
  if (c.iss !== "cdp") return "iss is not cdp";
  if (!Number.isInteger(c.nbf) || !Number.isInteger(c.exp)) return "nbf/exp not integers";
  const nbf = c.nbf as number;
  const exp = c.exp as number;
  if (exp - nbf > 120 || exp <= nbf) return "lifetime is not within 120 s";
  if (nbf > nowSec + 5) return "not yet valid";
  if (exp < nowSec) return "expired";
  const url = new URL(req.url);
  const uri = `${req.method.toUpperCase()} ${url.host}${url.pathname}`;
  if (c.uri !== uri) return `uri claim does not match this request`;
  if (verifyKeys) {
    const key = verifyKeys.get(h.kid);
    if (!key) return "unknown key";
    try {
      await jwtVerify(token, key, { clockTolerance: 5, currentDate: new Date(nowSec * 1000) });
    } catch {
      return "bad signature";
    }
  }
  return undefined;
}
