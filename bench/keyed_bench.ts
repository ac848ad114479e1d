/**
 * Keyed catch-up and `since=` seeks over many uploaded segments, in process,
 * on a file-system object store:
 *
 * 1. A stream of `SEGMENTS` (default 260) uploaded segments holding 100,000
 *    distinct routing keys; the routing-key index is built until it covers
 *    every full run of segments. One keyed read of the whole stream is timed
 *    with and without the index (same objects, fresh segment cache each
 *    read), counting segment objects fetched.
 * 2. A `since=` seek on a stream of `SINCE_MB` (default 1024) MiB, counting
 *    segment objects fetched and blocks decoded before the found record.
 *
 * Run: `deno run -A bench/keyed_bench.ts` (env `SEGMENTS`, `KEYS`, `SINCE_MB`
 * (0 skips part 2), `REPS`). Not part of `deno task test`.
 */

import { gatherKeyed } from "../src/engine/keyed_reader.ts";
import { TierReadBytes } from "../src/engine/reader.ts";
import { inThreadRunBuilder } from "../src/index/builder.ts";
import { RunCache } from "../src/index/cache.ts";
import { MemoryRunCatalog } from "../src/index/catalog.ts";
import { defaultShape } from "../src/index/plan.ts";
import { RoutingKeyIndex } from "../src/index/routing_index.ts";
import { segmentKey } from "../src/objectstore/manifest.ts";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { SegmentCache } from "../src/segment/cache.ts";
import type { DecodedBlock } from "../src/segment/cache.ts";
import {
  encodeSegment,
  type SegmentRecordInput,
} from "../src/segment/format.ts";
import {
  segmentFileOf,
  tieredKeyedReader,
  tieredTimeSeeker,
} from "../src/tier/reader.ts";
import { TierStreams } from "../src/tier/streams.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function envInt(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  return v === undefined ? fallback : Number.parseInt(v, 10);
}

const SEGMENTS = envInt("SEGMENTS", 260);
const KEYS = envInt("KEYS", 100_000);
const SINCE_MB = envInt("SINCE_MB", 1024);
const REPS = envInt("REPS", 7);

/** Counts `get`s of segment objects (run objects live under `/index/`). */
class CountingStore extends FsObjectStore {
  segmentGets = 0;
  override get(key: string): Promise<Uint8Array | undefined> {
    if (!key.includes("/index/")) this.segmentGets++;
    return super.get(key);
  }
}

