/**
 * @module
 * Listing a stream's distinct routing keys by scanning its records: the
 * keys after a cursor in ascending byte order, one page at a time, within
 * a scan budget. Without an index this reads the stream from its start on
 * every page, so it reports how far it got: a listing that stopped at the
 * budget may miss keys stored past that point.
 */

import { decodeKeys } from "../record_meta.ts";
import { StreamError } from "../errors.ts";
import type { ChunkReader, ReadSource } from "./reader.ts";

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
 * The first `limit` distinct keys of `source` greater than `after`,
 * scanning `[0, tailPos)` for at most `scanBytesMax` stored bytes.
 * Memory stays near `limit` keys: candidates are cut back to the smallest
 * `limit + 1` whenever they pass four times that.
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
  let pos = 0;
  let scanned = 0;
  let recordsFromSplit = 0;
  while (pos < tailPos && scanned < options.scanBytesMax) {
    let owner = source;
    let limit = tailPos;
    while (owner.parent !== undefined && pos < owner.forkPos) {
      limit = Math.min(limit, owner.forkPos);
      owner = owner.parent;
    }
    const budget = Math.min(options.sliceBytes, options.scanBytesMax - scanned);
    const chunks = await read(owner.id, pos, limit, Math.max(1, budget));
    const before = pos;
    for (const chunk of chunks) {
      const lengths = chunk.lengths ?? [chunk.data.length];
      const keys = decodeKeys(chunk.keys, lengths.length);
      let start = chunk.startPos;
      for (let i = 0; i < lengths.length && start < limit; i++) {
        const end = start + lengths[i];
        if (end > pos) {
          const key = keys[i];
          if (key !== null) {
            const k = byteString(key);
            if (after === undefined || k > after) found.add(k);
            if (found.size > 4 * (options.limit + 1)) trim();
          }
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
        `Stream data missing at position ${pos} (stream id ${owner.id})`,
      );
    }
  }
  trim();
  const sorted = [...found];
  return {
    keys: sorted.slice(0, options.limit).map(fromByteString),
    more: sorted.length > options.limit,
    complete: pos >= tailPos,
    scannedThroughPos: pos,
    recordsFromSplit,
  };
}
