/**
 * @module
 * The routing-key index of every stream on a node: one build step at a
 * time (an L0 run from uploaded segments' keys, or a compaction), each
 * uploaded to the object store before the catalog names it, and lookups
 * from a key to the segments that may hold it. The tier layer calls `step`
 * from its background loop and `candidates` on keyed reads; it publishes
 * `manifest(streamId)` in the stream's manifest.
 */

import { assert } from "../assert.ts";
import { StreamError } from "../errors.ts";
import {
  ROUTING_BUILD_PENDING_MAX,
  ROUTING_RUN_RETIRED_GRACE_MS,
} from "../limits.ts";
import type { ObjectStore } from "../objectstore/object_store.ts";
import type { RunBuilder } from "./builder.ts";
import type { RunCache } from "./cache.ts";
import {
  activeRuns,
  parseRoutingIndexManifest,
  type RoutingIndexManifest,
  routingIndexManifest,
  type RoutingState,
  type RunCatalog,
} from "./catalog.ts";
import {
  fingerprintOf,
  newRoutingSeed,
  type SegmentKeys,
} from "./fingerprint.ts";
import {
  type IndexTask,
  nextIndexTask,
  type RoutingIndexShape,
  runObjectKey,
  shapeErrors,
} from "./plan.ts";
import type { RoutingRun } from "./run.ts";
import {
  type RoutingIndexStatus,
  routingIndexStatus,
  type RoutingIndexStatusInput,
} from "./status.ts";

/** Reads the routing keys of one uploaded segment (records without keys left out). */
export type SegmentKeyReader = (
  streamId: number,
  segmentOrdinal: number,
) => Promise<SegmentKeys>;

/** What a `RoutingKeyIndex` works with. */
export interface RoutingKeyIndexDeps {
  /** Where run files live. */
  objects: ObjectStore;
  /** Which runs exist. */
  catalog: RunCatalog;
  /** Where builds run. */
  builder: RunBuilder;
  /**
   * Where run files fetched for lookups are checked and decoded (default:
   * `builder`). The server gives it a Worker of its own, so a lookup that
   * misses the cache does not wait behind a build.
   */
  decoder?: RunBuilder;
  /** Decoded runs. */
  cache: RunCache;
  /** Keys of uploaded segments. */
  readKeys: SegmentKeyReader;
  /** Shape of the run hierarchy (checked here). */
  shape: RoutingIndexShape;
  /** Epoch ms. */
  now: () => number;
}

/** Segments a keyed read must open, in ascending ordinal order. */
export interface Candidates {
  /** Ordinals in `[fromSegment, segmentCount)` that may hold the key. */
  segments: number[];
  /** Segments below this were answered by runs; the rest are all listed. */
  indexedThrough: number;
  /** Runs that could not be read; their segments are all listed instead. */
  runsUnreadable: number;
}

/** The routing-key index of many streams. */
export class RoutingKeyIndex {
  readonly #d: RoutingKeyIndexDeps;
  #running: Promise<void> = Promise.resolve();
  #waiting = 0;

  /** Checks the shape (`bad_request` if invalid) and keeps `deps`. */
  constructor(deps: RoutingKeyIndexDeps) {
    const errors = shapeErrors(deps.shape);
    if (errors.length > 0) {
      throw new StreamError(
        "bad_request",
        `Invalid routing index shape: ${errors.join("; ")}`,
      );
    }
    this.#d = deps;
  }

  /** The stream's state, creating it with a fresh (or the given) seed. */
  ensureStream(
    streamId: number,
    seed: bigint = newRoutingSeed(),
  ): RoutingState {
    return this.#d.catalog.init(streamId, seed, this.#d.now());
  }

