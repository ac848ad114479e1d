/**
 * @module
 * The run file (docs/index-format.md): a 40-byte little-endian header
 * (magic `SBRK`, version, level, covered segment ordinals, entry count,
 * filter and table lengths), the serialized fuse16 filter, the table, and
 * a CRC32C of everything before it. Decoding checks every length, bound and
 * ordering it relies on, so bad bytes from the object store are `corrupt`,
 * never a wrong answer.
 */

import { FuseFilter } from "../_wasm/fuse.ts";
import { crc32c } from "../_wasm/checksum.ts";
import { StreamError } from "../errors.ts";
import { FINGERPRINT_TAG_BITS } from "./fingerprint.ts";
import {
  L0_SPAN_MAX,
  readVarint,
  RoutingRun,
  RUN_LEVEL_MAX,
  type RunTable,
} from "./run.ts";

/** Bytes of the fixed header. */
export const RUN_HEADER_BYTES = 40;
/** Current format version. */
export const RUN_VERSION = 1;
const MAGIC = [0x53, 0x42, 0x52, 0x4b]; // "SBRK"
const TRAILER_BYTES = 4;
const TAG_MASK = (1 << FINGERPRINT_TAG_BITS) - 1;

/** Encodes `run` as a run file. */
export function encodeRun(run: RoutingRun): Uint8Array {
  const filter = run.filter.serialize();
  const table = tableBytes(run.table);
  const out = new Uint8Array(
    RUN_HEADER_BYTES + filter.length + table.length + TRAILER_BYTES,
  );
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = RUN_VERSION;
  out[5] = run.level;
  view.setBigUint64(8, BigInt(run.firstSegment), true);
  view.setBigUint64(16, BigInt(run.lastSegment), true);
  view.setUint32(24, run.entryCount, true);
  view.setUint32(28, filter.length, true);
  view.setUint32(32, table.length, true);
  out.set(filter, RUN_HEADER_BYTES);
  out.set(table, RUN_HEADER_BYTES + filter.length);
  const body = out.subarray(0, out.length - TRAILER_BYTES);
  view.setUint32(out.length - TRAILER_BYTES, crc32c(body), true);
  return out;
}

/** Fingerprint column, then masks (L0) or posting lists (L1+). */
function tableBytes(t: RunTable): Uint8Array {
  const fps = new Uint8Array(
    t.fingerprints.buffer,
    t.fingerprints.byteOffset,
    t.fingerprints.byteLength,
  );
  const rest = "masks" in t
    ? new Uint8Array(t.masks.buffer, t.masks.byteOffset, t.masks.byteLength)
    : t.postings;
  const out = new Uint8Array(fps.length + rest.length);
  out.set(fps, 0);
  out.set(rest, fps.length);
  return out;
}

function corrupt(reason: string, detail?: Record<string, unknown>): never {
  throw new StreamError(
    "corrupt",
    `Cannot decode routing-key run: ${reason}`,
    detail,
  );
}

/** Decodes and validates a run file; throws `corrupt` on any bad byte. */
export function decodeRun(bytes: Uint8Array): RoutingRun {
  if (bytes.length < RUN_HEADER_BYTES + TRAILER_BYTES) {
    corrupt(`truncated at ${bytes.length} bytes`);
  }
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) corrupt("bad magic");
  if (bytes[4] !== RUN_VERSION) corrupt(`unsupported version ${bytes[4]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const stored = view.getUint32(bytes.length - TRAILER_BYTES, true);
  if (stored !== crc32c(bytes.subarray(0, bytes.length - TRAILER_BYTES))) {
    corrupt("checksum mismatch");
  }
  const level = bytes[5];
  const first = Number(view.getBigUint64(8, true));
  const last = Number(view.getBigUint64(16, true));
  const entries = view.getUint32(24, true);
  const filterLength = view.getUint32(28, true);
  const tableLength = view.getUint32(32, true);
  if (view.getUint16(6, true) !== 0 || view.getUint32(36, true) !== 0) {
    corrupt("reserved bytes not zero");
  }
  if (level > RUN_LEVEL_MAX) corrupt(`level ${level}`);
  if (!Number.isSafeInteger(last) || last < first) corrupt("bad segment range");
  if (level === 0 && last - first >= L0_SPAN_MAX) {
    corrupt("L0 run spans more than 16 segments");
  }
  const expected = RUN_HEADER_BYTES + filterLength + tableLength +
    TRAILER_BYTES;
  if (bytes.length !== expected) {
    corrupt(`length ${bytes.length} != ${expected}`);
  }
  const filterAt = RUN_HEADER_BYTES;
  const filter = FuseFilter.deserialize(
    bytes.slice(filterAt, filterAt + filterLength),
  );
  if (filter.data.bits !== 16 || filter.data.keyCount !== entries) {
    corrupt("filter does not match the table");
  }
  const tableAt = filterAt + filterLength;
  const table = bytes.subarray(tableAt, tableAt + tableLength);
  return new RoutingRun(
    first,
    last,
    filter,
    decodeTable(level, entries, first, last, table),
  );
}

function decodeTable(
  level: number,
  entries: number,
  first: number,
  last: number,
  bytes: Uint8Array,
): RunTable {
  if (bytes.length < entries * 8) {
    corrupt("table shorter than its fingerprints");
  }
  // Copies, so the columns are aligned and do not pin the file's buffer.
  const fingerprints = new BigUint64Array(bytes.slice(0, entries * 8).buffer);
  // Compared as 32-bit halves (little-endian: low word first), no BigInts.
  const w = new Uint32Array(fingerprints.buffer);
  for (let j = 0; j < entries; j++) {
    if ((w[2 * j] & TAG_MASK) !== 0) corrupt("fingerprint tag bits not clear");
    if (
      j > 0 && (w[2 * j + 1] < w[2 * j - 1] ||
        (w[2 * j + 1] === w[2 * j - 1] && w[2 * j] <= w[2 * j - 2]))
    ) {
      corrupt("fingerprints not ascending");
    }
  }
  const rest = bytes.slice(entries * 8);
  if (level === 0) {
    if (rest.length !== entries * 2) corrupt("mask column length");
    const masks = new Uint16Array(rest.buffer);
    const allowed = (1 << (last - first + 1)) - 1;
    for (const mask of masks) {
      if (mask === 0 || (mask & ~allowed) !== 0) {
        corrupt("segment mask out of range");
      }
    }
    return { level: 0, fingerprints, masks };
  }
  const postingOffsets = new Uint32Array(entries + 1);
  let at = 0;
  for (let j = 0; j < entries; j++) {
    postingOffsets[j] = at;
    at = checkPostings(rest, at, first, last);
  }
  if (at !== rest.length) corrupt("trailing bytes after the posting lists");
  postingOffsets[entries] = at;
  return { level, fingerprints, postings: rest, postingOffsets };
}

/** Checks one posting list at `at`; returns where the next one starts. */
function checkPostings(
  bytes: Uint8Array,
  at: number,
  first: number,
  last: number,
): number {
  let count: number;
  [count, at] = readVarint(bytes, at);
  if (count < 1 || count > last - first + 1) {
    corrupt("posting count out of range");
  }
  let segment = first;
  for (let i = 0; i < count; i++) {
    let step = bytes[at];
    if (step < 0x80) at++; // one-byte gaps: nearly all of them
    else [step, at] = readVarint(bytes, at);
    if (step < 0 || (i > 0 && step === 0)) {
      corrupt("posting list not ascending");
    }
    segment += step;
    if (segment > last) corrupt("posting beyond the run's segments");
  }
  return at;
}
