/**
 * @module
 * The uncompressed payload of one segment block: record lengths, optional
 * routing keys, append times (from format version 2), then the records back
 * to back (docs/segments.md). Parsing checks every length against the
 * block's byte range before slicing.
 */

import { assert } from "../assert.ts";
import { corrupt, getU64, NO_KEY, setU64, viewOf } from "./_layout.ts";

/** One record read back from a segment. */
export interface SegmentRecord {
  /** Stream position of the record's first byte. */
  pos: number;
  /** The record's bytes (a view into the decoded block: do not mutate). */
  data: Uint8Array;
  /** Its routing key, or null when it has none. */
  key: Uint8Array | null;
  /** Its append time, ms (0 when unknown: version 1 files, old WAL rows). */
  timeMs: number;
}

/** Encodes records as a block payload; `withKeys` adds the key section. */
export function writePayload(
  records: readonly SegmentRecord[],
  withKeys: boolean,
): Uint8Array {
  const n = records.length;
  let dataBytes = 0;
  let keyBytes = 0;
  for (const r of records) {
    dataBytes += r.data.length;
    keyBytes += r.key?.length ?? 0;
  }
  const keysEnd = n * 4 + (withKeys ? n * 4 + keyBytes : 0);
  const headBytes = keysEnd + n * 8;
  assert(headBytes + dataBytes < 2 ** 32, "block payload must fit a u32");
  const out = new Uint8Array(headBytes + dataBytes);
  const view = viewOf(out);
  let at = headBytes;
  let keyAt = n * 8;
  for (let i = 0; i < n; i++) {
    const r = records[i];
    view.setUint32(i * 4, r.data.length, true);
    setU64(view, keysEnd + i * 8, r.timeMs);
    out.set(r.data, at);
    at += r.data.length;
    if (!withKeys) continue;
    view.setUint32(n * 4 + i * 4, r.key === null ? NO_KEY : r.key.length, true);
    if (r.key !== null) {
      out.set(r.key, keyAt);
      keyAt += r.key.length;
    }
  }
  assert(at === out.length, "payload filled exactly");
  return out;
}

/** How a block payload is laid out and what it must cover. */
export interface PayloadShape {
  /** Records in the block. */
  count: number;
  /** The payload carries routing keys. */
  withKeys: boolean;
  /** The payload carries append times (format version 2). */
  withTimes: boolean;
  /** Position of the first record. */
  firstPos: number;
  /** Position after the last record. */
  endPos: number;
  /** Bounds every record's time must lie in (version 2). */
  minTimeMs: number;
  /** See `minTimeMs`. */
  maxTimeMs: number;
  /** Block index, for messages. */
  index: number;
}

/**
 * Decodes a block payload whose records must cover exactly the positions
 * [firstPos, endPos) and whose times, if any, never decrease and lie within
 * the block's bounds.
 */
export function readPayload(
  bytes: Uint8Array,
  shape: PayloadShape,
): SegmentRecord[] {
  const { count, withKeys, index } = shape;
  const detail = { block: index };
  const view = viewOf(bytes);
  let keysEnd = count * 4 * (withKeys ? 2 : 1);
  if (bytes.length < keysEnd) {
    corrupt(`block ${index} payload truncated`, detail);
  }
  const keyLengths: number[] = [];
  if (withKeys) {
    for (let i = 0; i < count; i++) {
      const k = view.getUint32(count * 4 + i * 4, true);
      keyLengths.push(k);
      if (k !== NO_KEY) keysEnd += k;
    }
  }
  const head = keysEnd + (shape.withTimes ? count * 8 : 0);
  if (head > bytes.length) corrupt(`block ${index} keys overrun`, detail);
  if (bytes.length - head !== shape.endPos - shape.firstPos) {
    corrupt(`block ${index} payload size disagrees with positions`, detail);
  }
  const records: SegmentRecord[] = [];
  let at = head;
  let keyAt = count * 8;
  let lastTime = shape.minTimeMs;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(i * 4, true);
    if (length < 1 || at + length > bytes.length) {
      corrupt(`block ${index} record ${i} length ${length}`, detail);
    }
    let key: Uint8Array | null = null;
    if (withKeys && keyLengths[i] !== NO_KEY) {
      key = bytes.subarray(keyAt, keyAt + keyLengths[i]);
      keyAt += keyLengths[i];
    }
    let timeMs = 0;
    if (shape.withTimes) {
      timeMs = getU64(view, keysEnd + i * 8, "append time");
      if (timeMs < lastTime || timeMs > shape.maxTimeMs) {
        corrupt(`block ${index} record ${i} time out of order`, detail);
      }
      lastTime = timeMs;
    }
    records.push({
      pos: shape.firstPos + (at - head),
      data: bytes.subarray(at, at + length),
      key,
      timeMs,
    });
    at += length;
  }
  if (at !== bytes.length) corrupt(`block ${index} record lengths`, detail);
  if (
    shape.withTimes && (records[0].timeMs !== shape.minTimeMs ||
      records[count - 1].timeMs !== shape.maxTimeMs)
  ) {
    corrupt(`block ${index} times disagree with the index`, detail);
  }
  return records;
}
