/**
 * @module
 * Byte layout of a segment file (docs/segments.md): the file header and
 * trailer, block headers, block payloads and the footer index. Writers here
 * trust their input (the encoder asserted it); parsers trust nothing and
 * report every bad byte as a `corrupt` StreamError with bounds checked first.
 */

import { assert } from "../assert.ts";
import { StreamError } from "../errors.ts";

/** "SBSEG", the first five bytes of a segment and of its trailer tag. */
export const MAGIC: Uint8Array = new Uint8Array([0x53, 0x42, 0x53, 0x45, 0x47]);
/**
 * The format version this code writes. Version 2 added per-record append
 * times (block payload) and per-block time bounds (footer index); version 1
 * files, whose records read as time 0, are still read.
 */
export const VERSION = 2;
/** Versions this code reads. */
export const VERSIONS_READ: readonly number[] = [1, 2];
/** File header: magic, version, two reserved zero bytes. */
export const FILE_HEADER_BYTES = 8;
/** Trailer: footer offset u64, footer length u32, footer crc u32, tag. */
export const TRAILER_BYTES = 24;
/** Fixed part of a block header, before the bloom and the header crc. */
export const BLOCK_HEADER_BYTES = 32;
/** The header crc that follows the bloom. */
export const BLOCK_CRC_BYTES = 4;
/**
 * One footer index entry: first pos u64, file offset u64, len u32, count
 * u32, and from version 2 min and max append time u64.
 */
export function indexEntryBytes(version: number): number {
  return version >= 2 ? 40 : 24;
}
/** Footer fields after the stream id. */
export const FOOTER_FIXED_BYTES = 32;
/** Longest stream id, in UTF-8 bytes. */
export const STREAM_ID_BYTES_MAX = 4096;
/** Codec id of a block stored as is. */
export const CODEC_RAW = 0;
/** Codec id of a block compressed as zstd frames. */
export const CODEC_ZSTD = 1;
/** Block flag: the payload carries routing keys. */
export const FLAG_KEYS = 1;
export { NO_KEY } from "../record_meta.ts";

/** Throws a `corrupt` StreamError about a segment. */
export function corrupt(
  reason: string,
  detail?: Record<string, unknown>,
): never {
  throw new StreamError("corrupt", `Cannot read segment: ${reason}`, detail);
}

/** A DataView over exactly `bytes`. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Writes a non-negative safe integer as a little-endian u64. */
export function setU64(view: DataView, at: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, "u64 must be a safe int");
  view.setUint32(at, value % 2 ** 32, true);
  view.setUint32(at + 4, Math.floor(value / 2 ** 32), true);
}

/** Reads a little-endian u64 that must be a safe integer. */
export function getU64(view: DataView, at: number, what: string): number {
  const lo = view.getUint32(at, true);
  const hi = view.getUint32(at + 4, true);
  if (hi >= 2 ** 21) corrupt(`${what} exceeds 2^53`, { hi });
  return hi * 2 ** 32 + lo;
}

/** The 8 bytes that open a segment and close its trailer. */
export function tagBytes(): Uint8Array {
  const tag = new Uint8Array(FILE_HEADER_BYTES);
  tag.set(MAGIC, 0);
  tag[5] = VERSION;
  return tag;
}

/** Checks an 8-byte tag (file header or trailer end); returns its version. */
export function checkTag(bytes: Uint8Array, where: string): number {
  assert(bytes.length === FILE_HEADER_BYTES, "a tag is 8 bytes");
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) corrupt(`bad magic in ${where}`);
  }
  if (!VERSIONS_READ.includes(bytes[5])) {
    corrupt(`unsupported version ${bytes[5]} in ${where}`, {
      version: bytes[5],
    });
  }
  if (bytes[6] !== 0 || bytes[7] !== 0) {
    corrupt(`reserved bytes not zero in ${where}`);
  }
  return bytes[5];
}

/** Parsed trailer. */
export interface Trailer {
  /** File offset of the footer. */
  footerOffset: number;
  /** Footer length in bytes. */
  footerLength: number;
  /** CRC32C of the footer bytes. */
  footerCrc: number;
}

/** Encodes the trailer. */
export function writeTrailer(t: Trailer): Uint8Array {
  const out = new Uint8Array(TRAILER_BYTES);
  const view = viewOf(out);
  setU64(view, 0, t.footerOffset);
  view.setUint32(8, t.footerLength, true);
  view.setUint32(12, t.footerCrc, true);
  out.set(tagBytes(), 16);
  return out;
}

/**
 * Decodes the trailer of a file of `size` bytes and checks it fits and
 * names `version`, the file header's.
 */
