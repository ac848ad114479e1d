/**
 * @module
 * Key lexicons: the sorted distinct routing keys of the segments one run
 * covers, kept beside the run as `…/index/rk/L<level>-<first>-<last>.lex`,
 * so `_routing_keys` can list the keys of indexed segments without opening
 * them. Built from segment keys with the L0 run and merged with the runs
 * of a compaction; its life follows its run's. File: magic `SBLX`,
 * version, key count, body length, then front-coded keys (shared prefix
 * length, suffix length, suffix bytes; LEB128 lengths), then a CRC32C of
 * everything before it (docs/index-format.md).
 */

import { assert } from "../assert.ts";
import { crc32c } from "../_wasm/checksum.ts";
import { StreamError } from "../errors.ts";
import type { SegmentKeys } from "./fingerprint.ts";
import { readVarint } from "./run.ts";

const MAGIC = [0x53, 0x42, 0x4c, 0x58]; // "SBLX"
/** Current lexicon format version. */
export const LEXICON_VERSION = 1;
/** Bytes of the fixed header. */
export const LEXICON_HEADER_BYTES = 16;
const TRAILER_BYTES = 4;

/** A run's object key turned into its lexicon's. */
export function lexiconObjectKey(runObjectKey: string): string {
  assert(runObjectKey.endsWith(".run"), "run object keys end in .run");
  return runObjectKey.slice(0, -4) + ".lex";
}

/** Compares byte strings: negative, zero or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/** Sorted distinct keys, as one buffer and an offsets column. */
export class Lexicon {
  /** Every key's bytes, ascending, back to back. */
  readonly data: Uint8Array;
  /** `size + 1` offsets into `data`. */
  readonly offsets: Uint32Array;

  /** Wraps sorted distinct keys (not checked here; `decodeLexicon` does). */
  constructor(data: Uint8Array, offsets: Uint32Array) {
    this.data = data;
    this.offsets = offsets;
  }

  /** Number of keys. */
  get size(): number {
    return this.offsets.length - 1;
  }

  /** Key `i` (a view, not a copy). */
  at(i: number): Uint8Array {
    return this.data.subarray(this.offsets[i], this.offsets[i + 1]);
  }

  /** Bytes held (what the run cache charges). */
  get memoryBytes(): number {
    return this.data.byteLength + this.offsets.byteLength + 64;
  }

  /** Index of the first key greater than `after` (0 without `after`). */
  firstAfter(after: Uint8Array | undefined): number {
    if (after === undefined) return 0;
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(this.at(mid), after) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** At most `limit` keys greater than `after`, ascending (copies). */
  keysAfter(after: Uint8Array | undefined, limit: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (
      let i = this.firstAfter(after);
      i < this.size && out.length < limit;
      i++
    ) {
      out.push(this.at(i).slice());
    }
    return out;
  }
}

/** A key as a string of one char per byte: such strings sort by bytes. */
function byteString(data: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i += 4096) {
    s += String.fromCharCode.apply(
      null,
      data.subarray(i, Math.min(end, i + 4096)) as unknown as number[],
    );
  }
  return s;
}

/** True when every byte of `data` is ASCII (one char per byte either way). */
function isAscii(data: Uint8Array): boolean {
  for (let i = 0; i < data.length; i++) if (data[i] >= 0x80) return false;
  return true;
}

const latin1 = new TextDecoder("latin1");
const ascii = new TextEncoder();

/**
 * Each key of `data`/`offsets` as a byte string, added to `out`. ASCII
 * data (the common case) is decoded once and sliced, which is several
 * times faster than building each string from its bytes.
 */
function addByteStrings(
  data: Uint8Array,
  offsets: Uint32Array,
  out: Set<string>,
): void {
  const n = offsets.length - 1;
  if (isAscii(data)) {
    const all = latin1.decode(data);
    for (let i = 0; i < n; i++) out.add(all.slice(offsets[i], offsets[i + 1]));
    return;
  }
  for (let i = 0; i < n; i++) {
    out.add(byteString(data, offsets[i], offsets[i + 1]));
  }
}

function fromByteStrings(sorted: readonly string[]): Lexicon {
  const offsets = new Uint32Array(sorted.length + 1);
  let wide = false;
  for (let i = 0; i < sorted.length; i++) {
    offsets[i + 1] = offsets[i] + sorted[i].length;
  }
  const joined = sorted.join("");
  for (let i = 0; i < joined.length && !wide; i++) {
    if (joined.charCodeAt(i) >= 0x80) wide = true;
  }
  if (!wide) return new Lexicon(ascii.encode(joined), offsets);
  const data = new Uint8Array(offsets[sorted.length]);
  for (let i = 0; i < joined.length; i++) data[i] = joined.charCodeAt(i);
  return new Lexicon(data, offsets);
}

