/**
 * @module
 * Benchmarks of the routing-key index (src/index/): L0 run builds (keyed
 * fingerprints in one WASM call per segment, merge, fuse16 in WASM, encode),
 * L0 -> L1 compaction of 16 runs, and lookup cost, from one probe of a
 * decoded run to `candidates()` over a stream's warm runs.
 * Run: deno bench -A bench/index_bench.ts (results in bench/README.md).
 *
 * `deno run -A bench/index_bench.ts --cpu` prints throughput per CPU second
 * of this process (one thread does the work), which holds up better than
 * wall time on a machine shared with other work.
 */

import process from "node:process";

import { buildL0Run, compactRuns } from "../src/index/build.ts";
import { inThreadRunBuilder } from "../src/index/builder.ts";
import { RunCache } from "../src/index/cache.ts";
import { MemoryRunCatalog } from "../src/index/catalog.ts";
import {
  fingerprintKeys,
  fingerprintOf,
  type SegmentKeys,
  segmentKeys,
} from "../src/index/fingerprint.ts";
import { RoutingKeyIndex } from "../src/index/routing_index.ts";
import { decodeRun, encodeRun } from "../src/index/run_format.ts";
import { buildLexicon, encodeLexicon } from "../src/index/lexicon.ts";
import type { RoutingRun } from "../src/index/run.ts";
import { MemoryObjectStore } from "../src/objectstore/memory.ts";

const SEED = 0x243f6a8885a308d3n;
const HEAVY = { n: 5, warmup: 1 };

/** xorshift32, so every run benchmarks the same keys. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/**
 * Keys of `segments` segments of `perSegment` records each: ids drawn from
 * `distinct` values, as `customer-<n>` (14-20 bytes).
 */
function layout(
  segments: number,
  perSegment: number,
  distinct: number,
  seed: number,
): SegmentKeys[] {
  const random = rng(seed);
  return Array.from({ length: segments }, () =>
    segmentKeys(
      Array.from({ length: perSegment }, () =>
        `customer-${Math.floor(random() * distinct)}`),
    ));
}

// One L0 run's input: 16 segments x 131,072 keyed records = 2,097,152 keys,
// about 1.2M distinct.
const L0_KEYS = 16 * 131_072;
const l0Input = layout(16, 131_072, 2_000_000, 1);
const l0Fingerprints = l0Input.map((k) => fingerprintKeys(k, SEED));

Deno.bench(`L0 build, ${L0_KEYS} keys: fingerprint + merge + fuse16 + encode`, {
  group: "l0-build",
  baseline: true,
  ...HEAVY,
}, () => {
  const fps = l0Input.map((k) => fingerprintKeys(k, SEED));
  encodeRun(buildL0Run(0, fps));
});
Deno.bench(`L0 build, ${L0_KEYS} keys: fingerprints only (WASM, 16 calls)`, {
  group: "l0-build",
  ...HEAVY,
}, () => {
  for (const k of l0Input) fingerprintKeys(k, SEED);
});
Deno.bench(`L0 build, ${L0_KEYS} keys: merge + fuse16 (prehashed)`, {
  group: "l0-build",
  ...HEAVY,
}, () => {
  buildL0Run(0, l0Fingerprints);
});

// Compaction input: 16 L0 runs of 16 segments x 8,192 keys (2M keys in all,
// ids from 400,000 values, so most ids appear in several runs).
const l0Runs: RoutingRun[] = [];
const l0Files: Uint8Array[] = [];
for (let r = 0; r < 16; r++) {
  const fps = layout(16, 8192, 400_000, 100 + r).map((k) =>
    fingerprintKeys(k, SEED)
  );
  const run = buildL0Run(16 * r, fps);
  l0Runs.push(run);
  l0Files.push(encodeRun(run));
}
const l0Entries = l0Runs.reduce((n, r) => n + r.entryCount, 0);

Deno.bench(
  `L0 -> L1 compaction of 16 runs (${l0Entries} entries), decoded runs`,
  {
    group: "compaction",
    baseline: true,
    ...HEAVY,
  },
  () => {
    encodeRun(compactRuns(l0Runs));
  },
);
Deno.bench(
  `L0 -> L1 compaction of 16 runs (${l0Entries} entries), from files`,
  {
    group: "compaction",
    ...HEAVY,
  },
  () => {
    encodeRun(compactRuns(l0Files.map(decodeRun)));
  },
);

// Lookups: one L1 run over 256 segments (from the compaction input) and
// the index of a stream with that L1 plus 15 L0 runs, caches warm.
const l1 = compactRuns(l0Runs);
const hitFp = l1.table.fingerprints[l1.entryCount >> 1];
const missFp = fingerprintOf("no-such-customer", SEED);

const l1File = encodeRun(l1);
Deno.bench(`decode an L1 run file (${l1File.length} bytes, checked)`, {
  group: "decode",
  ...HEAVY,
}, () => {
  decodeRun(l1File);
});

Deno.bench("lookup in one L1 run (256 segments): hit", {
  group: "lookup-run",
  baseline: true,
}, () => {
  l1.lookup(hitFp);
});
Deno.bench(
  "lookup in one L1 run (256 segments): miss",
  { group: "lookup-run" },
  () => {
    l1.lookup(missFp);
  },
);
Deno.bench(
  "fingerprint one key (one WASM call)",
  { group: "lookup-run" },
  () => {
    fingerprintOf("customer-12345", SEED);
  },
);

