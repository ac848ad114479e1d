/**
 * @module
 * Binary fuse filters (arity 3; 8- or 16-bit fingerprints) backed by the
 * `fuse` WASM kernel, after Graf and Lemire (2022). Sizing follows the
 * paper; keys are 64-bit hashes, deduplicated before construction, which
 * retries with fresh seeds up to `BUILD_ATTEMPTS_MAX` times. False-positive
 * rate is about 2^-8 (fuse8, ~9 bits/key) or 2^-16 (fuse16, ~18 bits/key).
 */

import { assert } from "../assert.ts";
import { StreamError } from "../errors.ts";
import { Layout, WasmKernel } from "./_kernel.ts";
import { corrupt, openFramed, sealChecksum, TRAILER_BYTES } from "./_format.ts";
import { wasmBase64 } from "./fuse.generated.ts";

interface FuseExports {
  fuse_dedup(
    keys: number,
    n: number,
    bucketBits: number,
    out: number,
    counts: number,
    table: number,
    tableCap: number,
  ): number;
  fuse_scratch_bytes(n: number, arrayLength: number, segCount: number): bigint;
  fuse8_build: BuildFn;
  fuse16_build: BuildFn;
  fuse8_query: QueryFn;
  fuse16_query: QueryFn;
}

type BuildFn = (
  keys: number,
  n: number,
  segLen: number,
  segCount: number,
  arrayLen: number,
  seedIo: number,
  attemptsMax: number,
  fps: number,
  scratch: number,
) => number;

type QueryFn = (
  fps: number,
  segLen: number,
  segCount: number,
  arrayLen: number,
  seed: bigint,
  keys: number,
  n: number,
  out: number,
) => number;

let kernel: WasmKernel<FuseExports> | undefined;

function fuseKernel(): WasmKernel<FuseExports> {
  return kernel ??= new WasmKernel<FuseExports>(wasmBase64);
}

/** Bytes of the kernel's linear memory (for the memory-bound tests). */
export function fuseMemoryBytes(): number {
  return fuseKernel().memoryBytes;
}

/** Fingerprint width in bits. */
export type FingerprintBits = 8 | 16;
/** Most keys one build accepts (construction needs ~45 bytes per key). */
export const KEYS_MAX: number = 2 ** 25;
/** Most keys one query call accepts. */
export const QUERY_KEYS_MAX: number = 2 ** 26;
/** Seeds tried before a build gives up with an `internal` error. */
export const BUILD_ATTEMPTS_MAX = 64;
/** The rng state every build starts from, so builds are deterministic. */
export const SEED_STATE_INITIAL: bigint = 0x5eed_b1e5_f0a5_c0den;
/** Largest segment length the paper's sizing allows. */
export const SEGMENT_LENGTH_MAX = 262144;
/** Bytes of the serialized header (the CRC32C trailer follows the body). */
export const FUSE_HEADER_BYTES = 32;
const MAGIC = new Uint8Array([0x53, 0x42, 0x46, 0x55]); // "SBFU"
const VERSION = 1;

/** Segment layout of a filter: `arrayLength = (segmentCount + 2) * segmentLength`. */
export interface FuseParams {
  /** Slots per segment, a power of two in 4..262144. */
  segmentLength: number;
  /** Segments a key's first slot may fall in (>= 1). */
  segmentCount: number;
  /** Total fingerprint slots. */
  arrayLength: number;
}

/** The plain contents of a binary fuse filter, as serialized. */
export interface FuseData extends FuseParams {
  /** Fingerprint width. */
  bits: FingerprintBits;
  /** The seed that made construction succeed. */
  seed: bigint;
  /** Distinct keys in the filter. */
  keyCount: number;
  /** `arrayLength` fingerprints, little-endian, `bits / 8` bytes each. */
  fingerprints: Uint8Array;
}

