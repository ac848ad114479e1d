/**
 * @module
 * Search companions of uploaded segments (docs/companions.md): after a
 * stream's segments are uploaded, the upload loop builds the companion of
 * the oldest segment lacking one for the stream's current `search` config,
 * puts it next to the segment in the object store, and keeps it decoded in
 * memory. Scans ask `pruner` which ranges cannot match; a segment without a
 * companion of the config in force is read (never a false negative).
 */

import { createNodeZstdCodec } from "../_wasm/codec.ts";
import type { SearchPruner } from "../engine/record_scan.ts";
import type { StreamInfo } from "../engine/types.ts";
import type { Logger } from "../log.ts";
import {
  decodeManifest,
  type ManifestCompanions,
  manifestKey,
  segmentKey,
} from "../objectstore/manifest.ts";
import type { ObjectStore } from "../objectstore/object_store.ts";
import {
  type Companion,
  CompanionError,
  decodeCompanion,
  ruledOutRanges,
} from "../search/companion.ts";
import {
  type SearchConfig,
  searchConfigHash,
  validateSearchConfig,
} from "../search/config.ts";
import { aggSectionMemoryBytes } from "../search/rollup_section.ts";
import { COMPANION_MEMORY_BYTES_MAX } from "../limits.ts";
import type { SegmentCache } from "../segment/cache.ts";
import {
  buildCompanionBytes,
  type CompanionBuildInput,
  type CompanionBuildReply,
} from "./_companion_build.ts";
import { segmentFileOf, uploadedCount } from "./reader.ts";
import type { TierStream } from "./streams.ts";

/** One segment's companion, as the catalog keeps it. */
export interface CompanionEntry {
  /** Hash of the config it was built for. */
  hash: string;
  startPos: number;
  endPos: number;
  companion: Companion;
  /** Encoded size. */
  bytes: number;
}

/** A catalog entry: the companion while it is in memory, its key always. */
interface Slot {
  hash: string;
  startPos: number;
  endPos: number;
  /** Encoded size (at rest). */
  bytes: number;
  /** Object key. */
  key: string;
  /** Decoded, or undefined once evicted. */
  companion: Companion | undefined;
  /** Memory the decoded companion holds (estimated). */
  memoryBytes: number;
}

/** The decoded-companion cache, for `/v1/server/_details`. */
export interface CompanionCacheStats {
  /** Decoded companions in memory. */
  entries: number;
  /** Their estimated bytes. */
  bytes: number;
  /** The bound. */
  bytesMax: number;
  /** Companions evicted since start. */
  evictions: number;
  /** Evicted companions loaded again since start. */
  reloads: number;
  /** Companions built since start. */
  builds: number;
}

/** Progress of one stream's companions (`_index_status`). */
export interface CompanionStatus {
  /** Uploaded segments with a companion of the config in force. */
  indexedSegments: number;
  /** Uploaded segments. */
  uploadedSegments: number;
  /** Bytes of those companions at rest. */
  bytes: number;
}

/** The object key of a segment's companion for config hash `hash`. */
export function companionKey(
  streamId: number,
  startPos: number,
  endPos: number,
  hash: string,
): string {
  const segment = segmentKey(streamId, startPos, endPos).replace(/\.seg$/, "");
  return `${segment}.${hash.slice(0, 16)}.cmp`;
}

const hashes = new WeakMap<SearchConfig, string>();

/** `searchConfigHash(config)`, computed once per config object. */
export function hashOf(config: SearchConfig): string {
  let hash = hashes.get(config);
  if (hash === undefined) {
    hash = searchConfigHash(config);
    hashes.set(config, hash);
  }
  return hash;
}

const checkedSections = new WeakMap<
  object,
  { config: SearchConfig; hash: string } | null
>();

/**
 * A registry's `search` section validated, with its config hash; null when
 * it does not validate. Computed once per section object: the upload loop
 * asks on every pass for every stream with search fields, and a registry's
 * section is replaced, never changed in place, when the schema changes.
 */
