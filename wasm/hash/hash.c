/*
 * Key hashing kernel: XXH64 over a batch of keys in one call (seed 0, or a
 * caller's 64-bit seed for keyed fingerprints), plus single-buffer XXH64 and
 * CRC32C (Castagnoli) for small inputs that are not worth a hash-wasm call. Freestanding C: no libc, no allocation; the TS
 * wrapper (src/_wasm/hash.ts) lays out every buffer in linear memory.
 */
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned char u8;

#define P1 11400714785074694791ULL
#define P2 14029467366897019727ULL
#define P3 1609587929392839161ULL
#define P4 9650029242287828579ULL
#define P5 2870177450012600261ULL

static inline u64 rotl64(u64 x, int r) { return (x << r) | (x >> (64 - r)); }

static inline u64 read64(const u8 *p) {
  u64 v;
  __builtin_memcpy(&v, p, 8);
  return v;
}

static inline u32 read32(const u8 *p) {
  u32 v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

static inline u64 xround(u64 acc, u64 input) {
  acc += input * P2;
  acc = rotl64(acc, 31);
  return acc * P1;
}

static inline u64 xmerge(u64 acc, u64 val) {
  acc ^= xround(0, val);
  return acc * P1 + P4;
}

static u64 xxh64(const u8 *p, u32 len, u64 seed) {
  const u8 *end = p + len;
  u64 h;
  if (len >= 32) {
    const u8 *limit = end - 32;
    u64 v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
    do {
      v1 = xround(v1, read64(p));
      v2 = xround(v2, read64(p + 8));
      v3 = xround(v3, read64(p + 16));
      v4 = xround(v4, read64(p + 24));
      p += 32;
    } while (p <= limit);
    h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
    h = xmerge(h, v1);
    h = xmerge(h, v2);
    h = xmerge(h, v3);
    h = xmerge(h, v4);
  } else {
    h = seed + P5;
  }
  h += (u64)len;
  while (p + 8 <= end) {
    h ^= xround(0, read64(p));
    h = rotl64(h, 27) * P1 + P4;
    p += 8;
  }
  if (p + 4 <= end) {
    h ^= (u64)read32(p) * P1;
    h = rotl64(h, 23) * P2 + P3;
    p += 4;
  }
  while (p < end) {
    h ^= (u64)(*p) * P5;
    h = rotl64(h, 11) * P1;
    p++;
  }
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

/*
 * Hashes keys data[offsets[i] .. offsets[i+1]) for i < n into out[i] with
 * XXH64 seeded by `seed`. Returns 0, or 1 (writing nothing further) at the
 * first offset that is decreasing or past data_len, so a bad offsets array
 * never reads out of bounds even if the wrapper's own check were skipped.
 */
int xxh64_batch_seeded(const u8 *data, u32 data_len, const u32 *offsets,
                       u32 n, u64 seed, u64 *out) {
  if (offsets[0] > data_len) return 1;
  for (u32 i = 0; i < n; i++) {
    u32 start = offsets[i];
    u32 stop = offsets[i + 1];
    if (stop < start || stop > data_len) return 1;
    out[i] = xxh64(data + start, stop - start, seed);
  }
  return 0;
}

/* xxh64_batch_seeded with seed 0 (block blooms, checksums). */
int xxh64_batch(const u8 *data, u32 data_len, const u32 *offsets, u32 n,
                u64 *out) {
  return xxh64_batch_seeded(data, data_len, offsets, n, 0, out);
}

/* XXH64 (seed 0) of one buffer. */
u64 xxh64_one(const u8 *p, u32 len) { return xxh64(p, len, 0); }

/* Slice-by-8 tables for reflected CRC32C (polynomial 0x82F63B78). */
static u32 crc_table[8][256];
static int crc_ready;

static void crc_init(void) {
  for (u32 i = 0; i < 256; i++) {
    u32 c = i;
    for (int j = 0; j < 8; j++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    crc_table[0][i] = c;
  }
  for (u32 i = 0; i < 256; i++) {
    u32 c = crc_table[0][i];
    for (int t = 1; t < 8; t++) {
      c = (c >> 8) ^ crc_table[0][c & 0xff];
      crc_table[t][i] = c;
    }
  }
  crc_ready = 1;
}

/*
 * Continues a CRC32C: pass 0 to start; the result of one call feeds the
 * next, so crc32c_update(crc32c_update(0, a), b) == crc32c(a ++ b).
 */
u32 crc32c_update(u32 crc, const u8 *p, u32 len) {
  if (!crc_ready) crc_init();
  u32 c = ~crc;
  while (len >= 8) {
    u32 lo = read32(p) ^ c;
    u32 hi = read32(p + 4);
    c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
        crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
        crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
        crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    p += 8;
    len -= 8;
  }
  while (len > 0) {
    c = (c >> 8) ^ crc_table[0][(c ^ *p) & 0xff];
    p++;
    len--;
  }
  return ~c;
}
