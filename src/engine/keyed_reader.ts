/**
 * @module
 * Key-filtered reads: walk a stream's records from a position (across its
 * fork chain, like `gather`), keep those whose routing key equals the one
 * asked for byte for byte, and stop when the answer is full, the scan
 * budget is spent or the tail is reached. The reader may rule out whole
 * ranges without decoding them (segment blocks whose bloom filter says the
 * key is absent); every record it does return is checked against the key,
 * so a filter's false positive never leaks and nothing is ever missed.
 */

import { StreamError } from "../errors.ts";
import { decodeKeys, sameBytes } from "../record_meta.ts";
import type { Chunk } from "../storage/wal_store.ts";
import { concatBytes } from "../bytes.ts";
import type { ReadSource } from "./reader.ts";
import { viewOf } from "./registry.ts";
import type { StreamState } from "./stream_state.ts";
import type { KeyedReadOutcome } from "./types.ts";

/** A range the reader skipped: no record in it has the key asked for. */
export interface SkippedRange {
  /** Marks a skipped range (a `Chunk` has no such field). */
  skipped: true;
  /** Position of the first skipped byte (a record start). */
  startPos: number;
  /** Position after the last skipped byte (a record end). */
  endPos: number;
}

/**
 * Reads chunks of one stream overlapping `[fromPos, endPos)` for a keyed
 * read of `key`: like a `ChunkReader`, but it may answer ranges whose
 * records certainly lack the key as `SkippedRange`s. `bytesMax` bounds the
 * stored bytes covered (at least one piece).
 */
export type KeyedChunkReader = (
  streamId: number,
  fromPos: number,
  endPos: number,
  bytesMax: number,
  key: Uint8Array,
) => Promise<(Chunk | SkippedRange)[]>;

/** Records gathered for a keyed read. */
export interface KeyedGathered {
  /** The matching records' bytes, in order. */
  pieces: Uint8Array[];
  /** Total bytes in `pieces`. */
  bytes: number;
  /** Position after the last record examined: where the next read goes on. */
  endPos: number;
  /** Stored bytes examined (or skipped as certainly not matching). */
  scannedBytes: number;
  /** True when the scan stopped at `scanBytesMax` before the tail. */
  scanLimitReached: boolean;
}

/** Limits of one keyed read. */
export interface KeyedLimits {
  /** Soft cap on returned bytes (at least one matching record). */
  bytesMax: number;
  /** Stored bytes examined at most. */
  scanBytesMax: number;
  /** Stored bytes asked of the reader per call. */
  sliceBytes: number;
}

/**
 * Gathers the records of `source` in `[fromPos, tailPos)` whose key is
 * `key`. A position inside a record examines that record whole.
 */
export async function gatherKeyed(
  read: KeyedChunkReader,
  source: ReadSource,
  fromPos: number,
  tailPos: number,
  key: Uint8Array,
  limits: KeyedLimits,
): Promise<KeyedGathered> {
  const out: KeyedGathered = {
    pieces: [],
    bytes: 0,
    endPos: fromPos,
    scannedBytes: 0,
    scanLimitReached: false,
  };
  let pos = fromPos;
  while (pos < tailPos) {
    if (out.scannedBytes >= limits.scanBytesMax) {
      out.scanLimitReached = true;
      break;
    }
    let owner = source;
    let limit = tailPos;
    while (owner.parent !== undefined && pos < owner.forkPos) {
      limit = Math.min(limit, owner.forkPos);
      owner = owner.parent;
    }
    const budget = Math.max(
      1,
      Math.min(limits.sliceBytes, limits.scanBytesMax - out.scannedBytes),
    );
    const pieces = await read(owner.id, pos, limit, budget, key);
    if (pieces.length === 0 || pieces[0].startPos > pos) {
      throw new StreamError(
        "corrupt",
        `Stream data missing at position ${pos} (stream id ${owner.id})`,
      );
    }
    const next = scanPieces(pieces, pos, limit, key, limits, out);
    if (next === undefined) break; // the answer is full
    if (next <= pos) {
      throw new StreamError(
        "corrupt",
        `Stream data missing after position ${pos} (stream id ${owner.id})`,
      );
    }
    pos = next;
  }
  out.endPos = Math.min(Math.max(out.endPos, pos), tailPos);
  return out;
}

