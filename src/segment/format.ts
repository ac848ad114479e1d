/**
 * @module
 * Segments: immutable files holding one stream's records for the byte range
 * [startPos, endPos), in zstd-compressed blocks with per-block checksums and
 * routing-key bloom filters, plus a footer index of block start positions so
 * a read seeks to any offset with a binary search (docs/segments.md).
 */

import { assert } from "../assert.ts";
import type { Codec } from "../_wasm/codec.ts";
import { crc32c, xxhash64 } from "../_wasm/checksum.ts";
import { BloomFilter } from "../_wasm/bloom.ts";
import { xxhash64Keys } from "../_wasm/hash.ts";
import {
  BLOCK_CRC_BYTES,
  BLOCK_HEADER_BYTES,
  type BlockInfo,
  CODEC_RAW,
  CODEC_ZSTD,
  FILE_HEADER_BYTES,
  FLAG_KEYS,
  tagBytes,
  viewOf,
  writeBlockHeader,
  writeFooter,
  writeTrailer,
} from "./_layout.ts";
import { type SegmentRecord, writePayload } from "./_payload.ts";
import { concatBytes } from "../bytes.ts";
import { decodeKeys } from "../record_meta.ts";

export type { BlockInfo } from "./_layout.ts";
export type { SegmentRecord } from "./_payload.ts";
export {
  openSegment,
  type OpenSegmentOptions,
  type RangeSource,
  type ReadFromResult,
  SegmentReader,
} from "./reader.ts";

/** One record to store: its stream position, bytes and optional key. */
export interface SegmentRecordInput {
  /** Stream position of its first byte. */
  pos: number;
  /** Its bytes (at least one). */
  data: Uint8Array;
  /** Routing key, if any. */
  key?: Uint8Array | null;
  /** Append time, ms (0 when unknown). Never less than the previous one's. */
  timeMs?: number;
}

/** A WAL chunk (src/storage/wal_store.ts `Chunk`): records back to back. */
export interface ChunkInput {
  /** Position of the first byte. */
  startPos: number;
  /** Position after the last byte. */
  endPos: number;
  /** The records' bytes. */
  data: Uint8Array;
  /** Record lengths, or null for a single record. */
  lengths: Uint32Array | null;
  /** Key table (`src/record_meta.ts`), or null when no record has a key. */
  keys: Uint8Array | null;
  /** Append time per record, ms, or null (all 0). */
  times: Float64Array | null;
}

/** How `encodeSegment` lays out blocks. */
export interface EncodeSegmentOptions {
  /** Stream the records belong to (at most 4096 UTF-8 bytes). */
  streamId: string;
  /** Block compressor; null stores every block raw. */
  codec: Codec | null;
  /** zstd level. @default {3} */
  level?: number;
  /** Close a block before it passes this many record bytes. @default {65536} */
  blockBytesTarget?: number;
  /** Bloom filter bits per routing key. @default {10} */
  bloomBitsPerKey?: number;
}

/** Default uncompressed record bytes per block (64 KiB). */
export const BLOCK_BYTES_TARGET_DEFAULT = 64 * 1024;
/** Largest allowed block target (16 MiB). */
export const BLOCK_BYTES_TARGET_MAX: number = 16 * 2 ** 20;

/** The 64-bit hash `mayContainKey` expects for a routing key (XXH64). */
export function routingKeyHash(key: Uint8Array): bigint {
  return xxhash64(key);
}

/**
 * Splits WAL chunks into records with their keys and times (a chunk
 * without lengths is one record).
 */
export function* chunkRecords(
  chunks: Iterable<ChunkInput>,
): Generator<SegmentRecordInput> {
  for (const c of chunks) {
    assert(c.endPos - c.startPos === c.data.length, "chunk length mismatch");
    const lengths = c.lengths ?? [c.data.length];
    const keys = decodeKeys(c.keys, lengths.length);
    let at = 0;
    for (let i = 0; i < lengths.length; i++) {
      const length = lengths[i];
      yield {
        pos: c.startPos + at,
        data: c.data.subarray(at, at + length),
        key: keys[i],
        timeMs: c.times?.[i] ?? 0,
      };
      at += length;
    }
    assert(at === c.data.length, "chunk lengths must cover its data");
  }
}

/**
 * Encodes records (or WAL chunks) into one segment. Records must be
 * contiguous (each starts where the previous ended), non-empty, and there
 * must be at least one. A record is never split across blocks.
 */
export function encodeSegment(
  input: Iterable<SegmentRecordInput | ChunkInput>,
  options: EncodeSegmentOptions,
): Uint8Array {
  const encoder = new SegmentEncoder(options);
  for (const r of records(input)) encoder.add(r);
  return encoder.finish();
}

/**
 * Builds a segment one record at a time, compressing each block as it
 * fills, so a caller streaming WAL rows holds one block of records at most.
 */
