/**
 * @module
 * Walks the JSON messages of a stream from a position (across its fork
 * chain, like `gather`), handing each to a visitor, within a budget of
 * stored bytes and a deadline. `filter=` reads, `_search` and `_aggregate`
 * all scan through it; with a key only that key's records are visited and
 * the reader may rule out whole ranges (`SkippedRange`) without decoding.
 */

import { StreamError } from "../errors.ts";
import type { Companion } from "../search/companion.ts";
import type { Plan } from "../search/compile.ts";
import type { SearchConfig } from "../search/config.ts";
import { storedMessageEnds } from "../protocol/json.ts";
import { decodeKeys, sameBytes } from "../record_meta.ts";
import type { Chunk } from "../storage/wal_store.ts";
import type { KeyedChunkReader, SkippedRange } from "./keyed_reader.ts";
import type { ReadSource } from "./reader.ts";

/**
 * Called with one stored message (its bytes include the trailing comma),
 * its position and its parsed value (`undefined` when it is not JSON or the
 * scan does not parse); returns false to stop before it (the answer is
 * full), so the scan ends at `start`.
 */
export type RecordVisitor = (
  bytes: Uint8Array,
  start: number,
  end: number,
  value: unknown,
) => boolean;

/** Bounds of one scan. */
export interface ScanLimits {
  /** Stored bytes examined at most (at least one message). */
  scanBytesMax: number;
  /** Stored bytes asked of the reader per call. */
  sliceBytes: number;
  /** `Date.now()` after which the scan stops (checked between chunks). */
  deadlineMs: number;
}

/** Why a scan stopped. */
export type ScanStop = "tail" | "full" | "scan_bytes" | "time";

/** How far a scan went. */
export interface ScanOutcome {
  /** Position after the last message examined: where a next scan goes on. */
  endPos: number;
  /** Stored bytes examined (or ruled out for the key). */
  scannedBytes: number;
  /** Messages examined (handed to the visitor) at or after `splitPos`. */
  recordsFromSplit: number;
  /** Messages examined in total. */
  records: number;
  /** What ended the scan. */
  stop: ScanStop;
}

/**
 * Where an index rules records out: for a position in stream `id`'s own
 * records, the first range ending after it that holds no match (bounds at
 * record boundaries; it may start at or before the position, or later), or
 * undefined when the index knows of none ahead.
 */
export type SkipRanges = (
  id: number,
  pos: number,
) => { from: number; to: number } | undefined;

/** What an index offers one scan: ranges to skip, and how many segments it answered for. */
export interface Pruning {
  /** Ranges that cannot match. */
  skip: SkipRanges;
  /** Segments whose index was consulted so far. */
  indexedSegments(): number;
  /**
   * The segments with a companion built for the query's config, ascending
   * (what `skip` may rule ranges out of): rollup and BM25 figures come
   * from them instead of their records.
   */
  companions?(): readonly IndexedSegment[];
}

/** An uploaded segment of the stream's own records and its companion. */
export interface IndexedSegment {
  /** First position of the segment. */
  startPos: number;
  /** Position after it. */
  endPos: number;
  /** Its decoded companion. */
  companion: Companion;
}

/**
 * Asks the indexes of stream `streamId` (its own records, not a fork
 * source's) which ranges cannot match `plan` under `config`; undefined
 * when it has none to offer. Installed by tiering (`Engine.setSearchPruner`).
 */
export type SearchPruner = (
  streamId: number,
  config: SearchConfig,
  plan: Plan,
) => Pruning | undefined;

/** What `scanRecords` needs besides the reader and the source. */
export interface ScanRange {
  /** First position (a position inside a message examines it whole). */
  fromPos: number;
  /** Committed tail: the scan ends here. */
  tailPos: number;
  /** Only messages with this routing key are visited. */
  key?: Uint8Array;
  /** Position from which `recordsFromSplit` counts (the unsealed tail). */
  splitPos?: number;
  /** False: messages are only counted, not parsed (default true). */
  parse?: boolean;
  /** Ranges that cannot match, passed over unread and unvisited. */
  skip?: SkipRanges;
}

/** Scans `source` over `range`, visiting each message in order. */
export async function scanRecords(
  read: KeyedChunkReader,
  source: ReadSource,
  range: ScanRange,
  visit: RecordVisitor,
  limits: ScanLimits,
): Promise<ScanOutcome> {
  const out: ScanOutcome = {
    endPos: range.fromPos,
    scannedBytes: 0,
    recordsFromSplit: 0,
    records: 0,
    stop: "tail",
  };
  const key = range.key ?? new Uint8Array(0);
  let pos = range.fromPos;
  while (pos < range.tailPos) {
    if (out.scannedBytes >= limits.scanBytesMax) {
      out.stop = "scan_bytes";
      break;
    }
    if (Date.now() >= limits.deadlineMs) {
      out.stop = "time";
      break;
    }
    let owner = source;
    let limit = range.tailPos;
    while (owner.parent !== undefined && pos < owner.forkPos) {
      limit = Math.min(limit, owner.forkPos);
      owner = owner.parent;
    }
    const ruled = range.skip?.(owner.id, pos);
    if (ruled !== undefined && ruled.to > pos) {
      if (ruled.from <= pos) {
        pos = Math.min(ruled.to, limit); // passed over unread
        continue;
      }
      limit = Math.min(limit, ruled.from); // read up to it only
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
    const next = scanPieces(pieces, pos, limit, range, visit, limits, out);
    if (next === undefined) return out; // the answer is full
    if (next <= pos) {
      throw new StreamError(
        "corrupt",
        `Stream data missing after position ${pos} (stream id ${owner.id})`,
      );
    }
    pos = next;
  }
  out.endPos = Math.min(Math.max(out.endPos, pos), range.tailPos);
  return out;
}

function scanPieces(
  pieces: readonly (Chunk | SkippedRange)[],
  pos: number,
  limit: number,
  range: ScanRange,
  visit: RecordVisitor,
  limits: ScanLimits,
  out: ScanOutcome,
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
    const stop = scanChunk(piece, pos, limit, range, visit, limits, out);
    if (stop === undefined) return undefined;
    pos = stop;
  }
  return pos;
}