/** The lexicon of every key in `keys` (any order, duplicates allowed). */
export function buildLexicon(keys: readonly SegmentKeys[]): Lexicon {
  const distinct = new Set<string>();
  for (const k of keys) addByteStrings(k.data, k.offsets, distinct);
  return fromByteStrings([...distinct].sort());
}

/** The union of `lexicons`, sorted and distinct. */
export function mergeLexicons(lexicons: readonly Lexicon[]): Lexicon {
  const distinct = new Set<string>();
  for (const l of lexicons) addByteStrings(l.data, l.offsets, distinct);
  return fromByteStrings([...distinct].sort());
}

class Sink {
  bytes: Uint8Array;
  length = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(Math.max(64, size));
  }

  room(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(
      Math.max(2 * this.bytes.length, this.length + n),
    );
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  varint(value: number): void {
    this.room(10);
    while (value >= 0x80) {
      this.bytes[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.bytes[this.length++] = value;
  }

  put(b: Uint8Array): void {
    this.room(b.length);
    this.bytes.set(b, this.length);
    this.length += b.length;
  }
}

/** Encodes `lexicon` as a lexicon file. */
export function encodeLexicon(lexicon: Lexicon): Uint8Array {
  const sink = new Sink(LEXICON_HEADER_BYTES + lexicon.data.length + 16);
  sink.length = LEXICON_HEADER_BYTES;
  let previous: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < lexicon.size; i++) {
    const key = lexicon.at(i);
    let shared = 0;
    const n = Math.min(previous.length, key.length);
    while (shared < n && previous[shared] === key[shared]) shared++;
    sink.varint(shared);
    sink.varint(key.length - shared);
    sink.put(key.subarray(shared));
    previous = key;
  }
  const bodyLength = sink.length - LEXICON_HEADER_BYTES;
  sink.room(TRAILER_BYTES);
  const out = sink.bytes.subarray(0, sink.length + TRAILER_BYTES);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out.set(MAGIC, 0);
  out[4] = LEXICON_VERSION;
  out[5] = out[6] = out[7] = 0;
  view.setUint32(8, lexicon.size, true);
  view.setUint32(12, bodyLength, true);
  view.setUint32(
    out.length - TRAILER_BYTES,
    crc32c(out.subarray(0, out.length - TRAILER_BYTES)),
    true,
  );
  return out.slice();
}

function corrupt(why: string): never {
  throw new StreamError("corrupt", `Bad routing-key lexicon: ${why}`);
}

/**
 * The checked lexicon in `bytes`: magic, version, lengths, CRC32C, and
 * keys strictly ascending; anything else is `corrupt`.
 */
export function decodeLexicon(bytes: Uint8Array): Lexicon {
  if (bytes.length < LEXICON_HEADER_BYTES + TRAILER_BYTES) corrupt("too short");
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) corrupt("bad magic");
  if (bytes[4] !== LEXICON_VERSION) corrupt(`version ${bytes[4]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(8, true);
  const bodyLength = view.getUint32(12, true);
  const end = LEXICON_HEADER_BYTES + bodyLength;
  if (end + TRAILER_BYTES !== bytes.length) corrupt("length mismatch");
  const crc = view.getUint32(end, true);
  if (crc32c(bytes.subarray(0, end)) !== crc) corrupt("checksum mismatch");
  // Each key takes at least two bytes of body; a count past that is bad.
  if (count > bodyLength / 2) corrupt("key count past the body");
  const offsets = new Uint32Array(count + 1);
  let data = new Uint8Array(Math.max(16, bodyLength * 2));
  let at = LEXICON_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    let shared: number;
    let suffix: number;
    [shared, at] = readVarint(bytes, at);
    if (shared < 0) corrupt("bad length");
    [suffix, at] = readVarint(bytes, at);
    if (suffix < 0 || at + suffix > end) corrupt("bad length");
    const prevStart = i === 0 ? 0 : offsets[i - 1];
    const prevLength = offsets[i] - prevStart;
    if (shared > prevLength) corrupt("shared prefix past the previous key");
    const length = shared + suffix;
    const start = offsets[i];
    if (start + length > data.length) {
      const grown = new Uint8Array(Math.max(2 * data.length, start + length));
      grown.set(data.subarray(0, start));
      data = grown;
    }
    data.copyWithin(start, prevStart, prevStart + shared);
    data.set(bytes.subarray(at, at + suffix), start + shared);
    at += suffix;
    offsets[i + 1] = start + length;
    if (
      i > 0 &&
      compareBytes(
          data.subarray(prevStart, start),
          data.subarray(start, start + length),
        ) >= 0
    ) {
      corrupt("keys out of order");
    }
  }
  if (at !== end) corrupt("trailing bytes in the body");
  return new Lexicon(data.slice(0, offsets[count]), offsets);
}
