/**
 * @module
 * Benchmarks of the WASM kernels against their TypeScript references, of
 * hash-wasm's per-call cost against our kernel, and of the two zstd codecs.
 * Run: deno bench -A bench/wasm_bench.ts (results in bench/WASM_RESULTS.md).
 */

import { crc32cHashWasm, xxhash64HashWasm } from "../src/_wasm/checksum.ts";
import {
  crc32cKernel,
  xxhash64Batch,
  xxhash64Kernel,
} from "../src/_wasm/hash.ts";
import { xxhash64BatchRef } from "../src/_wasm/hash_ref.ts";
import { BloomFilter } from "../src/_wasm/bloom.ts";
import { bloomBuildRef, bloomHasRef } from "../src/_wasm/bloom_ref.ts";
import { FuseFilter } from "../src/_wasm/fuse.ts";
import { fuseBuildRef, fuseHasRef } from "../src/_wasm/fuse_ref.ts";
import {
  createNodeZstdCodec,
  createZstdWasmCodec,
} from "../src/_wasm/codec.ts";
import { randomHashes } from "../src/_wasm/_testing.ts";

const MILLION = 1_000_000;
// Slow BigInt references: a few iterations are enough to compare.
const SLOW = { n: 3, warmup: 1 };

// 1M 16-byte keys, concatenated, with n + 1 offsets.
const keyData = new Uint8Array(16 * MILLION).map((_, i) =>
  (i * 2654435761) >>> 24
);
const keyOffsets = new Uint32Array(MILLION + 1).map((_, i) => 16 * i);

Deno.bench(
  "hash 1M x 16 B keys: wasm xxhash64Batch",
  { group: "hash-batch" },
  () => {
    xxhash64Batch(keyData, keyOffsets);
  },
);
Deno.bench("hash 1M x 16 B keys: TS reference", {
  group: "hash-batch",
  baseline: true,
  ...SLOW,
}, () => {
  xxhash64BatchRef(keyData, keyOffsets);
});

for (const size of [64, 4096, 1 << 20]) {
  const bytes = new Uint8Array(size).map((_, i) => i * 31);
  const label = size >= 1 << 20 ? "1 MiB" : `${size} B`;
  Deno.bench(`crc32c ${label}: hash-wasm`, {
    group: `crc32c-${size}`,
    baseline: true,
  }, () => {
    crc32cHashWasm(bytes);
  });
  Deno.bench(`crc32c ${label}: our kernel`, { group: `crc32c-${size}` }, () => {
    crc32cKernel(bytes);
  });
  Deno.bench(`xxhash64 ${label}: hash-wasm`, {
    group: `xxh64-${size}`,
    baseline: true,
  }, () => {
    xxhash64HashWasm(bytes);
  });
  Deno.bench(
    `xxhash64 ${label}: our kernel`,
    { group: `xxh64-${size}` },
    () => {
      xxhash64Kernel(bytes);
    },
  );
}

const keys100k = randomHashes(100_000, 1);
const probes100k = randomHashes(100_000, 2);
const bloom100k = BloomFilter.build(keys100k);
const bloomRef100k = bloomBuildRef(keys100k);
Deno.bench("bloom build 100k: wasm", { group: "bloom-build" }, () => {
  BloomFilter.build(keys100k);
});
Deno.bench("bloom build 100k: TS reference", {
  group: "bloom-build",
  baseline: true,
  ...SLOW,
}, () => {
  bloomBuildRef(keys100k);
});
Deno.bench("bloom query 100k: wasm", { group: "bloom-query" }, () => {
  bloom100k.hasMany(probes100k);
});
Deno.bench("bloom query 100k: TS reference", {
  group: "bloom-query",
  baseline: true,
  ...SLOW,
}, () => {
  for (const h of probes100k) bloomHasRef(bloomRef100k, h);
});

