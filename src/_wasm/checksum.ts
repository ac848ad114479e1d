/**
 * @module
 * Checksums of whole buffers: CRC32C (segment blocks, serialized filters)
 * and XXH64 (seed 0). Large inputs go to hash-wasm; inputs below
 * `SMALL_INPUT_BYTES` go to our own `hash` kernel, which skips hash-wasm's
 * init/update/digest round trip (see bench/WASM_RESULTS.md for the figures).
 */

import { createCRC32, createXXHash64, type IHasher } from "hash-wasm";
import { crc32cKernel, xxhash64Kernel } from "./hash.ts";

/** Inputs shorter than this are hashed by our kernel, not hash-wasm. */
export const SMALL_INPUT_BYTES = 4096;

const CASTAGNOLI = 0x82f63b78;

// hash-wasm instantiates asynchronously; top-level await keeps the
// per-call functions synchronous (and works under `deno compile`).
const crcHasher: IHasher = await createCRC32(CASTAGNOLI);
const xxHasher: IHasher = await createXXHash64(0, 0);

/** CRC32C (Castagnoli, reflected polynomial 0x82F63B78) of `bytes`. */
export function crc32c(bytes: Uint8Array): number {
  if (bytes.length < SMALL_INPUT_BYTES) return crc32cKernel(bytes);
  return crc32cHashWasm(bytes);
}

/** XXH64 with seed 0 of `bytes`, as an unsigned 64-bit bigint. */
export function xxhash64(bytes: Uint8Array): bigint {
  if (bytes.length < SMALL_INPUT_BYTES) return xxhash64Kernel(bytes);
  return xxhash64HashWasm(bytes);
}

/** CRC32C via hash-wasm regardless of size (benchmarks and tests). */
export function crc32cHashWasm(bytes: Uint8Array): number {
  crcHasher.init();
  crcHasher.update(bytes);
  const d = crcHasher.digest("binary");
  return ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
}

/** XXH64 via hash-wasm regardless of size (benchmarks and tests). */
export function xxhash64HashWasm(bytes: Uint8Array): bigint {
  xxHasher.init();
  xxHasher.update(bytes);
  const d = xxHasher.digest("binary");
  return new DataView(d.buffer, d.byteOffset, 8).getBigUint64(0, false);
}
