/**
 * @module
 * Plain-TypeScript reference for the `hash` kernel: XXH64 (any seed) written
 * with BigInt straight from the xxHash spec, and bitwise-table CRC32C. Slow
 * and obvious on purpose; differential tests compare the kernel against it.
 */

const M64 = (1n << 64n) - 1n;
const P1 = 11400714785074694791n;
const P2 = 14029467366897019727n;
const P3 = 1609587929392839161n;
const P4 = 9650029242287828579n;
const P5 = 2870177450012600261n;

function rotl(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (64n - r))) & M64;
}

function read64(b: Uint8Array, at: number): bigint {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i]);
  return v;
}

function read32(b: Uint8Array, at: number): bigint {
  return BigInt(
    (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0,
  );
}

function round(acc: bigint, input: bigint): bigint {
  acc = (acc + input * P2) & M64;
  return (rotl(acc, 31n) * P1) & M64;
}

function merge(acc: bigint, val: bigint): bigint {
  acc ^= round(0n, val);
  return (acc * P1 + P4) & M64;
}

/** XXH64 of `bytes` with `seed` (0 unless given). */
export function xxhash64Ref(bytes: Uint8Array, seed = 0n): bigint {
  const len = bytes.length;
  let p = 0;
  let h: bigint;
  if (len >= 32) {
    let v1 = (seed + P1 + P2) & M64, v2 = (seed + P2) & M64, v3 = seed;
    let v4 = (seed - P1) & M64;
    for (; p + 32 <= len; p += 32) {
      v1 = round(v1, read64(bytes, p));
      v2 = round(v2, read64(bytes, p + 8));
      v3 = round(v3, read64(bytes, p + 16));
      v4 = round(v4, read64(bytes, p + 24));
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M64;
    for (const v of [v1, v2, v3, v4]) h = merge(h, v);
  } else {
    h = (seed + P5) & M64;
  }
  h = (h + BigInt(len)) & M64;
  for (; p + 8 <= len; p += 8) {
    h ^= round(0n, read64(bytes, p));
    h = (rotl(h, 27n) * P1 + P4) & M64;
  }
  if (p + 4 <= len) {
    h ^= (read32(bytes, p) * P1) & M64;
    h = (rotl(h, 23n) * P2 + P3) & M64;
    p += 4;
  }
  for (; p < len; p++) {
    h ^= (BigInt(bytes[p]) * P5) & M64;
    h = (rotl(h, 11n) * P1) & M64;
  }
  h ^= h >> 33n;
  h = (h * P2) & M64;
  h ^= h >> 29n;
  h = (h * P3) & M64;
  h ^= h >> 32n;
  return h;
}

/** XXH64 with `seed` of each key `data[offsets[i] .. offsets[i + 1])`. */
export function xxhash64BatchRef(
  data: Uint8Array,
  offsets: Uint32Array,
  seed = 0n,
): BigUint64Array {
  const out = new BigUint64Array(offsets.length - 1);
  for (let i = 0; i < out.length; i++) {
    out[i] = xxhash64Ref(data.subarray(offsets[i], offsets[i + 1]), seed);
  }
  return out;
}

const CRC_TABLE = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let j = 0; j < 8; j++) c = (c & 1) ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  CRC_TABLE[i] = c >>> 0;
}

/** CRC32C (Castagnoli, reflected 0x82F63B78) of `bytes`, from `crc`. */
export function crc32cRef(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    c = (c >>> 8) ^ CRC_TABLE[(c ^ bytes[i]) & 0xff];
  }
  return ~c >>> 0;
}