/**
 * Sizing for `n` distinct keys (arity 3): segment length
 * 2^floor(ln n / ln 3.33 + 2.25) capped at 262144, size factor
 * max(1.125, 0.875 + 0.25 ln 1e6 / ln n).
 */
export function fuseParams(n: number): FuseParams {
  const arity = 3;
  const segmentLength = n === 0 ? 4 : Math.min(
    SEGMENT_LENGTH_MAX,
    2 ** Math.floor(Math.log(n) / Math.log(3.33) + 2.25),
  );
  const sizeFactor = n <= 1
    ? 0
    : Math.max(1.125, 0.875 + (0.25 * Math.log(1e6)) / Math.log(n));
  const capacity = n <= 1 ? 0 : Math.round(n * sizeFactor);
  const initSegmentCount = Math.ceil(capacity / segmentLength) - (arity - 1);
  const initArrayLength = (initSegmentCount + arity - 1) * segmentLength;
  const count = Math.ceil(initArrayLength / segmentLength);
  const segmentCount = count <= arity - 1 ? 1 : count - (arity - 1);
  const arrayLength = (segmentCount + arity - 1) * segmentLength;
  return { segmentLength, segmentCount, arrayLength };
}

const M64 = (1n << 64n) - 1n;

/** murmur64 finalizer of `key + seed` (the kernel's key mixer). */
export function fuseMix(key: bigint, seed: bigint): bigint {
  let h = (key + seed) & M64;
  h ^= h >> 33n;
  h = (h * 0xff51afd7ed558ccdn) & M64;
  h ^= h >> 33n;
  h = (h * 0xc4ceb9fe1a85ec53n) & M64;
  h ^= h >> 33n;
  return h;
}

/** The three slots of mixed hash `h`, one in each of three segments. */
export function fuseSlots(h: bigint, p: FuseParams): [number, number, number] {
  const mask = BigInt(p.segmentLength - 1);
  const h0 = Number((h * BigInt(p.segmentCount * p.segmentLength)) >> 64n);
  const h1 = (h0 + p.segmentLength) ^ Number((h >> 18n) & mask);
  const h2 = (h0 + 2 * p.segmentLength) ^ Number(h & mask);
  return [h0, h1, h2];
}

/**
 * Bucket bits for deduplication: about 2048 keys per bucket, so a bucket's
 * table (16 KiB) stays in cache while the scatter writes few streams.
 */
export function dedupBucketBits(n: number): number {
  let bits = 0;
  while (bits < 20 && n / 2 ** bits > 2048) bits++;
  return bits;
}

function nextPow2(x: number): number {
  let p = 2;
  while (p < x) p *= 2;
  return p;
}

/**
 * Copies `hashes` into the kernel and deduplicates them; returns the
 * address and count of the distinct keys, and where free scratch begins.
 */
function dedup(
  wasm: WasmKernel<FuseExports>,
  hashes: BigUint64Array,
): [number, number, number] {
  const n = hashes.length;
  const bucketBits = dedupBucketBits(n);
  // Buckets average 2048 keys, and the first table fits 2x that. Skewed
  // input (or crafted keys) can overfill one: retry with room for all keys.
  for (const cap of [nextPow2(4 * Math.min(n, 4096)), nextPow2(2 * n)]) {
    const layout = wasm.begin();
    const inPtr = layout.take(n * 8);
    const outPtr = layout.take(n * 8);
    const phase2 = layout.end;
    const countsPtr = layout.take(4 * 2 ** bucketBits);
    const tablePtr = layout.take(4 * cap);
    wasm.commit(layout);
    wasm.u64(inPtr, n).set(hashes);
    const unique = wasm.fn.fuse_dedup(
      inPtr,
      n,
      bucketBits,
      outPtr,
      countsPtr,
      tablePtr,
      cap,
    );
    if (unique <= n) return [outPtr, unique, phase2];
  }
  assert(false, "fuse_dedup failed with a table for every key");
}

