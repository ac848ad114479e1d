import assert from "node:assert/strict";
import type { SkippedRange } from "../engine/keyed_reader.ts";
import { segmentKey } from "../objectstore/manifest.ts";
import { MemoryObjectStore } from "../objectstore/memory.ts";
import { SegmentCache } from "../segment/cache.ts";
import { encodeSegment, type SegmentRecordInput } from "../segment/format.ts";
import type { Chunk } from "../storage/wal_store.ts";
import { TierReadBytes } from "../engine/reader.ts";
import { tieredKeyedReader, tieredReader, tieredTimeSeeker } from "./reader.ts";
import { TierStreams } from "./streams.ts";

const enc = new TextEncoder();

/**
 * Stream 1 with two uploaded segments of four blocks each (blocks of three
 * 10-byte records; block i's records share key `k${i}`, time 1000 + 10 i),
 * and a WAL above them.
 */
async function fixture() {
  const objects = new MemoryObjectStore();
  const rows = [];
  let pos = 0;
  for (let s = 0; s < 2; s++) {
    const records: SegmentRecordInput[] = [];
    const startPos = pos;
    for (let b = 0; b < 4; b++) {
      const block = s * 4 + b;
      for (let r = 0; r < 3; r++) {
        records.push({
          pos,
          data: enc.encode(`blk${block}-r${r}`.padEnd(10, ".")),
          key: enc.encode(`k${block}`),
          timeMs: 1000 + block * 10,
        });
        pos += 10;
      }
    }
    const bytes = encodeSegment(records, {
      streamId: "1",
      codec: null,
      blockBytesTarget: 30,
    });
    await objects.put(segmentKey(1, startPos, pos), bytes);
    rows.push({
      streamId: 1,
      startPos,
      endPos: pos,
      sizeBytes: bytes.length,
      uploaded: true,
    });
  }
  const streams = new TierStreams();
  streams.load({
    streams: [],
    segments: rows,
    nextStreamId: 2,
    schemaRegistries: [],
    profiles: [],
  });
  return { objects, streams, walStart: pos };
}

Deno.test("tieredKeyedReader() skips segment blocks whose bloom rules the key out", async () => {
  const { objects, streams, walStart } = await fixture();
  const walReads: number[] = [];
  const read = tieredKeyedReader(
    streams,
    objects,
    new SegmentCache(1 << 20, null),
    (_id, from) => {
      walReads.push(from);
      return Promise.resolve([]);
    },
    new TierReadBytes(),
  );
  const pieces = await read(1, 0, walStart, 1 << 20, enc.encode("k2"));
  // The first segment: blocks 0, 1, 3 skipped, block 2 decoded.
  assert.deepEqual(
    pieces.map((p) => "skipped" in p ? "skip" : "data"),
    ["skip", "skip", "data", "skip"],
  );
  assert.deepEqual(
    pieces.map((p) => [p.startPos, p.endPos]),
    [[0, 30], [30, 60], [60, 90], [90, 120]],
  );
  const data = pieces[2] as Chunk;
  assert.equal(new TextDecoder().decode(data.data).slice(0, 4), "blk2");
  assert.deepEqual([...data.times!], [1020, 1020, 1020]);
  // A key no block has: every block skipped, none decoded.
  const none = await read(1, 120, walStart, 1 << 20, enc.encode("zz"));
  assert.ok(none.every((p) => (p as SkippedRange).skipped === true));
  assert.equal(walReads.length, 0);
});

Deno.test("tieredReader() counts segment bytes as object on a load, cache after", async () => {
  const { objects, streams, walStart } = await fixture();
  const counts = new TierReadBytes();
  const read = tieredReader(
    streams,
    objects,
    new SegmentCache(1 << 20, null),
    () => Promise.resolve([]),
    counts,
  );
  // From 45: blocks 1..3 of the first segment, 75 bytes from 45 on.
  await read(1, 45, walStart, 1 << 20);
  assert.deepEqual({ ...counts }, { wal: 0, cache: 0, object: 75 });
  await read(1, 0, walStart, 1 << 20);
  assert.deepEqual({ ...counts }, { wal: 0, cache: 120, object: 75 });
});

Deno.test("tieredTimeSeeker() finds the first record at a time across segments, then asks the WAL", async () => {
  const { objects, streams, walStart } = await fixture();
  const asked: number[] = [];
  const seek = tieredTimeSeeker(
    streams,
    objects,
    new SegmentCache(1 << 20, null),
    (_id, from, _end, timeMs) => {
      asked.push(from);
      return Promise.resolve(timeMs <= 2000 ? walStart : undefined);
    },
  );
  assert.equal(await seek(1, 0, 1000, 0), 0);
  assert.equal(await seek(1, 0, 1000, 1000), 0);
  assert.equal(await seek(1, 0, 1000, 1001), 30);
  assert.equal(await seek(1, 0, 1000, 1050), 150); // block 5, second segment
  assert.equal(await seek(1, 95, 1000, 1000), 90); // the record holding 95
  assert.deepEqual(asked, []);
  assert.equal(await seek(1, 0, 1000, 1071), walStart); // past every segment
  assert.equal(await seek(1, 0, 1000, 3000), undefined);
  assert.deepEqual(asked, [walStart, walStart]);
});
