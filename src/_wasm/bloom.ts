/**
 * @module
 * Split-block bloom filter backed by the `bloom` WASM kernel. The filter is
 * an array of 512-bit blocks; a key's 64-bit hash picks one block (high 32
 * bits) and k bits inside it (low 32 bits times k salts), so a lookup
 * touches one cache line. k = round(bitsPerKey * ln 2), clamped to 1..16.
 */

import { assert } from "../assert.ts";
import { WasmKernel } from "./_kernel.ts";
import { corrupt, openFramed, sealChecksum, TRAILER_BYTES } from "./_format.ts";
import { wasmBase64 } from "./bloom.generated.ts";

interface BloomExports {
  bloom_add(
    blocks: number,
    nblocks: number,
    k: number,
    hashes: number,
    n: number,
  ): number;
  bloom_query(
    blocks: number,
    nblocks: number,
    k: number,
    hashes: number,
    n: number,
    out: number,
  ): number;
}

let kernel: WasmKernel<BloomExports> | undefined;

function bloomKernel(): WasmKernel<BloomExports> {
  return kernel ??= new WasmKernel<BloomExports>(wasmBase64);
}

/** Bytes of the kernel's linear memory (for the memory-bound tests). */
export function bloomMemoryBytes(): number {
  return bloomKernel().memoryBytes;
}

/** Bytes per block (512 bits). */
export const BLOCK_BYTES = 64;
/** Default bits of filter per key. */
export const BITS_PER_KEY_DEFAULT = 10;
/** Most keys one build or query call accepts. */
export const KEYS_MAX: number = 2 ** 26;
/** Bytes of the serialized header (the CRC32C trailer follows the body). */
export const BLOOM_HEADER_BYTES = 16;
const MAGIC = new Uint8Array([0x53, 0x42, 0x42, 0x4c]); // "SBBL"
const VERSION = 1;
/** Salts for the in-block bit positions (shared with the reference). */
export const SALT: readonly number[] = [
  0x47b6137b,
  0x44974d91,
  0x8824ad5b,
  0xa2b7289d,
  0x705495c7,
  0x2df1424b,
  0x9efc4947,
  0x5c6bfb31,
  0x6e7d9d4f,
  0xd1b54a33,
  0x9e3779b9,
  0x85ebca6b,
  0xc2b2ae35,
  0x27d4eb2f,
  0x165667b1,
  0xfd7046c5,
];

/** The plain contents of a bloom filter, as serialized. */
export interface BloomData {
  /** Bits of filter per key asked for at build time (1..64). */
  bitsPerKey: number;
  /** Bits set per key (1..16). */
  k: number;
  /** Number of 512-bit blocks (>= 1). */
  blockCount: number;
  /** Hashes added at build time (duplicates included). */
  keyCount: number;
  /** `blockCount * 64` bytes: little-endian u64 words, 8 per block. */
  blocks: Uint8Array;
}

/** Bits set per key for `bitsPerKey`: round(bitsPerKey * ln 2) in 1..16. */
export function bloomK(bitsPerKey: number): number {
  return Math.min(16, Math.max(1, Math.round(bitsPerKey * Math.LN2)));
}

/** Blocks for `n` keys at `bitsPerKey`: ceil(n * bitsPerKey / 512), >= 1. */
export function bloomBlockCount(n: number, bitsPerKey: number): number {
  return Math.max(1, Math.ceil((n * bitsPerKey) / 512));
}

/** An immutable split-block bloom filter over 64-bit key hashes. */
export class BloomFilter {
  readonly #data: BloomData;

  private constructor(data: BloomData) {
    this.#data = data;
  }

  /** Builds a filter holding every hash in `hashes`. */
  static build(
    hashes: BigUint64Array,
    bitsPerKey: number = BITS_PER_KEY_DEFAULT,
  ): BloomFilter {
    assert(
      Number.isInteger(bitsPerKey) && bitsPerKey >= 1 && bitsPerKey <= 64,
      "bitsPerKey must be an integer in 1..64",
    );
    const n = hashes.length;
    assert(n <= KEYS_MAX, `bloom build of ${n} keys exceeds ${KEYS_MAX}`);
    const k = bloomK(bitsPerKey);
    const blockCount = bloomBlockCount(n, bitsPerKey);
    const bytes = blockCount * BLOCK_BYTES;
    const wasm = bloomKernel();
    const layout = wasm.begin();
    const blocksPtr = layout.take(bytes);
    const hashPtr = layout.take(n * 8);
    wasm.commit(layout);
    wasm.u8(blocksPtr, bytes).fill(0);
    wasm.u64(hashPtr, n).set(hashes);
    const rc = wasm.fn.bloom_add(blocksPtr, blockCount, k, hashPtr, n);
    assert(rc === 0, "bloom_add rejected checked parameters");
    const blocks = wasm.u8(blocksPtr, bytes).slice();
    return new BloomFilter({ bitsPerKey, k, blockCount, keyCount: n, blocks });
  }

