/**
 * @module
 * Gathers a stream's bytes for a read: from the start of the record holding
 * a position (a position inside a record reads that record whole) to the
 * visible tail, across the fork chain (a fork reads its source below its fork
 * position, clipped there), stopping at a soft byte cap on a record boundary.
 * At least one record is returned.
 */

import { StreamError } from "../errors.ts";
import type { Chunk } from "../storage/wal_store.ts";

/** One link of a fork chain, as the reader needs it. */
export interface ReadSource {
  /** Stream id to read chunks of. */
  id: number;
  /** The source this stream was forked from, if any. */
  parent: ReadSource | undefined;
  /** Where this stream branches off `parent`. */
  forkPos: number;
}

/** Reads chunks of one stream overlapping `[fromPos, endPos)`. */
export type ChunkReader = (
  streamId: number,
  fromPos: number,
  endPos: number,
  bytesMax: number,
) => Promise<Chunk[]>;

/**
 * Bytes read for readers, by the tier they came from (`read_bytes_total`):
 * the WAL, the segment cache, or the object store (a segment loaded for the
 * read). Plain counters, bumped once per chunk-reader call.
 */
export class TierReadBytes {
  /** From the write-ahead log. */
  wal = 0;
  /** From segments already in the cache. */
  cache = 0;
  /** From segments the read loaded from the object store. */
  object = 0;
}

/** The bytes of `chunks` at or after `fromPos`. */
export function bytesFrom(chunks: readonly Chunk[], fromPos: number): number {
  let bytes = 0;
  for (const c of chunks) {
    if (c.endPos > fromPos) bytes += c.endPos - Math.max(c.startPos, fromPos);
  }
  return bytes;
}

/** One stream's own part of a fork chain's positions. */
export interface ChainRange {
  /** Stream id whose chunks hold these positions. */
  id: number;
  /** First position. */
  fromPos: number;
  /** Position after the last. */
  endPos: number;
}

/**
 * The parts of `source`'s positions `[0, tailPos)` in position order: the
 * root source's records below the first fork point, then each fork's own
 * records, ending with `source`'s.
 */
export function chainRanges(source: ReadSource, tailPos: number): ChainRange[] {
  const ranges: ChainRange[] = [];
  let end = tailPos;
  for (let s: ReadSource | undefined = source; s !== undefined; s = s.parent) {
    const from = s.parent === undefined ? 0 : s.forkPos;
    ranges.push({ id: s.id, fromPos: Math.min(from, end), endPos: end });
    end = Math.min(end, from);
  }
  return ranges.reverse();
}

/**
 * The position of the first record of `source` in `[0, tailPos)` appended
 * at or after `timeMs`, or `tailPos` when there is none: each link of the
 * fork chain is asked in position order (times never decrease along it).
 */
export async function seekChain(
  seek: (
    id: number,
    fromPos: number,
    endPos: number,
    timeMs: number,
  ) => Promise<number | undefined>,
  source: ReadSource,
  tailPos: number,
  timeMs: number,
): Promise<number> {
  for (const range of chainRanges(source, tailPos)) {
    if (range.fromPos >= range.endPos) continue;
    const pos = await seek(range.id, range.fromPos, range.endPos, timeMs);
    if (pos !== undefined) return Math.max(pos, range.fromPos);
  }
  return tailPos;
}

/** Bytes gathered for a read. */
export interface Gathered {
  /** Position of the first returned byte: the start of the record holding
   * the requested position (clipped at a fork point). */
  startPos: number;
  /** Position after the last returned byte. */
  endPos: number;
  /** Pieces of the stored bytes, in order. */
  pieces: Uint8Array[];
  /** Total bytes in `pieces`. */
  bytes: number;
}

