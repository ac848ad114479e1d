/**
 * @module
 * WAL chunks as runs of records: merging consecutive chunks into one,
 * keeping every record boundary, key and append time (used by the
 * group-commit writer for appends of one flush and by compaction for runs
 * of small committed chunks), and finding a record by append time.
 */

import { assert } from "../assert.ts";
import { decodeKeys, encodeKeys } from "../record_meta.ts";
import type { Chunk } from "./wal_store.ts";

/** Records in `chunk`. */
export function recordCount(chunk: Chunk): number {
  return chunk.lengths?.length ?? 1;
}

/** Concatenates consecutive chunks into one, keeping records, keys and times. */
export function mergeChunks(chunks: Chunk[]): Chunk {
  assert(chunks.length > 0, "merging needs chunks");
  let bytes = 0;
  let records = 0;
  let keyed = false;
  let timed = false;
  for (const c of chunks) {
    bytes += c.data.length;
    records += recordCount(c);
    keyed ||= c.keys !== null;
    timed ||= c.times !== null;
  }
  const data = new Uint8Array(bytes);
  const lengths = new Uint32Array(records);
  const times = timed ? new Float64Array(records) : null;
  const keys: (Uint8Array | null)[] = [];
  let at = 0;
  let index = 0;
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i];
    assert(
      i === 0 || chunks[i - 1].endPos === c.startPos,
      "merged chunks are contiguous",
    );
    data.set(c.data, at);
    at += c.data.length;
    if (times !== null && c.times !== null) times.set(c.times, index);
    if (keyed) keys.push(...decodeKeys(c.keys, recordCount(c)));
    if (c.lengths === null) lengths[index++] = c.data.length;
    else {
      lengths.set(c.lengths, index);
      index += c.lengths.length;
    }
  }
  return {
    startPos: chunks[0].startPos,
    endPos: chunks[chunks.length - 1].endPos,
    data,
    lengths: records > 1 ? lengths : null,
    keys: keyed ? encodeKeys(keys) : null,
    times,
  };
}

/**
 * Position of the first record of `chunk` at or after `fromPos` (a record
 * holding `fromPos` counts) whose append time is at least `timeMs`, or
 * `undefined`. Untimed records have time 0.
 */
export function seekTimeInChunk(
  chunk: Chunk,
  fromPos: number,
  timeMs: number,
): number | undefined {
  const lengths = chunk.lengths ?? [chunk.data.length];
  let pos = chunk.startPos;
  for (let i = 0; i < lengths.length; i++) {
    const end = pos + lengths[i];
    if (end > fromPos && (chunk.times?.[i] ?? 0) >= timeMs) return pos;
    pos = end;
  }
  return undefined;
}