for (const bits of [8, 16] as const) {
  const filter = FuseFilter.build(keys100k, bits);
  const ref = fuseBuildRef(keys100k, bits)!;
  Deno.bench(
    `fuse${bits} build 100k: wasm`,
    { group: `fuse${bits}-build` },
    () => {
      FuseFilter.build(keys100k, bits);
    },
  );
  Deno.bench(`fuse${bits} build 100k: TS reference`, {
    group: `fuse${bits}-build`,
    baseline: true,
    ...SLOW,
  }, () => {
    fuseBuildRef(keys100k, bits);
  });
  Deno.bench(
    `fuse${bits} query 100k: wasm`,
    { group: `fuse${bits}-query` },
    () => {
      filter.hasMany(probes100k);
    },
  );
  Deno.bench(`fuse${bits} query 100k: TS reference`, {
    group: `fuse${bits}-query`,
    baseline: true,
    ...SLOW,
  }, () => {
    for (const h of probes100k) fuseHasRef(ref, h);
  });
}

const keys1M = randomHashes(MILLION, 3);
const probes1M = randomHashes(MILLION, 4);
const fuse8M = FuseFilter.build(keys1M, 8);
const fuse16M = FuseFilter.build(keys1M, 16);
const bloom1M = BloomFilter.build(keys1M);
Deno.bench("fuse8 build 1M (target < 80 ms)", { group: "filters-1M" }, () => {
  FuseFilter.build(keys1M, 8);
});
Deno.bench("fuse8 query 1M (target < 10 ms)", { group: "filters-1M" }, () => {
  fuse8M.hasMany(probes1M);
});
Deno.bench("fuse16 build 1M", { group: "filters-1M" }, () => {
  FuseFilter.build(keys1M, 16);
});
Deno.bench("fuse16 query 1M", { group: "filters-1M" }, () => {
  fuse16M.hasMany(probes1M);
});
Deno.bench("bloom build 1M", { group: "filters-1M" }, () => {
  BloomFilter.build(keys1M);
});
Deno.bench("bloom query 1M", { group: "filters-1M" }, () => {
  bloom1M.hasMany(probes1M);
});

// ~1 MiB of JSON log lines, the shape of a typical segment block.
function jsonLogLines(bytesMin: number): Uint8Array {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytesMin; i++) {
    const line = JSON.stringify({
      ts: new Date(1_700_000_000_000 + i * 37).toISOString(),
      level: ["info", "info", "warn", "error"][i % 4],
      msg: ["request served", "cache miss", "upstream slow", "retrying"][i % 4],
      method: i % 5 === 0 ? "POST" : "GET",
      path: `/v1/stream/orders-${i % 211}`,
      status: i % 17 === 0 ? 503 : 200,
      durationMs: (i * 7919) % 1500,
      requestId: ((i * 2654435761) >>> 0).toString(16).padStart(8, "0"),
    });
    lines.push(line);
    size += line.length + 1;
  }
  return new TextEncoder().encode(lines.join("\n"));
}

const logs = jsonLogLines(1 << 20);
const zstdWasm = await createZstdWasmCodec();
const nodeZstd = createNodeZstdCodec();
const framed = zstdWasm.compress(logs, 1);
Deno.bench("zstd compress 1 MiB JSON, level 1: zstd-wasm", {
  group: "zstd-compress",
}, () => {
  zstdWasm.compress(logs, 1);
});
Deno.bench("zstd compress 1 MiB JSON, level 1: node:zlib", {
  group: "zstd-compress",
  baseline: true,
}, () => {
  nodeZstd.compress(logs, 1);
});
Deno.bench("zstd compress 1 MiB JSON, level 3: zstd-wasm", {
  group: "zstd-compress-3",
}, () => {
  zstdWasm.compress(logs, 3);
});
Deno.bench("zstd compress 1 MiB JSON, level 3: node:zlib", {
  group: "zstd-compress-3",
  baseline: true,
}, () => {
  nodeZstd.compress(logs, 3);
});
Deno.bench("zstd decompress 1 MiB JSON: zstd-wasm", {
  group: "zstd-decompress",
}, () => {
  zstdWasm.decompress(framed);
});
Deno.bench("zstd decompress 1 MiB JSON: node:zlib", {
  group: "zstd-decompress",
  baseline: true,
}, () => {
  nodeZstd.decompress(framed);
});
