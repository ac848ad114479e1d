/**
 * Companion build throughput: the work the companion Worker does for one
 * uploaded segment (`buildCompanionBytes`: parse the segment's decoded
 * blocks, extract every search field with its binding, build and encode the
 * sections), on this thread, over `SEGMENTS` segment files (zstd blocks, as
 * uploaded) of `SEGMENT_BYTES` of the search benchmarks' JSON log records
 * (`RECORD_BYTES` each), decompression included. Reports MB/s of source per
 * CPU second of this thread, and companion bytes as a share of source and
 * of segment bytes.
 *
 * Run: `deno run -A bench/companion_build_bench.ts` (env `SEGMENTS`,
 * `SEGMENT_BYTES`, `RECORD_BYTES`, `REPS`). Not part of `deno task test`.
 */

import { createNodeZstdCodec } from "../src/_wasm/codec.ts";
import { COMPANION_BLOCK_BYTES } from "../src/limits.ts";
import {
  encodeSegment,
  type SegmentRecordInput,
} from "../src/segment/format.ts";
import {
  buildCompanionBytes,
  type CompanionBuildInput,
} from "../src/tier/_companion_build.ts";
import { LOG_SEARCH, logRecord } from "./_log_records.ts";

function envInt(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  return v === undefined ? fallback : Number.parseInt(v, 10);
}

const SEGMENTS = envInt("SEGMENTS", 8);
const SEGMENT_BYTES = envInt("SEGMENT_BYTES", 4 << 20);
const RECORD_BYTES = envInt("RECORD_BYTES", 300);
const REPS = envInt("REPS", 3);
const enc = new TextEncoder();
const codec = createNodeZstdCodec();

/** One segment file (zstd blocks) from record `first` on; and the next record. */
function segment(first: number, startPos: number): {
  input: CompanionBuildInput;
  next: number;
} {
  const records: SegmentRecordInput[] = [];
  let i = first;
  let pos = startPos;
  while (pos - startPos < SEGMENT_BYTES) {
    const data = enc.encode(`${JSON.stringify(logRecord(i++, RECORD_BYTES))},`);
    records.push({ pos, data, timeMs: 0 });
    pos += data.length;
  }
  const file = encodeSegment(records, { streamId: "bench", codec });
  return {
    input: {
      search: LOG_SEARCH,
      generation: 1,
      boundaries: [{ position: 0, version: 1 }],
      segment: { startPos, endPos: pos },
      chunks: { file },
      blockBytes: COMPANION_BLOCK_BYTES,
    },
    next: i,
  };
}

/** CPU seconds (user + system) of this thread so far. */
function threadCpuS(): number {
  const stat = Deno.readTextFileSync(`/proc/thread-self/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const inputs: CompanionBuildInput[] = [];
let record = 0;
let pos = 0;
for (let s = 0; s < SEGMENTS; s++) {
  const made = segment(record, pos);
  inputs.push(made.input);
  record = made.next;
  pos = made.input.segment.endPos;
}
const sourceBytes = pos;
console.log(
  `${SEGMENTS} segments of ${(SEGMENT_BYTES / 2 ** 20).toFixed(1)} MiB, ${
    record.toLocaleString("en-US")
  } records of ~${Math.round(sourceBytes / record)} B; load average ${
    Deno.loadavg()[0].toFixed(1)
  }`,
);
let companionBytes = 0;
let segmentBytes = 0;
for (const input of inputs) {
  segmentBytes += (input.chunks as { file: Uint8Array }).file.length;
  companionBytes += (await buildCompanionBytes(input, codec)).length; // warm-up
}
const rates: number[] = [];
for (let r = 0; r < REPS; r++) {
  const cpu0 = threadCpuS();
  const t0 = performance.now();
  for (const input of inputs) await buildCompanionBytes(input, codec);
  const wallS = (performance.now() - t0) / 1000;
  const cpuS = threadCpuS() - cpu0;
  rates.push(sourceBytes / 1e6 / cpuS);
  console.log(
    `rep ${r + 1}: ${wallS.toFixed(2)} s wall, ${cpuS.toFixed(2)} CPU s, ${
      (sourceBytes / 1e6 / cpuS).toFixed(1)
    } MB/s of source per CPU second`,
  );
}
rates.sort((a, b) => a - b);
console.log(
  `median ${rates[rates.length >> 1].toFixed(1)} MB/s per core; companions ${
    (100 * companionBytes / sourceBytes).toFixed(1)
  }% of source bytes, ${
    (100 * companionBytes / segmentBytes).toFixed(1)
  }% of segment bytes (segments ${
    (100 * segmentBytes / sourceBytes).toFixed(1)
  }% of source)`,
);