export function checkedSearch(
  search: unknown,
): { config: SearchConfig; hash: string } | null {
  if (typeof search !== "object" || search === null) {
    const checked = validateSearchConfig(search);
    return checked.ok
      ? { config: checked.value, hash: hashOf(checked.value) }
      : null;
  }
  let found = checkedSections.get(search);
  if (found === undefined) {
    const checked = validateSearchConfig(search);
    found = checked.ok
      ? { config: checked.value, hash: hashOf(checked.value) }
      : null;
    checkedSections.set(search, found);
  }
  return found;
}

/** What the catalog needs from the tier. */
export interface CompanionDeps {
  objects: ObjectStore;
  cache: SegmentCache;
  log: Logger;
  /** Records per companion block stop growing past this many bytes. */
  blockBytes: number;
  /** Where builds run. */
  builder: CompanionBuilder;
  /** Bytes of decoded companions kept (default `COMPANION_MEMORY_BYTES_MAX`). */
  memoryBytesMax?: number;
}

/** Builds encoded companions (on a Worker, or on this thread for tests). */
export interface CompanionBuilder {
  build(input: CompanionBuildInput): Promise<Uint8Array>;
  close(): void;
}

/** Builds on the calling thread. */
export function inThreadCompanionBuilder(): CompanionBuilder {
  const codec = createNodeZstdCodec();
  return {
    build: (input) => buildCompanionBytes(input, codec),
    close() {},
  };
}

/**
 * Builds on a dedicated Worker, in request order. Inputs are copied (the
 * segment cache keeps its files); results come back transferred.
 */
export function workerCompanionBuilder(): CompanionBuilder {
  const worker = new Worker(
    new URL("./_companion_worker.ts", import.meta.url),
    { type: "module" },
  );
  const pending = new Map<
    number,
    { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }
  >();
  let nextId = 1;
  let failed: Error | undefined;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => markReady = resolve);
  const fail = (error: Error) => {
    failed ??= error;
    markReady();
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.onmessage = (event: MessageEvent<CompanionBuildReply>) => {
    const reply = event.data;
    if ("ready" in reply) return markReady();
    const p = pending.get(reply.id);
    if (p === undefined) return;
    pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.bytes);
    else p.reject(new Error(reply.message));
  };
  worker.onerror = (event) => {
    event.preventDefault();
    fail(new Error(`Companion build worker crashed: ${event.message}`));
  };
  return {
    async build(input) {
      await ready;
      if (failed !== undefined) throw failed;
      const id = nextId++;
      return await new Promise<Uint8Array>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ ...input, id });
      });
    },
    close() {
      fail(new Error("Companion build worker closed"));
      worker.terminate();
    },
  };
}

/**
 * Builds, keeps and consults the companions of every tiered stream. The
 * catalog knows every companion object; the decoded ones are an LRU bounded
 * in bytes: a query consults only companions in memory (others' segments
 * are read) and brings evicted ones it met back in the background.
 */
export class Companions {
  readonly #d: CompanionDeps;
  readonly #byStream = new Map<number, Slot[]>();
  /** Slots holding a decoded companion, least recently used first. */
  readonly #lru = new Set<Slot>();
  readonly #memoryBytesMax: number;
  #memoryBytes = 0;
  #evictions = 0;
  #reloads = 0;
  readonly #reloading = new Set<number>();
  /** Streams whose manifest listing was read (`restore`). */
  readonly #restored = new Set<number>();
  /** Builds done since start. */
  builds = 0;

  /** An empty catalog over `deps`. */
  constructor(deps: CompanionDeps) {
    this.#d = deps;
    this.#memoryBytesMax = deps.memoryBytesMax ?? COMPANION_MEMORY_BYTES_MAX;
  }

