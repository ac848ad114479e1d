/*
 * Split-block bloom filter kernel. The filter is an array of 512-bit blocks
 * (8 x u64 words). A 64-bit key hash picks a block with its high 32 bits
 * (multiply-shift range reduction) and k bit positions inside the block from
 * its low 32 bits times k odd salts (top 9 bits: word = pos >> 6, bit =
 * pos & 63). k <= 16. The TS wrapper (src/_wasm/bloom.ts) checks all sizes.
 */
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned char u8;

static const u32 SALT[16] = {
    0x47b6137bu, 0x44974d91u, 0x8824ad5bu, 0xa2b7289du,
    0x705495c7u, 0x2df1424bu, 0x9efc4947u, 0x5c6bfb31u,
    0x6e7d9d4fu, 0xd1b54a33u, 0x9e3779b9u, 0x85ebca6bu,
    0xc2b2ae35u, 0x27d4eb2fu, 0x165667b1u, 0xfd7046c5u,
};

static inline u32 block_of(u64 h, u32 nblocks) {
  return (u32)(((h >> 32) * (u64)nblocks) >> 32);
}

/* Sets the k bits of each of the n hashes. Returns 1 on bad parameters. */
int bloom_add(u64 *blocks, u32 nblocks, u32 k, const u64 *hashes, u32 n) {
  if (nblocks == 0 || k == 0 || k > 16) return 1;
  for (u32 i = 0; i < n; i++) {
    u64 h = hashes[i];
    u64 *blk = blocks + (u64)block_of(h, nblocks) * 8;
    u32 lo = (u32)h;
    for (u32 j = 0; j < k; j++) {
      u32 pos = (lo * SALT[j]) >> 23;
      blk[pos >> 6] |= 1ULL << (pos & 63);
    }
  }
  return 0;
}

/* out[i] = 1 if all k bits of hashes[i] are set, else 0. */
int bloom_query(const u64 *blocks, u32 nblocks, u32 k, const u64 *hashes,
                u32 n, u8 *out) {
  if (nblocks == 0 || k == 0 || k > 16) return 1;
  for (u32 i = 0; i < n; i++) {
    u64 h = hashes[i];
    const u64 *blk = blocks + (u64)block_of(h, nblocks) * 8;
    u32 lo = (u32)h;
    u32 hit = 1;
    for (u32 j = 0; j < k; j++) {
      u32 pos = (lo * SALT[j]) >> 23;
      hit &= (u32)(blk[pos >> 6] >> (pos & 63));
    }
    out[i] = (u8)(hit & 1);
  }
  return 0;
}
