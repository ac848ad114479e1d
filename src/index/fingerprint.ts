/**
 * @module
 * Keyed fingerprints of routing keys: XXH64 of the key's UTF-8 bytes seeded
 * with the stream's secret 64-bit seed, so no one outside can craft keys
 * that collide in the index, with the low 4 bits cleared (60 significant
 * bits): run builds put a segment or run number there while sorting. Keys travel as one byte buffer plus an
 * offsets column (`SegmentKeys`), which crosses the WASM and Worker
 * boundaries in one copy each, and are hashed in one kernel call per batch.
 */

import { assert } from "../assert.ts";
import { KEYS_MAX, xxhash64BatchSeeded } from "../_wasm/hash.ts";

/**
 * The routing keys of one segment's records, concatenated: key `i` is
 * `data[offsets[i] .. offsets[i + 1])`. Records without a key are left
 * out; duplicates are allowed (the run builder deduplicates).
 */
export interface SegmentKeys {
  /** Every key's bytes, back to back. */
  data: Uint8Array;
  /** `keyCount + 1` nondecreasing offsets into `data`, starting at 0. */
  offsets: Uint32Array;
}

const encoder = new TextEncoder();

/** Packs `keys` (bytes or strings, encoded as UTF-8) as `SegmentKeys`. */
export function segmentKeys(
  keys: readonly (Uint8Array | string)[],
): SegmentKeys {
  const bytes = keys.map((k) => typeof k === "string" ? encoder.encode(k) : k);
  const offsets = new Uint32Array(bytes.length + 1);
  for (let i = 0; i < bytes.length; i++) {
    offsets[i + 1] = offsets[i] + bytes[i].length;
  }
  const data = new Uint8Array(offsets[bytes.length]);
  for (let i = 0; i < bytes.length; i++) data.set(bytes[i], offsets[i]);
  return { data, offsets };
}

/**
 * Collects one segment's keys record by record (say, from a segment
 * reader's blocks) into `SegmentKeys` without a copy per key.
 */
export class SegmentKeysBuilder {
  #data = new Uint8Array(4096);
  #offsets = new Uint32Array(257);
  #count = 0;

  /** Adds a record's key; `null` (no key) is skipped. */
  add(key: Uint8Array | null): void {
    if (key === null) return;
    const at = this.#offsets[this.#count];
    assert(at + key.length < 2 ** 32, "one segment's keys fit u32 offsets");
    if (at + key.length > this.#data.length) {
      const grown = new Uint8Array(
        Math.max(2 * this.#data.length, at + key.length),
      );
      grown.set(this.#data.subarray(0, at));
      this.#data = grown;
    }
    if (this.#count + 2 > this.#offsets.length) {
      const grown = new Uint32Array(2 * this.#offsets.length);
      grown.set(this.#offsets);
      this.#offsets = grown;
    }
    this.#data.set(key, at);
    this.#offsets[++this.#count] = at + key.length;
  }

  /** Keys added so far. */
  get count(): number {
    return this.#count;
  }

  /** The collected keys (copies, sized to fit). */
  finish(): SegmentKeys {
    const n = this.#count;
    return {
      data: this.#data.slice(0, this.#offsets[n]),
      offsets: this.#offsets.slice(0, n + 1),
    };
  }
}

/** Number of keys in `keys`. */
export function keyCount(keys: SegmentKeys): number {
  return keys.offsets.length - 1;
}

/** Low bits of a fingerprint that are always zero (free for a tag). */
export const FINGERPRINT_TAG_BITS = 4;

/**
 * Fingerprints of every key of `keys` under `seed`, in one kernel call per
 * `KEYS_MAX` keys. Throws an assertion error on malformed offsets.
 */
export function fingerprintKeys(
  keys: SegmentKeys,
  seed: bigint,
): BigUint64Array {
  const n = keyCount(keys);
  assert(n >= 0 && keys.offsets[0] === 0, "offsets must start at 0");
  let out: BigUint64Array;
  if (n <= KEYS_MAX) {
    out = xxhash64BatchSeeded(keys.data, keys.offsets, seed);
  } else {
    out = new BigUint64Array(n);
    for (let at = 0; at < n; at += KEYS_MAX) {
      const end = Math.min(n, at + KEYS_MAX);
      const offsets = keys.offsets.slice(at, end + 1);
      out.set(xxhash64BatchSeeded(keys.data, offsets, seed), at);
    }
  }
  // Little-endian words: the low word of fingerprint i is words[2 * i].
  const words = new Uint32Array(out.buffer, out.byteOffset, 2 * n);
  const keep = ~((1 << FINGERPRINT_TAG_BITS) - 1);
  for (let i = 0; i < words.length; i += 2) words[i] &= keep;
  return out;
}

/** The fingerprint of one key (bytes, or a string encoded as UTF-8). */
export function fingerprintOf(key: Uint8Array | string, seed: bigint): bigint {
  return fingerprintKeys(segmentKeys([key]), seed)[0];
}

/** A fresh random 64-bit seed, drawn once per stream. */
export function newRoutingSeed(): bigint {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return (BigInt(words[1]) << 32n) | BigInt(words[0]);
}

/** The seed as 16 lowercase hex digits (its manifest and catalog form). */
export function seedToHex(seed: bigint): string {
  assert(
    seed >= 0n && seed < 1n << 64n,
    "seed must be an unsigned 64-bit value",
  );
  return seed.toString(16).padStart(16, "0");
}

/** Parses `seedToHex` output; undefined unless exactly 16 hex digits. */
export function seedFromHex(text: unknown): bigint | undefined {
  if (typeof text !== "string" || !/^[0-9a-f]{16}$/.test(text)) {
    return undefined;
  }
  return BigInt("0x" + text);
}