/** Gathers `[fromPos, tailPos)` of `source`, up to about `bytesMax` bytes. */
export async function gather(
  read: ChunkReader,
  source: ReadSource,
  fromPos: number,
  tailPos: number,
  bytesMax: number,
): Promise<Gathered> {
  const out: Gathered = {
    startPos: fromPos,
    endPos: fromPos,
    pieces: [],
    bytes: 0,
  };
  let pos = fromPos;
  let first = true;
  let full = false;
  while (pos < tailPos && !full) {
    let owner = source;
    let limit = tailPos;
    while (owner.parent !== undefined && pos < owner.forkPos) {
      limit = Math.min(limit, owner.forkPos);
      owner = owner.parent;
    }
    const chunks = await read(owner.id, pos, limit, bytesMax - out.bytes);
    if (chunks.length === 0 || chunks[0].startPos > pos) {
      throw new StreamError(
        "corrupt",
        `Stream data missing at position ${pos} (stream id ${owner.id})`,
      );
    }
    for (const chunk of chunks) {
      const taken = take(
        chunk,
        pos,
        limit,
        bytesMax - out.bytes,
        out.bytes === 0,
      );
      if (first) {
        out.startPos = taken.startPos;
        first = false;
      }
      if (taken.endPos > taken.startPos) {
        out.pieces.push(
          chunk.data.subarray(
            taken.startPos - chunk.startPos,
            taken.endPos - chunk.startPos,
          ),
        );
        out.bytes += taken.endPos - taken.startPos;
      }
      pos = taken.endPos;
      if (
        out.bytes >= bytesMax || taken.endPos < Math.min(chunk.endPos, limit)
      ) {
        full = true; // the cap cut this chunk short
        break;
      }
      if (pos >= limit) break;
    }
  }
  out.endPos = first ? Math.min(pos, tailPos) : pos;
  if (first) out.startPos = out.endPos;
  return out;
}

/**
 * The part of `chunk` to return: from the start of the record holding `pos`,
 * whole records while under `budget` (at least one when `mustTake`), clipped
 * at `limit` (a fork point may cut a record).
 */
function take(
  chunk: Chunk,
  pos: number,
  limit: number,
  budget: number,
  mustTake: boolean,
): { startPos: number; endPos: number } {
  const end = Math.min(chunk.endPos, limit);
  if (chunk.lengths === null) {
    // One record, whether `pos` is at its start or inside it: take it whole
    // (clipped at a fork point) if the budget allows or nothing is taken yet.
    if (end - chunk.startPos > budget && !mustTake) {
      return { startPos: chunk.startPos, endPos: chunk.startPos };
    }
    return { startPos: chunk.startPos, endPos: end };
  }
  if (
    pos <= chunk.startPos && end === chunk.endPos &&
    end - chunk.startPos <= budget
  ) {
    return { startPos: chunk.startPos, endPos: end }; // whole chunk: no need to walk records
  }
  let recordStart = chunk.startPos;
  let i = 0;
  while (i < chunk.lengths.length && recordStart + chunk.lengths[i] <= pos) {
    recordStart += chunk.lengths[i++];
  }
  const startPos = Math.min(recordStart, end);
  let endPos = startPos;
  let mustTakeOne = mustTake;
  while (i < chunk.lengths.length && endPos < end) {
    const next = endPos + chunk.lengths[i];
    if (next - startPos > budget && !mustTakeOne) break;
    endPos = Math.min(next, end);
    mustTakeOne = false;
    i++;
  }
  return { startPos, endPos };
}

/**
 * The position `count` records (JSON messages) past `fromPos` in `source`,
 * below its tail (`tailPos()`, asked again after each read, as commits may
 * move it); `undefined` when the stream ends first.
 */
export async function skipRecords(
  read: ChunkReader,
  source: ReadSource,
  fromPos: number,
  tailPos: () => number,
  count: number,
): Promise<number | undefined> {
  let pos = fromPos;
  for (let left = count; left > 0; left--) {
    if (pos >= tailPos()) return undefined;
    const got = await gather(read, source, pos, tailPos(), 1);
    if (got.endPos <= pos) return undefined;
    pos = got.endPos;
  }
  return pos;
}
