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
import type { BuiltRun, RunBuilder } from "./builder.ts";
import type { SegmentKeySource } from "./_build.ts";
import type { RunCache } from "./cache.ts";
import {
  activeRuns,
  parseRoutingIndexManifest,
  type RoutingIndexManifest,
  routingIndexManifest,
  type RoutingState,
  type RunCatalog,
  type RunRow,
} from "./catalog.ts";
import { fingerprintOf, newRoutingSeed } from "./fingerprint.ts";
import {
  type IndexTask,
  nextIndexTask,
  type RoutingIndexShape,
  runObjectKey,
  shapeErrors,
} from "./plan.ts";
import type { RoutingRun } from "./run.ts";
import { type Lexicon, lexiconObjectKey } from "./lexicon.ts";
import {
  type RoutingIndexStatus,
  routingIndexStatus,
  type RoutingIndexStatusInput,
} from "./status.ts";

/**
 * Reads the routing keys of one uploaded segment (records without keys left
 * out), or hands over its file for the builder to read them from.
 */
export type SegmentKeyReader = (
  streamId: number,
  segmentOrdinal: number,
) => Promise<SegmentKeySource>;

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

/** A run's key lexicon and the segments it covers. */
export interface RunLexicon {
  /** First segment ordinal the run covers. */
  firstSegment: number;
  /** Last segment ordinal it covers (inclusive). */
  lastSegment: number;
  /** The distinct keys of those segments. */
  lexicon: Lexicon;
}

/** Unreadable runs remembered per stream until a step rebuilds them. */
const SUSPECT_RUNS_MAX = 64;

/** The routing-key index of many streams. */
export class RoutingKeyIndex {
  readonly #d: RoutingKeyIndexDeps;
  // Per stream: the latest call's completion (calls of one stream chain).
  #running = new Map<number, Promise<void>>();
  #waiting = 0;
  // Runs a lookup could not decode, checked (and rebuilt) by the next step.
  #suspects = new Map<number, Set<string>>();

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
   * is overwritten by the retry, which writes the same key. Steps of one
   * stream run one at a time: a call made while another runs waits for it,
   * and at most `ROUTING_BUILD_PENDING_MAX` may wait over all streams. How
   * many streams build at once is up to the caller and the builder.
   */
  step(
    streamId: number,
    uploadedCount: number,
  ): Promise<IndexTask | undefined> {
    return this.#serial(streamId, () => this.#step(streamId, uploadedCount));
  }