const objects = new MemoryObjectStore();
const catalog = new MemoryRunCatalog();
const small = layout(496, 256, 400_000, 7);
const index = new RoutingKeyIndex({
  objects,
  catalog,
  builder: inThreadRunBuilder(),
  cache: new RunCache(256 * 1024 * 1024),
  readKeys: (_id, ordinal) => Promise.resolve(small[ordinal]),
  shape: { span: 16, fanout: 16, levelMax: 4 },
  now: () => 0,
});
catalog.init(1, SEED, 0);
while (await index.step(1, 496) !== undefined) { /* catch up */ }
const present = new TextDecoder().decode(
  small[300].data.subarray(small[300].offsets[0], small[300].offsets[1]),
);
await index.candidates(1, present, 496); // warm the cache

Deno.bench(
  "candidates() over 496 segments (1 L1 + 15 L0 runs, warm): present key",
  {
    group: "lookup-index",
    baseline: true,
  },
  async () => {
    await index.candidates(1, present, 496);
  },
);
Deno.bench(
  "candidates() over 496 segments (1 L1 + 15 L0 runs, warm): absent key",
  {
    group: "lookup-index",
  },
  async () => {
    await index.candidates(1, "no-such-customer", 496);
  },
);

/** Median CPU ms (user + system) of `fn` over `n` runs. */
function cpuMs(fn: () => void, n: number): number {
  fn(); // warm up
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = process.cpuUsage();
    fn();
    const used = process.cpuUsage(start);
    samples.push((used.user + used.system) / 1000);
  }
  return samples.sort((a, b) => a - b)[n >> 1];
}

/**
 * Segments a keyed read would open: 256 uploaded segments of 400 records
 * keyed from 100,000 ids (1 L1 run after compaction), plus 16 more as one
 * L0 run and 7 not yet indexed; the candidate count of 1,000 ids against
 * the segments that really hold them.
 */
async function candidateCounts(): Promise<string> {
  const segments = layout(279, 400, 100_000, 11);
  const keyed = new RoutingKeyIndex({
    objects: new MemoryObjectStore(),
    catalog: new MemoryRunCatalog(),
    builder: inThreadRunBuilder(),
    cache: new RunCache(64 * 1024 * 1024),
    readKeys: (_id, ordinal) => Promise.resolve(segments[ordinal]),
    shape: { span: 16, fanout: 16, levelMax: 4 },
    now: () => 0,
  });
  while (await keyed.step(2, segments.length) !== undefined) { /* catch up */ }
  const holding = new Map<string, Set<number>>();
  segments.forEach((keys, s) => {
    for (let i = 0; i + 1 < keys.offsets.length; i++) {
      const k = new TextDecoder().decode(
        keys.data.subarray(keys.offsets[i], keys.offsets[i + 1]),
      );
      if (!holding.has(k)) holding.set(k, new Set());
      holding.get(k)!.add(s);
    }
  });
  let opened = 0;
  let extra = 0;
  let worst = 0;
  let indexedThrough = 0;
  for (let id = 0; id < 100_000; id += 100) {
    const k = `customer-${id}`;
    const c = await keyed.candidates(2, k, segments.length);
    indexedThrough = c.indexedThrough;
    const indexed = c.segments.filter((s) => s < c.indexedThrough);
    opened += indexed.length;
    worst = Math.max(worst, indexed.length);
    extra += indexed.filter((s) => !holding.get(k)?.has(s)).length;
  }
  return `candidates over ${indexedThrough} indexed segments (+${
    segments.length - indexedThrough
  } unindexed), 1,000 ids: ` +
    `mean ${
      (opened / 1000).toFixed(2)
    } segments, max ${worst}, segments without the id ${extra}`;
}

if (Deno.args.includes("--cpu")) {
  const build = cpuMs(() => {
    const fps = l0Input.map((k) => fingerprintKeys(k, SEED));
    encodeRun(buildL0Run(0, fps));
  }, 5);
  const lexicon = cpuMs(() => encodeLexicon(buildLexicon(l0Input)), 5);
  const compact = cpuMs(() => encodeRun(compactRuns(l0Runs)), 5);
  const decode = cpuMs(() => decodeRun(l1File), 5);
  const perSecond = (count: number, ms: number) =>
    Math.round(count / (ms / 1000)).toLocaleString("en-US");
  console.log(
    `L0 build: ${build.toFixed(0)} CPU ms for ${L0_KEYS} keys = ${
      perSecond(L0_KEYS, build)
    } keys per CPU second`,
  );
  console.log(
    `L0 key lexicon (sorted distinct keys, encoded): ${
      lexicon.toFixed(0)
    } CPU ms for ${L0_KEYS} keys = ${
      perSecond(L0_KEYS, lexicon)
    } keys per CPU second`,
  );
  console.log(
    `L0 -> L1 compaction of 16 runs: ${
      compact.toFixed(0)
    } CPU ms for ${l0Entries} entries = ${
      perSecond(l0Entries, compact)
    } entries per CPU second`,
  );
  console.log(
    `decode L1 run (${l1File.length} bytes): ${decode.toFixed(0)} CPU ms`,
  );
  console.log(await candidateCounts());
}