/** Counts blocks decoded (not served from memory). */
class CountingCache extends SegmentCache {
  decoded = new Set<string>();
  override block(
    key: string,
    load: () => Promise<Uint8Array>,
    index: number,
  ): Promise<DecodedBlock> {
    this.decoded.add(`${key}#${index}`);
    return super.block(key, load, index);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

interface Built {
  streams: TierStreams;
  tailPos: number;
  count: number;
}

/**
 * Writes stream `id` as `segments` segments; `record(i)` gives record `i`
 * of `total` (segment `s` holds records `[s*total/segments, ...)`).
 */
async function build(
  objects: CountingStore,
  id: number,
  segments: number,
  total: number,
  record: (i: number) => { data: Uint8Array; key: Uint8Array | null },
  blockBytesTarget: number,
): Promise<Built> {
  const rows = [];
  let pos = 0;
  for (let s = 0; s < segments; s++) {
    const from = Math.floor(s * total / segments);
    const to = Math.floor((s + 1) * total / segments);
    const startPos = pos;
    const records: SegmentRecordInput[] = [];
    for (let i = from; i < to; i++) {
      const { data, key } = record(i);
      records.push({ pos, data, key, timeMs: 1_000 + i });
      pos += data.length;
    }
    const bytes = encodeSegment(records, {
      streamId: String(id),
      codec: null,
      blockBytesTarget,
    });
    await objects.put(segmentKey(id, startPos, pos), bytes);
    rows.push({
      streamId: id,
      startPos,
      endPos: pos,
      sizeBytes: bytes.length,
      uploaded: true,
    });
  }
  const streams = new TierStreams();
  streams.load({
    streams: [],
    producers: [],
    segments: rows,
    nextStreamId: id + 1,
    schemaRegistries: [],
    profiles: [],
  });
  return { streams, tailPos: pos, count: segments };
}

async function keyedBench(root: string): Promise<void> {
  const objects = new CountingStore({ root });
  const filler = "x".repeat(60);
  let t0 = performance.now();
  const f = await build(
    objects,
    1,
    SEGMENTS,
    KEYS,
    (i) => ({
      data: enc.encode(`{"i":${i},"v":"${filler}"}`),
      key: enc.encode(`user-${i}`),
    }),
    4096,
  );
  const buildMs = performance.now() - t0;
  const keyCache = new SegmentCache(64 << 20, null);
  const index = new RoutingKeyIndex({
    objects,
    catalog: new MemoryRunCatalog(),
    builder: inThreadRunBuilder(null),
    cache: new RunCache(16 << 20),
    // As the server does: the builder reads the keys out of the files.
    readKeys: (id, ordinal) =>
      segmentFileOf(objects, keyCache, f.streams.get(id)!, ordinal),
    shape: defaultShape(),
    now: () => 1_000_000,
  });
  t0 = performance.now();
  while (await index.step(1, f.count) !== undefined) {
    // one run per step, until the index covers every full run
  }
  const indexMs = performance.now() - t0;
  const indexed = index.manifest(1)?.indexedThrough ?? 0;
  const tail = f.count - indexed;

  const target = `user-${Math.floor(KEYS * 0.37)}`;
  const read = async (withIndex: boolean) => {
    objects.segmentGets = 0;
    const reader = tieredKeyedReader(
      f.streams,
      objects,
      new SegmentCache(64 << 20, null),
      () => Promise.resolve([]),
      new TierReadBytes(),
      withIndex ? index : undefined,
    );
    const start = performance.now();
    const got = await gatherKeyed(
      reader,
      { id: 1, parent: undefined, forkPos: 0 },
      0,
      f.tailPos,
      enc.encode(target),
      { bytesMax: 1 << 20, scanBytesMax: 2 ** 40, sliceBytes: 1 << 20 },
    );
    return {
      ms: performance.now() - start,
      opened: objects.segmentGets,
      texts: got.pieces.map((p) => dec.decode(p)),
      scanned: got.scannedBytes,
      endPos: got.endPos,
    };
  };
  // Warm-up (JIT, file cache, the index's run cache).
  const coldIndexed = await read(true);
  await read(false);
  const withTimes: number[] = [];
  const withoutTimes: number[] = [];
  let withOpened = 0;
  let withoutOpened = 0;
  for (let r = 0; r < REPS; r++) {
    const a = await read(false);
    const b = await read(true);
    if (JSON.stringify(a.texts) !== JSON.stringify(b.texts)) {
      throw new Error("keyed reads with and without the index differ");
    }
    if (b.texts.length !== 1) {
      throw new Error(
        `got ${b.texts.length} records ${
          JSON.stringify([
            a.scanned,
            a.endPos,
            a.opened,
            b.scanned,
            b.endPos,
            f.tailPos,
          ])
        }`,
      );
    }
    withoutTimes.push(a.ms);
    withTimes.push(b.ms);
    withoutOpened = a.opened;
    withOpened = b.opened;
  }
  const mWith = median(withTimes);
  const mWithout = median(withoutTimes);
  const paired = median(withoutTimes.map((w, i) => w / withTimes[i]));
  console.log(
    `keyed: ${f.count} segments, ${KEYS} distinct keys, ` +
      `${(f.tailPos / 2 ** 20).toFixed(1)} MiB; write ${
        buildMs.toFixed(0)
      } ms, index build ${indexMs.toFixed(0)} ms; ` +
      `indexed ${indexed} segments, unindexed tail ${tail}`,
  );
  console.log(
    `keyed read of ${target}: opened without index ${withoutOpened}, ` +
      `with index ${withOpened} (target <= 2 + ${tail}); ` +
      `first indexed read (cold run cache) ${
        coldIndexed.ms.toFixed(2)
      } ms opened ${coldIndexed.opened}`,
  );
  console.log(
    `keyed read median of ${REPS}: without ${mWithout.toFixed(2)} ms, ` +
      `with ${mWith.toFixed(2)} ms, ratio ${(mWithout / mWith).toFixed(1)}x; ` +
      `median of paired ratios ${paired.toFixed(1)}x; min without ${
        Math.min(...withoutTimes).toFixed(2)
      } ms, min with ${Math.min(...withTimes).toFixed(2)} ms`,
  );
}

async function sinceBench(root: string): Promise<void> {
  const objects = new CountingStore({ root });
  const recordBytes = 1024;
  const total = SINCE_MB * 1024;
  const segments = Math.max(1, SINCE_MB); // 1 MiB segments
  const body = new Uint8Array(recordBytes).fill(0x61);
  let t0 = performance.now();
  const f = await build(
    objects,
    2,
    segments,
    total,
    () => ({ data: body, key: null }),
    64 * 1024,
  );
  const buildMs = performance.now() - t0;
  const results: string[] = [];
  let worstBlocks = 0;
  for (const frac of [0.001, 0.37, 0.73, 0.999]) {
    const want = Math.floor(total * frac);
    const cache = new CountingCache(64 << 20, null);
    const seek = tieredTimeSeeker(
      f.streams,
      objects,
      cache,
      () => Promise.resolve(undefined),
    );
    objects.segmentGets = 0;
    t0 = performance.now();
    const pos = await seek(2, 0, f.tailPos, 1_000 + want);
    const ms = performance.now() - t0;
    if (pos !== want * recordBytes) {
      throw new Error(
        `since seek found ${pos}, expected ${want * recordBytes}`,
      );
    }
    worstBlocks = Math.max(worstBlocks, cache.decoded.size);
    results.push(
      `record ${want}: ${cache.decoded.size} blocks decoded, ` +
        `${objects.segmentGets} segments fetched, ${ms.toFixed(1)} ms`,
    );
  }
  console.log(
    `since: ${segments} segments of 1 MiB (${SINCE_MB} MiB, ${total} records ` +
      `of ${recordBytes} B, 64 KiB blocks), write ${buildMs.toFixed(0)} ms`,
  );
  for (const r of results) console.log(`  since= seek to ${r}`);
  console.log(`since: worst blocks decoded ${worstBlocks} (target <= 2)`);
}

const dir = await Deno.makeTempDir({ prefix: "streambed-keyed-bench-" });
try {
  await keyedBench(`${dir}/keyed`);
  if (SINCE_MB > 0) await sinceBench(`${dir}/since`);
} finally {
  await Deno.remove(dir, { recursive: true });
}
