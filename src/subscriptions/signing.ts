/**
 * @module
 * Webhook signing keys and callback tokens (PROTOCOL.md §6.5, §7.1, §12.9).
 *
 * Webhooks are signed with Ed25519 through Web Crypto. A key's `kid` is
 * `ds_` plus its RFC 7638 JWK thumbprint, so it is stable and derived from
 * the key. Keys are persisted (the caller stores `SigningKeyRecord`s) and a
 * retired key stays in the JWKS for the replay window.
 *
 * Callback and claim tokens are JWT-shaped (`header.payload.mac`), MACed with
 * HMAC-SHA256 under a persisted server secret. They name the subscription,
 * generation and wake; the fencing checks against live state happen in the
 * manager, so a token is only as good as the wake it names.
 */

import { createHmac, timingSafeEqual } from "node:crypto";

/** A public signing key as published in the JWKS. */
export interface PublicJwk {
  /** Key type. */
  kty: "OKP";
  /** Curve. */
  crv: "Ed25519";
  /** Public key, base64url. */
  x: string;
  /** Key id: `ds_` + RFC 7638 thumbprint. */
  kid: string;
  /** Use. */
  use: "sig";
  /** Algorithm. */
  alg: "EdDSA";
}

/** A signing key as stored: the private JWK is secret and never served. */
export interface SigningKeyRecord {
  /** Key id. */
  kid: string;
  /** Private JWK (`d` and `x`), JSON. */
  privateJwk: string;
  /** When it was made, epoch ms. */
  createdAtMs: number;
  /** When it stopped signing, epoch ms; null while active. */
  retiredAtMs: number | null;
}

const encoder = new TextEncoder();

/** Unpadded base64url of `bytes`. */
export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

/** Decodes unpadded base64url; undefined when malformed. */
export function fromBase64url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** RFC 7638 thumbprint of an Ed25519 public key, as a `ds_` kid. */
export async function thumbprintKid(x: string): Promise<string> {
  // Required members in lexicographic order, no whitespace (RFC 8037 §2).
  const canonical = `{"crv":"Ed25519","kty":"OKP","x":"${x}"}`;
  const digest = await crypto.subtle.digest(
    "SHA-256",
    encoder.encode(canonical),
  );
  return "ds_" + base64url(new Uint8Array(digest));
}

/** Generates a fresh Ed25519 signing key. */
export async function generateSigningKey(
  nowMs: number,
): Promise<SigningKeyRecord> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  const kid = await thumbprintKid(jwk.x!);
  return {
    kid,
    privateJwk: JSON.stringify({
      kty: "OKP",
      crv: "Ed25519",
      x: jwk.x,
      d: jwk.d,
    }),
    createdAtMs: nowMs,
    retiredAtMs: null,
  };
}

/** The public half of a stored key. */
export function publicJwk(record: SigningKeyRecord): PublicJwk {
  const { x } = JSON.parse(record.privateJwk) as { x: string };
  return {
    kty: "OKP",
    crv: "Ed25519",
    x,
    kid: record.kid,
    use: "sig",
    alg: "EdDSA",
  };
}

/** Signs webhook bodies with one key. */
export class WebhookSigner {
  /** The key id in every signature. */
  readonly kid: string;
  #key: CryptoKey;

  private constructor(kid: string, key: CryptoKey) {
    this.kid = kid;
    this.#key = key;
  }

  /** Imports a stored key for signing. */
  static async fromRecord(record: SigningKeyRecord): Promise<WebhookSigner> {
    const jwk = JSON.parse(record.privateJwk) as JsonWebKey;
    const key = await crypto.subtle.importKey(
      "jwk",
      jwk,
      { name: "Ed25519" },
      false,
      [
        "sign",
      ],
    );
    return new WebhookSigner(record.kid, key);
  }

  /** `Webhook-Signature` for `body`: `t=<unix s>,kid=<kid>,ed25519=<b64url sig over "t.body">`. */
  async sign(body: string, nowMs: number): Promise<string> {
    const t = Math.floor(nowMs / 1000);
    const signature = await crypto.subtle.sign(
      "Ed25519",
      this.#key,
      encoder.encode(`${t}.${body}`),
    );
    return `t=${t},kid=${this.kid},ed25519=${
      base64url(new Uint8Array(signature))
    }`;
  }
}

/** What a callback or claim token asserts. */
export interface TokenClaims {
  /** Subscription id. */
  sub: string;
  /** Generation the token was issued for. */
  gen: number;
  /** Wake id the token was issued for. */
  wid: string;
  /** Expiry, unix seconds. */
  exp: number;
}

const TOKEN_HEADER = base64url(encoder.encode(`{"alg":"HS256","typ":"JWT"}`));

/** Mints and checks HMAC-signed tokens under one secret. */
export class TokenSigner {
  #secret: Uint8Array;

  /** Uses `secret` (at least 32 bytes). */
  constructor(secret: Uint8Array) {
    if (secret.length < 32) throw new RangeError("token secret is too short");
    this.#secret = secret;
  }

  #mac(input: string): string {
    return createHmac("sha256", this.#secret).update(input).digest("base64url");
  }

  /** A token for `claims`. */
  mint(claims: TokenClaims): string {
    const payload = base64url(encoder.encode(JSON.stringify(claims)));
    const signed = `${TOKEN_HEADER}.${payload}`;
    return `${signed}.${this.#mac(signed)}`;
  }

  /** The claims of a well-formed, authentic, unexpired token. */
  verify(
    token: string,
    nowMs: number,
  ): { ok: true; claims: TokenClaims } | { ok: false; expired: boolean } {
    const parts = token.split(".");
    if (parts.length !== 3 || parts[0] !== TOKEN_HEADER) {
      return { ok: false, expired: false };
    }
    const expected = encoder.encode(this.#mac(`${parts[0]}.${parts[1]}`));
    const given = encoder.encode(parts[2]);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { ok: false, expired: false };
    }
    const bytes = fromBase64url(parts[1]);
    let claims: TokenClaims;
    try {
      claims = JSON.parse(new TextDecoder().decode(bytes)) as TokenClaims;
    } catch {
      return { ok: false, expired: false };
    }
    if (
      typeof claims.sub !== "string" || typeof claims.gen !== "number" ||
      typeof claims.wid !== "string" || typeof claims.exp !== "number"
    ) return { ok: false, expired: false };
    if (claims.exp * 1000 < nowMs) return { ok: false, expired: true };
    return { ok: true, claims };
  }
}