const decoder = new TextDecoder();

/**
 * The stored message `bytes` (trailing comma included) parsed; a message
 * that is not JSON reads as `undefined` (a record with no fields).
 */
export function parseStored(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes.subarray(0, bytes.length - 1)));
  } catch {
    return undefined;
  }
}

/**
 * The values of whole records `bytes` (each one message followed by a
 * comma) parsed at once, which is several times faster than one parse per
 * message; `undefined` when they do not parse as `count` values.
 */
function parseRun(bytes: Uint8Array, count: number): unknown[] | undefined {
  if (bytes.length === 0 || bytes[bytes.length - 1] !== 0x2c) return undefined;
  try {
    const values = JSON.parse(
      `[${decoder.decode(bytes.subarray(0, bytes.length - 1))}]`,
    );
    return Array.isArray(values) && values.length === count
      ? values
      : undefined;
  } catch {
    return undefined;
  }
}

function scanChunk(
  chunk: Chunk,
  pos: number,
  limit: number,
  range: ScanRange,
  visit: RecordVisitor,
  limits: ScanLimits,
  out: ScanOutcome,
): number | undefined {
  const lengths = chunk.lengths ?? [chunk.data.length];
  const keys = range.key === undefined
    ? undefined
    : decodeKeys(chunk.keys, lengths.length);
  const values = keys === undefined && range.parse !== false
    ? parseWhole(chunk, lengths, pos, limit)
    : undefined;
  const split = range.splitPos ?? Infinity;
  let start = chunk.startPos;
  for (let i = 0; i < lengths.length; i++) {
    const end = start + lengths[i];
    if (end <= pos) {
      start = end;
      continue;
    }
    if (start >= limit || out.scannedBytes >= limits.scanBytesMax) break;
    const clipped = Math.min(end, limit); // a fork point may cut a record
    const k = keys?.[i];
    if (keys === undefined || (k != null && sameBytes(k, range.key!))) {
      const bytes = chunk.data.subarray(
        start - chunk.startPos,
        clipped - chunk.startPos,
      );
      if (values !== undefined && values.has(i)) {
        if (!visit(bytes, start, clipped, values.get(i))) {
          return stopAt(out, start);
        }
        count(out, start, split);
      } else {
        // A record normally holds one message; split it when it holds more.
        let at = 0;
        for (const messageEnd of storedMessageEnds(bytes)) {
          const s = start + at;
          if (s + (messageEnd - at) > pos) {
            const message = bytes.subarray(at, messageEnd);
            const value = range.parse === false
              ? undefined
              : parseStored(message);
            if (!visit(message, s, start + messageEnd, value)) {
              return stopAt(out, s);
            }
            count(out, s, split);
          }
          at = messageEnd;
        }
      }
    }
    out.scannedBytes += clipped - Math.max(start, pos);
    pos = clipped;
    start = end;
  }
  return pos;
}

function stopAt(out: ScanOutcome, position: number): undefined {
  out.endPos = position;
  out.stop = "full";
  return undefined;
}

function count(out: ScanOutcome, position: number, split: number): void {
  out.records++;
  if (position >= split) out.recordsFromSplit++;
}

/**
 * The parsed value of each whole record of `chunk` in `[pos, limit)` by
 * record index, parsed in one call; `undefined` when the records are not
 * one message each (then each message is parsed on its own).
 */
function parseWhole(
  chunk: Chunk,
  lengths: ArrayLike<number>,
  pos: number,
  limit: number,
): Map<number, unknown> | undefined {
  let start = chunk.startPos;
  let first = -1;
  let last = -1;
  let from = 0;
  let to = 0;
  for (let i = 0; i < lengths.length; i++) {
    const end = start + lengths[i];
    if (end > pos && start < limit) {
      if (end > limit) break; // a cut record: parse the rest one by one
      if (first < 0) {
        first = i;
        from = start;
      }
      last = i;
      to = end;
    }
    start = end;
  }
  if (first < 0) return undefined;
  const values = parseRun(
    chunk.data.subarray(from - chunk.startPos, to - chunk.startPos),
    last - first + 1,
  );
  if (values === undefined) return undefined;
  const byIndex = new Map<number, unknown>();
  for (let i = first; i <= last; i++) byIndex.set(i, values[i - first]);
  return byIndex;
}