/** An immutable binary fuse filter over 64-bit key hashes. */
export class FuseFilter {
  readonly #data: FuseData;

  private constructor(data: FuseData) {
    this.#data = data;
  }

  /**
   * Builds a filter of `bits`-bit fingerprints holding every hash in
   * `hashes` (duplicates allowed). Throws StreamError("internal") if no
   * seed in `attemptsMax` attempts peels, which for distinct hashes is
   * vanishingly rare at the default.
   */
  static build(
    hashes: BigUint64Array,
    bits: FingerprintBits = 8,
    attemptsMax: number = BUILD_ATTEMPTS_MAX,
  ): FuseFilter {
    assert(bits === 8 || bits === 16, "fuse fingerprints are 8 or 16 bits");
    assert(
      hashes.length <= KEYS_MAX,
      `fuse build of ${hashes.length} keys exceeds ${KEYS_MAX}`,
    );
    const wasm = fuseKernel();
    const [keysPtr, n, phase2] = dedup(wasm, hashes);
    const p = fuseParams(n);
    // The kernel parks the n mixed hashes in its arrayLength-slot table.
    assert(p.arrayLength >= n, "fuse sizing must give a slot per key");
    const fpBytes = p.arrayLength * (bits / 8);
    const scratchBytes = Number(
      wasm.fn.fuse_scratch_bytes(n, p.arrayLength, p.segmentCount),
    );
    const layout = new Layout(phase2); // keeps the deduplicated keys
    const fpsPtr = layout.take(fpBytes);
    const seedPtr = layout.take(8);
    const scratchPtr = layout.take(scratchBytes);
    wasm.commit(layout);
    wasm.u64(seedPtr, 1)[0] = SEED_STATE_INITIAL;
    const build = bits === 8 ? wasm.fn.fuse8_build : wasm.fn.fuse16_build;
    const attempts = build(
      keysPtr,
      n,
      p.segmentLength,
      p.segmentCount,
      p.arrayLength,
      seedPtr,
      attemptsMax,
      fpsPtr,
      scratchPtr,
    );
    assert(attempts >= 0, "fuse build rejected computed parameters");
    if (attempts === 0) {
      throw new StreamError(
        "internal",
        `Cannot build fuse${bits} filter of ${n} keys: no seed peeled in ${attemptsMax} attempts`,
        { keyCount: n, attempts: attemptsMax },
      );
    }
    return new FuseFilter({
      ...p,
      bits,
      seed: wasm.u64(seedPtr, 1)[0],
      keyCount: n,
      fingerprints: wasm.u8(fpsPtr, fpBytes).slice(),
    });
  }

  /** Wraps already-valid data (for example from the reference build). */
  static fromData(data: FuseData): FuseFilter {
    assert(
      data.fingerprints.length === data.arrayLength * (data.bits / 8),
      "fingerprints length must match arrayLength",
    );
    return new FuseFilter(data);
  }

  /** Decodes `serializeFuse` output; throws `corrupt` on any bad byte. */
  static deserialize(bytes: Uint8Array): FuseFilter {
    return new FuseFilter(deserializeFuse(bytes));
  }

  /** The filter's parameters and fingerprint bytes (do not mutate). */
  get data(): Readonly<FuseData> {
    return this.#data;
  }

  /** 1 where `hashes[i]` may be in the set, 0 where it certainly is not. */
  hasMany(hashes: BigUint64Array): Uint8Array {
    const n = hashes.length;
    assert(n <= QUERY_KEYS_MAX, `fuse query of ${n} keys too large`);
    const d = this.#data;
    const wasm = fuseKernel();
    const [fpsPtr, layout] = wasm.beginWith(this, d.fingerprints);
    const keysPtr = layout.take(n * 8);
    const outPtr = layout.take(n);
    wasm.commit(layout);
    wasm.u64(keysPtr, n).set(hashes);
    const query = d.bits === 8 ? wasm.fn.fuse8_query : wasm.fn.fuse16_query;
    const rc = query(
      fpsPtr,
      d.segmentLength,
      d.segmentCount,
      d.arrayLength,
      d.seed,
      keysPtr,
      n,
      outPtr,
    );
    assert(rc === 0, "fuse query rejected validated parameters");
    return wasm.u8(outPtr, n).slice();
  }