/**
 * A keyed read of `state` from `position` (`"start"`, `"now"` or a byte
 * position, capped at the committed tail): the matching records, the next
 * offset after the last record examined, and the scan figures.
 */
export async function readKeyedFrom(
  read: KeyedChunkReader,
  state: StreamState,
  position: number | "start" | "now",
  key: Uint8Array,
  limits: KeyedLimits,
): Promise<KeyedReadOutcome> {
  const tailPos = state.visibleTailPos;
  const fromPos = position === "start"
    ? 0
    : position === "now"
    ? tailPos
    : Math.min(position, tailPos);
  const got = await gatherKeyed(read, state, fromPos, tailPos, key, limits);
  const upToDate = got.endPos >= tailPos;
  return {
    stream: viewOf(state),
    startPos: fromPos,
    nextPos: got.endPos,
    data: concatBytes(got.pieces),
    upToDate,
    // Closed only if nothing was committed while this read ran.
    closed: upToDate && state.visibleClosed &&
      tailPos === state.visibleTailPos,
    scannedBytes: got.scannedBytes,
    scanLimitReached: got.scanLimitReached,
  };
}

/**
 * Examines `pieces` from `pos` up to `limit`, adding matches to `out`;
 * returns where it stopped, or `undefined` when `out` is full (then
 * `out.endPos` is the stop). Stops early at the scan budget too.
 */
function scanPieces(
  pieces: readonly (Chunk | SkippedRange)[],
  pos: number,
  limit: number,
  key: Uint8Array,
  limits: KeyedLimits,
  out: KeyedGathered,
): number | undefined {
  for (const piece of pieces) {
    if (pos >= limit || out.scannedBytes >= limits.scanBytesMax) break;
    if (piece.endPos <= pos) continue;
    if (piece.startPos > pos) break; // a gap: ask the reader again from pos
    if ("skipped" in piece) {
      const end = Math.min(piece.endPos, limit);
      out.scannedBytes += end - pos;
      pos = end;
      continue;
    }
    const stop = scanChunk(piece, pos, limit, key, limits, out);
    if (stop.full) {
      out.endPos = stop.pos;
      return undefined;
    }
    pos = stop.pos;
  }
  return pos;
}

function scanChunk(
  chunk: Chunk,
  pos: number,
  limit: number,
  key: Uint8Array,
  limits: KeyedLimits,
  out: KeyedGathered,
): { pos: number; full: boolean } {
  const lengths = chunk.lengths ?? [chunk.data.length];
  const keys = decodeKeys(chunk.keys, lengths.length);
  let start = chunk.startPos;
  for (let i = 0; i < lengths.length; i++) {
    const end = start + lengths[i];
    if (end <= pos) {
      start = end;
      continue;
    }
    if (start >= limit || out.scannedBytes >= limits.scanBytesMax) break;
    const clipped = Math.min(end, limit); // a fork point may cut a record
    const k = keys[i];
    if (k !== null && sameBytes(k, key)) {
      const length = clipped - start;
      if (out.bytes > 0 && out.bytes + length > limits.bytesMax) {
        return { pos: start, full: true };
      }
      out.pieces.push(
        chunk.data.subarray(start - chunk.startPos, clipped - chunk.startPos),
      );
      out.bytes += length;
    }
    out.scannedBytes += clipped - Math.max(start, pos);
    pos = clipped;
    start = end;
    if (out.bytes >= limits.bytesMax) return { pos, full: true };
  }
  return { pos, full: false };
}
