/**
 * @module
 * Reads a segment from bytes in memory or any ranged source (a file, an
 * object store). Opening reads only the trailer and footer; a read seeks to
 * the block holding a position by binary search over the footer index and
 * verifies that block's checksums before decoding it.
 */

import { assert } from "../assert.ts";
import type { Codec } from "../_wasm/codec.ts";
import { crc32c } from "../_wasm/checksum.ts";
import { BloomFilter } from "../_wasm/bloom.ts";
import { StreamError } from "../errors.ts";
import {
  BLOCK_CRC_BYTES,
  BLOCK_HEADER_BYTES,
  type BlockHeader,
  type BlockInfo,
  checkTag,
  CODEC_ZSTD,
  corrupt,
  FILE_HEADER_BYTES,
  FLAG_KEYS,
  readBlockHeader,
  readFooter,
  readTrailer,
  TRAILER_BYTES,
  viewOf,
} from "./_layout.ts";
import { readPayload, type SegmentRecord } from "./_payload.ts";

/** Random access to a segment's bytes. */
export interface RangeSource {
  /** Total bytes. */
  readonly size: number;
  /** Exactly `length` bytes from `offset` (a short read is corrupt). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Options of `openSegment`. */
export interface OpenSegmentOptions {
  /** Decoder for zstd blocks; required unless every block is raw. */
  codec: Codec | null;
}

/** What `readFrom` returns. */
export interface ReadFromResult {
  /** Whole records in order; the first is the one holding pos. */
  records: SegmentRecord[];
  /** Position to continue from (the segment's `endPos` when done). */
  nextPos: number;
}

function bytesSource(bytes: Uint8Array): RangeSource {
  return {
    size: bytes.length,
    read: (offset, length) =>
      Promise.resolve(bytes.subarray(offset, offset + length)),
  };
}

/**
 * Opens a segment: checks header, trailer and footer (tags, version, crc,
 * and that the block index tiles the file). Throws `corrupt` otherwise.
 */
export async function openSegment(
  source: Uint8Array | RangeSource,
  options: OpenSegmentOptions,
): Promise<SegmentReader> {
  const src = source instanceof Uint8Array ? bytesSource(source) : source;
  const size = src.size;
  if (size < FILE_HEADER_BYTES + TRAILER_BYTES) {
    corrupt(`file of ${size} bytes is too short`, { size });
  }
  const version = checkTag(
    await readExact(src, 0, FILE_HEADER_BYTES),
    "file header",
  );
  const trailerBytes = await readExact(
    src,
    size - TRAILER_BYTES,
    TRAILER_BYTES,
  );
  const trailer = readTrailer(trailerBytes, size, version);
  const footerBytes = await readExact(
    src,
    trailer.footerOffset,
    trailer.footerLength,
  );
  const actual = crc32c(footerBytes);
  if (actual !== trailer.footerCrc) {
    corrupt("footer checksum mismatch", {
      stored: trailer.footerCrc,
      actual,
    });
  }
  const footer = readFooter(footerBytes, trailer.footerOffset, version);
  return new SegmentReader(src, { ...footer, version }, options.codec);
}

async function readExact(
  src: RangeSource,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  assert(offset >= 0 && offset + length <= src.size, "read within the file");
  const bytes = await src.read(offset, length);
  if (bytes.length !== length) {
    corrupt(`short read at ${offset}: ${bytes.length} of ${length} bytes`, {
      offset,
    });
  }
  return bytes;
}

/** An open segment: metadata from the footer, blocks read on demand. */
export class SegmentReader {
  /** Stream the records belong to. */
  readonly streamId: string;
  /** Position of the first record. */
  readonly startPos: number;
  /** Position after the last record. */
  readonly endPos: number;
  /** Records in the segment. */
  readonly recordCount: number;
  /** The footer index, in position and file order. */
  readonly blocks: readonly BlockInfo[];
  /** Format version (1: no append times, read as 0). */
  readonly version: number;
  readonly #src: RangeSource;
  readonly #codec: Codec | null;
  // One decoded block: sequential reads of one block decode it once.
  #lastBlock = -1;
  #lastRecords: SegmentRecord[] = [];
  // Bounded by the block count.
  readonly #blooms = new Map<number, BloomFilter | null>();

  /** Use `openSegment`; this trusts a footer it has already checked. */
  constructor(
    src: RangeSource,
    footer: {
      streamId: string;
      startPos: number;
      endPos: number;
      recordCount: number;
      blocks: BlockInfo[];
      version: number;
    },
    codec: Codec | null,
  ) {
    this.#src = src;
    this.#codec = codec;
    this.streamId = footer.streamId;
    this.startPos = footer.startPos;
    this.endPos = footer.endPos;
    this.recordCount = footer.recordCount;
    this.blocks = footer.blocks;
    this.version = footer.version;
  }