  /** Whether `hash` may be in the set (one lookup, in TypeScript). */
  has(hash: bigint): boolean {
    const d = this.#data;
    const h = fuseMix(hash, d.seed);
    const [h0, h1, h2] = fuseSlots(h, d);
    const fp = Number(BigInt.asUintN(d.bits, h ^ (h >> 32n)));
    if (d.bits === 8) {
      const f = d.fingerprints;
      return fp === (f[h0] ^ f[h1] ^ f[h2]);
    }
    const v = new DataView(d.fingerprints.buffer, d.fingerprints.byteOffset);
    const x = v.getUint16(2 * h0, true) ^ v.getUint16(2 * h1, true) ^
      v.getUint16(2 * h2, true);
    return fp === x;
  }

  /** The versioned, checksummed byte form (see docs/wasm.md). */
  serialize(): Uint8Array {
    return serializeFuse(this.#data);
  }
}

/** Encodes `data` as header + fingerprints + CRC32C trailer. */
export function serializeFuse(data: FuseData): Uint8Array {
  const out = new Uint8Array(
    FUSE_HEADER_BYTES + data.fingerprints.length + TRAILER_BYTES,
  );
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  out[5] = data.bits;
  view.setUint16(6, 0, true);
  view.setBigUint64(8, data.seed, true);
  view.setUint32(16, data.segmentLength, true);
  view.setUint32(20, data.segmentCount, true);
  view.setUint32(24, data.arrayLength, true);
  view.setUint32(28, data.keyCount, true);
  out.set(data.fingerprints, FUSE_HEADER_BYTES);
  sealChecksum(out);
  return out;
}

/** Decodes and validates a serialized binary fuse filter. */
export function deserializeFuse(bytes: Uint8Array): FuseData {
  const what = "fuse filter";
  const view = openFramed(what, bytes, MAGIC, VERSION, FUSE_HEADER_BYTES);
  const bits = bytes[5];
  const seed = view.getBigUint64(8, true);
  const segmentLength = view.getUint32(16, true);
  const segmentCount = view.getUint32(20, true);
  const arrayLength = view.getUint32(24, true);
  const keyCount = view.getUint32(28, true);
  if (bits !== 8 && bits !== 16) corrupt(what, `fingerprint bits ${bits}`);
  if (view.getUint16(6, true) !== 0) corrupt(what, "reserved bytes not zero");
  if (
    segmentLength < 4 || segmentLength > SEGMENT_LENGTH_MAX ||
    (segmentLength & (segmentLength - 1)) !== 0
  ) {
    corrupt(what, `segment length ${segmentLength}`);
  }
  if (
    segmentCount < 1 || (segmentCount + 2) * segmentLength !== arrayLength
  ) {
    corrupt(what, "segment count and array length disagree", {
      segmentCount,
      arrayLength,
    });
  }
  if (keyCount > arrayLength) corrupt(what, "more keys than slots");
  const fpBytes = arrayLength * (bits / 8);
  const expected = FUSE_HEADER_BYTES + fpBytes + TRAILER_BYTES;
  if (bytes.length !== expected) {
    corrupt(what, `length ${bytes.length} != ${expected}`, {
      length: bytes.length,
      expected,
    });
  }
  const fingerprints = bytes.slice(
    FUSE_HEADER_BYTES,
    FUSE_HEADER_BYTES + fpBytes,
  );
  return {
    bits,
    seed,
    segmentLength,
    segmentCount,
    arrayLength,
    keyCount,
    fingerprints,
  };
}
