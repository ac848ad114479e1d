/**
 * @module
 * Listing a stream's distinct routing keys: the keys after a cursor in
 * ascending byte order, one page at a time. Segments the routing-key index
 * covers are answered from its key lexicons without being read; the rest
 * (unindexed segments, the WAL) is scanned from its start on every page
 * within a scan budget, so the page reports how far it got: a listing that
 * stopped at the budget may miss keys stored past that point.
 */

import { decodeKeys } from "../record_meta.ts";
import { StreamError } from "../errors.ts";
import { chainRanges, type ChunkReader, type ReadSource } from "./reader.ts";
import type { KeyLexiconCover, KeyLexiconSource } from "./types.ts";

/** A page of keys. */
export interface KeyPage {
  /** Distinct keys after the cursor, ascending by bytes, at most `limit`. */
  keys: Uint8Array[];
  /** True when more keys (of the part scanned) follow the page. */
  more: boolean;
  /** True when the scan reached the tail. */
  complete: boolean;
  /** Position the scan reached. */
  scannedThroughPos: number;
  /** Records examined at or above `splitPos`. */
  recordsFromSplit: number;
  /** Segments whose keys came from the index's lexicons. */
  indexedSegments: number;
  /** Uploaded segments outside the lexicons that the scan read through. */
  scannedSegments: number;
}

/** Byte strings compare in byte order (each char holds one byte). */
function byteString(key: Uint8Array): string {
  let s = "";
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]);
  return s;
}

function fromByteString(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/**
 * The first `limit` distinct keys of `source` greater than `after`, from
 * `[0, tailPos)`: the keys `lexicon` knows (the routing-key index's key
 * lists of indexed segments, per link of the fork chain) merged with a scan
 * of everything else for at most `scanBytesMax` stored bytes. Memory stays
 * near `limit` keys: candidates are cut back to the smallest `limit + 1`
 * whenever they pass four times that.
 */
export async function listKeys(
  read: ChunkReader,
  source: ReadSource,
  tailPos: number,
  options: {
    after: Uint8Array | undefined;
    limit: number;
    scanBytesMax: number;
    sliceBytes: number;
    splitPos: number;
    lexicon?: KeyLexiconSource;
  },
): Promise<KeyPage> {
  const after = options.after === undefined
    ? undefined
    : byteString(options.after);
  let found = new Set<string>();
  const trim = () => {
    const kept = [...found].sort().slice(0, options.limit + 1);
    found = new Set(kept);
  };
  const add = (key: Uint8Array) => {
    const k = byteString(key);
    if (after === undefined || k > after) found.add(k);
    if (found.size > 4 * (options.limit + 1)) trim();
  };
  const links = chainRanges(source, tailPos);
  const covers: (KeyLexiconCover | undefined)[] = [];
  let indexedSegments = 0;
  for (const link of links) {
    const cover = link.fromPos < link.endPos
      ? await options.lexicon?.(link.id, link.endPos)
      : undefined;
    covers.push(cover);
    if (cover === undefined) continue;
    indexedSegments += cover.indexedSegments;
    for (const key of cover.keysAfter(options.after, options.limit + 1)) {
      add(key);
    }
  }
  let pos = 0;
  let scanned = 0;
  let recordsFromSplit = 0;
  for (const [i, link] of links.entries()) {
    const skip = covers[i]?.ranges ?? [];
    let r = 0;
    pos = Math.max(pos, link.fromPos);
    while (pos < link.endPos && scanned < options.scanBytesMax) {
      while (r < skip.length && skip[r].endPos <= pos) r++;
      if (r < skip.length && skip[r].startPos <= pos) {
        // The lexicon listed these keys: no need to read the records.
        pos = Math.min(skip[r].endPos, link.endPos);
        continue;
      }
      const limit = r < skip.length
        ? Math.min(link.endPos, skip[r].startPos)
        : link.endPos;
      const budget = Math.min(
        options.sliceBytes,
        options.scanBytesMax - scanned,
      );
      const chunks = await read(link.id, pos, limit, Math.max(1, budget));
      const before = pos;
      for (const chunk of chunks) {
        const lengths = chunk.lengths ?? [chunk.data.length];
        const keys = decodeKeys(chunk.keys, lengths.length);
        let start = chunk.startPos;
        for (let j = 0; j < lengths.length && start < limit; j++) {
          const end = start + lengths[j];
          if (end > pos) {
            const key = keys[j];
            if (key !== null) add(key);
            if (start >= options.splitPos) recordsFromSplit++;
            const clipped = Math.min(end, limit);
            scanned += clipped - Math.max(start, pos);
            pos = clipped;
          }
          start = end;
        }
      }
      if (pos <= before) {
        throw new StreamError(
          "corrupt",
          `Stream data missing at position ${pos} (stream id ${link.id})`,
        );
      }
    }
    if (pos < link.endPos) break; // out of budget
  }
  trim();
  const sorted = [...found];
  let scannedSegments = 0;
  for (const cover of covers) {
    for (const u of cover?.unindexed ?? []) {
      if (u.endPos <= pos) scannedSegments++;
    }
  }
  return {
    keys: sorted.slice(0, options.limit).map(fromByteString),
    more: sorted.length > options.limit,
    complete: pos >= tailPos,
    scannedThroughPos: pos,
    recordsFromSplit,
    indexedSegments,
    scannedSegments,
  };
}
