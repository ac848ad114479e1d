/*
 * Binary fuse filter kernel (arity 3, 8- and 16-bit fingerprints), after
 * Graf and Lemire, "Binary Fuse Filters: Fast and Smaller Than Xor Filters"
 * (2022). Sizing (segment length, segment count, array length) needs log(),
 * so the TS wrapper (src/_wasm/fuse.ts) computes it and this file validates
 * it. Keys are 64-bit hashes; fuse_dedup removes duplicates first, then
 * construction tries seeds from a splitmix64 stream until peeling succeeds.
 * Every buffer lives in linear memory laid out by the wrapper.
 */
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define SEGMENT_LENGTH_MAX 262144u

static inline u64 mix(u64 key, u64 seed) {
  u64 h = key + seed;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

static inline u64 splitmix64(u64 *state) {
  u64 z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* High 32 bits of the 96-bit product h * m (m < 2^32), without __int128. */
static inline u32 mulhi32(u64 h, u32 m) {
  u64 lo = (u32)h, hi = h >> 32;
  return (u32)((hi * m + ((lo * m) >> 32)) >> 32);
}

typedef struct {
  u32 seg_len;
  u32 seg_mask;
  u32 seg_count_len;
  u32 array_len;
} params_t;

static int params_init(params_t *p, u32 seg_len, u32 seg_count,
                       u32 array_len) {
  if (seg_len < 4 || seg_len > SEGMENT_LENGTH_MAX) return 1;
  if ((seg_len & (seg_len - 1)) != 0) return 1;
  if (seg_count == 0) return 1;
  if ((u64)(seg_count + 2ULL) * seg_len != (u64)array_len) return 1;
  p->seg_len = seg_len;
  p->seg_mask = seg_len - 1;
  p->seg_count_len = seg_count * seg_len;
  p->array_len = array_len;
  return 0;
}

/* The three slots of hash h: one in each of three consecutive segments. */
static inline void slots(u64 h, const params_t *p, u32 s[3]) {
  u32 h0 = mulhi32(h, p->seg_count_len);
  u32 h1 = h0 + p->seg_len;
  u32 h2 = h1 + p->seg_len;
  h1 ^= (u32)(h >> 18) & p->seg_mask;
  h2 ^= (u32)h & p->seg_mask;
  s[0] = h0;
  s[1] = h1;
  s[2] = h2;
}

static const u32 NEXT1[3] = {1, 2, 0};
static const u32 NEXT2[3] = {2, 0, 1};

static inline u64 align8(u64 x) { return (x + 7) & ~7ULL; }

static u32 block_bits_for(u32 seg_count) {
  u32 bits = 0;
  while (bits < 31 && (1u << bits) < seg_count) bits++;
  return bits;
}

/* Bytes of scratch fuse8_build / fuse16_build need for n unique keys. */
u64 fuse_scratch_bytes(u32 n, u32 array_len, u32 seg_count) {
  u64 block = 1ULL << block_bits_for(seg_count);
  return 8ULL * n + 8ULL * array_len + 4ULL * array_len + align8(array_len) +
         align8(n) + 4ULL * block;
}

/*
 * Copies the distinct keys of keys[0..n) to out, returning their count.
 * Keys are bucketed by the top bucket_bits of mix(key, 0) (a stable counting
 * sort; counts has 2^bucket_bits entries), then each bucket drops repeats
 * with a small open-addressing table of at most table_cap (a power of two)
 * slots. Output order: by bucket, then first occurrence. Returns n + 1 on
 * bad arguments and n + 2 if a bucket needs more than table_cap slots (the
 * caller retries with a larger table; out is then partly overwritten).
 */
u32 fuse_dedup(const u64 *keys, u32 n, u32 bucket_bits, u64 *out, u32 *counts,
               u32 *table, u32 table_cap) {
  if (bucket_bits > 20 || table_cap < 2 || (table_cap & (table_cap - 1)))
    return n + 1;
  u32 buckets = 1u << bucket_bits;
  u32 shift = 64 - bucket_bits;
  __builtin_memset(counts, 0, 4ULL * buckets);
  for (u32 i = 0; i < n; i++) {
    u64 m = mix(keys[i], 0);
    counts[bucket_bits ? (u32)(m >> shift) : 0]++;
  }
  u32 sum = 0;
  for (u32 b = 0; b < buckets; b++) {
    u32 c = counts[b];
    counts[b] = sum;
    sum += c;
  }
  for (u32 i = 0; i < n; i++) {
    u64 m = mix(keys[i], 0);
    out[counts[bucket_bits ? (u32)(m >> shift) : 0]++] = keys[i];
  }
  /* counts[b] is now the end of bucket b. */
  u32 w = 0, start = 0;
  for (u32 b = 0; b < buckets; b++) {
    u32 stop = counts[b];
    u32 size = 2;
    while (size < 2 * (stop - start)) size <<= 1;
    if (size > table_cap) return n + 2;
    u32 mask = size - 1;
    __builtin_memset(table, 0, 4ULL * size);
    for (u32 i = start; i < stop; i++) {
      u64 key = out[i];
      u32 slot = (u32)mix(key, 0) & mask;
      int dup = 0;
      while (table[slot] != 0) {
        if (out[table[slot] - 1] == key) {
          dup = 1;
          break;
        }
        slot = (slot + 1) & mask;
      }
      if (!dup) {
        out[w] = key;
        table[slot] = ++w;
      }
    }
    start = stop;
  }
  return w;
}

typedef struct {
  u64 *order;
  u64 *t2hash;
  u32 *alone;
  u8 *t2count;
  u8 *rev_h;
  u32 *start;
} scratch_t;

static void scratch_carve(scratch_t *s, u8 *base, u32 n, u32 array_len,
                          u32 block) {
  s->order = (u64 *)base;
  base += 8ULL * n;
  s->t2hash = (u64 *)base;
  base += 8ULL * array_len;
  s->alone = (u32 *)base;
  base += 4ULL * array_len;
  s->t2count = base;
  base += align8(array_len);
  s->rev_h = base;
  base += align8(n);
  s->start = (u32 *)base;
  (void)block;
}

/*
 * Orders the mixed hashes by their top bits (cache locality for filling).
 * s->t2hash (array_len >= n entries) holds the mixed hashes meanwhile; the
 * caller zeroes it afterwards.
 */
static void sort_mixed(const u64 *keys, u32 n, u64 seed, u32 block_bits,
                       scratch_t *s) {
  u32 block = 1u << block_bits;
  u32 shift = 64 - block_bits;
  u64 *mixed = s->t2hash;
  __builtin_memset(s->start, 0, 4ULL * block);
  for (u32 i = 0; i < n; i++) {
    u64 h = mix(keys[i], seed);
    mixed[i] = h;
    s->start[block_bits ? (u32)(h >> shift) : 0]++;
  }
  u32 sum = 0;
  for (u32 b = 0; b < block; b++) {
    u32 c = s->start[b];
    s->start[b] = sum;
    sum += c;
  }
  for (u32 i = 0; i < n; i++) {
    u64 h = mixed[i];
    s->order[s->start[block_bits ? (u32)(h >> shift) : 0]++] = h;
  }
}

/* Adds every hash to its three slots; returns 1 if a slot count overflowed. */
static u32 fill_slots(u32 n, const params_t *p, scratch_t *s) {
  u32 err = 0;
  u8 *cnt = s->t2count;
  u64 *th = s->t2hash;
  for (u32 i = 0; i < n; i++) {
    u64 h = s->order[i];
    u32 x[3];
    slots(h, p, x);
    cnt[x[0]] += 4;
    th[x[0]] ^= h;
    cnt[x[1]] += 4;
    cnt[x[1]] ^= 1;
    th[x[1]] ^= h;
    cnt[x[2]] += 4;
    cnt[x[2]] ^= 2;
    th[x[2]] ^= h;
    err |= (cnt[x[0]] < 4) | (cnt[x[1]] < 4) | (cnt[x[2]] < 4);
  }
  return err;
}

/*
 * Peels slots holding exactly one key (a stack of "alone" slots). Writes the
 * peel order to s->order and each key's slot position (0..2) to s->rev_h;
 * returns how many keys were peeled (n on success).
 */
static u32 peel(const params_t *p, scratch_t *s) {
  u8 *cnt = s->t2count;
  u64 *th = s->t2hash;
  u32 q = 0;
  for (u32 i = 0; i < p->array_len; i++) {
    s->alone[q] = i;
    q += (cnt[i] >> 2) == 1;
  }
  u32 stack = 0;
  while (q > 0) {
    u32 idx = s->alone[--q];
    if ((cnt[idx] >> 2) != 1) continue;
    u64 h = th[idx];
    u32 found = cnt[idx] & 3;
    s->rev_h[stack] = (u8)found;
    s->order[stack] = h;
    stack++;
    u32 x[3];
    slots(h, p, x);
    u32 i1 = NEXT1[found], i2 = NEXT2[found];
    u32 a = x[i1], b = x[i2];
    cnt[a] = (u8)((cnt[a] - 4) ^ i1);
    th[a] ^= h;
    if ((cnt[a] >> 2) == 1) s->alone[q++] = a;
    cnt[b] = (u8)((cnt[b] - 4) ^ i2);
    th[b] ^= h;
    if ((cnt[b] >> 2) == 1) s->alone[q++] = b;
  }
  return stack;
}

/*
 * Tries seeds until every key peels. On success returns the attempt number
 * (>= 1) and writes the seed to *seed_io (which held the rng state); returns
 * 0 if max_attempts all failed.
 */
static u32 build_core(const u64 *keys, u32 n, const params_t *p,
                      u64 *seed_io, u32 max_attempts, scratch_t *s) {
  u32 block_bits = block_bits_for(p->seg_count_len / p->seg_len);
  u64 rng = *seed_io;
  for (u32 attempt = 1; attempt <= max_attempts; attempt++) {
    u64 seed = splitmix64(&rng);
    sort_mixed(keys, n, seed, block_bits, s);
    __builtin_memset(s->t2count, 0, p->array_len);
    __builtin_memset(s->t2hash, 0, 8ULL * p->array_len);
    if (fill_slots(n, p, s)) continue;
    if (peel(p, s) == n) {
      *seed_io = seed;
      return attempt;
    }
  }
  return 0;
}

#define DEFINE_FUSE(BITS, FP)                                                 \
  int fuse##BITS##_build(const u64 *keys, u32 n, u32 seg_len, u32 seg_count,  \
                         u32 array_len, u64 *seed_io, u32 max_attempts,       \
                         FP *fps, u8 *scratch) {                              \
    params_t p;                                                               \
    if (params_init(&p, seg_len, seg_count, array_len)) return -1;            \
    scratch_t s;                                                              \
    scratch_carve(&s, scratch, n, array_len, 0);                              \
    u32 attempts = build_core(keys, n, &p, seed_io, max_attempts, &s);        \
    if (attempts == 0) return 0;                                              \
    __builtin_memset(fps, 0, sizeof(FP) * (u64)array_len);                    \
    for (u32 i = n; i-- > 0;) {                                               \
      u64 h = s.order[i];                                                     \
      u32 x[3];                                                               \
      slots(h, &p, x);                                                        \
      u32 found = s.rev_h[i];                                                 \
      fps[x[found]] = (FP)((FP)(h ^ (h >> 32)) ^ fps[x[NEXT1[found]]] ^       \
                           fps[x[NEXT2[found]]]);                             \
    }                                                                         \
    return (int)attempts;                                                     \
  }                                                                           \
                                                                              \
  int fuse##BITS##_query(const FP *fps, u32 seg_len, u32 seg_count,           \
                         u32 array_len, u64 seed, const u64 *keys, u32 n,     \
                         u8 *out) {                                           \
    params_t p;                                                               \
    if (params_init(&p, seg_len, seg_count, array_len)) return 1;             \
    for (u32 i = 0; i < n; i++) {                                             \
      u64 h = mix(keys[i], seed);                                             \
      u32 x[3];                                                               \
      slots(h, &p, x);                                                        \
      FP f = (FP)(h ^ (h >> 32));                                             \
      out[i] = (u8)(f == (FP)(fps[x[0]] ^ fps[x[1]] ^ fps[x[2]]));            \
    }                                                                         \
    return 0;                                                                 \
  }

DEFINE_FUSE(8, u8)
DEFINE_FUSE(16, u16)