  /** Wraps already-valid data (for example from the reference build). */
  static fromData(data: BloomData): BloomFilter {
    assert(
      data.blocks.length === data.blockCount * BLOCK_BYTES,
      "blocks length must match blockCount",
    );
    return new BloomFilter(data);
  }

  /** Decodes `serializeBloom` output; throws `corrupt` on any bad byte. */
  static deserialize(bytes: Uint8Array): BloomFilter {
    return new BloomFilter(deserializeBloom(bytes));
  }

  /** The filter's parameters and block bytes (do not mutate). */
  get data(): Readonly<BloomData> {
    return this.#data;
  }

  /** 1 where `hashes[i]` may be in the set, 0 where it certainly is not. */
  hasMany(hashes: BigUint64Array): Uint8Array {
    const n = hashes.length;
    assert(n <= KEYS_MAX, `bloom query of ${n} keys exceeds ${KEYS_MAX}`);
    const d = this.#data;
    const wasm = bloomKernel();
    const [blocksPtr, layout] = wasm.beginWith(this, d.blocks);
    const hashPtr = layout.take(n * 8);
    const outPtr = layout.take(n);
    wasm.commit(layout);
    wasm.u64(hashPtr, n).set(hashes);
    const rc = wasm.fn.bloom_query(
      blocksPtr,
      d.blockCount,
      d.k,
      hashPtr,
      n,
      outPtr,
    );
    assert(rc === 0, "bloom_query rejected checked parameters");
    return wasm.u8(outPtr, n).slice();
  }

  /** Whether `hash` may be in the set (one lookup, in TypeScript). */
  has(hash: bigint): boolean {
    const d = this.#data;
    const hi = Number((hash >> 32n) & 0xffffffffn);
    const lo = Number(hash & 0xffffffffn);
    // (hi * blockCount) >> 32 without losing bits past 2^53.
    const block = Math.floor(
      ((hi >>> 16) * d.blockCount +
        Math.floor(((hi & 0xffff) * d.blockCount) / 65536)) / 65536,
    );
    const base = block * BLOCK_BYTES;
    for (let j = 0; j < d.k; j++) {
      const pos = Math.imul(lo, SALT[j]) >>> 23;
      const byte = d.blocks[base + (pos >>> 3)];
      if (((byte >>> (pos & 7)) & 1) === 0) return false;
    }
    return true;
  }

  /** The versioned, checksummed byte form (see docs/wasm.md). */
  serialize(): Uint8Array {
    return serializeBloom(this.#data);
  }
}

/** Encodes `data` as header + blocks + CRC32C trailer. */
export function serializeBloom(data: BloomData): Uint8Array {
  const out = new Uint8Array(
    BLOOM_HEADER_BYTES + data.blocks.length + TRAILER_BYTES,
  );
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  out[5] = data.k;
  out[6] = data.bitsPerKey;
  out[7] = 0;
  view.setUint32(8, data.blockCount, true);
  view.setUint32(12, data.keyCount, true);
  out.set(data.blocks, BLOOM_HEADER_BYTES);
  sealChecksum(out);
  return out;
}

/** Decodes and validates a serialized bloom filter. */
export function deserializeBloom(bytes: Uint8Array): BloomData {
  const what = "bloom filter";
  const view = openFramed(what, bytes, MAGIC, VERSION, BLOOM_HEADER_BYTES);
  const k = bytes[5];
  const bitsPerKey = bytes[6];
  const blockCount = view.getUint32(8, true);
  const keyCount = view.getUint32(12, true);
  if (k < 1 || k > 16) corrupt(what, `k ${k} not in 1..16`);
  if (bitsPerKey < 1 || bitsPerKey > 64) {
    corrupt(what, `bitsPerKey ${bitsPerKey} not in 1..64`);
  }
  if (bytes[7] !== 0) corrupt(what, "reserved byte is not zero");
  if (blockCount < 1) corrupt(what, "no blocks");
  const expected = BLOOM_HEADER_BYTES + blockCount * BLOCK_BYTES +
    TRAILER_BYTES;
  if (bytes.length !== expected) {
    corrupt(what, `length ${bytes.length} != ${expected}`, {
      length: bytes.length,
      expected,
    });
  }
  const blocks = bytes.slice(
    BLOOM_HEADER_BYTES,
    BLOOM_HEADER_BYTES + blockCount * BLOCK_BYTES,
  );
  return { bitsPerKey, k, blockCount, keyCount, blocks };
}
