/**
 * @module
 * Main-thread CPU per routing-key index L0 build, two ways, in one run:
 *
 * - `keys`: the main thread decompresses every block of the 16 segments
 *   through the segment cache and hands decoded keys to the build Worker
 *   (how builds ran before);
 * - `files`: the main thread hands the segment files to the Worker, which
 *   decompresses the blocks and reads the keys itself (how builds run now).
 *
 * Main-thread CPU is the utime + stime of this process's main thread
 * (`/proc/self/task/<pid>/stat`, clock ticks), so the Worker's own time is
 * left out. Rounds alternate the two ways; the figure is the ratio of their
 * sums. Run: `deno run -A bench/index_thread_bench.ts` (env `SEGMENTS`,
 * default 16; `RECORDS` per segment, default 20000; `ROUNDS`, default 6).
 */

import { createNodeZstdCodec } from "../src/_wasm/codec.ts";
import { workerRunBuilder } from "../src/index/builder.ts";
import type { SegmentKeys } from "../src/index/fingerprint.ts";
import { MemoryObjectStore } from "../src/objectstore/memory.ts";
import { segmentKey } from "../src/objectstore/manifest.ts";
import { SegmentCache } from "../src/segment/cache.ts";
import { encodeSegment } from "../src/segment/format.ts";
import type { TierStream } from "../src/tier/streams.ts";
import { segmentFileOf, segmentKeysOf } from "../src/tier/reader.ts";

const SEGMENTS = Number(Deno.env.get("SEGMENTS") ?? 16);
const RECORDS = Number(Deno.env.get("RECORDS") ?? 20000);
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 6);
const TICKS_PER_SECOND = 100;

/** CPU seconds of the main thread so far. */
function mainThreadCpu(): number {
  const stat = Deno.readTextFileSync(`/proc/self/task/${Deno.pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 (utime, stime) are at 11 and 12 after the name.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

const codec = createNodeZstdCodec();
const objects = new MemoryObjectStore();
const enc = new TextEncoder();
const rows = [];
let pos = 0;
for (let s = 0; s < SEGMENTS; s++) {
  const startPos = pos;
  const records = Array.from({ length: RECORDS }, (_, i) => {
    const data = enc.encode(`{"n":${i},"v":"${"x".repeat(40)}"}`);
    const r = {
      pos,
      data,
      key: enc.encode(`user-${(s * 7919 + i * 104729) % 100000}`),
    };
    pos += data.length;
    return r;
  });
  const file = encodeSegment(records, { streamId: "b", codec });
  await objects.put(segmentKey(1, startPos, pos), file);
  rows.push({ startPos, endPos: pos, uploaded: true });
}
const stream = { id: 1, segments: rows } as unknown as TierStream;
const builder = workerRunBuilder();

async function viaKeys(): Promise<void> {
  // A cold cache, as for segments uploaded a while ago.
  const cache = new SegmentCache(256 * 2 ** 20, codec);
  const keys: SegmentKeys[] = [];
  for (let s = 0; s < SEGMENTS; s++) {
    keys.push(await segmentKeysOf(objects, cache, stream, s));
  }
  await builder.buildL0(1n, 0, keys);
}

async function viaFiles(): Promise<void> {
  const cache = new SegmentCache(256 * 2 ** 20, codec);
  const files = [];
  for (let s = 0; s < SEGMENTS; s++) {
    files.push(await segmentFileOf(objects, cache, stream, s));
  }
  await builder.buildL0(1n, 0, files);
}

const totals = { keys: { cpu: 0, wall: 0 }, files: { cpu: 0, wall: 0 } };
await viaKeys(); // warm-up: WASM, Worker, JIT
await viaFiles();
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? ["keys", "files"] : ["files", "keys"];
  for (const way of order as ("keys" | "files")[]) {
    const cpu0 = mainThreadCpu();
    const t0 = performance.now();
    await (way === "keys" ? viaKeys() : viaFiles());
    totals[way].wall += performance.now() - t0;
    totals[way].cpu += mainThreadCpu() - cpu0;
  }
}
builder.close();
const per = (x: number) => (x / ROUNDS).toFixed(3);
console.log(
  `${SEGMENTS} segments x ${RECORDS} keyed records, ${ROUNDS} rounds each`,
);
console.log(
  `keys  (main thread decodes): main-thread CPU ${
    per(totals.keys.cpu)
  } s/build, wall ${per(totals.keys.wall / 1000)} s/build`,
);
console.log(
  `files (Worker decodes):      main-thread CPU ${
    per(totals.files.cpu)
  } s/build, wall ${per(totals.files.wall / 1000)} s/build`,
);
console.log(
  `main-thread CPU ratio keys/files: ${
    (totals.keys.cpu / Math.max(totals.files.cpu, 0.01)).toFixed(1)
  }x`,
);
