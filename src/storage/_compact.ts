/**
 * @module
 * Planning for WAL chunk compaction, shared by every `WalStore`: which
 * consecutive chunks to merge (`chunk.ts` merges them).
 */

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
