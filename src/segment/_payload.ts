/**
 * @module
 * The uncompressed payload of one segment block: record lengths, optional
 * routing keys, then the records back to back (docs/segments.md). Parsing
 * checks every length against the block's byte range before slicing.
 */

import { assert } from "../assert.ts";
import { corrupt, NO_KEY, viewOf } from "./_layout.ts";

/** One record read back from a segment. */
export interface SegmentRecord {
  /** Stream position of the record's first byte. */
  pos: number;
  /** The record's bytes (a view into the decoded block: do not mutate). */
  data: Uint8Array;
  /** Its routing key, or null when it has none. */
  key: Uint8Array | null;
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
  const headBytes = n * 4 + (withKeys ? n * 4 + keyBytes : 0);
  assert(headBytes + dataBytes < 2 ** 32, "block payload must fit a u32");
  const out = new Uint8Array(headBytes + dataBytes);
  const view = viewOf(out);
  let at = headBytes;
  let keyAt = n * 8;
  for (let i = 0; i < n; i++) {
    const r = records[i];
    view.setUint32(i * 4, r.data.length, true);
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

/**
 * Decodes a block payload of `count` records that must cover exactly the
 * positions [firstPos, endPos).
 */
export function readPayload(
  bytes: Uint8Array,
  count: number,
  withKeys: boolean,
  firstPos: number,
  endPos: number,
  index: number,
): SegmentRecord[] {
  const detail = { block: index };
  const view = viewOf(bytes);
  let head = count * 4 * (withKeys ? 2 : 1);
  if (bytes.length < head) corrupt(`block ${index} payload truncated`, detail);
  const keyLengths: number[] = [];
  if (withKeys) {
    for (let i = 0; i < count; i++) {
      const k = view.getUint32(count * 4 + i * 4, true);
      keyLengths.push(k);
      if (k !== NO_KEY) head += k;
    }
  }
  if (head > bytes.length) corrupt(`block ${index} keys overrun`, detail);
  if (bytes.length - head !== endPos - firstPos) {
    corrupt(`block ${index} payload size disagrees with positions`, detail);
  }
  const records: SegmentRecord[] = [];
  let at = head;
  let keyAt = count * 8;
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
    records.push({
      pos: firstPos + (at - head),
      data: bytes.subarray(at, at + length),
      key,
    });
    at += length;
  }
  if (at !== bytes.length) corrupt(`block ${index} record lengths`, detail);
  return records;
}
