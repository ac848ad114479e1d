/**
 * @module
 * Pack objects: many small segment files, each complete in the segment
 * format, laid end to end in one object with an index of which stream range
 * sits where. A reader that knows a segment's offset and length (its
 * manifest says) fetches it with one ranged read and opens it like any
 * segment; the index makes a pack self-describing (for scrubs and for
 * rewriting packs whose streams were deleted). See docs/segments.md
 * "Packed segments".
 */

import { assert } from "../assert.ts";
import { crc32c } from "../_wasm/checksum.ts";
import { StreamError } from "../errors.ts";

/** `"SBPCK"`, then the version and two zero bytes. */
const PACK_MAGIC = new Uint8Array([0x53, 0x42, 0x50, 0x43, 0x4b]);
/** Pack format version. */
export const PACK_VERSION = 1;
const HEADER_BYTES = 8;
const TRAILER_BYTES = 24;
const INDEX_HEAD_BYTES = 8;
const ENTRY_BYTES = 40;

/** One segment file to pack. */
export interface PackInput {
  /** Stream id. */
  streamId: number;
  /** Position of the segment's first record. */
  startPos: number;
  /** Position after its last record. */
  endPos: number;
  /** The complete segment file. */
  segment: Uint8Array;
}

/** One segment file inside a pack, as its index lists it. */
export interface PackEntry {
  /** Stream id. */
  streamId: number;
  /** Position of the segment's first record. */
  startPos: number;
  /** Position after its last record. */
  endPos: number;
  /** Byte offset of the segment file in the pack. */
  offset: number;
  /** Its length in bytes. */
  length: number;
}

function header(): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES);
  bytes.set(PACK_MAGIC, 0);
  bytes[PACK_MAGIC.length] = PACK_VERSION;
  return bytes;
}

/**
 * Lays `inputs` out as one pack object; returns its bytes and each input's
 * entry (in input order).
 */
export function encodePack(
  inputs: readonly PackInput[],
): { bytes: Uint8Array; entries: PackEntry[] } {
  assert(inputs.length > 0, "a pack holds at least one segment");
  const entries: PackEntry[] = [];
  let offset = HEADER_BYTES;
  for (const input of inputs) {
    assert(input.endPos > input.startPos, "a packed segment is not empty");
    assert(input.segment.length > 0, "a segment file is not empty");
    entries.push({
      streamId: input.streamId,
      startPos: input.startPos,
      endPos: input.endPos,
      offset,
      length: input.segment.length,
    });
    offset += input.segment.length;
  }
  const indexOffset = offset;
  const indexLength = INDEX_HEAD_BYTES + entries.length * ENTRY_BYTES;
  const bytes = new Uint8Array(indexOffset + indexLength + TRAILER_BYTES);
  bytes.set(header(), 0);
  for (const [i, input] of inputs.entries()) {
    bytes.set(input.segment, entries[i].offset);
  }
  const view = new DataView(bytes.buffer);
  view.setUint32(indexOffset, entries.length, true);
  for (const [i, e] of entries.entries()) {
    const at = indexOffset + INDEX_HEAD_BYTES + i * ENTRY_BYTES;
    setU64(view, at, e.streamId);
    setU64(view, at + 8, e.startPos);
    setU64(view, at + 16, e.endPos);
    setU64(view, at + 24, e.offset);
    view.setUint32(at + 32, e.length, true);
  }
  const trailer = indexOffset + indexLength;
  setU64(view, trailer, indexOffset);
  view.setUint32(trailer + 8, indexLength, true);
  view.setUint32(
    trailer + 12,
    crc32c(bytes.subarray(indexOffset, trailer)),
    true,
  );
  bytes.set(header(), trailer + 16);
  return { bytes, entries };
}

/**
 * The index of a whole pack object, checked: magic and version at both
 * ends, the index crc, and that the entries tile the bytes between the
 * header and the index. Anything else is `corrupt`.
 */
export function decodePackIndex(bytes: Uint8Array, key: string): PackEntry[] {
  const bad = (why: string) =>
    new StreamError("corrupt", `Pack "${key}": ${why}`, { key });
  if (bytes.length < HEADER_BYTES + INDEX_HEAD_BYTES + TRAILER_BYTES) {
    throw bad("too short");
  }
  const expected = header();
  const tail = bytes.length - TRAILER_BYTES + 16;
  for (let i = 0; i < HEADER_BYTES; i++) {
    if (bytes[i] !== expected[i] || bytes[tail + i] !== expected[i]) {
      throw bad("bad magic or version");
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const trailer = bytes.length - TRAILER_BYTES;
  const indexOffset = getU64(view, trailer);
  const indexLength = view.getUint32(trailer + 8, true);
  if (indexOffset + indexLength !== trailer || indexOffset < HEADER_BYTES) {
    throw bad("index out of bounds");
  }
  const crc = view.getUint32(trailer + 12, true);
  if (crc32c(bytes.subarray(indexOffset, trailer)) !== crc) {
    throw bad("index checksum mismatch");
  }
  const count = view.getUint32(indexOffset, true);
  if (count < 1 || INDEX_HEAD_BYTES + count * ENTRY_BYTES !== indexLength) {
    throw bad("bad entry count");
  }
  const entries: PackEntry[] = [];
  let next = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const at = indexOffset + INDEX_HEAD_BYTES + i * ENTRY_BYTES;
    const e: PackEntry = {
      streamId: getU64(view, at),
      startPos: getU64(view, at + 8),
      endPos: getU64(view, at + 16),
      offset: getU64(view, at + 24),
      length: view.getUint32(at + 32, true),
    };
    if (e.offset !== next || e.length < 1 || e.endPos <= e.startPos) {
      throw bad(`entry ${i} does not tile the pack`);
    }
    next = e.offset + e.length;
    entries.push(e);
  }
  if (next !== indexOffset) throw bad("entries do not reach the index");
  return entries;
}

function setU64(view: DataView, at: number, n: number): void {
  assert(Number.isSafeInteger(n) && n >= 0, "u64 fields are safe integers");
  view.setBigUint64(at, BigInt(n), true);
}

function getU64(view: DataView, at: number): number {
  const n = view.getBigUint64(at, true);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new StreamError("corrupt", "Pack field is out of range");
  }
  return Number(n);
}
