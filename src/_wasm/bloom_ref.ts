/**
 * @module
 * Plain-TypeScript reference for the bloom kernel, written with BigInt from
 * the description in bloom.ts. Differential tests require byte-identical
 * blocks and identical answers from the kernel.
 */

import {
  BLOCK_BYTES,
  bloomBlockCount,
  type BloomData,
  bloomK,
  SALT,
} from "./bloom.ts";

function blockOf(hash: bigint, blockCount: number): number {
  return Number(((hash >> 32n) * BigInt(blockCount)) >> 32n);
}

function bitOf(hash: bigint, j: number): number {
  const lo = BigInt.asUintN(32, hash);
  return Number(BigInt.asUintN(32, lo * BigInt(SALT[j])) >> 23n);
}

/** Builds the filter data for `hashes` at `bitsPerKey`. */
export function bloomBuildRef(
  hashes: BigUint64Array,
  bitsPerKey = 10,
): BloomData {
  const k = bloomK(bitsPerKey);
  const blockCount = bloomBlockCount(hashes.length, bitsPerKey);
  const blocks = new Uint8Array(blockCount * BLOCK_BYTES);
  for (const h of hashes) {
    const base = blockOf(h, blockCount) * BLOCK_BYTES;
    for (let j = 0; j < k; j++) {
      const pos = bitOf(h, j);
      blocks[base + (pos >> 3)] |= 1 << (pos & 7);
    }
  }
  return { bitsPerKey, k, blockCount, keyCount: hashes.length, blocks };
}

/** Whether `hash` may be in the filter `data`. */
export function bloomHasRef(data: BloomData, hash: bigint): boolean {
  const base = blockOf(hash, data.blockCount) * BLOCK_BYTES;
  for (let j = 0; j < data.k; j++) {
    const pos = bitOf(hash, j);
    if ((data.blocks[base + (pos >> 3)] & (1 << (pos & 7))) === 0) return false;
  }
  return true;
}
