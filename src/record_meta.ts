/**
 * @module
 * Per-record routing keys and append times, as stored beside a run of
 * records: in a WAL chunk row and in a segment block. The key table is the
 * segment block layout (docs/segments.md): a u32 key length per record
 * (`0xFFFFFFFF` = no key), then the key bytes back to back, so sealing
 * copies it unchanged. Append times are milliseconds since the epoch, one
 * per record; the WAL stores them as runs (records of one request share a
 * time). Decoders treat their input as untrusted and throw `corrupt`.
 */

import { assert } from "./assert.ts";
import { StreamError } from "./errors.ts";

/** Key length meaning "this record has no routing key". */
export const NO_KEY = 0xffffffff;

/** Bytes of one time run: record count (u32) and time in ms (u64). */
const TIME_RUN_BYTES = 12;

function corrupt(message: string): never {
  throw new StreamError("corrupt", message);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The key table of `keys` (one entry per record), or null when no record
 * has a key.
 */
export function encodeKeys(
  keys: readonly (Uint8Array | null)[],
): Uint8Array | null {
  let keyBytes = 0;
  let any = false;
  for (const key of keys) {
    if (key === null) continue;
    any = true;
    keyBytes += key.length;
  }
  if (!any) return null;
  const n = keys.length;
  const out = new Uint8Array(n * 4 + keyBytes);
  const view = viewOf(out);
  let at = n * 4;
  for (let i = 0; i < n; i++) {
    const key = keys[i];
    view.setUint32(i * 4, key === null ? NO_KEY : key.length, true);
    if (key !== null) {
      out.set(key, at);
      at += key.length;
    }
  }
  assert(at === out.length, "key table filled exactly");
  return out;
}

/**
 * The keys of `count` records from a key table (views into `table`), all
 * null when `table` is null. The table must be exactly `count` entries.
 */
export function decodeKeys(
  table: Uint8Array | null,
  count: number,
): (Uint8Array | null)[] {
  const keys: (Uint8Array | null)[] = new Array(count).fill(null);
  if (table === null) return keys;
  if (table.length < count * 4) corrupt("Routing key table is truncated");
  const view = viewOf(table);
  let at = count * 4;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(i * 4, true);
    if (length === NO_KEY) continue;
    if (at + length > table.length) corrupt("Routing key table overruns");
    keys[i] = table.subarray(at, at + length);
    at += length;
  }
  if (at !== table.length) corrupt("Routing key table has trailing bytes");
  return keys;
}

/** True when `a` and `b` hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** WAL encoding of per-record times: runs of (count u32, ms u64). */
export function encodeTimes(times: Float64Array): Uint8Array {
  const runs: [number, number][] = [];
  for (const t of times) {
    assert(Number.isSafeInteger(t) && t >= 0, "append time is a safe int");
    const last = runs[runs.length - 1];
    if (last !== undefined && last[1] === t) last[0]++;
    else runs.push([1, t]);
  }
  const out = new Uint8Array(runs.length * TIME_RUN_BYTES);
  const view = viewOf(out);
  for (let i = 0; i < runs.length; i++) {
    const at = i * TIME_RUN_BYTES;
    view.setUint32(at, runs[i][0], true);
    view.setUint32(at + 4, runs[i][1] % 2 ** 32, true);
    view.setUint32(at + 8, Math.floor(runs[i][1] / 2 ** 32), true);
  }
  return out;
}

/** Decodes `encodeTimes` output, which must cover exactly `count` records. */
export function decodeTimes(bytes: Uint8Array, count: number): Float64Array {
  if (bytes.length % TIME_RUN_BYTES !== 0) corrupt("Append times truncated");
  const view = viewOf(bytes);
  const times = new Float64Array(count);
  let index = 0;
  for (let at = 0; at < bytes.length; at += TIME_RUN_BYTES) {
    const n = view.getUint32(at, true);
    const hi = view.getUint32(at + 8, true);
    if (hi >= 2 ** 21) corrupt("Append time exceeds 2^53");
    const t = hi * 2 ** 32 + view.getUint32(at + 4, true);
    if (n === 0 || index + n > count) corrupt("Append time runs overrun");
    times.fill(t, index, index + n);
    index += n;
  }
  if (index !== count) corrupt("Append time runs do not cover the records");
  return times;
}
