/**
 * @module
 * Search companions of uploaded segments (docs/companions.md): after a
 * stream's segments are uploaded, the upload loop builds the companion of
 * the oldest segment lacking one for the stream's current `search` config,
 * puts it next to the segment in the object store, and keeps it decoded in
 * memory. Scans ask `pruner` which ranges cannot match; a segment without a
 * companion of the config in force is read (never a false negative).
 */

import type { SearchPruner } from "../engine/record_scan.ts";
import type { StreamInfo } from "../engine/types.ts";
import type { Logger } from "../log.ts";
import { segmentKey } from "../objectstore/manifest.ts";
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
import type { SegmentCache } from "../segment/cache.ts";
import {
  type BuildChunk,
  buildCompanionBytes,
  type CompanionBuildInput,
  type CompanionBuildReply,
} from "./_companion_build.ts";
import { segmentChunksOf, uploadedCount } from "./reader.ts";
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

/** What the catalog needs from the tier. */
export interface CompanionDeps {
  objects: ObjectStore;
  cache: SegmentCache;
  log: Logger;
  /** Records per companion block stop growing past this many bytes. */
  blockBytes: number;
  /** Where builds run. */
  builder: CompanionBuilder;
}

/** Builds encoded companions (on a Worker, or on this thread for tests). */
export interface CompanionBuilder {
  build(input: CompanionBuildInput): Promise<Uint8Array>;
  close(): void;
}

/** Builds on the calling thread. */
export function inThreadCompanionBuilder(): CompanionBuilder {
  return {
    build: (input) => Promise.resolve(buildCompanionBytes(input)),
    close() {},
  };
}

/**
 * Builds on a dedicated Worker, one at a time in request order. Inputs are
 * copied (the segment cache keeps its blocks); results come back transferred.
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

/** Builds, keeps and consults the companions of every tiered stream. */
export class Companions {
  readonly #d: CompanionDeps;
  readonly #byStream = new Map<number, CompanionEntry[]>();
  /** Builds done since start. */
  builds = 0;

  constructor(deps: CompanionDeps) {
    this.#d = deps;
  }

  /**
   * Brings one uploaded segment of `s` (the oldest lacking one) a companion
   * for `info`'s search config: loaded from the object store when it was
   * built before, else built and put. False when there is nothing to do.
   */
  async step(s: TierStream, info: StreamInfo): Promise<boolean> {
    const registry = info.schemaRegistry;
    if (registry === null || registry.search === null) {
      this.#byStream.delete(s.id);
      return false;
    }
    const checked = validateSearchConfig(registry.search);
    if (!checked.ok) return false;
    const config = checked.value;
    const hash = hashOf(config);
    const uploaded = uploadedCount(s);
    const entries = (this.#byStream.get(s.id) ?? []).filter((e) =>
      e.hash === hash
    );
    this.#byStream.set(s.id, entries);
    const have = new Set(entries.map((e) => e.startPos));
    let ordinal = 0;
    while (ordinal < uploaded && have.has(s.segments[ordinal].startPos)) {
      ordinal++;
    }
    if (ordinal >= uploaded) return false;
    const row = s.segments[ordinal];
    const key = companionKey(s.id, row.startPos, row.endPos, hash);
    let bytes = await this.#d.objects.get(key);
    let companion: Companion | undefined;
    if (bytes !== undefined) {
      try {
        companion = decodeCompanion(bytes);
      } catch (error) {
        if (!(error instanceof CompanionError)) throw error;
        this.#d.log.warn(
          `stream ${s.id}: companion ${key} unreadable (${error.message}); rebuilding`,
        );
      }
    }
    if (companion === undefined) {
      const chunks: BuildChunk[] = [];
      for await (
        const c of segmentChunksOf(this.#d.objects, this.#d.cache, s, ordinal)
      ) {
        chunks.push({ startPos: c.startPos, data: c.data, lengths: c.lengths });
      }
      bytes = await this.#d.builder.build({
        search: registry.search,
        generation: registry.searchPlan?.generation ?? 1,
        boundaries: registry.boundaries.map((b) => ({
          position: b.position,
          version: b.version,
        })),
        segment: { startPos: row.startPos, endPos: row.endPos },
        chunks,
        blockBytes: this.#d.blockBytes,
      });
      companion = decodeCompanion(bytes); // checked as it is kept
      await this.#d.objects.put(key, bytes);
      this.builds++;
    }
    entries.push({
      hash,
      startPos: row.startPos,
      endPos: row.endPos,
      companion,
      bytes: bytes!.length,
    });
    entries.sort((a, b) => a.startPos - b.startPos);
    return true;
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

  /** Which ranges of a stream's own records cannot match a plan. */
  readonly pruner: SearchPruner = companionPruner((id) =>
    this.#byStream.get(id)
  );
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
