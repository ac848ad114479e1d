/**
 * @module
 * A byte-bounded LRU of opened segments (bytes in memory plus their parsed
 * footer, and each block once decoded), so catch-up reads of published data
 * come from memory instead of the object store, and a block is decompressed
 * and checked once while it stays cached. Concurrent misses for one key
 * share a single load. Decoded blocks count toward the byte limit.
 */

import { assert } from "../assert.ts";
import type { Codec } from "../_wasm/codec.ts";
import { encodeKeys } from "../record_meta.ts";
import { openSegment, type SegmentReader } from "./reader.ts";

/** One decoded block: its records back to back, as a WAL chunk holds them. */
export interface DecodedBlock {
  /** Position of the block's first record. */
  startPos: number;
  /** Position after its last record. */
  endPos: number;
  /** The records' bytes. */
  data: Uint8Array;
  /** Record lengths, or null for a single record. */
  lengths: Uint32Array | null;
  /** Key table (`src/record_meta.ts`), or null when no record has a key. */
  keys: Uint8Array | null;
  /** Append time per record, ms, or null (version 1 files: all 0). */
  times: Float64Array | null;
}

interface Entry {
  reader: SegmentReader;
  /** The segment file, when the cache loaded or was given it whole. */
  file: Uint8Array;
  bytes: number;
  blocks: Map<number, DecodedBlock>;
}

/** Counters for `_details` and tests. */
export interface SegmentCacheStats {
  /** Bytes held. */
  bytes: number;
  /** Segments held. */
  entries: number;
  /** Lookups answered from memory. */
  hits: number;
  /** Loads from the backing source. */
  misses: number;
  /** Entries dropped to stay under the byte limit. */
  evictions: number;
}

/** See the module doc. */
export class SegmentCache {
  readonly #bytesMax: number;
  readonly #codec: Codec | null;
  // Map order is recency order: the first key is the least recently used.
  readonly #entries = new Map<string, Entry>();
  readonly #loading = new Map<string, Promise<SegmentReader>>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  /** A cache holding at most `bytesMax` segment bytes (0 disables it). */
  constructor(bytesMax: number, codec: Codec | null) {
    assert(Number.isSafeInteger(bytesMax) && bytesMax >= 0, "bytesMax >= 0");
    this.#bytesMax = bytesMax;
    this.#codec = codec;
  }

  /** The segment under `key`, loading its bytes with `load` on a miss. */
  async get(
    key: string,
    load: () => Promise<Uint8Array>,
  ): Promise<SegmentReader> {
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      this.#hits++;
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit.reader;
    }
    let pending = this.#loading.get(key);
    if (pending === undefined) {
      this.#misses++;
      pending = (async () => {
        const bytes = await load();
        const reader = await openSegment(bytes, { codec: this.#codec });
        this.#insert(key, reader, bytes);
        return reader;
      })();
      this.#loading.set(key, pending);
      pending.finally(() => this.#loading.delete(key)).catch(() => {});
    }
    return await pending;
  }

  /**
   * Block `index` of the segment under `key`, decoded (records verified),
   * from memory when it was decoded before and is still cached.
   */
  async block(
    key: string,
    load: () => Promise<Uint8Array>,
    index: number,
  ): Promise<DecodedBlock> {
    const reader = await this.get(key, load);
    const entry = this.#entries.get(key);
    const hit = entry?.blocks.get(index);
    if (hit !== undefined) return hit;
    const records = await reader.readBlock(index);
    assert(records.length > 0, "a block holds records");
    const first = records[0];
    const endPos = reader.blocks[index].endPos;
    // Records of one block are contiguous in the decoded payload.
    const block: DecodedBlock = {
      startPos: first.pos,
      endPos,
      data: new Uint8Array(
        first.data.buffer,
        first.data.byteOffset,
        endPos - first.pos,
      ),
      lengths: records.length > 1
        ? Uint32Array.from(records, (r) => r.data.length)
        : null,
      keys: encodeKeys(records.map((r) => r.key)),
      times: reader.version >= 2
        ? Float64Array.from(records, (r) => r.timeMs)
        : null,
    };
    const current = this.#entries.get(key);
    if (current !== undefined && current === entry) {
      const size = block.data.length + (block.lengths?.byteLength ?? 0) +
        (block.keys?.byteLength ?? 0) + (block.times?.byteLength ?? 0);
      current.blocks.set(index, block);
      current.bytes += size;
      this.#bytes += size;
      this.#evict();
    }
    return block;
  }

  /** Adds freshly written segment bytes (for example right after upload). */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    if (bytes.length > this.#bytesMax) return;
    const reader = await openSegment(bytes, { codec: this.#codec });
    this.#insert(key, reader, bytes);
  }

  /**
   * The whole file under `key` if held (no load, no recency change): for
   * handing a segment to another thread without fetching it again.
   */
  fileOf(key: string): Uint8Array | undefined {
    return this.#entries.get(key)?.file;
  }

  /** Drops `key` if held. */
  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  #insert(key: string, reader: SegmentReader, file: Uint8Array): void {
    this.delete(key);
    const bytes = file.length;
    if (bytes > this.#bytesMax) return; // too big to keep: served uncached
    this.#entries.set(key, { reader, file, bytes, blocks: new Map() });
    this.#bytes += bytes;
    this.#evict();
  }

  #evict(): void {
    for (const [oldKey, old] of this.#entries) {
      if (this.#bytes <= this.#bytesMax) break;
      this.#entries.delete(oldKey);
      this.#bytes -= old.bytes;
      this.#evictions++;
    }
    assert(this.#bytes <= this.#bytesMax, "cache stays under its byte limit");
  }

  /** Current counters. */
  stats(): SegmentCacheStats {
    return {
      bytes: this.#bytes,
      entries: this.#entries.size,
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
    };
  }
}
