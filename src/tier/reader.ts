/**
 * @module
 * The tiered chunk reader: wraps the WAL's `ChunkReader` so positions below
 * a stream's WAL range come from its segments (the byte-bounded cache, else
 * the object store). `gather()` and fork chains read across tiers with
 * unchanged offsets.
 */

import { StreamError } from "../errors.ts";
import type { ChunkReader, TierReadBytes } from "../engine/reader.ts";
import type { KeyedChunkReader, SkippedRange } from "../engine/keyed_reader.ts";
import type {
  KeyLexiconCover,
  KeyLexiconSource,
  TimeSeeker,
} from "../engine/types.ts";
import type { SegmentReader } from "../segment/reader.ts";
import { routingKeyHash } from "../segment/format.ts";
import { seekTimeInChunk } from "../storage/chunk.ts";
import type { SegmentRow } from "../storage/wal_store.ts";
import { segmentKey } from "../objectstore/manifest.ts";
import type { ObjectStore } from "../objectstore/object_store.ts";
import type { SegmentCache } from "../segment/cache.ts";
import type { Chunk } from "../storage/wal_store.ts";
import type { RoutingKeyIndex } from "../index/routing_index.ts";
import { compareBytes } from "../index/lexicon.ts";
import { type SegmentKeys, SegmentKeysBuilder } from "../index/fingerprint.ts";
import { decodeKeys } from "../record_meta.ts";
import { recordCount } from "../storage/chunk.ts";
import { findSegment, type TierStream, type TierStreams } from "./streams.ts";

/**
 * Takes stream `id`'s published segments from the database (several nodes:
 * another node may have published and truncated since this one looked).
 */
export type TierRefresh = (id: number) => TierStream | undefined;

/**
 * The state of stream `id` when `fromPos` is below its WAL range, looking
 * again through `refresh` when the tracked state does not say so.
 */
function published(
  streams: TierStreams,
  id: number,
  fromPos: number,
  refresh: TierRefresh | undefined,
): TierStream | undefined {
  const s = streams.get(id);
  if (s !== undefined && fromPos < s.walStart) return s;
  const t = refresh?.(id);
  return t !== undefined && fromPos < t.walStart ? t : undefined;
}

/** Wraps the WAL's reader: positions below a stream's WAL range come from segments. */
export function tieredReader(
  streams: TierStreams,
  objects: ObjectStore,
  cache: SegmentCache,
  wal: ChunkReader,
  counts: TierReadBytes,
  refresh?: TierRefresh,
): ChunkReader {
  const segments = (s: TierStream, fromPos: number, bytesMax: number) =>
    readSegments(objects, cache, counts, s, fromPos, bytesMax) as Promise<
      Chunk[]
    >;
  return async (id, fromPos, endPos, bytesMax) => {
    const s = streams.get(id);
    if (s !== undefined && fromPos < s.walStart) {
      return await segments(s, fromPos, bytesMax);
    }
    const chunks = await wal(id, fromPos, endPos, bytesMax);
    const missing = chunks.length === 0 || chunks[0].startPos > fromPos;
    // The WAL rows were truncated between the check and the query, here or
    // (several nodes) by the node that published them.
    const t = missing ? published(streams, id, fromPos, refresh) : undefined;
    if (t !== undefined) return await segments(t, fromPos, bytesMax);
    return chunks;
  };
}

/**
 * The keyed variant of `tieredReader`: below the WAL range, segment blocks
 * whose bloom filter rules the key out come back as skipped ranges, read
 * from their headers only; the WAL's chunks are returned whole. With a
 * routing-key `index`, uploaded segments it rules out are skipped whole,
 * without being opened; segments past its coverage are read as above.
 */