  /**
   * Brings one uploaded segment of `s` (the oldest lacking one) a companion
   * for `info`'s search config: loaded from the object store when it was
   * built before, else built and put. False when there is nothing to do.
   */
  async step(s: TierStream, info: StreamInfo): Promise<boolean> {
    const registry = info.schemaRegistry;
    if (registry === null || registry.search === null) {
      this.drop(s.id);
      return false;
    }
    const checked = checkedSearch(registry.search);
    if (checked === null) return false;
    const hash = checked.hash;
    const uploaded = uploadedCount(s);
    const entries = this.#current(s.id, hash);
    const have = new Set(entries.map((e) => e.startPos));
    let ordinal = 0;
    while (ordinal < uploaded && have.has(s.segments[ordinal].startPos)) {
      ordinal++;
    }
    if (ordinal >= uploaded) return false;
    const row = s.segments[ordinal];
    const key = companionKey(s.id, row.startPos, row.endPos, hash);
    let bytes = await this.#d.objects.get(key);
    let companion = bytes === undefined
      ? undefined
      : this.#decode(s.id, key, bytes);
    if (companion === undefined) {
      // The builder decompresses the blocks itself (on the Worker): this
      // thread only finds the file.
      const { segment: file } = await segmentFileOf(
        this.#d.objects,
        this.#d.cache,
        s,
        ordinal,
      );
      bytes = await this.#d.builder.build({
        search: registry.search,
        generation: registry.searchPlan?.generation ?? 1,
        boundaries: registry.boundaries.map((b) => ({
          position: b.position,
          version: b.version,
        })),
        segment: { startPos: row.startPos, endPos: row.endPos },
        chunks: { file },
        blockBytes: this.#d.blockBytes,
      });
      companion = decodeCompanion(bytes); // checked as it is kept
      await this.#d.objects.put(key, bytes);
      this.builds++;
    }
    const slot: Slot = {
      hash,
      startPos: row.startPos,
      endPos: row.endPos,
      bytes: bytes!.length,
      key,
      companion: undefined,
      memoryBytes: 0,
    };
    entries.push(slot);
    entries.sort((a, b) => a.startPos - b.startPos);
    this.#keep(slot, companion, bytes!.length);
    return true;
  }

  /** The stream's slots for config `hash`, dropping those of other configs. */
  #current(streamId: number, hash: string): Slot[] {
    const all = this.#byStream.get(streamId) ?? [];
    const entries = all.filter((e) => e.hash === hash);
    if (entries.length !== all.length) {
      for (const e of all) if (e.hash !== hash) this.#evict(e, false);
    }
    this.#byStream.set(streamId, entries);
    return entries;
  }

  #decode(id: number, key: string, bytes: Uint8Array): Companion | undefined {
    try {
      return decodeCompanion(bytes);
    } catch (error) {
      if (!(error instanceof CompanionError)) throw error;
      this.#d.log.warn(
        `stream ${id}: companion ${key} unreadable (${error.message}); rebuilding`,
      );
      return undefined;
    }
  }

  /** Keeps `companion` decoded in `slot`, evicting the least recently used past the bound. */
  #keep(slot: Slot, companion: Companion, encodedBytes: number): void {
    slot.companion = companion;
    slot.memoryBytes = companionMemoryBytes(companion, encodedBytes);
    this.#lru.add(slot);
    this.#memoryBytes += slot.memoryBytes;
    for (const victim of this.#lru) {
      if (this.#memoryBytes <= this.#memoryBytesMax) break;
      this.#evict(victim, true);
    }
  }

  #evict(slot: Slot, counted: boolean): void {
    if (slot.companion === undefined) return;
    this.#lru.delete(slot);
    this.#memoryBytes -= slot.memoryBytes;
    slot.companion = undefined;
    slot.memoryBytes = 0;
    if (counted) this.#evictions++;
  }

  /**
   * The stream's companions in memory (ascending), marked used; evicted
   * ones are loaded again in the background for later queries.
   */
  #resident(streamId: number): CompanionEntry[] | undefined {
    const all = this.#byStream.get(streamId);
    if (all === undefined) return undefined;
    const out: CompanionEntry[] = [];
    let evicted = false;
    for (const slot of all) {
      if (slot.companion === undefined) {
        evicted = true;
        continue;
      }
      this.#lru.delete(slot); // most recently used last
      this.#lru.add(slot);
      // A copy: the query keeps it even if the slot is evicted meanwhile.
      out.push({
        hash: slot.hash,
        startPos: slot.startPos,
        endPos: slot.endPos,
        companion: slot.companion,
        bytes: slot.bytes,
      });
    }
    if (evicted) void this.#reload(streamId);
    return out;
  }

  /**
   * Loads the evicted companions of a stream again while they fit beside
   * the stream's others (so a stream larger than the bound does not evict
   * itself in a loop); one reload per stream at a time.
   */
  async #reload(streamId: number): Promise<void> {
    if (this.#reloading.has(streamId)) return;
    this.#reloading.add(streamId);
    try {
      for (const slot of [...(this.#byStream.get(streamId) ?? [])]) {
        if (slot.companion !== undefined) continue;
        const own = (this.#byStream.get(streamId) ?? []).reduce(
          (n, e) => n + e.memoryBytes,
          0,
        );
        if (own + slot.bytes > this.#memoryBytesMax) break;
        const bytes = await this.#d.objects.get(slot.key);
        const slots = this.#byStream.get(streamId);
        if (slots === undefined || !slots.includes(slot)) continue;
        const companion = bytes === undefined
          ? undefined
          : this.#decode(streamId, slot.key, bytes);
        if (companion === undefined) {
          // Gone or damaged: forget it, so the next steps build it again.
          slots.splice(slots.indexOf(slot), 1);
          continue;
        }
        if (slot.companion !== undefined) continue;
        this.#keep(slot, companion, bytes!.length);
        this.#reloads++;
      }
    } catch (error) {
      this.#d.log.warn(
        `stream ${streamId}: reloading companions failed: ${
          (error as Error).message
        }`,
      );
    } finally {
      this.#reloading.delete(streamId);
    }
  }

  /**
   * Up to `steps` steps for `s` (one upload pass's share); true when work
   * may be left (every step did something, or one failed: it is logged and
   * retried on the next pass).
   */
  async catchUp(
    s: TierStream,
    info: StreamInfo,
    steps: number,
    closed: () => boolean,
  ): Promise<boolean> {
    try {
      for (let i = 0; i < steps; i++) {
        if (closed()) return true;
        if (!await this.step(s, info)) return false;
      }
      return true;
    } catch (error) {
      this.#d.log.warn(
        `stream ${s.id}: companion build failed; will retry: ${
          (error as Error).message
        }`,
      );
      return true;
    }
  }

  /** Forgets a released stream (its objects go with the stream's prefix). */
  drop(streamId: number): void {
    this.#restored.delete(streamId);
    for (const slot of this.#byStream.get(streamId) ?? []) {
      this.#evict(slot, false);
    }
    this.#byStream.delete(streamId);
  }

  /** The stream's progress for `config` (the one in force). */
  status(
    s: TierStream,
    config: SearchConfig | undefined,
  ): CompanionStatus {
    const uploaded = uploadedCount(s);
    if (config === undefined) {
      return { indexedSegments: 0, uploadedSegments: uploaded, bytes: 0 };
    }
    const hash = hashOf(config);
    const entries = (this.#byStream.get(s.id) ?? []).filter((e) =>
      e.hash === hash
    );
    return {
      indexedSegments: entries.length,
      uploadedSegments: uploaded,
      bytes: entries.reduce((n, e) => n + e.bytes, 0),
    };
  }

  /**
   * What the stream's manifest lists: the companion objects of the config
   * the catalog holds, in position order; undefined when there are none.
   */
  manifest(streamId: number): ManifestCompanions | undefined {
    const slots = this.#byStream.get(streamId);
    if (slots === undefined || slots.length === 0) return undefined;
    const hash = slots[0].hash;
    return {
      hash,
      objects: slots.filter((e) => e.hash === hash).map((e) => ({
        key: e.key,
        startPos: e.startPos,
        endPos: e.endPos,
        bytes: e.bytes,
      })),
    };
  }

  /**
   * Once per stream and process: learns the companions the stream's
   * published manifest lists (after a restart or `--bootstrap`), so they
   * are neither searched for nor rebuilt. Those of the config in force on
   * segments the stream has are loaded while they fit the memory bound
   * (the others when a query needs them); a listed object that is missing
   * or damaged is dropped, and the next steps build it again.
   */
  async restore(s: TierStream, info: StreamInfo): Promise<void> {
    if (this.#restored.has(s.id)) return;
    const search = info.schemaRegistry?.search ?? null;
    if (search === null) return;
    const checked = checkedSearch(search);
    if (checked === null) return;
    const hash = checked.hash;
    // A failed read throws before the mark: the next pass asks again.
    const bytes = await this.#d.objects.get(manifestKey(s.id));
    this.#restored.add(s.id);
    if (bytes === undefined) return;
    let listed: ManifestCompanions | undefined;
    try {
      listed = decodeManifest(bytes, manifestKey(s.id)).companions;
    } catch {
      return; // the upload loop reports a bad manifest
    }
    if (listed === undefined || listed.hash !== hash) return;
    const uploaded = new Map(
      s.segments.slice(0, uploadedCount(s)).map((r) => [r.startPos, r.endPos]),
    );
    const entries = this.#current(s.id, hash);
    const have = new Set(entries.map((e) => e.startPos));
    for (const o of listed.objects) {
      if (uploaded.get(o.startPos) !== o.endPos || have.has(o.startPos)) {
        continue;
      }
      entries.push({
        hash,
        startPos: o.startPos,
        endPos: o.endPos,
        bytes: o.bytes,
        key: o.key,
        companion: undefined,
        memoryBytes: 0,
      });
      have.add(o.startPos);
    }
    entries.sort((a, b) => a.startPos - b.startPos);
    await this.#reload(s.id);
  }

  /** The decoded-companion cache's figures. */
  cacheStats(): CompanionCacheStats {
    return {
      entries: this.#lru.size,
      bytes: this.#memoryBytes,
      bytesMax: this.#memoryBytesMax,
      evictions: this.#evictions,
      reloads: this.#reloads,
      builds: this.builds,
    };
  }

  /** Which ranges of a stream's own records cannot match a plan. */
  readonly pruner: SearchPruner = companionPruner((id) => this.#resident(id));
}

/**
 * Estimated bytes a decoded companion holds: its encoded bytes (about what
 * its decompressed sections' views take), per-term and rollup-row objects,
 * and each field's term blocks (a list for a rare term, a bitmap for a
 * common one: bounded per term by the smaller of the two).
 */
export function companionMemoryBytes(
  c: Companion,
  encodedBytes: number,
): number {
  let terms = 0;
  let termBlocks = 0;
  for (const f of [...c.exact.values(), ...c.fts.values()]) {
    terms += f.terms.length;
    termBlocks += f.blocks.byteLength;
  }
  return encodedBytes + c.blocks.length * 48 + c.col.size * 64 +
    terms * 64 + termBlocks + aggSectionMemoryBytes(c.agg);
}

/**
 * A pruner over the companions `entriesOf` lists for a stream (ascending,
 * not overlapping): only companions built for the config a query runs
 * under are consulted, each once per query.
 */
export function companionPruner(
  entriesOf: (
    streamId: number,
  ) => readonly CompanionEntry[] | undefined,
): SearchPruner {
  return (streamId, config, plan) => {
    const all = entriesOf(streamId);
    if (all === undefined || all.length === 0) return undefined;
    const hash = hashOf(config);
    const entries = all.filter((e) => e.hash === hash);
    if (entries.length === 0) return undefined;
    const ranges = new Map<
      CompanionEntry,
      { startPos: number; endPos: number }[]
    >();
    return {
      skip: (id, pos) => {
        if (id !== streamId) return undefined;
        // The segment holding pos, then the one after it when adjacent.
        let at = entryIndex(entries, pos);
        for (let n = 0; n < 2 && at < entries.length; n++, at++) {
          const entry = entries[at];
          if (entry.startPos > pos && n === 0) return undefined;
          if (n > 0 && entry.startPos !== entries[at - 1].endPos) break;
          let out = ranges.get(entry);
          if (out === undefined) {
            out = ruledOutRanges(config, plan, entry.companion);
            ranges.set(entry, out);
          }
          for (const r of out) {
            if (r.endPos > pos) return { from: r.startPos, to: r.endPos };
          }
        }
        return undefined;
      },
      indexedSegments: () => ranges.size,
      companions: () => entries,
    };
  };
}

/** Index of the first entry ending after `pos` (`entries.length`: none). */
function entryIndex(entries: readonly CompanionEntry[], pos: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid].endPos <= pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