export function readTrailer(
  bytes: Uint8Array,
  size: number,
  version: number,
): Trailer {
  assert(bytes.length === TRAILER_BYTES, "trailer is 24 bytes");
  if (checkTag(bytes.subarray(16), "trailer") !== version) {
    corrupt("file header and trailer versions differ");
  }
  const view = viewOf(bytes);
  const footerOffset = getU64(view, 0, "footer offset");
  const footerLength = view.getUint32(8, true);
  const footerCrc = view.getUint32(12, true);
  if (
    footerOffset < FILE_HEADER_BYTES ||
    footerOffset + footerLength + TRAILER_BYTES !== size
  ) {
    corrupt("footer does not end at the trailer", {
      footerOffset,
      footerLength,
      size,
    });
  }
  return { footerOffset, footerLength, footerCrc };
}

/** One block as listed by the footer index. */
export interface BlockInfo {
  /** Stream position of the block's first record. */
  firstPos: number;
  /** Position after its last record (next block's `firstPos`). */
  endPos: number;
  /** File offset of the block header. */
  fileOffset: number;
  /** Bytes of the block: header, bloom, header crc, payload. */
  length: number;
  /** Records in the block (>= 1). */
  recordCount: number;
  /** Append time of its first record, ms (0 in version 1 files). */
  minTimeMs: number;
  /** Append time of its last record, ms (0 in version 1 files). */
  maxTimeMs: number;
}

/** Segment-wide fields kept in the footer. */
export interface FooterInfo {
  /** Stream the records belong to. */
  streamId: string;
  /** Position of the first record. */
  startPos: number;
  /** Position after the last record. */
  endPos: number;
  /** Records in the segment. */
  recordCount: number;
  /** Blocks in file order. */
  blocks: BlockInfo[];
}

/** Encodes the footer: stream id, positions, counts, block index. */
export function writeFooter(f: FooterInfo): Uint8Array {
  const id = new TextEncoder().encode(f.streamId);
  assert(id.length <= STREAM_ID_BYTES_MAX, "stream id too long");
  const entryBytes = indexEntryBytes(VERSION);
  const out = new Uint8Array(
    4 + id.length + FOOTER_FIXED_BYTES + f.blocks.length * entryBytes,
  );
  const view = viewOf(out);
  view.setUint32(0, id.length, true);
  out.set(id, 4);
  let at = 4 + id.length;
  setU64(view, at, f.startPos);
  setU64(view, at + 8, f.endPos);
  setU64(view, at + 16, f.recordCount);
  view.setUint32(at + 24, f.blocks.length, true);
  at += FOOTER_FIXED_BYTES;
  for (const b of f.blocks) {
    setU64(view, at, b.firstPos);
    setU64(view, at + 8, b.fileOffset);
    view.setUint32(at + 16, b.length, true);
    view.setUint32(at + 20, b.recordCount, true);
    setU64(view, at + 24, b.minTimeMs);
    setU64(view, at + 32, b.maxTimeMs);
    at += entryBytes;
  }
  assert(at === out.length, "footer filled exactly");
  return out;
}

/**
 * Decodes a footer whose crc already matched, then checks that its blocks
 * tile the file from the header to `footerOffset` and the stream range from
 * `startPos` to `endPos`, so later block reads stay in bounds.
 */
export function readFooter(
  bytes: Uint8Array,
  footerOffset: number,
  version: number,
): FooterInfo {
  const view = viewOf(bytes);
  if (bytes.length < 4) corrupt("footer truncated");
  const idLength = view.getUint32(0, true);
  if (idLength > STREAM_ID_BYTES_MAX) corrupt("stream id too long");
  let at = 4 + idLength;
  if (bytes.length < at + FOOTER_FIXED_BYTES) corrupt("footer truncated");
  let streamId: string;
  try {
    streamId = new TextDecoder("utf-8", { fatal: true }).decode(
      bytes.subarray(4, at),
    );
  } catch (cause) {
    throw new StreamError("corrupt", "Cannot read segment: bad stream id", {}, {
      cause,
    });
  }
  const startPos = getU64(view, at, "start position");
  const endPos = getU64(view, at + 8, "end position");
  const recordCount = getU64(view, at + 16, "record count");
  const blockCount = view.getUint32(at + 24, true);
  if (view.getUint32(at + 28, true) !== 0) corrupt("reserved footer field");
  at += FOOTER_FIXED_BYTES;
  if (bytes.length !== at + blockCount * indexEntryBytes(version)) {
    corrupt("footer length does not match its block count", { blockCount });
  }
  if (blockCount < 1 || startPos >= endPos) corrupt("segment has no records");
  const blocks = readIndex(view, at, blockCount, version);
  checkTiling(blocks, startPos, endPos, recordCount, footerOffset);
  return { streamId, startPos, endPos, recordCount, blocks };
}