  /**
   * Runs `work` after every earlier call for the same stream: its steps,
   * retired-run collection and drop never interleave (a repair may re-add
   * a run that a collection is deleting). Different streams' work runs
   * side by side, as far as the builder allows. At most
   * `ROUTING_BUILD_PENDING_MAX` calls wait over all streams.
   */
  async #serial<T>(streamId: number, work: () => Promise<T>): Promise<T> {
    if (this.#waiting >= ROUTING_BUILD_PENDING_MAX) {
      throw new StreamError(
        "overloaded",
        "Too many routing-key index steps waiting",
        { overload: "index_queue" },
      );
    }
    this.#waiting++;
    const previous = this.#running.get(streamId) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => done = resolve);
    this.#running.set(streamId, mine);
    try {
      await previous;
      return await work();
    } finally {
      this.#waiting--;
      if (this.#running.get(streamId) === mine) this.#running.delete(streamId);
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
    const repaired = await this.#repairSuspects(streamId, state);
    if (repaired !== undefined) return repaired;
    const task = nextIndexTask(
      state,
      this.#d.catalog.runs(streamId),
      uploadedCount,
      this.#d.shape,
    );
    if (task === undefined) return undefined;
    if (task.kind === "build") return await this.#build(streamId, state, task);
    return await this.#compact(streamId, state, task);
  }

  async #build(
    streamId: number,
    state: RoutingState,
    task: Extract<IndexTask, { kind: "build" }>,
  ): Promise<IndexTask> {
    const { firstSegment, lastSegment } = task;
    const built = await this.#buildL0(
      streamId,
      state,
      firstSegment,
      lastSegment,
    );
    this.#d.catalog.commit(streamId, {
      add: [{ level: 0, firstSegment, lastSegment, ...built }],
      retire: [],
      indexedThrough: lastSegment + 1,
      nowMs: this.#d.now(),
    });
    return task;
  }

  /** Builds and uploads the L0 run over `[first, last]`; returns its key and size. */
  async #buildL0(
    streamId: number,
    state: RoutingState,
    first: number,
    last: number,
  ): Promise<{ objectKey: string; bytes: number }> {
    const keys: SegmentKeySource[] = [];
    for (let s = first; s <= last; s++) {
      keys.push(await this.#d.readKeys(streamId, s));
    }
    const built = await this.#d.builder.buildL0(state.seed, first, keys);
    const objectKey = runObjectKey(streamId, 0, first, last);
    await this.#putBuilt(objectKey, built);
    return { objectKey, bytes: built.bytes.length };
  }

  /**
   * Puts a built run and its lexicon (first, so a run the catalog names
   * has its lexicon unless the build could not make one). A retried build
   * overwrites both.
   */
  async #putBuilt(objectKey: string, built: BuiltRun): Promise<void> {
    if (built.lexicon !== undefined) {
      const lexKey = lexiconObjectKey(objectKey);
      await this.#d.objects.put(lexKey, built.lexicon);
      this.#d.cache.delete(lexKey);
    }
    await this.#d.objects.put(objectKey, built.bytes);
  }

  async #compact(
    streamId: number,
    state: RoutingState,
    task: Extract<IndexTask, { kind: "compact" }>,
  ): Promise<IndexTask> {
    const inputs: Uint8Array[] = [];
    const bad: RunRow[] = [];
    for (const r of task.runs) {
      const bytes = await this.#d.objects.get(r.objectKey);
      if (bytes === undefined) bad.push(r);
      else inputs.push(bytes);
    }
    if (bad.length > 0) return await this.#repair(streamId, state, bad);
    const lexicons: Uint8Array[] = [];
    for (const r of task.runs) {
      const bytes = await this.#d.objects.get(lexiconObjectKey(r.objectKey));
      if (bytes === undefined) break;
      lexicons.push(bytes);
    }
    let built: BuiltRun;
    try {
      built = await this.#compactBuilt(
        inputs,
        lexicons.length === inputs.length ? lexicons : undefined,
      );
    } catch (error) {
      if (!(error instanceof StreamError && error.kind === "corrupt")) {
        throw error;
      }
      // Which input is bad? Check each (a rare path), then rebuild those.
      for (const [i, r] of task.runs.entries()) {
        if (await this.#decodes(inputs[i]) === false) bad.push(r);
      }
      if (bad.length === 0) throw error;
      return await this.#repair(streamId, state, bad);
    }
    const first = task.runs[0].firstSegment;
    const last = task.runs[task.runs.length - 1].lastSegment;
    const objectKey = runObjectKey(streamId, task.level + 1, first, last);
    await this.#putBuilt(objectKey, built);
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
    return task;
  }

  /**
   * Compacts `inputs`, merging `lexicons` when given; when only a lexicon
   * is bad, the run is built without one (listing then scans its segments).
   */
  async #compactBuilt(
    inputs: Uint8Array[],
    lexicons: Uint8Array[] | undefined,
  ): Promise<BuiltRun> {
    if (lexicons === undefined) return await this.#d.builder.compact(inputs);
    try {
      return await this.#d.builder.compact(inputs, lexicons);
    } catch (error) {
      if (!(error instanceof StreamError && error.kind === "corrupt")) {
        throw error;
      }
      return await this.#d.builder.compact(inputs);
    }
  }

  /** Whether `bytes` decode as a run (false only for `corrupt`). */
  async #decodes(bytes: Uint8Array): Promise<boolean> {
    const decoder = this.#d.decoder ?? this.#d.builder;
    try {
      await decoder.decode(bytes);
      return true;
    } catch (error) {
      if (error instanceof StreamError && error.kind === "corrupt") {
        return false;
      }
      throw error;
    }
  }

  /**
   * Checks the runs lookups could not decode; the first still bad (missing
   * or corrupt) is rebuilt, and the task is returned. Runs that read fine
   * now (the trouble was transient) are simply cleared.
   */
  async #repairSuspects(
    streamId: number,
    state: RoutingState,
  ): Promise<IndexTask | undefined> {
    const suspects = this.#suspects.get(streamId);
    if (suspects === undefined) return undefined;
    const active = activeRuns(this.#d.catalog.runs(streamId));
    for (const key of suspects) {
      const row = active.find((r) => r.objectKey === key);
      const bytes = row && await this.#d.objects.get(key);
      suspects.delete(key);
      if (row === undefined) continue; // replaced or gone meanwhile
      if (bytes !== undefined && await this.#decodes(bytes)) continue;
      if (suspects.size === 0) this.#suspects.delete(streamId);
      return await this.#repair(streamId, state, [row]);
    }
    this.#suspects.delete(streamId);
    return undefined;
  }

  /**
   * Replaces unreadable runs by L0 runs rebuilt from their segments, in one
   * catalog change; compaction then merges them up again. Tiling holds:
   * the new runs cover exactly the ranges of the ones they replace.
   */
  async #repair(
    streamId: number,
    state: RoutingState,
    bad: RunRow[],
  ): Promise<IndexTask> {
    const add: Omit<RunRow, "retiredAtMs">[] = [];
    for (const row of bad) {
      for (
        let first = row.firstSegment;
        first <= row.lastSegment;
        first += this.#d.shape.span
      ) {
        const last = Math.min(row.lastSegment, first + this.#d.shape.span - 1);
        const built = await this.#buildL0(streamId, state, first, last);
        add.push({
          level: 0,
          firstSegment: first,
          lastSegment: last,
          ...built,
        });
      }
    }
    this.#d.catalog.commit(streamId, {
      add,
      retire: bad.map((r) => r.objectKey),
      indexedThrough: state.indexedThrough,
      nowMs: this.#d.now(),
    });
    for (const r of bad) this.#d.cache.delete(r.objectKey);
    return { kind: "repair", runs: bad };
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
          if (error.kind === "corrupt") this.#suspect(streamId, row.objectKey);
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

  /** Notes a run to check on the next step (at most 64 per stream). */
  #suspect(streamId: number, objectKey: string): void {
    let set = this.#suspects.get(streamId);
    if (set === undefined) this.#suspects.set(streamId, set = new Set());
    if (set.size < SUSPECT_RUNS_MAX) set.add(objectKey);
  }

  /**
   * Deletes objects of runs retired long enough ago that no reader can
   * still need them, then forgets their rows; returns how many. A run
   * retired at T is due once T is at least `graceMs` (default five minutes)
   * in the past and before `secondLastManifestAtMs`, the publication time
   * of the manifest before the latest one: two manifests not naming the run
   * have then been published since.
   */
  collectRetired(
    streamId: number,
    secondLastManifestAtMs: number,
    graceMs: number = ROUTING_RUN_RETIRED_GRACE_MS,
  ): Promise<number> {
    return this.#serial(
      streamId,
      () => this.#collectRetired(streamId, secondLastManifestAtMs, graceMs),
    );
  }

  async #collectRetired(
    streamId: number,
    secondLastManifestAtMs: number,
    graceMs: number,
  ): Promise<number> {
    const cutoff = Math.min(
      this.#d.now() - graceMs,
      secondLastManifestAtMs - 1,
    );
    const due = this.#d.catalog.runs(streamId)
      .filter((r) => r.retiredAtMs !== null && r.retiredAtMs <= cutoff);
    for (const r of due) await this.#deleteRun(r.objectKey);
    this.#d.catalog.forget(streamId, due.map((r) => r.objectKey));
    return due.length;
  }

  /** Deletes a run's object and its lexicon's, and drops both from the cache. */
  async #deleteRun(objectKey: string): Promise<void> {
    const lexKey = lexiconObjectKey(objectKey);
    await this.#d.objects.delete(lexKey);
    this.#d.cache.delete(lexKey);
    await this.#d.objects.delete(objectKey);
    this.#d.cache.delete(objectKey);
  }

  /**
   * The lexicons of the stream's active runs that lie wholly below
   * `segmentCount` (and its indexed limit), ascending by segment, through
   * the cache. A run whose lexicon is missing or unreadable (built before
   * lexicons existed, or damaged) is left out: its segments must be
   * scanned, which the caller learns from the gaps.
   */
  async lexicons(
    streamId: number,
    segmentCount: number,
  ): Promise<RunLexicon[]> {
    const state = this.#d.catalog.state(streamId);
    if (state === undefined) return [];
    const through = Math.min(state.indexedThrough, segmentCount);
    const out: RunLexicon[] = [];
    const rows = activeRuns(this.#d.catalog.runs(streamId))
      .filter((r) => r.lastSegment < through)
      .sort((a, b) => a.firstSegment - b.firstSegment);
    for (const row of rows) {
      const key = lexiconObjectKey(row.objectKey);
      try {
        const lexicon = await this.#d.cache.get<Lexicon>(key, async () => {
          const bytes = await this.#d.objects.get(key);
          if (bytes === undefined) {
            throw new StreamError("not_found", `No lexicon "${key}"`);
          }
          // Checked and decoded where runs are, off the request thread.
          return await (this.#d.decoder ?? this.#d.builder).decodeLexicon(
            bytes,
          );
        });
        out.push({
          firstSegment: row.firstSegment,
          lastSegment: row.lastSegment,
          lexicon,
        });
      } catch (error) {
        if (!(error instanceof StreamError)) throw error;
      }
    }
    return out;
  }

  /** Deletes every run object of the stream and forgets its index. */
  dropStream(streamId: number): Promise<void> {
    return this.#serial(streamId, async () => {
      for (const r of this.#d.catalog.runs(streamId)) {
        await this.#deleteRun(r.objectKey);
      }
      this.#d.catalog.drop(streamId);
      this.#suspects.delete(streamId);
    });
  }
}
