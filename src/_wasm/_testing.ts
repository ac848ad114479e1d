/**
 * @module
 * Test and bench helpers for the WASM kernels: deterministic random 64-bit
 * hashes (so failures reproduce), and the split-block bloom false-positive
 * rate predicted by theory.
 */

/** `n` pseudo-random 64-bit hashes from a 32-bit xorshift seeded by `seed`. */
export function randomHashes(n: number, seed: number): BigUint64Array {
  const out = new BigUint64Array(n);
  const words = new Uint32Array(out.buffer);
  let x = (seed | 0) || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = Math.imul(x, 0x85ebca6b) ^ (i * 0x27d4eb2f);
  }
  return out;
}

/**
 * Expected false-positive rate of our split-block bloom filter: keys per
 * 512-bit block ~ Poisson(n / blocks), and a probe hits when all k of its
 * bits are among the ~k * keys bits set in its block.
 */
export function bloomFprTheory(n: number, blocks: number, k: number): number {
  const lambda = n / blocks;
  let p = Math.exp(-lambda);
  let fpr = 0;
  for (let j = 0; j < lambda * 4 + 50; j++) {
    if (j > 0) p *= lambda / j;
    fpr += p * (1 - (1 - 1 / 512) ** (k * j)) ** k;
  }
  return fpr;
}

/** Counts the ones in a 0/1 query result. */
export function countOnes(bits: Uint8Array): number {
  let c = 0;
  for (let i = 0; i < bits.length; i++) c += bits[i];
  return c;
}
