/**
 * @module
 * Plain-TypeScript reference for the fuse kernel: the same deduplication,
 * seed sequence, bucketing, peeling and assignment, step for step, with
 * BigInt arithmetic. Differential tests require byte-identical filters.
 */

import {
  BUILD_ATTEMPTS_MAX,
  dedupBucketBits,
  type FingerprintBits,
  type FuseData,
  fuseMix,
  fuseParams,
  fuseSlots,
  SEED_STATE_INITIAL,
} from "./fuse.ts";

const M64 = (1n << 64n) - 1n;

/** Distinct keys ordered by bucket (top bits of mix(key, 0)), then first seen. */
export function dedupRef(keys: BigUint64Array): bigint[] {
  const bits = dedupBucketBits(keys.length);
  const buckets: bigint[][] = Array.from({ length: 2 ** bits }, () => []);
  for (const key of keys) {
    const b = bits === 0 ? 0 : Number(fuseMix(key, 0n) >> BigInt(64 - bits));
    buckets[b].push(key);
  }
  const out: bigint[] = [];
  for (const bucket of buckets) {
    const seen = new Set<bigint>();
    for (const key of bucket) {
      if (!seen.has(key)) {
        seen.add(key);
        out.push(key);
      }
    }
  }
  return out;
}

function splitmix64(state: { s: bigint }): bigint {
  state.s = (state.s + 0x9e3779b97f4a7c15n) & M64;
  let z = state.s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}

function blockBits(segmentCount: number): number {
  let bits = 0;
  while (bits < 31 && 2 ** bits < segmentCount) bits++;
  return bits;
}

/** Peel result: hashes in peel order and each one's slot position. */
interface Peeled {
  order: bigint[];
  position: number[];
}

function tryBuild(
  keys: bigint[],
  seed: bigint,
  p: ReturnType<typeof fuseParams>,
): Peeled | null {
  const bb = blockBits(p.segmentCount);
  const buckets: bigint[][] = Array.from({ length: 2 ** bb }, () => []);
  for (const key of keys) {
    const h = fuseMix(key, seed);
    buckets[bb === 0 ? 0 : Number(h >> BigInt(64 - bb))].push(h);
  }
  const sorted = buckets.flat();
  const count = new Uint8Array(p.arrayLength); // (keys << 2) | xor of positions
  const xor = new Array<bigint>(p.arrayLength).fill(0n);
  for (const h of sorted) {
    const s = fuseSlots(h, p);
    for (let j = 0; j < 3; j++) {
      if (count[s[j]] >> 2 === 63) return null; // the kernel's u8 overflow
      count[s[j]] = (count[s[j]] + 4) ^ j;
      xor[s[j]] ^= h;
    }
  }
  const alone: number[] = [];
  for (let i = 0; i < p.arrayLength; i++) {
    if (count[i] >> 2 === 1) alone.push(i);
  }
  const order: bigint[] = [];
  const position: number[] = [];
  while (alone.length > 0) {
    const idx = alone.pop()!;
    if (count[idx] >> 2 !== 1) continue;
    const h = xor[idx];
    const found = count[idx] & 3;
    order.push(h);
    position.push(found);
    const s = fuseSlots(h, p);
    for (const j of [(found + 1) % 3, (found + 2) % 3]) {
      count[s[j]] = (count[s[j]] - 4) ^ j;
      xor[s[j]] ^= h;
      if (count[s[j]] >> 2 === 1) alone.push(s[j]);
    }
  }
  return order.length === keys.length ? { order, position } : null;
}

/** Builds the filter data for `hashes`, or null if every attempt failed. */
export function fuseBuildRef(
  hashes: BigUint64Array,
  bits: FingerprintBits = 8,
): FuseData | null {
  const keys = dedupRef(hashes);
  const p = fuseParams(keys.length);
  const rng = { s: SEED_STATE_INITIAL };
  for (let attempt = 1; attempt <= BUILD_ATTEMPTS_MAX; attempt++) {
    const seed = splitmix64(rng);
    const peeled = tryBuild(keys, seed, p);
    if (peeled === null) continue;
    const fp = bits === 8
      ? new Uint8Array(p.arrayLength)
      : new Uint16Array(p.arrayLength);
    for (let i = peeled.order.length - 1; i >= 0; i--) {
      const h = peeled.order[i];
      const s = fuseSlots(h, p);
      const found = peeled.position[i];
      const own = Number(BigInt.asUintN(bits, h ^ (h >> 32n)));
      fp[s[found]] = own ^ fp[s[(found + 1) % 3]] ^ fp[s[(found + 2) % 3]];
    }
    const fingerprints = new Uint8Array(p.arrayLength * (bits / 8));
    const view = new DataView(fingerprints.buffer);
    for (let i = 0; i < p.arrayLength; i++) {
      if (bits === 8) fingerprints[i] = fp[i];
      else view.setUint16(2 * i, fp[i], true);
    }
    return { ...p, bits, seed, keyCount: keys.length, fingerprints };
  }
  return null;
}

/** Whether `hash` may be in the filter `data`. */
export function fuseHasRef(data: FuseData, hash: bigint): boolean {
  const h = fuseMix(hash, data.seed);
  const s = fuseSlots(h, data);
  const width = data.bits / 8;
  let x = 0;
  for (const slot of s) {
    let v = 0;
    for (let b = width - 1; b >= 0; b--) {
      v = (v << 8) | data.fingerprints[slot * width + b];
    }
    x ^= v;
  }
  return x === Number(BigInt.asUintN(data.bits, h ^ (h >> 32n)));
}
