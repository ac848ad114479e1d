/**
 * @module
 * The tiered chunk reader: wraps the WAL's `ChunkReader` so positions below
 * a stream's WAL range come from its segments (the byte-bounded cache, else
 * the object store). `gather()` and fork chains read across tiers with
 * unchanged offsets.
 */

import { StreamError } from "../errors.ts";
import type { ChunkReader } from "../engine/reader.ts";
import { segmentKey } from "../objectstore/manifest.ts";
import type { ObjectStore } from "../objectstore/object_store.ts";
import type { SegmentCache } from "../segment/cache.ts";
import type { Chunk } from "../storage/wal_store.ts";
import { findSegment, type TierStream, type TierStreams } from "./streams.ts";

/** Wraps the WAL's reader: positions below a stream's WAL range come from segments. */
export function tieredReader(
  streams: TierStreams,
  objects: ObjectStore,
  cache: SegmentCache,
  wal: ChunkReader,
): ChunkReader {
  const segments = (s: TierStream, fromPos: number, bytesMax: number) =>
    readSegments(objects, cache, s, fromPos, bytesMax);
  return async (id, fromPos, endPos, bytesMax) => {
    const s = streams.get(id);
    if (s !== undefined && fromPos < s.walStart) {
      return await segments(s, fromPos, bytesMax);
    }
    const chunks = await wal(id, fromPos, endPos, bytesMax);
    const missing = chunks.length === 0 || chunks[0].startPos > fromPos;
    if (missing && s !== undefined && fromPos < s.walStart) {
      // The WAL rows were truncated between the check and the query.
      return await segments(s, fromPos, bytesMax);
    }
    return chunks;
  };
}

async function readSegments(
  objects: ObjectStore,
  cache: SegmentCache,
  s: TierStream,
  fromPos: number,
  bytesMax: number,
): Promise<Chunk[]> {
  const row = findSegment(s.segments, fromPos);
  if (row === undefined) {
    throw new StreamError(
      "corrupt",
      `No segment holds position ${fromPos} of stream id ${s.id}`,
    );
  }
  const key = segmentKey(s.id, row.startPos, row.endPos);
  const load = async () => {
    const bytes = await objects.get(key);
    if (bytes === undefined) {
      throw new StreamError("corrupt", `Segment object "${key}" is missing`, {
        key,
      });
    }
    return bytes;
  };
  const segment = await cache.get(key, load);
  // Whole decoded blocks from the one holding fromPos (blocks hold whole
  // records, so also the record holding it): gather() starts at that
  // record and clips at the fork point or tail.
  const chunks: Chunk[] = [];
  let bytes = 0;
  for (
    let b = segment.blockFor(fromPos);
    b >= 0 && b < segment.blocks.length && bytes < bytesMax;
    b++
  ) {
    const block = await cache.block(key, load, b);
    chunks.push(block);
    bytes += block.endPos - Math.max(block.startPos, fromPos);
  }
  return chunks;
}