export function tieredKeyedReader(
  streams: TierStreams,
  objects: ObjectStore,
  cache: SegmentCache,
  wal: ChunkReader,
  counts: TierReadBytes,
  index?: RoutingKeyIndex,
  refresh?: TierRefresh,
): KeyedChunkReader {
  const segments = async (
    s: TierStream,
    fromPos: number,
    bytesMax: number,
    key: Uint8Array,
  ) => {
    if (index !== undefined) {
      const skipped = await skipByIndex(index, s, fromPos, key);
      if (skipped !== undefined) return [skipped];
    }
    return await readSegments(
      objects,
      cache,
      counts,
      s,
      fromPos,
      bytesMax,
      key,
    );
  };
  return async (id, fromPos, endPos, bytesMax, key) => {
    const s = streams.get(id);
    if (s !== undefined && fromPos < s.walStart) {
      return await segments(s, fromPos, bytesMax, key);
    }
    const chunks = await wal(id, fromPos, endPos, bytesMax);
    const missing = chunks.length === 0 || chunks[0].startPos > fromPos;
    const t = missing ? published(streams, id, fromPos, refresh) : undefined;
    if (t !== undefined) return await segments(t, fromPos, bytesMax, key);
    return chunks;
  };
}

/**
 * Key listings' view of the index: for a stream's positions below `endPos`,
 * the uploaded segments whose keys a run lexicon lists (merged position
 * ranges and the lexicons' keys) and the uploaded segments a listing must
 * read instead. Without an `index` every uploaded segment is unindexed.
 */
export function tieredKeyLexicon(
  streams: TierStreams,
  index?: RoutingKeyIndex,
): KeyLexiconSource {
  return async (id, endPos): Promise<KeyLexiconCover | undefined> => {
    const s = streams.get(id);
    if (s === undefined) return undefined;
    const uploaded = uploadedCount(s);
    let n = 0;
    while (n < uploaded && s.segments[n].endPos <= endPos) n++;
    const lexicons = index === undefined ? [] : await index.lexicons(id, n);
    const ranges: { startPos: number; endPos: number }[] = [];
    const unindexed: { startPos: number; endPos: number }[] = [];
    let indexedSegments = 0;
    let next = 0;
    const gap = (to: number) => {
      for (; next < to; next++) {
        const row = s.segments[next];
        unindexed.push({ startPos: row.startPos, endPos: row.endPos });
      }
    };
    for (const l of lexicons) {
      gap(l.firstSegment);
      const startPos = s.segments[l.firstSegment].startPos;
      const end = s.segments[l.lastSegment].endPos;
      const last = ranges.at(-1);
      if (last !== undefined && last.endPos === startPos) last.endPos = end;
      else ranges.push({ startPos, endPos: end });
      indexedSegments += l.lastSegment - l.firstSegment + 1;
      next = l.lastSegment + 1;
    }
    gap(n);
    return {
      ranges,
      indexedSegments,
      unindexed,
      keysAfter(after, limit) {
        const all: Uint8Array[] = [];
        for (const l of lexicons) {
          all.push(...l.lexicon.keysAfter(after, limit));
        }
        all.sort(compareBytes);
        const out: Uint8Array[] = [];
        for (const k of all) {
          if (out.length === limit) break;
          const last = out.at(-1);
          if (last === undefined || compareBytes(last, k) !== 0) out.push(k);
        }
        return out;
      },
    };
  };
}

/** Leading segments of `s` a published manifest names (the index's ordinals). */
export function uploadedCount(s: TierStream): number {
  let n = 0;
  while (n < s.segments.length && s.segments[n].uploaded) n++;
  return n;
}

/**
 * The range from the segment holding `fromPos` to the first segment the
 * index names as a candidate for `key` (or the end of the uploaded ones),
 * when that segment itself is ruled out; else undefined (read it).
 */
async function skipByIndex(
  index: RoutingKeyIndex,
  s: TierStream,
  fromPos: number,
  key: Uint8Array,
): Promise<SkippedRange | undefined> {
  const ordinal = segmentOrdinal(s.segments, fromPos);
  const uploaded = uploadedCount(s);
  if (ordinal < 0 || ordinal >= uploaded) return undefined;
  const { segments } = await index.candidates(s.id, key, uploaded, ordinal);
  const next = segments.length > 0 ? segments[0] : uploaded;
  if (next <= ordinal) return undefined;
  const row = s.segments[ordinal];
  const endPos = next < uploaded
    ? s.segments[next].startPos
    : s.segments[uploaded - 1].endPos;
  return { skipped: true, startPos: row.startPos, endPos };
}

