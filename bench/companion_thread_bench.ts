/**
 * @module
 * Main-thread CPU per companion build, two ways, in one run, over
 * `SEGMENTS` uploaded segment files (zstd) of the search benchmarks' JSON
 * log records:
 *
 * - `blocks`: the main thread decompresses every block through the segment
 *   cache and posts the decoded blocks to the companion Worker (how builds
 *   ran before);
 * - `file`: the main thread posts the segment file, and the Worker
 *   decompresses it (how builds run now).
 *
 * Both ways then decode the companion on the main thread, as the catalog
 * keeps it decoded. Main-thread CPU is this process's main thread's utime +
 * stime (`/proc/self/task/<pid>/stat`), so the Worker's time is left out;
 * rounds alternate the ways. Run: `deno run -A bench/companion_thread_bench.ts`
 * (env `SEGMENTS`, default 8; `SEGMENT_BYTES`, default 4 MiB; `ROUNDS`,
 * default 4).
 */

import { createNodeZstdCodec } from "../src/_wasm/codec.ts";
import { COMPANION_BLOCK_BYTES } from "../src/limits.ts";
import { segmentKey } from "../src/objectstore/manifest.ts";
import { MemoryObjectStore } from "../src/objectstore/memory.ts";
import { decodeCompanion } from "../src/search/companion.ts";
import { SegmentCache } from "../src/segment/cache.ts";
import { encodeSegment } from "../src/segment/format.ts";
import type { CompanionBuildInput } from "../src/tier/_companion_build.ts";
import { workerCompanionBuilder } from "../src/tier/companions.ts";
import { segmentChunksOf, segmentFileOf } from "../src/tier/reader.ts";
import type { TierStream } from "../src/tier/streams.ts";
import { LOG_SEARCH, logRecord } from "./_log_records.ts";

const SEGMENTS = Number(Deno.env.get("SEGMENTS") ?? 8);
const SEGMENT_BYTES = Number(Deno.env.get("SEGMENT_BYTES") ?? 4 << 20);
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 4);
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
const rows: { startPos: number; endPos: number; uploaded: boolean }[] = [];
let pos = 0;
let i = 0;
for (let s = 0; s < SEGMENTS; s++) {
  const startPos = pos;
  const records = [];
  while (pos - startPos < SEGMENT_BYTES) {
    const data = enc.encode(`${JSON.stringify(logRecord(i++, 300))},`);
    records.push({ pos, data });
    pos += data.length;
  }
  const file = encodeSegment(records, { streamId: "b", codec });
  await objects.put(segmentKey(1, startPos, pos), file);
  rows.push({ startPos, endPos: pos, uploaded: true });
}
const stream = { id: 1, segments: rows } as unknown as TierStream;
const builder = workerCompanionBuilder();

function input(
  s: number,
  chunks: CompanionBuildInput["chunks"],
): CompanionBuildInput {
  return {
    search: LOG_SEARCH,
    generation: 1,
    boundaries: [{ position: 0, version: 1 }],
    segment: { startPos: rows[s].startPos, endPos: rows[s].endPos },
    chunks,
    blockBytes: COMPANION_BLOCK_BYTES,
  };
}

async function viaBlocks(): Promise<void> {
  // A cold cache, as for segments uploaded a while ago.
  const cache = new SegmentCache(256 * 2 ** 20, codec);
  for (let s = 0; s < SEGMENTS; s++) {
    const chunks = [];
    for await (const c of segmentChunksOf(objects, cache, stream, s)) {
      chunks.push({ startPos: c.startPos, data: c.data, lengths: c.lengths });
    }
    decodeCompanion(await builder.build(input(s, chunks)));
  }
}

async function viaFile(): Promise<void> {
  const cache = new SegmentCache(256 * 2 ** 20, codec);
  for (let s = 0; s < SEGMENTS; s++) {
    const { segment: file } = await segmentFileOf(objects, cache, stream, s);
    decodeCompanion(await builder.build(input(s, { file })));
  }
}

const totals = { blocks: { cpu: 0, wall: 0 }, file: { cpu: 0, wall: 0 } };
await viaBlocks(); // warm-up: Worker, JIT
await viaFile();
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? ["blocks", "file"] : ["file", "blocks"];
  for (const way of order as ("blocks" | "file")[]) {
    const cpu0 = mainThreadCpu();
    const t0 = performance.now();
    await (way === "blocks" ? viaBlocks() : viaFile());
    totals[way].wall += performance.now() - t0;
    totals[way].cpu += mainThreadCpu() - cpu0;
  }
}
builder.close();
const builds = ROUNDS * SEGMENTS;
const ms = (x: number) => (1000 * x / builds).toFixed(1);
console.log(
  `${SEGMENTS} segments of ${(SEGMENT_BYTES / 2 ** 20).toFixed(1)} MiB (${
    i.toLocaleString("en-US")
  } records), ${ROUNDS} rounds each; load average ${
    Deno.loadavg()[0].toFixed(1)
  }`,
);
for (const way of ["blocks", "file"] as const) {
  console.log(
    `${way.padEnd(6)}: main-thread CPU ${
      ms(totals[way].cpu)
    } ms per segment build, wall ${ms(totals[way].wall / 1000)} ms`,
  );
}
