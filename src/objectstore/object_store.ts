/**
 * @module
 * The `ObjectStore` seam: flat keys to immutable-per-put byte objects, as S3
 * offers them. Segments and manifests live here (a folder by default, any
 * S3-compatible store in production). Failures are typed: `unavailable` for
 * transient trouble worth a retry, `corrupt` for bytes that cannot be right.
 * Also the rules every store shares: valid keys, key order, list paging and
 * etags, so the fs, S3 and in-memory stores answer alike.
 */

import { xxhash64 } from "../_wasm/checksum.ts";
import { StreamError } from "../errors.ts";

/** Size and entity tag of a stored object. */
export interface ObjectHead {
  /** Bytes in the object. */
  size: number;
  /** Changes whenever the object's bytes change (opaque). */
  etag: string;
}

/** One page of `list`. */
export interface ListPage {
  /** Keys in ascending UTF-8 byte order. */
  keys: string[];
  /** Pass to the next `list` call; absent on the last page. */
  next?: string;
}

/** A key-value store of byte objects; every method may throw StreamError. */
export interface ObjectStore {
  /** Stores `bytes` under `key`, replacing any object there, atomically. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** The whole object, or undefined when `key` holds none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * Bytes [offset, offset + length) of the object, cut short at its end
   * (empty from `offset >= size` on), or undefined when `key` holds none.
   */
  getRange(
    key: string,
    offset: number,
    length: number,
  ): Promise<Uint8Array | undefined>;
  /** Size and etag, or undefined when `key` holds none. */
  head(key: string): Promise<ObjectHead | undefined>;
  /** Keys starting with `prefix`, one page at a time. */
  list(prefix: string, continuation?: string): Promise<ListPage>;
  /** Removes `key`; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
}

/** Longest key, in UTF-8 bytes (S3's limit). */
export const KEY_BYTES_MAX = 1024;
/** Default and largest keys per `list` page (S3's limit). */
export const LIST_PAGE_KEYS_MAX = 1000;

const encoder = new TextEncoder();

/**
 * Throws `bad_request` unless `key` is a relative, slash-separated path of
 * non-empty segments other than `.` and `..`, without NUL or backslash, of
 * at most `KEY_BYTES_MAX` UTF-8 bytes. Every store accepts the same keys.
 */
export function checkKey(key: string): void {
  const bad = (why: string): never => {
    throw new StreamError("bad_request", `Invalid object key "${key}": ${why}`);
  };
  if (typeof key !== "string" || key.length === 0) bad("empty");
  if (encoder.encode(key).length > KEY_BYTES_MAX) bad("too long");
  if (/[\0\\]/.test(key)) bad("contains NUL or backslash");
  if (!key.isWellFormed()) bad("not valid Unicode");
  for (const part of key.split("/")) {
    if (part === "" || part === "." || part === "..") {
      bad("empty, '.' or '..' path segment");
    }
  }
}

/** Checks a list prefix: empty, or a key that may end in "/". */
export function checkPrefix(prefix: string): void {
  if (prefix === "") return;
  checkKey(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
}

/** Checks the arguments of `getRange`. */
export function checkRange(offset: number, length: number): void {
  if (
    !Number.isSafeInteger(offset) || offset < 0 ||
    !Number.isSafeInteger(length) || length < 0
  ) {
    throw new StreamError(
      "bad_request",
      `Invalid object range: offset ${offset}, length ${length}`,
    );
  }
}

/** Orders keys by their UTF-8 bytes, as S3 lists them. */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  // Code-unit order equals UTF-8 byte order except for surrogate pairs
  // against U+E000..U+FFFF; fall back to bytes only when either has one.
  if (!/[\uD800-\uDFFF]/.test(a + b)) return a < b ? -1 : 1;
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

/** Wraps a transient failure of `op` on `key` as an `unavailable` error. */
export function unavailable(
  op: string,
  key: string,
  cause: unknown,
): StreamError {
  return new StreamError(
    "unavailable",
    `Cannot ${op} object "${key}": store unavailable`,
    { key },
    { cause },
  );
}

/** Checks a configured page size and applies the default. */
export function pageKeysMax(value: number | undefined): number {
  const n = value ?? LIST_PAGE_KEYS_MAX;
  if (!Number.isInteger(n) || n < 1 || n > LIST_PAGE_KEYS_MAX) {
    throw new StreamError(
      "bad_request",
      `listPageKeysMax must be an integer in 1..${LIST_PAGE_KEYS_MAX}`,
    );
  }
  return n;
}

/** First page of sorted `keys`; the last key is the continuation token. */
export function page(keys: string[], max: number): ListPage {
  if (keys.length <= max) return { keys };
  const taken = keys.slice(0, max);
  return { keys: taken, next: taken[taken.length - 1] };
}

/** The etag of `bytes`: XXH64 in hex plus the size. */
export function etagOf(bytes: Uint8Array): string {
  return `${xxhash64(bytes).toString(16).padStart(16, "0")}-${bytes.length}`;
}
