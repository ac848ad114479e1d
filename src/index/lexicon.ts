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

/** Keys as one buffer and an offsets column (`offsets.length - 1` keys). */
interface KeyColumn {
  data: Uint8Array;
  offsets: Uint32Array;
}

/** All keys of `parts`, back to back in one column. */
function concatKeys(parts: readonly KeyColumn[]): KeyColumn {
  let bytes = 0;
  let count = 0;
  for (const p of parts) {
    bytes += p.offsets[p.offsets.length - 1] - p.offsets[0];
    count += p.offsets.length - 1;
  }
  assert(bytes < 2 ** 32, "keys of one build fit u32 offsets");
  const data = new Uint8Array(bytes);
  const offsets = new Uint32Array(count + 1);
  let at = 0;
  let n = 0;
  for (const p of parts) {
    const base = p.offsets[0];
    const end = p.offsets[p.offsets.length - 1];
    data.set(p.data.subarray(base, end), at);
    for (let i = 1; i < p.offsets.length; i++) {
      offsets[++n] = at + p.offsets[i] - base;
    }
    at += end - base;
  }
  return { data, offsets };
}

/** Ranges at most this long are insertion-sorted. */
const SMALL_RANGE = 16;
/** Key positions a range may hold (28 bits of a sort word). */
const RANGE_MAX = 1 << 28;

/**
 * Sorts `idx` (key indices into `c`) by key bytes, equal keys adjacent:
 * most-significant-digit radix sort four bytes at a time, where each
 * digit step is one native sort of 64-bit words (the four bytes, each as
 * byte + 1 with 0 past the key's end, above the key's place in the range),
 * so no comparison runs in script; a digit all keys share is skipped
 * without sorting. Ranges of equal digits recurse; small ones finish with
 * insertion sort.
 */
function sortKeys(c: KeyColumn, idx: Uint32Array): void {
  const { data, offsets } = c;
  const less = (x: number, y: number, d: number) => {
    const xa = offsets[x] + d;
    const xb = offsets[x + 1];
    const ya = offsets[y] + d;
    const yb = offsets[y + 1];
    const n = Math.min(xb - xa, yb - ya);
    for (let j = 0; j < n; j++) {
      const u = data[xa + j];
      const v = data[ya + j];
      if (u !== v) return u < v;
    }
    return xb - xa < yb - ya;
  };
  // Byte d of key i as 1..256, or 0 past its end.
  const digit = (i: number, d: number) => {
    const at = offsets[i] + d;
    return at < offsets[i + 1] ? data[at] + 1 : 0;
  };
  const sort = (lo: number, hi: number, d: number): void => {
    assert(hi - lo <= RANGE_MAX, "a sort range fits 28 bits");
    for (;;) {
      const n = hi - lo;
      if (n <= 1) return;
      if (n <= SMALL_RANGE) {
        for (let i = lo + 1; i < hi; i++) {
          const v = idx[i];
          let j = i;
          while (j > lo && less(v, idx[j - 1], d)) {
            idx[j] = idx[j - 1];
            j--;
          }
          idx[j] = v;
        }
        return;
      }
      // hi word: digits 0..2 (9 bits each) and the top 5 bits of digit 3;
      // lo word: its low 4 bits above the 28-bit place in the range.
      const words = new Uint32Array(2 * n);
      let same = true;
      for (let j = 0; j < n; j++) {
        const i = idx[lo + j];
        const g0 = digit(i, d);
        const g1 = g0 === 0 ? 0 : digit(i, d + 1);
        const g2 = g1 === 0 ? 0 : digit(i, d + 2);
        const g3 = g2 === 0 ? 0 : digit(i, d + 3);
        const hiWord = ((g0 << 23) | (g1 << 14) | (g2 << 5) | (g3 >>> 4)) >>>
          0;
        const loWord = (((g3 & 0xf) << 28) | j) >>> 0;
        words[2 * j] = loWord;
        words[2 * j + 1] = hiWord;
        if (
          same &&
          (hiWord !== words[1] || (loWord >>> 28) !== (words[0] >>> 28))
        ) same = false;
      }
      const ended = (hiWord: number, loWord: number) =>
        (loWord >>> 28) === 0 && (hiWord & 0x1f) === 0;
      if (same) {
        // One shared digit: no reordering. Keys that end inside it are all
        // equal; else go four bytes deeper.
        if (ended(words[1], words[0])) return;
        d += 4;
        continue;
      }
      const sorted = new BigUint64Array(words.buffer).sort();
      const w = new Uint32Array(sorted.buffer);
      const before = idx.slice(lo, hi);
      for (let j = 0; j < n; j++) idx[lo + j] = before[w[2 * j] & 0x0fffffff];
      let start = 0;
      for (let j = 1; j <= n; j++) {
        if (
          j < n && w[2 * j + 1] === w[2 * start + 1] &&
          (w[2 * j] >>> 28) === (w[2 * start] >>> 28)
        ) continue;
        if (j - start > 1 && !ended(w[2 * start + 1], w[2 * start])) {
          sort(lo + start, lo + j, d + 4);
        }
        start = j;
      }
      return;
    }
  };
  sort(0, idx.length, 0);
}

/** Whether keys `x` and `y` of `c` are equal. */
function sameKey(c: KeyColumn, x: number, y: number): boolean {
  const xa = c.offsets[x];
  const n = c.offsets[x + 1] - xa;
  const ya = c.offsets[y];
  if (c.offsets[y + 1] - ya !== n) return false;
  for (let j = 0; j < n; j++) {
    if (c.data[xa + j] !== c.data[ya + j]) return false;
  }
  return true;
}

/** The sorted distinct keys of `parts`. */
function lexiconOf(parts: readonly KeyColumn[]): Lexicon {
  const c = concatKeys(parts);
  const all = new Uint32Array(c.offsets.length - 1);
  for (let i = 0; i < all.length; i++) all[i] = i;
  sortKeys(c, all);
  // Equal keys are adjacent now: keep the first of each.
  let kept = 0;
  for (let i = 0; i < all.length; i++) {
    if (kept === 0 || !sameKey(c, all[kept - 1], all[i])) all[kept++] = all[i];
  }
  const idx = all.subarray(0, kept);
  const offsets = new Uint32Array(idx.length + 1);
  for (let i = 0; i < idx.length; i++) {
    offsets[i + 1] = offsets[i] + c.offsets[idx[i] + 1] - c.offsets[idx[i]];
  }
  const data = new Uint8Array(offsets[idx.length]);
  const from = c.data;
  let at = 0;
  for (let i = 0; i < idx.length; i++) {
    // Keys are short: a loop beats a subarray and a set per key.
    const end = c.offsets[idx[i] + 1];
    for (let j = c.offsets[idx[i]]; j < end; j++) data[at++] = from[j];
  }
  return new Lexicon(data, offsets);
}

/** The lexicon of every key in `keys` (any order, duplicates allowed). */
export function buildLexicon(keys: readonly SegmentKeys[]): Lexicon {
  return lexiconOf(keys);
}

/** The union of `lexicons`, sorted and distinct. */
export function mergeLexicons(lexicons: readonly Lexicon[]): Lexicon {
  return lexiconOf(lexicons);
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
