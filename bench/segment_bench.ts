/**
 * @module
 * Segment throughput: `encodeSegment` of JSON-ish log records with each
 * codec (and raw), and `readFrom` scans of a segment held in memory.
 * Run: deno bench -A bench/segment_bench.ts; MB/s = SEGMENT_BYTES / avg.
 */

import {
  type Codec,
  createNodeZstdCodec,
  createZstdWasmCodec,
} from "../src/_wasm/codec.ts";
import {
  encodeSegment,
  openSegment,
  type SegmentRecordInput,
} from "../src/segment/format.ts";

const RECORDS = 20_000;
const enc = new TextEncoder();

function logRecords(): SegmentRecordInput[] {
  const out: SegmentRecordInput[] = [];
  let pos = 0;
  for (let i = 0; i < RECORDS; i++) {
    const data = enc.encode(
      JSON.stringify({
        ts: 1_700_000_000_000 + i * 13,
        level: ["info", "warn", "error", "debug"][i % 4],
        service: `svc-${i % 17}`,
        path: `/v1/stream/orders/${i % 311}`,
        status: [200, 201, 204, 404, 500][i % 5],
        latencyMs: (i * 7919) % 1000,
        msg: `request ${i} handled by worker ${(i * 31) % 8}`,
      }) + ",",
    );
    out.push({ pos, data, key: enc.encode(`svc-${i % 17}`) });
    pos += data.length;
  }
  return out;
}

const records = logRecords();
const last = records[records.length - 1];
/** Record bytes per iteration; divide by the mean time for MB/s. */
export const SEGMENT_BYTES: number = last.pos + last.data.length;
console.log(`segment bench: ${RECORDS} records, ${SEGMENT_BYTES} bytes`);

const codecs: [string, Codec | null][] = [
  ["raw", null],
  ["zstd-wasm", await createZstdWasmCodec()],
  ["node-zlib-zstd", createNodeZstdCodec()],
];

for (const [name, codec] of codecs) {
  Deno.bench(`encodeSegment ${name} level 3`, {
    group: "encode",
    baseline: name === "zstd-wasm",
  }, () => {
    encodeSegment(records, { streamId: "bench", codec, level: 3 });
  });
}

for (const [name, codec] of codecs) {
  const bytes = encodeSegment(records, { streamId: "bench", codec });
  console.log(`  ${name}: segment of ${bytes.length} bytes`);
  const reader = await openSegment(bytes, { codec });
  Deno.bench(`readFrom scan ${name}, 1 MiB reads`, {
    group: "read",
    baseline: name === "zstd-wasm",
  }, async () => {
    let pos = reader.startPos;
    while (pos < reader.endPos) {
      pos = (await reader.readFrom(pos, 2 ** 20)).nextPos;
    }
  });
}