export class SegmentEncoder {
  readonly #options: EncodeSegmentOptions;
  readonly #target: number;
  readonly #parts: Uint8Array[] = [tagBytes()];
  readonly #blocks: BlockInfo[] = [];
  #offset = FILE_HEADER_BYTES;
  #pending: SegmentRecord[] = [];
  #pendingBytes = 0;
  #startPos = -1;
  #nextPos = -1;
  #lastTimeMs = 0;
  #finished = false;

  /** Starts an empty segment; see `EncodeSegmentOptions`. */
  constructor(options: EncodeSegmentOptions) {
    const target = options.blockBytesTarget ?? BLOCK_BYTES_TARGET_DEFAULT;
    assert(
      Number.isInteger(target) && target >= 1 &&
        target <= BLOCK_BYTES_TARGET_MAX,
      "blockBytesTarget must be an integer in 1..16 MiB",
    );
    this.#options = options;
    this.#target = target;
  }

  /** Appends the record that starts where the previous one ended. */
  add(r: SegmentRecordInput): void {
    assert(!this.#finished, "add() after finish()");
    assert(Number.isSafeInteger(r.pos) && r.pos >= 0, "pos must be >= 0");
    assert(r.data.length >= 1, "records must not be empty");
    assert(
      this.#nextPos < 0 || r.pos === this.#nextPos,
      "records must be contiguous",
    );
    const timeMs = r.timeMs ?? 0;
    assert(
      Number.isSafeInteger(timeMs) && timeMs >= this.#lastTimeMs,
      "append times must not decrease",
    );
    this.#lastTimeMs = timeMs;
    if (this.#startPos < 0) this.#startPos = r.pos;
    if (
      this.#pending.length > 0 &&
      this.#pendingBytes + r.data.length > this.#target
    ) {
      this.#flush();
    }
    this.#pending.push({
      pos: r.pos,
      data: r.data,
      key: r.key ?? null,
      timeMs,
    });
    this.#pendingBytes += r.data.length;
    this.#nextPos = r.pos + r.data.length;
  }

  /** Closes the last block and returns the whole segment. */
  finish(): Uint8Array {
    assert(!this.#finished, "finish() called twice");
    assert(this.#pending.length > 0, "a segment needs at least one record");
    this.#flush();
    this.#finished = true;
    const footer = writeFooter({
      streamId: this.#options.streamId,
      startPos: this.#startPos,
      endPos: this.#nextPos,
      recordCount: this.#blocks.reduce((n, b) => n + b.recordCount, 0),
      blocks: this.#blocks,
    });
    this.#parts.push(
      footer,
      writeTrailer({
        footerOffset: this.#offset,
        footerLength: footer.length,
        footerCrc: crc32c(footer),
      }),
    );
    return concatBytes(this.#parts);
  }

  #flush(): void {
    const block = encodeBlock(this.#pending, this.#options);
    this.#blocks.push({
      firstPos: this.#pending[0].pos,
      endPos: this.#nextPos,
      fileOffset: this.#offset,
      length: block.length,
      recordCount: this.#pending.length,
      minTimeMs: this.#pending[0].timeMs,
      maxTimeMs: this.#pending[this.#pending.length - 1].timeMs,
    });
    this.#parts.push(block);
    this.#offset += block.length;
    this.#pending = [];
    this.#pendingBytes = 0;
  }
}

function* records(
  input: Iterable<SegmentRecordInput | ChunkInput>,
): Generator<SegmentRecordInput> {
  for (const item of input) {
    if ("startPos" in item) yield* chunkRecords([item]);
    else yield item;
  }
}

/** Encodes one block: header, bloom, header crc, stored payload. */
function encodeBlock(
  records: readonly SegmentRecord[],
  options: EncodeSegmentOptions,
): Uint8Array {
  const keys = records.flatMap((r) => r.key === null ? [] : [r.key]);
  const payload = writePayload(records, keys.length > 0);
  let stored = payload;
  let codecId = CODEC_RAW;
  if (options.codec !== null) {
    const packed = options.codec.compress(payload, options.level ?? 3);
    // Incompressible blocks are kept raw: smaller, and no decode cost.
    if (packed.length < payload.length) {
      stored = packed;
      codecId = CODEC_ZSTD;
    }
  }
  const bloom = keys.length === 0 ? new Uint8Array(0) : BloomFilter.build(
    xxhash64Keys(keys),
    options.bloomBitsPerKey ?? 10,
  ).serialize();
  const header = writeBlockHeader({
    codecId,
    flags: keys.length > 0 ? FLAG_KEYS : 0,
    recordCount: records.length,
    firstPos: records[0].pos,
    uncompressedLength: payload.length,
    compressedLength: stored.length,
    bloomLength: bloom.length,
    payloadCrc: crc32c(stored),
  });
  const headBytes = BLOCK_HEADER_BYTES + bloom.length;
  const out = new Uint8Array(headBytes + BLOCK_CRC_BYTES + stored.length);
  out.set(header, 0);
  out.set(bloom, BLOCK_HEADER_BYTES);
  viewOf(out).setUint32(headBytes, crc32c(out.subarray(0, headBytes)), true);
  out.set(stored, headBytes + BLOCK_CRC_BYTES);
  return out;
}