/** Index in `rows` (tiling, ascending) of the segment holding `pos`, or -1. */
function segmentOrdinal(rows: readonly SegmentRow[], pos: number): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid].endPos <= pos) lo = mid + 1;
    else hi = mid;
  }
  return lo < rows.length && rows[lo].startPos <= pos ? lo : -1;
}

/**
 * The routing keys of segment `ordinal` of `s` (records without a key left
 * out), decoded block by block through the cache: what the routing-key
 * index builds its runs from.
 */
export async function segmentKeysOf(
  objects: ObjectStore,
  cache: SegmentCache,
  s: TierStream,
  ordinal: number,
): Promise<SegmentKeys> {
  const row = s.segments[ordinal];
  if (row === undefined || !row.uploaded) {
    throw new StreamError(
      "corrupt",
      `Stream id ${s.id} has no uploaded segment ${ordinal}`,
    );
  }
  const { reader, key, load } = await openRow(objects, cache, s.id, row);
  const keys = new SegmentKeysBuilder();
  for (let b = 0; b < reader.blocks.length; b++) {
    const chunk = await cache.block(key, load, b);
    for (const k of decodeKeys(chunk.keys, recordCount(chunk))) keys.add(k);
  }
  return keys.finish();
}

/** The decoded blocks of uploaded segment `ordinal` of `s`, in order. */
export async function* segmentChunksOf(
  objects: ObjectStore,
  cache: SegmentCache,
  s: TierStream,
  ordinal: number,
): AsyncGenerator<Chunk> {
  const row = s.segments[ordinal];
  const { reader, key, load } = await openRow(objects, cache, s.id, row);
  for (let b = 0; b < reader.blocks.length; b++) {
    yield await cache.block(key, load, b);
  }
}

/**
 * The file of uploaded segment `ordinal` of `s`, from the cache when it
 * holds it, else the object store: the routing-key index's builder reads
 * the keys out of it on its own thread.
 */
export async function segmentFileOf(
  objects: ObjectStore,
  cache: SegmentCache,
  s: TierStream,
  ordinal: number,
): Promise<{ segment: Uint8Array }> {
  const row = s.segments[ordinal];
  if (row === undefined || !row.uploaded) {
    throw new StreamError(
      "corrupt",
      `Stream id ${s.id} has no uploaded segment ${ordinal}`,
    );
  }
  const { key, load } = segmentObject(objects, s.id, row);
  return { segment: cache.fileOf(key) ?? await load() };
}

/**
 * Wraps the WAL's time seeker: positions below a stream's WAL range are
 * searched in its segments, by the time bounds in their footers (a binary
 * search over segments, then over blocks), then one block is decoded.
 */
export function tieredTimeSeeker(
  streams: TierStreams,
  objects: ObjectStore,
  cache: SegmentCache,
  wal: TimeSeeker,
): TimeSeeker {
  return async (id, fromPos, endPos, timeMs) => {
    const s = streams.get(id);
    let walFrom = fromPos;
    if (s !== undefined && fromPos < s.walStart) {
      const walStart = s.walStart;
      const found = await seekSegments(objects, cache, s, fromPos, timeMs);
      if (found !== undefined) return found < endPos ? found : undefined;
      walFrom = walStart;
    }
    if (walFrom >= endPos) return undefined;
    return await wal(id, walFrom, endPos, timeMs);
  };
}

async function seekSegments(
  objects: ObjectStore,
  cache: SegmentCache,
  s: TierStream,
  fromPos: number,
  timeMs: number,
): Promise<number | undefined> {
  const rows = s.segments.filter((r) =>
    r.endPos > fromPos && r.startPos < s.walStart
  );
  // The first segment whose last record is at or after the time.
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const segment = await openRow(objects, cache, s.id, rows[mid]);
    if (segment.reader.blocks.at(-1)!.maxTimeMs >= timeMs) hi = mid;
    else lo = mid + 1;
  }
  for (let i = lo; i < rows.length; i++) {
    const { reader, key, load } = await openRow(objects, cache, s.id, rows[i]);
    const first = Math.max(
      reader.blockAtTime(timeMs),
      reader.blockFor(fromPos),
    );
    if (reader.blockAtTime(timeMs) < 0 || first < 0) continue;
    for (let b = first; b < reader.blocks.length; b++) {
      const block = await cache.block(key, load, b);
      const pos = seekTimeInChunk(block, fromPos, timeMs);
      if (pos !== undefined) return pos;
    }
  }
  return undefined;
}

