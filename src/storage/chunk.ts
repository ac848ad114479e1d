/**
 * @module
 * Merging consecutive WAL chunks into one, keeping every record boundary:
 * used by the group-commit writer (appends of one flush) and by compaction
 * (runs of small committed chunks).
 */

import { assert } from "../assert.ts";
import type { Chunk } from "./wal_store.ts";

/** Concatenates consecutive chunks into one, keeping record lengths. */
export function mergeChunks(chunks: Chunk[]): Chunk {
  assert(chunks.length > 0, "merging needs chunks");
  let bytes = 0;
  let records = 0;
  for (const c of chunks) {
    bytes += c.data.length;
    records += c.lengths?.length ?? 1;
  }
  const data = new Uint8Array(bytes);
  const lengths = new Uint32Array(records);
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
  };
}