  /** The manifest section for the stream, or undefined when it has none. */
  manifest(streamId: number): RoutingIndexManifest | undefined {
    const state = this.#d.catalog.state(streamId);
    return state && routingIndexManifest(state, this.#d.catalog.runs(streamId));
  }

  /**
   * Replaces the stream's index state with a manifest's `routingIndex`
   * section (bootstrap); throws `corrupt` if the section is malformed.
   */
  restore(streamId: number, section: unknown): void {
    const { state, rows } = parseRoutingIndexManifest(section, this.#d.now());
    this.#d.catalog.replace(streamId, state, rows);
  }

  /** The stream's `routing_key_index` status object (see `status.ts`). */
  status(
    streamId: number,
    progress: Omit<RoutingIndexStatusInput, "state" | "rows" | "nowMs">,
  ): RoutingIndexStatus {
    return routingIndexStatus({
      ...progress,
      state: this.#d.catalog.state(streamId),
      rows: this.#d.catalog.runs(streamId),
      nowMs: this.#d.now(),
    });
  }

  /**
   * Does the next unit of work for a stream with `uploadedCount` uploaded
   * segments, and returns it (undefined when the index is up to date). A
   * failure leaves the catalog as it was; an uploaded run nobody names yet
   * is overwritten by the retry, which writes the same key. Steps run one
   * at a time per index (one build per node): a call made while another
   * runs waits for it, and at most `ROUTING_BUILD_PENDING_MAX` may wait.
   */
  async step(
    streamId: number,
    uploadedCount: number,
  ): Promise<IndexTask | undefined> {
    if (this.#waiting >= ROUTING_BUILD_PENDING_MAX) {
      throw new StreamError(
        "overloaded",
        "Too many routing-key index steps waiting",
      );
    }
    this.#waiting++;
    const previous = this.#running;
    let done!: () => void;
    this.#running = new Promise<void>((resolve) => done = resolve);
    try {
      await previous;
      return await this.#step(streamId, uploadedCount);
    } finally {
      this.#waiting--;
      done();
    }
  }

  async #step(
    streamId: number,
    uploadedCount: number,
  ): Promise<IndexTask | undefined> {
    // Reads only, unless the stream has no state yet: loops call this often.
    const state = this.#d.catalog.state(streamId) ??
      this.ensureStream(streamId);
    const task = nextIndexTask(
      state,
      this.#d.catalog.runs(streamId),
      uploadedCount,
      this.#d.shape,
    );
    if (task === undefined) return undefined;
    if (task.kind === "build") await this.#build(streamId, state, task);
    else await this.#compact(streamId, state, task);
    return task;
  }

  async #build(
    streamId: number,
    state: RoutingState,
    task: Extract<IndexTask, { kind: "build" }>,
  ): Promise<void> {
    const keys: SegmentKeys[] = [];
    for (let s = task.firstSegment; s <= task.lastSegment; s++) {
      keys.push(await this.#d.readKeys(streamId, s));
    }
    const built = await this.#d.builder.buildL0(
      state.seed,
      task.firstSegment,
      keys,
    );
    const objectKey = runObjectKey(
      streamId,
      0,
      task.firstSegment,
      task.lastSegment,
    );
    await this.#d.objects.put(objectKey, built.bytes);
    this.#d.catalog.commit(streamId, {
      add: [{
        level: 0,
        firstSegment: task.firstSegment,
        lastSegment: task.lastSegment,
        objectKey,
        bytes: built.bytes.length,
      }],
      retire: [],
      indexedThrough: task.lastSegment + 1,
      nowMs: this.#d.now(),
    });
  }

  async #compact(
    streamId: number,
    state: RoutingState,
    task: Extract<IndexTask, { kind: "compact" }>,
  ): Promise<void> {
    const inputs: Uint8Array[] = [];
    for (const r of task.runs) inputs.push(await this.#getObject(r.objectKey));
    const built = await this.#d.builder.compact(inputs);
    const first = task.runs[0].firstSegment;
    const last = task.runs[task.runs.length - 1].lastSegment;
    const objectKey = runObjectKey(streamId, task.level + 1, first, last);
    await this.#d.objects.put(objectKey, built.bytes);
    this.#d.catalog.commit(streamId, {
      add: [{
        level: task.level + 1,
        firstSegment: first,
        lastSegment: last,
        objectKey,
        bytes: built.bytes.length,
      }],
      retire: task.runs.map((r) => r.objectKey),
      indexedThrough: state.indexedThrough,
      nowMs: this.#d.now(),
    });
  }

  async #getObject(key: string): Promise<Uint8Array> {
    const bytes = await this.#d.objects.get(key);
    if (bytes === undefined) {
      throw new StreamError(
        "corrupt",
        `Routing-key run "${key}" is missing from the object store`,
      );
    }
    return bytes;
  }

  /** The decoded run at `key`, through the cache. */
  #run(key: string): Promise<RoutingRun> {
    const decoder = this.#d.decoder ?? this.#d.builder;
    return this.#d.cache.get(
      key,
      async () => await decoder.decode(await this.#getObject(key)),
    );
  }

  /**
   * Segments of `[fromSegment, segmentCount)` that may hold `key`: every
   * one that does (no false negatives), plus rare extras. A run that cannot
   * be read contributes all its segments, so an unreadable index costs
   * speed, never a missed record.
   */
  async candidates(
    streamId: number,
    key: Uint8Array | string,
    segmentCount: number,
    fromSegment = 0,
  ): Promise<Candidates> {
    assert(
      fromSegment >= 0 && segmentCount >= 0,
      "segment ordinals are counts",
    );
    const state = this.#d.catalog.state(streamId);
    const through = Math.min(state?.indexedThrough ?? 0, segmentCount);
    const segments: number[] = [];
    let runsUnreadable = 0;
    if (state !== undefined && through > fromSegment) {
      const fp = fingerprintOf(key, state.seed);
      for (const row of activeRuns(this.#d.catalog.runs(streamId))) {
        if (row.lastSegment < fromSegment || row.firstSegment >= through) {
          continue;
        }
        let hits: number[];
        try {
          hits = (await this.#run(row.objectKey)).lookup(fp);
        } catch (error) {
          // Store trouble, bad bytes, a full decode queue: scan instead.
          // Our own broken invariants (assertions) still surface.
          if (!(error instanceof StreamError)) throw error;
          runsUnreadable++;
          hits = [];
          for (let s = row.firstSegment; s <= row.lastSegment; s++) {
            hits.push(s);
          }
        }
        for (const s of hits) {
          if (s >= fromSegment && s < through) segments.push(s);
        }
      }
    }
    for (let s = Math.max(through, fromSegment); s < segmentCount; s++) {
      segments.push(s);
    }
    return { segments, indexedThrough: through, runsUnreadable };
  }

  /**
   * Deletes objects of runs retired long enough ago that no reader can
   * still need them, then forgets their rows; returns how many. A run
   * retired at T is due once T is at least `graceMs` (default five minutes)
   * in the past and before `secondLastManifestAtMs`, the publication time
   * of the manifest before the latest one: two manifests not naming the run
   * have then been published since.
   */
  async collectRetired(
    streamId: number,
    secondLastManifestAtMs: number,
    graceMs: number = ROUTING_RUN_RETIRED_GRACE_MS,
  ): Promise<number> {
    const cutoff = Math.min(
      this.#d.now() - graceMs,
      secondLastManifestAtMs - 1,
    );
    const due = this.#d.catalog.runs(streamId)
      .filter((r) => r.retiredAtMs !== null && r.retiredAtMs <= cutoff);
    for (const r of due) {
      await this.#d.objects.delete(r.objectKey);
      this.#d.cache.delete(r.objectKey);
    }
    this.#d.catalog.forget(streamId, due.map((r) => r.objectKey));
    return due.length;
  }

  /** Deletes every run object of the stream and forgets its index. */
  async dropStream(streamId: number): Promise<void> {
    for (const r of this.#d.catalog.runs(streamId)) {
      await this.#d.objects.delete(r.objectKey);
      this.#d.cache.delete(r.objectKey);
    }
    this.#d.catalog.drop(streamId);
  }
}
