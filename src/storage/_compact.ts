/**
 * @module
 * Planning and merging for WAL chunk compaction, shared by every `WalStore`:
 * which consecutive chunks to merge, and the merged chunk itself.
 */

import { assert } from "../assert.ts";
import type { Chunk } from "./wal_store.ts";

/** A chunk's position range, without its bytes. */
export interface ChunkSpan {
  /** First byte. */
  startPos: number;
  /** After the last byte. */
  endPos: number;
}

/** A run of consecutive chunks to merge into one, or to leave as is. */
export interface CompactionPlan {
  /** Runs of two or more chunks to merge, each about `targetBytes`. */
  runs: ChunkSpan[][];
  /** Position up to which chunks are full-size after the merges. */
  compactedPos: number;
}

/**
 * Groups `spans` (consecutive, in order) into runs whose total reaches
 * `targetBytes`. A chunk already at the target stands alone; the trailing
 * run that does not reach the target is left for later. Stops once the
 * planned runs hold about `bytesMax` bytes.
 */
export function planCompaction(
  spans: ChunkSpan[],
  targetBytes: number,
  bytesMax: number,
): CompactionPlan {
  const runs: ChunkSpan[][] = [];
  let compactedPos = spans.length > 0 ? spans[0].startPos : 0;
  let run: ChunkSpan[] = [];
  let runBytes = 0;
  let planned = 0;
  for (const span of spans) {
    const size = span.endPos - span.startPos;
    if (run.length === 0 && size >= targetBytes) {
      compactedPos = span.endPos; // already full-size
      continue;
    }
    run.push(span);
    runBytes += size;
    if (runBytes >= targetBytes) {
      if (run.length > 1) runs.push(run);
      compactedPos = span.endPos;
      planned += runBytes;
      run = [];
      runBytes = 0;
      if (planned >= bytesMax) break;
    }
  }
  return { runs, compactedPos };
}

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