async function openRow(
  objects: ObjectStore,
  cache: SegmentCache,
  streamId: number,
  row: SegmentRow,
  loaded?: { fromObject: boolean },
): Promise<{
  reader: SegmentReader;
  key: string;
  load: () => Promise<Uint8Array>;
}> {
  const { key, load: fetch } = segmentObject(objects, streamId, row);
  const load = () => {
    if (loaded !== undefined) loaded.fromObject = true;
    return fetch();
  };
  return { reader: await cache.get(key, load), key, load };
}

/**
 * Where segment `row` of stream `streamId` is stored: its cache key, and
 * how to fetch its file: a GET of its own object, or a ranged GET of its
 * bytes inside a pack object (one request either way). A missing object or
 * a short range is `corrupt` (a published manifest names it).
 */
export function segmentObject(
  objects: ObjectStore,
  streamId: number,
  row: SegmentRow,
): { key: string; load: () => Promise<Uint8Array> } {
  const pack = row.pack;
  if (pack === undefined) {
    const key = segmentKey(streamId, row.startPos, row.endPos);
    const load = async () => {
      const bytes = await objects.get(key);
      if (bytes === undefined) {
        throw new StreamError("corrupt", `Segment object "${key}" is missing`, {
          key,
        });
      }
      return bytes;
    };
    return { key, load };
  }
  const key = `${pack.key}#${pack.offset}`;
  const load = async () => {
    const bytes = await objects.getRange(pack.key, pack.offset, row.sizeBytes);
    if (bytes === undefined || bytes.length !== row.sizeBytes) {
      throw new StreamError(
        "corrupt",
        `Pack object "${pack.key}" does not hold ${row.sizeBytes} bytes at ${pack.offset}`,
        { key: pack.key },
      );
    }
    return bytes;
  };
  return { key, load };
}

async function readSegments(
  objects: ObjectStore,
  cache: SegmentCache,
  counts: TierReadBytes,
  s: TierStream,
  fromPos: number,
  bytesMax: number,
  routingKey?: Uint8Array,
): Promise<(Chunk | SkippedRange)[]> {
  const row = findSegment(s.segments, fromPos);
  if (row === undefined) {
    throw new StreamError(
      "corrupt",
      `No segment holds position ${fromPos} of stream id ${s.id}`,
    );
  }
  // Whether this read made the cache load the segment (or a block of it)
  // from the object store: its bytes then count as `object`, else `cache`.
  const loaded = { fromObject: false };
  const { reader: segment, key, load } = await openRow(
    objects,
    cache,
    s.id,
    row,
    loaded,
  );
  const hash = routingKey === undefined
    ? undefined
    : routingKeyHash(routingKey);
  // Whole decoded blocks from the one holding fromPos (blocks hold whole
  // records, so also the record holding it): gather() starts at that
  // record and clips at the fork point or tail.
  const chunks: (Chunk | SkippedRange)[] = [];
  let bytes = 0;
  let served = 0;
  for (
    let b = segment.blockFor(fromPos);
    b >= 0 && b < segment.blocks.length && bytes < bytesMax;
    b++
  ) {
    const info = segment.blocks[b];
    if (hash !== undefined && !await segment.mayContainKey(b, hash)) {
      chunks.push({
        skipped: true,
        startPos: info.firstPos,
        endPos: info.endPos,
      });
    } else {
      chunks.push(await cache.block(key, load, b));
      served += info.endPos - Math.max(info.firstPos, fromPos);
    }
    bytes += info.endPos - Math.max(info.firstPos, fromPos);
  }
  if (loaded.fromObject) counts.object += served;
  else counts.cache += served;
  return chunks;
}
