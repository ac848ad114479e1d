/**
 * @module
 * API keys: the keys file format (`--api-keys-file`) and its validation, and
 * the one key `API_KEY` names. A file holds only SHA-256 digests of the
 * secrets, never the secrets; each key has scopes and stream globs, and may
 * have a rate (a token bucket). Any error rejects the whole file, so a
 * reload either takes every key or keeps the keys it had.
 */

import { createHash } from "node:crypto";
import { type GlobPattern, parseGlob } from "../glob.ts";
import { ok, type Result } from "../errors.ts";
import { KEY_STREAMS_MAX, KEYS_MAX } from "../limits.ts";

/** What a key may do; `admin` implies the others. */
export type Scope = "read" | "write" | "delete" | "admin";

/** Every scope, in the order error messages list them. */
export const SCOPES: readonly Scope[] = ["read", "write", "delete", "admin"];

/** A key's rate limit: a bucket of `burst` requests refilled at `rps`. */
export interface Rate {
  /** Requests per second, sustained. */
  rps: number;
  /** Requests allowed at once (the bucket's size). */
  burst: number;
}

/** One API key as the server holds it. */
export interface ApiKey {
  /** Name for logs and 403 messages (never the secret). */
  id: string;
  /** SHA-256 of the secret, 32 bytes. */
  digest: Uint8Array;
  /** Scopes granted. */
  scopes: ReadonlySet<Scope>;
  /** Streams the scopes apply to. */
  streams: readonly GlobPattern[];
  /** Optional rate limit. */
  rate?: Rate;
}

/** The id of the key `API_KEY` gives (a keys file may not reuse it). */
export const ENV_KEY_ID = "API_KEY";

const ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;
const DIGEST_PATTERN = /^[0-9a-fA-F]{64}$/;
const KEY_FIELDS = new Set(["id", "sha256", "scopes", "streams", "rate"]);
const RPS_MAX = 1_000_000;

/** SHA-256 of `secret` (UTF-8). */
export function sha256(secret: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(secret).digest());
}

/** The key `API_KEY` names: admin on every stream, no rate limit. */
export function envKey(secret: string): ApiKey {
  const all = parseGlob("**");
  if (!all.ok) throw all.error; // a constant pattern
  return {
    id: ENV_KEY_ID,
    digest: sha256(secret),
    scopes: new Set(["admin"]),
    streams: [all.value],
  };
}

/**
 * Parses a keys file: `{"keys": [{"id", "sha256", "scopes", "streams"?,
 * "rate"?}]}`. Fails with one line naming the first problem (bad JSON, an
 * unknown field, a duplicate id or digest, a digest not 64 hex digits, an
 * unknown scope, a bad glob or rate).
 */
export function parseKeysFile(text: string): Result<ApiKey[], string> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `not JSON (${(error as Error).message})` };
  }
  if (!isObject(doc) || !Array.isArray(doc.keys)) {
    return { ok: false, error: 'expected {"keys": [...]}' };
  }
  const extra = Object.keys(doc).find((k) => k !== "keys");
  if (extra !== undefined) {
    return { ok: false, error: `unknown field "${extra}"` };
  }
  if (doc.keys.length > KEYS_MAX) {
    return { ok: false, error: `more than ${KEYS_MAX} keys` };
  }
  const keys: ApiKey[] = [];
  const ids = new Set<string>([ENV_KEY_ID]);
  const digests = new Set<string>();
  for (const [i, entry] of doc.keys.entries()) {
    const key = parseKey(entry);
    if (!key.ok) return { ok: false, error: `keys[${i}]: ${key.error}` };
    if (ids.has(key.value.id)) {
      return { ok: false, error: `keys[${i}]: id "${key.value.id}" is taken` };
    }
    const hex = toHex(key.value.digest);
    if (digests.has(hex)) {
      return { ok: false, error: `keys[${i}]: same sha256 as another key` };
    }
    ids.add(key.value.id);
    digests.add(hex);
    keys.push(key.value);
  }
  return ok(keys);
}

function parseKey(entry: unknown): Result<ApiKey, string> {
  if (!isObject(entry)) return { ok: false, error: "not an object" };
  const extra = Object.keys(entry).find((k) => !KEY_FIELDS.has(k));
  if (extra !== undefined) {
    return { ok: false, error: `unknown field "${extra}"` };
  }
  const { id, sha256: digest } = entry;
  if (typeof id !== "string" || !ID_PATTERN.test(id)) {
    return {
      ok: false,
      error: "id must be 1-128 characters of A-Z a-z 0-9 . _ : @ -",
    };
  }
  if (typeof digest !== "string" || !DIGEST_PATTERN.test(digest)) {
    return { ok: false, error: `"${id}": sha256 must be 64 hex digits` };
  }
  const scopes = parseScopes(entry.scopes);
  if (!scopes.ok) return { ok: false, error: `"${id}": ${scopes.error}` };
  const streams = parseStreams(entry.streams);
  if (!streams.ok) return { ok: false, error: `"${id}": ${streams.error}` };
  const rate = parseRate(entry.rate);
  if (!rate.ok) return { ok: false, error: `"${id}": ${rate.error}` };
  return ok({
    id,
    digest: fromHex(digest.toLowerCase()),
    scopes: scopes.value,
    streams: streams.value,
    ...(rate.value === undefined ? {} : { rate: rate.value }),
  });
}

function parseScopes(value: unknown): Result<Set<Scope>, string> {
  if (!Array.isArray(value) || value.length === 0) {
    return { ok: false, error: "scopes must be a non-empty array" };
  }
  const scopes = new Set<Scope>();
  for (const scope of value) {
    if (!SCOPES.includes(scope)) {
      return {
        ok: false,
        error: `unknown scope ${JSON.stringify(scope)} (use ${
          SCOPES.join(", ")
        })`,
      };
    }
    scopes.add(scope);
  }
  return ok(scopes);
}

function parseStreams(value: unknown): Result<GlobPattern[], string> {
  if (value === undefined) value = ["**"];
  if (
    !Array.isArray(value) || value.length === 0 ||
    value.length > KEY_STREAMS_MAX
  ) {
    return {
      ok: false,
      error: `streams must be an array of 1-${KEY_STREAMS_MAX} globs`,
    };
  }
  const globs: GlobPattern[] = [];
  for (const pattern of value) {
    if (typeof pattern !== "string") {
      return { ok: false, error: "streams must hold strings" };
    }
    const glob = parseGlob(pattern);
    if (!glob.ok) return { ok: false, error: glob.error.message };
    globs.push(glob.value);
  }
  return ok(globs);
}

function parseRate(value: unknown): Result<Rate | undefined, string> {
  if (value === undefined) return ok(undefined);
  if (!isObject(value)) {
    return { ok: false, error: 'rate must be {"rps": n, "burst": n}' };
  }
  const { rps, burst } = value;
  const extra = Object.keys(value).find((k) => k !== "rps" && k !== "burst");
  if (extra !== undefined) {
    return { ok: false, error: `rate: unknown field "${extra}"` };
  }
  if (typeof rps !== "number" || !(rps > 0) || rps > RPS_MAX) {
    return { ok: false, error: `rate.rps must be a number in (0, ${RPS_MAX}]` };
  }
  const size = burst ?? Math.max(1, Math.ceil(rps));
  if (
    typeof size !== "number" || !Number.isSafeInteger(size) || size < 1 ||
    size > RPS_MAX
  ) {
    return {
      ok: false,
      error: `rate.burst must be an integer in 1..${RPS_MAX}`,
    };
  }
  return ok({ rps, burst: size });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
}

function fromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return bytes;
}
