import assert from "node:assert/strict";
import { decodeProtectedHeader, importJWK, type JWK, jwtVerify } from "jose";
import { createJwtSigner, KeyImportError, normalizePrivateKey } from "../../lib/coinbase/auth.ts";

const NAME =
  "organizations/6f1c0000-0000-4000-8000-000000000001/apiKeys/2b7e0000-0000-4000-8000-000000000002";

function fromB64url(s: string): Uint8Array {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
function pem(label: string, der: Uint8Array): string {
  const b64 = btoa(String.fromCharCode(...der));
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

/** A P-256 key as the CDP portal writes it: SEC1 DER (121 bytes) in an EC PRIVATE KEY PEM. */
async function ecKey(): Promise<{ sec1Pem: string; pkcs8Pem: string; publicJwk: JWK }> {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  const d = fromB64url(jwk.d!);
  const x = fromB64url(jwk.x!);
  const y = fromB64url(jwk.y!);
  const head = [0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20];
  const params = [0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
  const pub = [0xa1, 0x44, 0x03, 0x42, 0x00, 0x04];
  const sec1 = Uint8Array.from([...head, ...d, ...params, ...pub, ...x, ...y]);
  assert.equal(sec1.length, 121);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  return {
    sec1Pem: pem("EC PRIVATE KEY", sec1),
    pkcs8Pem: pem("PRIVATE KEY", pkcs8),
    publicJwk: { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y },
  };
}

async function edKey(): Promise<{ seed: Uint8Array; pub: Uint8Array; publicJwk: JWK }> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  return {
    seed: fromB64url(jwk.d!),
    pub: fromB64url(jwk.x!),
    publicJwk: { kty: "OKP", crv: "Ed25519", x: jwk.x },
  };
}

async function verify(token: string, publicJwk: JWK, alg: string) {
  const key = await importJWK(publicJwk, alg);
  const { payload, protectedHeader } = await jwtVerify(token, key, {
    issuer: "cdp",
    subject: NAME,
  });
  return { payload, header: protectedHeader };
}

Deno.test("createJwtSigner() signs ES256 tokens from a SEC1 PEM", async (t) => {
  const key = await ecKey();
  const now = Date.UTC(2026, 2, 14, 15, 9, 26);
  const signer = createJwtSigner({ name: NAME, privateKey: key.sec1Pem }, { clock: () => now });
  assert.equal(await signer.algorithm, "ES256");

  await t.step("WebSocket tokens carry kid, nonce and the claims without uri", async () => {
    const token = await signer.forWebSocket();
    // jwtVerify checks nbf/exp against the real clock: verify with a clock-free decode instead.
    const header = decodeProtectedHeader(token);
    assert.equal(header.alg, "ES256");
    assert.equal(header.kid, NAME);
    assert.equal(header.typ, "JWT");
    assert.match(String(header.nonce), /^[0-9a-f]{32}$/);
    const key2 = await importJWK(key.publicJwk, "ES256");
    const { payload } = await jwtVerify(token, key2, { currentDate: new Date(now + 1000) });
    assert.deepEqual(payload, { sub: NAME, iss: "cdp", nbf: now / 1000, exp: now / 1000 + 120 });
  });

  await t.step("REST tokens carry uri = METHOD host/path without the query", async () => {
    const token = await signer.forRest(
      "get",
      "https://api.coinbase.com/api/v3/brokerage/products/BTC-USD/candles?start=1&end=2",
    );
    const key2 = await importJWK(key.publicJwk, "ES256");
    const { payload } = await jwtVerify(token, key2, { currentDate: new Date(now + 1000) });
    assert.equal(payload.uri, "GET api.coinbase.com/api/v3/brokerage/products/BTC-USD/candles");
  });

  await t.step("every call makes a fresh token with a new nonce", async () => {
    const [a, b] = await Promise.all([signer.forWebSocket(), signer.forWebSocket()]);
    assert.notEqual(a, b);
    assert.notEqual(decodeProtectedHeader(a).nonce, decodeProtectedHeader(b).nonce);
  });
});

Deno.test("createJwtSigner() reads keys pasted into env vars and PKCS#8", async (t) => {
  const key = await ecKey();
  await t.step("literal \\n escapes and surrounding quotes", async () => {
    const escaped = `"${key.sec1Pem.trim().replace(/\n/g, "\\n")}"`;
    assert.ok(!escaped.includes("\n"));
    const signer = createJwtSigner({ name: NAME, privateKey: escaped });
    const { header } = await verify(await signer.forWebSocket(), key.publicJwk, "ES256");
    assert.equal(header.alg, "ES256");
  });
  await t.step("PKCS#8 EC key", async () => {
    const signer = createJwtSigner({ name: NAME, privateKey: key.pkcs8Pem });
    await verify(await signer.forRest("POST", "https://x.test/a"), key.publicJwk, "ES256");
  });
  await t.step("normalizePrivateKey() unescapes and unquotes", () => {
    assert.equal(normalizePrivateKey("  'a\\nb'  "), "a\nb");
  });
});

Deno.test("createJwtSigner() signs EdDSA tokens from base64 Ed25519 keys", async (t) => {
  const key = await edKey();
  const toB64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
  await t.step("64-byte seed‖public key", async () => {
    const signer = createJwtSigner({
      name: NAME,
      privateKey: toB64(Uint8Array.from([...key.seed, ...key.pub])),
    });
    assert.equal(await signer.algorithm, "EdDSA");
    const { header, payload } = await verify(await signer.forWebSocket(), key.publicJwk, "EdDSA");
    assert.equal(header.alg, "EdDSA");
    assert.equal(payload.uri, undefined);
  });
  await t.step("32-byte seed", async () => {
    const signer = createJwtSigner({ name: NAME, privateKey: toB64(key.seed) });
    await verify(await signer.forRest("GET", "https://h.test/p"), key.publicJwk, "EdDSA");
  });
  await t.step("a public half that does not match is refused", async () => {
    const other = await edKey();
    const signer = createJwtSigner({
      name: NAME,
      privateKey: toB64(Uint8Array.from([...key.seed, ...other.pub])),
    });
    await assert.rejects(signer.forWebSocket(), KeyImportError);
  });
});

Deno.test("createJwtSigner() never exposes the key or tokens", async (t) => {
  const key = await ecKey();
  const body = key.sec1Pem.split("\n")[1]!;
  const signer = createJwtSigner({ name: NAME, privateKey: key.sec1Pem });
  const token = await signer.forWebSocket();
  await t.step("printing and serialising the signer", () => {
    for (const text of [String(signer), JSON.stringify(signer), Deno.inspect(signer)]) {
      assert.ok(!text.includes(body.slice(0, 20)), text);
      assert.ok(!text.includes(token.slice(0, 20)), text);
    }
  });
  await t.step("errors for bad keys name the problem, not the key", async () => {
    const bad =
      "-----BEGIN EC PRIVATE KEY-----\nQUJDREVGR0hJSktMTU5PUA==\n-----END EC PRIVATE KEY-----";
    const err = await createJwtSigner({ name: NAME, privateKey: bad }).forWebSocket().catch((e) =>
      e
    );
    assert.ok(err instanceof KeyImportError);
    assert.ok(!String(err.message).includes("QUJDREVG"));
    const short = await createJwtSigner({ name: NAME, privateKey: "c2VjcmV0c2VjcmV0" })
      .forWebSocket()
      .catch((e) => e);
    assert.match(short.message, /32 or 64 bytes, got 12/);
    assert.ok(!short.message.includes("c2VjcmV0"));
  });
});