function readIndex(
  view: DataView,
  at: number,
  count: number,
  version: number,
): BlockInfo[] {
  const blocks: BlockInfo[] = [];
  const timed = version >= 2;
  for (let i = 0; i < count; i++, at += indexEntryBytes(version)) {
    blocks.push({
      firstPos: getU64(view, at, "block position"),
      endPos: 0, // filled by checkTiling
      fileOffset: getU64(view, at + 8, "block offset"),
      length: view.getUint32(at + 16, true),
      recordCount: view.getUint32(at + 20, true),
      minTimeMs: timed ? getU64(view, at + 24, "block time") : 0,
      maxTimeMs: timed ? getU64(view, at + 32, "block time") : 0,
    });
  }
  return blocks;
}

function checkTiling(
  blocks: BlockInfo[],
  startPos: number,
  endPos: number,
  recordCount: number,
  footerOffset: number,
): void {
  let offset = FILE_HEADER_BYTES;
  let records = 0;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i];
    b.endPos = i + 1 < blocks.length ? blocks[i + 1].firstPos : endPos;
    const expectedPos = i === 0 ? startPos : blocks[i - 1].endPos;
    if (b.firstPos !== expectedPos || b.endPos <= b.firstPos) {
      corrupt(`block ${i} positions out of order`, { block: i });
    }
    if (b.fileOffset !== offset) {
      corrupt(`block ${i} not at file offset ${offset}`, { block: i });
    }
    // Every record holds at least one byte.
    if (b.recordCount < 1 || b.recordCount > b.endPos - b.firstPos) {
      corrupt(`block ${i} record count ${b.recordCount}`, { block: i });
    }
    if (b.length < BLOCK_HEADER_BYTES + BLOCK_CRC_BYTES) {
      corrupt(`block ${i} too short`, { block: i });
    }
    // Append times never decrease along a stream: time seeks rely on it.
    const previousMax = i === 0 ? 0 : blocks[i - 1].maxTimeMs;
    if (b.minTimeMs > b.maxTimeMs || b.minTimeMs < previousMax) {
      corrupt(`block ${i} append times out of order`, { block: i });
    }
    offset += b.length;
    records += b.recordCount;
  }
  if (offset !== footerOffset) corrupt("blocks do not end at the footer");
  if (records !== recordCount) corrupt("record counts disagree");
}

/** Parsed fixed block header. */
export interface BlockHeader {
  /** `CODEC_RAW` or `CODEC_ZSTD`. */
  codecId: number;
  /** `FLAG_KEYS` when the payload carries routing keys. */
  flags: number;
  /** Records in the block. */
  recordCount: number;
  /** Position of the first record. */
  firstPos: number;
  /** Bytes of the payload before compression. */
  uncompressedLength: number;
  /** Bytes of the stored payload. */
  compressedLength: number;
  /** Bytes of the serialized bloom filter (0: no keys). */
  bloomLength: number;
  /** CRC32C of the stored payload. */
  payloadCrc: number;
}

/** Encodes the 32-byte fixed block header. */
export function writeBlockHeader(h: BlockHeader): Uint8Array {
  const out = new Uint8Array(BLOCK_HEADER_BYTES);
  const view = viewOf(out);
  out[0] = h.codecId;
  out[1] = h.flags;
  view.setUint32(4, h.recordCount, true);
  setU64(view, 8, h.firstPos);
  view.setUint32(16, h.uncompressedLength, true);
  view.setUint32(20, h.compressedLength, true);
  view.setUint32(24, h.bloomLength, true);
  view.setUint32(28, h.payloadCrc, true);
  return out;
}

/** Decodes a block header and checks it against the footer's entry. */
export function readBlockHeader(
  bytes: Uint8Array,
  block: BlockInfo,
  index: number,
): BlockHeader {
  assert(bytes.length === BLOCK_HEADER_BYTES, "block header is 32 bytes");
  const view = viewOf(bytes);
  const h: BlockHeader = {
    codecId: bytes[0],
    flags: bytes[1],
    recordCount: view.getUint32(4, true),
    firstPos: getU64(view, 8, "block position"),
    uncompressedLength: view.getUint32(16, true),
    compressedLength: view.getUint32(20, true),
    bloomLength: view.getUint32(24, true),
    payloadCrc: view.getUint32(28, true),
  };
  const detail = { block: index };
  if (h.codecId !== CODEC_RAW && h.codecId !== CODEC_ZSTD) {
    corrupt(`block ${index} has unknown codec ${h.codecId}`, detail);
  }
  if ((h.flags & ~FLAG_KEYS) !== 0 || view.getUint16(2, true) !== 0) {
    corrupt(`block ${index} has reserved bits set`, detail);
  }
  if (h.recordCount !== block.recordCount || h.firstPos !== block.firstPos) {
    corrupt(`block ${index} header disagrees with the index`, detail);
  }
  const length = BLOCK_HEADER_BYTES + h.bloomLength + BLOCK_CRC_BYTES +
    h.compressedLength;
  if (length !== block.length) {
    corrupt(`block ${index} lengths do not add up`, detail);
  }
  if (h.codecId === CODEC_RAW && h.compressedLength !== h.uncompressedLength) {
    corrupt(`raw block ${index} changes length`, detail);
  }
  return h;
}
