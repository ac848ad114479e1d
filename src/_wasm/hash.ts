/**
 * @module
 * Typed wrapper of the `hash` WASM kernel: XXH64 over a batch of short keys
 * in one call (seed 0, or a caller's seed for keyed fingerprints), and single-buffer XXH64 / CRC32C for inputs too
 * small to be worth a hash-wasm call. Callers pass bytes, never pointers.
 */

import { assert } from "../assert.ts";
import { WasmKernel } from "./_kernel.ts";
import { wasmBase64 } from "./hash.generated.ts";

interface HashExports {
  xxh64_batch(
    data: number,
    dataLen: number,
    offsets: number,
    n: number,
    out: number,
  ): number;
  xxh64_batch_seeded(
    data: number,
    dataLen: number,
    offsets: number,
    n: number,
    seed: bigint,
    out: number,
  ): number;
  xxh64_one(ptr: number, len: number): bigint;
  crc32c_update(crc: number, ptr: number, len: number): number;
}

let kernel: WasmKernel<HashExports> | undefined;

function hashKernel(): WasmKernel<HashExports> {
  return kernel ??= new WasmKernel<HashExports>(wasmBase64);
}

/** Bytes of the kernel's linear memory (for the memory-bound tests). */
export function hashMemoryBytes(): number {
  return hashKernel().memoryBytes;
}

/** Most keys one batch call accepts. */
export const KEYS_MAX: number = 2 ** 26;

/**
 * XXH64 (seed 0) of each key `data[offsets[i] .. offsets[i + 1])`; `offsets`
 * has one more entry than there are keys and must be nondecreasing and
 * within `data`.
 */
export function xxhash64Batch(
  data: Uint8Array,
  offsets: Uint32Array,
): BigUint64Array {
  return xxhash64BatchSeeded(data, offsets, 0n);
}

/**
 * XXH64 seeded by `seed` (an unsigned 64-bit value) of each key
 * `data[offsets[i] .. offsets[i + 1])`, in one kernel call; `offsets` as
 * for `xxhash64Batch`.
 */
export function xxhash64BatchSeeded(
  data: Uint8Array,
  offsets: Uint32Array,
  seed: bigint,
): BigUint64Array {
  assert(
    seed >= 0n && seed < 1n << 64n,
    "seed must be an unsigned 64-bit value",
  );
  assert(offsets.length >= 1, "offsets needs n + 1 entries");
  const n = offsets.length - 1;
  assert(n <= KEYS_MAX, `batch of ${n} keys exceeds ${KEYS_MAX}`);
  const k = hashKernel();
  const layout = k.begin();
  const dataPtr = layout.take(data.length);
  const offPtr = layout.take(offsets.length * 4);
  const outPtr = layout.take(n * 8);
  k.commit(layout);
  k.u8(dataPtr, data.length).set(data);
  k.u32(offPtr, offsets.length).set(offsets);
  const rc = k.fn.xxh64_batch_seeded(
    dataPtr,
    data.length,
    offPtr,
    n,
    BigInt.asIntN(64, seed),
    outPtr,
  );
  assert(rc === 0, "offsets must be nondecreasing and within data");
  return k.u64(outPtr, n).slice();
}

/** XXH64 (seed 0) of each key in `keys`, in one kernel call. */
export function xxhash64Keys(keys: readonly Uint8Array[]): BigUint64Array {
  const n = keys.length;
  assert(n <= KEYS_MAX, `batch of ${n} keys exceeds ${KEYS_MAX}`);
  let total = 0;
  for (const key of keys) total += key.length;
  const k = hashKernel();
  const layout = k.begin();
  const dataPtr = layout.take(total);
  const offPtr = layout.take((n + 1) * 4);
  const outPtr = layout.take(n * 8);
  k.commit(layout);
  const data = k.u8(dataPtr, total);
  const offsets = k.u32(offPtr, n + 1);
  let at = 0;
  for (let i = 0; i < n; i++) {
    offsets[i] = at;
    data.set(keys[i], at);
    at += keys[i].length;
  }
  offsets[n] = at;
  const rc = k.fn.xxh64_batch(dataPtr, total, offPtr, n, outPtr);
  assert(rc === 0, "xxh64_batch rejected offsets we built");
  return k.u64(outPtr, n).slice();
}

/** XXH64 (seed 0) of one buffer, computed by our kernel. */
export function xxhash64Kernel(bytes: Uint8Array): bigint {
  const k = hashKernel();
  const layout = k.begin();
  const ptr = layout.take(bytes.length);
  k.commit(layout);
  k.u8(ptr, bytes.length).set(bytes);
  return BigInt.asUintN(64, k.fn.xxh64_one(ptr, bytes.length));
}

/**
 * CRC32C (Castagnoli) of `bytes`, continuing from `crc` (0 to start), so
 * `crc32cKernel(b, crc32cKernel(a))` is the CRC32C of `a` followed by `b`.
 */
export function crc32cKernel(bytes: Uint8Array, crc = 0): number {
  const k = hashKernel();
  const layout = k.begin();
  const ptr = layout.take(bytes.length);
  k.commit(layout);
  k.u8(ptr, bytes.length).set(bytes);
  return k.fn.crc32c_update(crc, ptr, bytes.length) >>> 0;
}