  /**
   * Index of the first block holding a record with append time at least
   * `timeMs` (block bounds never decrease), or -1 when none does. Reads
   * only the footer.
   */
  blockAtTime(timeMs: number): number {
    let lo = 0;
    let hi = this.blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.blocks[mid].maxTimeMs >= timeMs) hi = mid;
      else lo = mid + 1;
    }
    return lo < this.blocks.length ? lo : -1;
  }

  /** Index of the block holding `pos`, or -1 outside [startPos, endPos). */
  blockFor(pos: number): number {
    if (!(pos >= this.startPos && pos < this.endPos)) return -1;
    let lo = 0;
    let hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.blocks[mid].firstPos <= pos) lo = mid;
      else hi = mid - 1;
    }
    assert(
      this.blocks[lo].firstPos <= pos && pos < this.blocks[lo].endPos,
      "binary search lands on the block holding pos",
    );
    return lo;
  }

  /**
   * Records from the one holding `pos` (a position inside a record reads
   * that record whole), up to `bytesMax` record bytes; always at least one
   * record when any remain, so a record larger than `bytesMax` still makes
   * progress.
   */
  async readFrom(pos: number, bytesMax: number): Promise<ReadFromResult> {
    assert(
      Number.isSafeInteger(pos) && pos >= this.startPos && pos <= this.endPos,
      "readFrom pos must lie in [startPos, endPos]",
    );
    assert(Number.isSafeInteger(bytesMax) && bytesMax >= 1, "bytesMax >= 1");
    const records: SegmentRecord[] = [];
    let bytes = 0;
    for (let i = this.blockFor(pos); i >= 0 && i < this.blocks.length; i++) {
      for (const r of await this.readBlock(i)) {
        if (r.pos + r.data.length <= pos) continue;
        if (records.length > 0 && bytes + r.data.length > bytesMax) {
          return { records, nextPos: r.pos };
        }
        records.push(r);
        bytes += r.data.length;
      }
    }
    return { records, nextPos: this.endPos };
  }

  /** Decodes every record of block `index`, checking both checksums. */
  async readBlock(index: number): Promise<readonly SegmentRecord[]> {
    assert(index >= 0 && index < this.blocks.length, "block index in range");
    if (index === this.#lastBlock) return this.#lastRecords;
    const block = this.blocks[index];
    const bytes = await readExact(this.#src, block.fileOffset, block.length);
    const header = this.#checkHead(bytes, index);
    const stored = bytes.subarray(
      BLOCK_HEADER_BYTES + header.bloomLength + BLOCK_CRC_BYTES,
    );
    const actual = crc32c(stored);
    if (actual !== header.payloadCrc) {
      corrupt(`block ${index} payload checksum mismatch`, { block: index });
    }
    const payload = this.#decompress(stored, header, index);
    const records = readPayload(payload, {
      count: header.recordCount,
      withKeys: (header.flags & FLAG_KEYS) !== 0,
      withTimes: this.version >= 2,
      firstPos: block.firstPos,
      endPos: block.endPos,
      minTimeMs: block.minTimeMs,
      maxTimeMs: block.maxTimeMs,
      index,
    });
    this.#lastBlock = index;
    this.#lastRecords = records;
    return records;
  }

  /**
   * False when no record of block `index` carries a key with hash `keyHash`
   * (`routingKeyHash(key)`); true when one may. Reads only the block header
   * and bloom filter, once per block.
   */
  async mayContainKey(index: number, keyHash: bigint): Promise<boolean> {
    assert(index >= 0 && index < this.blocks.length, "block index in range");
    let bloom = this.#blooms.get(index);
    if (bloom === undefined) {
      const block = this.blocks[index];
      const head = await readExact(
        this.#src,
        block.fileOffset,
        BLOCK_HEADER_BYTES,
      );
      const h = readBlockHeader(head, block, index);
      const rest = await readExact(
        this.#src,
        block.fileOffset + BLOCK_HEADER_BYTES,
        h.bloomLength + BLOCK_CRC_BYTES,
      );
      const joined = new Uint8Array(head.length + rest.length);
      joined.set(head, 0);
      joined.set(rest, head.length);
      this.#checkHead(joined, index);
      bloom = this.#blooms.get(index) ?? null;
    }
    return bloom !== null && bloom.has(keyHash);
  }

  /** Reads and checks every block and bloom filter (a full scrub). */
  async verify(): Promise<void> {
    for (let i = 0; i < this.blocks.length; i++) {
      await this.readBlock(i);
      await this.mayContainKey(i, 0n);
    }
  }

  /** Checks the header crc of `bytes` (a block's start) and its bloom. */
  #checkHead(bytes: Uint8Array, index: number): BlockHeader {
    const block = this.blocks[index];
    const h = readBlockHeader(
      bytes.subarray(0, BLOCK_HEADER_BYTES),
      block,
      index,
    );
    const headBytes = BLOCK_HEADER_BYTES + h.bloomLength;
    const stored = viewOf(bytes).getUint32(headBytes, true);
    if (crc32c(bytes.subarray(0, headBytes)) !== stored) {
      corrupt(`block ${index} header checksum mismatch`, { block: index });
    }
    if (((h.flags & FLAG_KEYS) !== 0) !== (h.bloomLength > 0)) {
      corrupt(`block ${index} keys flag disagrees with its bloom`, {
        block: index,
      });
    }
    if (!this.#blooms.has(index)) {
      this.#blooms.set(
        index,
        h.bloomLength === 0 ? null : BloomFilter.deserialize(
          bytes.subarray(BLOCK_HEADER_BYTES, headBytes),
        ),
      );
    }
    return h;
  }

  #decompress(
    stored: Uint8Array,
    header: BlockHeader,
    index: number,
  ): Uint8Array {
    if (header.codecId !== CODEC_ZSTD) return stored;
    assert(this.#codec !== null, "a zstd segment needs a codec to read");
    let payload: Uint8Array;
    try {
      payload = this.#codec.decompress(stored);
    } catch (cause) {
      if (cause instanceof StreamError) {
        throw new StreamError(
          "corrupt",
          `Cannot read segment: block ${index} does not decompress`,
          { block: index },
          { cause },
        );
      }
      throw cause;
    }
    if (payload.length !== header.uncompressedLength) {
      corrupt(`block ${index} decompressed to ${payload.length} bytes`, {
        block: index,
      });
    }
    return payload;
  }
}
