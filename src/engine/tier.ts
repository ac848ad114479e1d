/**
 * @module
 * Tiered storage: one background loop seals WAL ranges into segment files
 * (`<data-dir>/segments/`), uploads them, publishes each stream's manifest
 * (the commit point), then deletes the WAL rows below what is published; and
 * a `ChunkReader` that serves positions below a stream's WAL range from
 * segments (a byte-bounded cache, else the object store), so `gather()` and
 * fork chains read across tiers unchanged. Deleted streams' objects are
 * released in the background. It also counts the local backlog (WAL bytes
 * not yet published, sealed bytes not yet uploaded) and refuses new bytes
 * above its budget (`admit`). See docs/segments.md. One file past the usual
 * size because sealing, publishing, cleanup and reads share per-stream state
 * (`sealedThrough`, `walStart`, `tailPos` and the backlog counters) whose
 * invariants must change together.
 */

import { join } from "node:path";
import { assert } from "../assert.ts";
import { backoff } from "../backoff.ts";
import type { Codec } from "../_wasm/codec.ts";
import type { SegmentConfig } from "../config.ts";
import { StreamError } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  encodeManifest,
  type Manifest,
  manifestKey,
  segmentKey,
  streamPrefix,
} from "../objectstore/manifest.ts";
import type { ObjectStore } from "../objectstore/object_store.ts";
import { SegmentCache, type SegmentCacheStats } from "../segment/cache.ts";
import {
  encodeRange,
  fileName,
  inThreadSealer,
  type Sealer,
  workerSealer,
} from "./_seal.ts";
import type {
  Chunk,
  SegmentRow,
  StreamRow,
  WalSnapshot,
  WalStore,
} from "../storage/wal_store.ts";
import type { ChunkReader } from "./reader.ts";

/** What the tier needs to know of a stream (from the engine, committed state). */
export interface StreamInfo {
  /** Internal id. */
  id: number;
  /** URL name. */
  name: string;
  /** Content type. */
  contentType: string;
  /** Creation time. */
  createdAtMs: number;
  /** Sliding TTL, seconds. */
  ttlSeconds: number | null;
  /** Absolute expiry. */
  expiresAtMs: number | null;
  /** Committed tail. */
  tailPos: number;
  /** Committed closure. */
  closed: boolean;
  /** Soft-deleted (forks still read it). */
  softDeleted: boolean;
  /** Fork source, if any. */
  fork: { sourceId: number; sourceName: string; position: number } | null;
}

/** Test-only crash points (`DS_TEST_CRASH_POINT`); see docs/segments.md. */
export const CRASH_POINTS = [
  "after_segment_write",
  "after_segment_seal",
  "after_segment_upload",
  "after_manifest_publish",
  "after_wal_truncate",
] as const;

/** Options of `Tier.open`. */
export interface TierOptions {
  /** The WAL. */
  store: WalStore;
  /** Where segments and manifests are published. */
  objects: ObjectStore;
  /** Block codec. */
  codec: Codec;
  /** Folder for sealed segment files awaiting upload. */
  segmentDir: string;
  /** Thresholds and limits. */
  config: SegmentConfig;
  /** Committed streams, from the engine. */
  streams: () => Iterable<StreamInfo>;
  /** One committed stream, for streams first seen through `committed()`. */
  streamInfo?: (id: number) => StreamInfo | undefined;
  /** Logger. */
  log: Logger;
  /** Time and the wait between passes; tests step the loops by hand. */
  clock?: TierClock;
  /** Jitter source for retry delays, uniform in [0, 1). @default Math.random */
  random?: () => number;
  /** Seals ranges into files; tests inject failures. Default: see `walPath`. */
  sealer?: Sealer;
  /**
   * Path of the SQLite WAL: sealing (WAL reads, compression, checksums, the
   * file write) then runs on a Worker with its own read connection. Without
   * it, sealing runs on this thread in slices that yield between blocks.
   */
  walPath?: string;
}

/** Time and waits, injectable so tests can run the loops pass by pass. */
export interface TierClock {
  /** Now, in epoch ms. */
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The real clock: `Date.now` and an unref'd timer. */
export const SYSTEM_CLOCK: TierClock = {
  now: Date.now,
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const wake = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      Deno.unrefTimer(timer);
      signal.addEventListener("abort", wake);
    });
  },
};

/** When a failing step may run again. */
interface Retry {
  /** Failures in a row; 0 after a success. */
  failures: number;
  /** No attempt before this time (epoch ms). */
  retryAtMs: number;
}

/** Per-stream tiering state. */
interface TierStream {
  id: number;
  /** First own position (the fork position, else 0). */
  basePos: number;
  /** Sealed segments in position order, tiling `[basePos, sealedThrough)`. */
  segments: SegmentRow[];
  sealedThrough: number;
  /** Positions below are served from segments (the WAL rows are gone). */
  walStart: number;
  /** Committed tail, as last seen (for the WAL backlog figure). */
  tailPos: number;
  /** When data past `sealedThrough` was first seen. */
  unsealedSinceMs: number | undefined;
  /** Segment starts put into the object store (not yet marked uploaded). */
  put: Set<number>;
  /** Summary of the last published manifest. */
  published: string | undefined;
  /** Sealing and uploading fail and back off independently. */
  seal: Retry;
  upload: Retry;
}

/** `_details` figures of one stream. */
export interface TierDetails {
  /** Position up to which segments are sealed. */
  sealedThroughPos: number;
  /** Position up to which a published manifest names segments. */
  uploadedThroughPos: number;
  /** Positions below are read from segments. */
  walStartPos: number;
  /** Sealed segments. */
  segmentCount: number;
  /** Their encoded bytes. */
  segmentBytes: number;
  /** Segments a published manifest names. */
  uploadedSegmentCount: number;
}

/** Whole-tier counters. */
export interface TierStats {
  /**
   * Local bytes waiting for the object store: `walBacklogBytes +
   * uploadBacklogBytes`. Appends get 503 while it is above `backlogBytesMax`.
   */
  backlogBytes: number;
  /** The budget, `--backlog-bytes-max`. */
  backlogBytesMax: number;
  /** Streams' own bytes in the WAL not yet published (unsealed or not uploaded). */
  walBacklogBytes: number;
  /** Sealed segment bytes waiting for upload (files in the segment folder). */
  uploadBacklogBytes: number;
  /** Sealed segments waiting for upload. */
  uploadsPending: number;
  /** Streams whose objects wait to be deleted. */
  releaseQueue: number;
  /** Releases dropped because the queue was full. */
  releasesDropped: number;
  /** The segment cache. */
  cache: SegmentCacheStats;
}

const TICK_MS = 50;
const SEAL_TICK_BYTES_MAX = 64 * 1024 * 1024;

/** See the module doc. Create with `Tier.open`. */
export class Tier {
  readonly #o: TierOptions;
  readonly #clock: TierClock;
  readonly #random: () => number;
  readonly #cache: SegmentCache;
  readonly #sealer: Sealer;
  readonly #streams = new Map<number, TierStream>();
  readonly #releases = new Map<number, Retry>();
  #releasesDropped = 0;
  #crashHits = 0;
  /** Σ over streams of `tailPos - walStart`. */
  #walBacklogBytes = 0;
  /** Σ of the sizes of sealed, not uploaded segments, and their count. */
  #uploadBacklogBytes = 0;
  #uploadsPending = 0;
  readonly #stop = new AbortController();
  #loops: Promise<void>[] = [];
  #closed = false;

  private constructor(options: TierOptions) {
    this.#o = options;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#random = options.random ?? Math.random;
    this.#cache = new SegmentCache(options.config.cacheBytes, options.codec);
    this.#sealer = options.sealer ??
      (options.walPath === undefined
        ? inThreadSealer(
          options.store,
          options.codec,
          options.segmentDir,
          options.config.segmentBytes,
        )
        : workerSealer(
          options.walPath,
          options.segmentDir,
          options.config.segmentBytes,
        ));
  }

  /** Loads segment rows, sweeps stray files, and starts the loop. */
  static async open(options: TierOptions): Promise<Tier> {
    const tier = new Tier(options);
    try {
      await Deno.mkdir(options.segmentDir, { recursive: true });
      tier.#load(await options.store.load());
      await tier.#sweepFiles();
      tier.#loops = [
        tier.#run(() => tier.#sealPass()),
        tier.#run(() => tier.#uploadPass()),
      ];
    } catch (error) {
      tier.#sealer.close();
      throw error;
    }
    return tier;
  }

  /** Per-stream state and the backlog counters from the WAL's tables. */
  #load(snapshot: WalSnapshot): void {
    const forkPos = new Map(
      snapshot.streams.map((s) => [s.id, s.forkPos ?? 0]),
    );
    for (const row of snapshot.segments) {
      const s = this.#stream(row.streamId, forkPos.get(row.streamId) ?? 0);
      assert(row.startPos === s.sealedThrough, "segments tile the stream");
      s.segments.push(row);
      s.sealedThrough = row.endPos;
      if (row.uploaded) s.walStart = row.endPos;
      else {
        this.#uploadBacklogBytes += row.sizeBytes;
        this.#uploadsPending++;
      }
    }
    for (const row of snapshot.streams) {
      const s = this.#stream(row.id, row.forkPos ?? 0);
      s.tailPos = row.tailPos;
      s.published = publishedAtStart(s, row);
    }
    for (const s of this.#streams.values()) {
      s.tailPos = Math.max(s.tailPos, s.sealedThrough); // rows of no stream
      this.#walBacklogBytes += s.tailPos - s.walStart;
    }
  }

  #stream(id: number, basePos: number): TierStream {
    let s = this.#streams.get(id);
    if (s === undefined) {
      s = {
        id,
        basePos,
        segments: [],
        sealedThrough: basePos,
        walStart: basePos,
        tailPos: basePos,
        unsealedSinceMs: undefined,
        put: new Set(),
        published: undefined,
        seal: { failures: 0, retryAtMs: 0 },
        upload: { failures: 0, retryAtMs: 0 },
      };
      this.#streams.set(id, s);
    }
    return s;
  }

  /** Deletes segment files no unuploaded row names (crash leftovers). */
  async #sweepFiles(): Promise<void> {
    const wanted = new Set<string>();
    for (const s of this.#streams.values()) {
      for (const row of s.segments) {
        if (!row.uploaded) wanted.add(fileName(row));
      }
    }
    for await (const entry of Deno.readDir(this.#o.segmentDir)) {
      if (entry.isFile && !wanted.has(entry.name)) {
        await Deno.remove(join(this.#o.segmentDir, entry.name)).catch(
          () => {},
        );
      }
    }
  }

  // ---- reads ---------------------------------------------------------------

  /** Wraps the WAL's reader: positions below a stream's WAL range come from segments. */
  reader(wal: ChunkReader): ChunkReader {
    return async (id, fromPos, endPos, bytesMax) => {
      const s = this.#streams.get(id);
      if (s !== undefined && fromPos < s.walStart) {
        return await this.#readSegments(s, fromPos, bytesMax);
      }
      const chunks = await wal(id, fromPos, endPos, bytesMax);
      const missing = chunks.length === 0 || chunks[0].startPos > fromPos;
      if (missing && s !== undefined && fromPos < s.walStart) {
        // The WAL rows were truncated between the check and the query.
        return await this.#readSegments(s, fromPos, bytesMax);
      }
      return chunks;
    };
  }

  async #readSegments(
    s: TierStream,
    fromPos: number,
    bytesMax: number,
  ): Promise<Chunk[]> {
    const row = findSegment(s.segments, fromPos);
    if (row === undefined) {
      throw new StreamError(
        "corrupt",
        `No segment holds position ${fromPos} of stream id ${s.id}`,
      );
    }
    const key = segmentKey(s.id, row.startPos, row.endPos);
    const load = async () => {
      const bytes = await this.#o.objects.get(key);
      if (bytes === undefined) {
        throw new StreamError(
          "corrupt",
          `Segment object "${key}" is missing`,
          { key },
        );
      }
      return bytes;
    };
    const segment = await this.#cache.get(key, load);
    // Whole decoded blocks from the one holding fromPos (blocks hold whole
    // records, so also the record holding it): gather() starts at that
    // record and clips at the fork point or tail.
    const chunks: Chunk[] = [];
    let bytes = 0;
    for (
      let b = segment.blockFor(fromPos);
      b >= 0 && b < segment.blocks.length && bytes < bytesMax;
      b++
    ) {
      const block = await this.#cache.block(key, load, b);
      chunks.push(block);
      bytes += block.endPos - Math.max(block.startPos, fromPos);
    }
    return chunks;
  }

  // ---- the loop --------------------------------------------------------------

  /**
   * Runs `pass` every `TICK_MS` until closed. Sealing and uploading are two
   * such loops, so a slow object store never holds up sealing (the backlog
   * limit does that) and sealing never delays an upload.
   */
  async #run(pass: () => Promise<void>): Promise<void> {
    while (!this.#closed) {
      try {
        await pass();
      } catch (error) {
        this.#o.log.error("tiering pass failed; will retry", error);
      }
      if (this.#closed) break;
      await this.#clock.sleep(TICK_MS, this.#stop.signal);
    }
  }

  /** Committed streams; forgets (releases) the ones that are gone. */
  #refresh(): StreamInfo[] {
    const infos = new Map<number, StreamInfo>();
    for (const info of this.#o.streams()) infos.set(info.id, info);
    for (const id of [...this.#streams.keys()]) {
      if (!infos.has(id)) this.#release(id);
    }
    return [...infos.values()];
  }

  async #sealPass(): Promise<void> {
    let budget = SEAL_TICK_BYTES_MAX;
    for (const info of this.#refresh()) {
      if (this.#closed || budget <= 0) return;
      const s = this.#stream(info.id, info.fork?.position ?? 0);
      this.#noteTail(s, info.tailPos);
      if (this.#clock.now() < s.seal.retryAtMs) continue;
      try {
        budget -= await this.#sealDue(s, info, budget);
        s.seal.failures = 0;
      } catch (error) {
        const { sealRetryMinMs, sealRetryMaxMs } = this.#o.config;
        this.#retryLater(s.seal, sealRetryMinMs, sealRetryMaxMs);
        this.#warnFailed("sealing", s.id, s.seal, error);
      }
    }
  }

  async #uploadPass(): Promise<void> {
    for (const info of this.#refresh()) {
      if (this.#closed) return;
      const s = this.#stream(info.id, info.fork?.position ?? 0);
      this.#noteTail(s, info.tailPos);
      if (this.#clock.now() < s.upload.retryAtMs) continue;
      try {
        await this.#uploadDue(s, info);
      } catch (error) {
        const { uploadRetryMinMs, uploadRetryMaxMs } = this.#o.config;
        this.#retryLater(s.upload, uploadRetryMinMs, uploadRetryMaxMs);
        this.#warnFailed("uploading", s.id, s.upload, error);
      }
    }
    await this.#releaseDue();
  }

  /** Counts a failure of `retry` and schedules the next attempt. */
  #retryLater(retry: Retry, minMs: number, maxMs: number): void {
    retry.failures++;
    retry.retryAtMs = this.#clock.now() +
      backoff(retry.failures, minMs, maxMs, this.#random);
  }

  #warnFailed(
    step: "sealing" | "uploading",
    id: number,
    { failures }: Retry,
    error: unknown,
  ): void {
    if (failures !== 1 && failures % 20 !== 0) return;
    this.#o.log.warn(
      `${step} stream id ${id} failed (attempt ${failures}); will retry: ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }

  // ---- sealing -------------------------------------------------------------

  /** Seals segments of `s` that passed a threshold; returns bytes sealed. */
  async #sealDue(
    s: TierStream,
    info: StreamInfo,
    budget: number,
  ): Promise<number> {
    const { segmentBytes, segmentAgeMs, uploadBacklogBytesMax } =
      this.#o.config;
    let sealed = 0;
    while (!this.#closed && sealed < budget) {
      const unsealed = info.tailPos - s.sealedThrough;
      if (unsealed <= 0) {
        s.unsealedSinceMs = undefined;
        break;
      }
      s.unsealedSinceMs ??= this.#clock.now();
      const aged = this.#clock.now() - s.unsealedSinceMs >= segmentAgeMs;
      if (unsealed < segmentBytes && !aged) break;
      if (this.#uploadBacklogBytes >= uploadBacklogBytesMax) break; // uploads are behind
      const row = await this.#seal(s, info.tailPos);
      if (row === undefined) break;
      sealed += row.endPos - row.startPos;
      s.unsealedSinceMs = row.endPos < info.tailPos
        ? this.#clock.now()
        : undefined;
    }
    return sealed;
  }

  async #seal(s: TierStream, tailPos: number): Promise<SegmentRow | undefined> {
    const fromPos = s.sealedThrough;
    const sealed = await this.#sealer.seal(s.id, fromPos, tailPos);
    if (sealed === undefined) return undefined;
    const row: SegmentRow = {
      streamId: s.id,
      startPos: fromPos,
      endPos: sealed.endPos,
      sizeBytes: sealed.sizeBytes,
      uploaded: false,
    };
    this.#crashPoint("after_segment_write");
    await this.#o.store.addSegment(row);
    this.#crashPoint("after_segment_seal");
    if (this.#streams.get(s.id) !== s) { // released meanwhile
      await Deno.remove(join(this.#o.segmentDir, fileName(row))).catch(
        () => {},
      );
      return undefined;
    }
    s.segments.push(row);
    s.sealedThrough = row.endPos;
    this.#uploadBacklogBytes += row.sizeBytes;
    this.#uploadsPending++;
    return row;
  }

  // ---- upload, manifest, WAL cleanup ---------------------------------------

  async #uploadDue(s: TierStream, info: StreamInfo): Promise<void> {
    const last = s.segments[s.segments.length - 1];
    const pending = last !== undefined && !last.uploaded;
    const closed = info.closed && s.sealedThrough === info.tailPos;
    if (
      !pending && s.walStart >= s.sealedThrough &&
      s.published === `${s.sealedThrough}|${closed}|${info.softDeleted}`
    ) return; // nothing new to publish
    let through = s.basePos;
    const done: SegmentRow[] = [];
    for (const row of s.segments) {
      if (this.#closed) return;
      if (!row.uploaded && !s.put.has(row.startPos)) {
        const bytes = await this.#segmentBytes(row);
        const key = segmentKey(s.id, row.startPos, row.endPos);
        await this.#o.objects.put(key, bytes);
        this.#crashPoint("after_segment_upload");
        s.put.add(row.startPos);
        await this.#cache.put(key, bytes);
      }
      done.push(row);
      through = row.endPos;
    }
    const manifest = manifestOf(info, done, through);
    const summary = `${through}|${manifest.closed}|${manifest.softDeleted}`;
    if (this.#streams.get(s.id) !== s) return; // deleted meanwhile: no manifest
    if (summary !== s.published) {
      await this.#o.objects.put(manifestKey(s.id), encodeManifest(manifest));
      this.#crashPoint("after_manifest_publish");
      s.published = summary;
    }
    if (through > s.walStart) {
      assert(through <= s.tailPos, "published data was committed");
      this.#walBacklogBytes -= through - s.walStart;
      s.walStart = through; // readers switch to segments before rows go
      await this.#o.store.truncate(s.id, through);
      this.#crashPoint("after_wal_truncate");
      if (this.#streams.get(s.id) !== s) return; // released: counted there
      for (const row of done) {
        if (row.uploaded) continue;
        row.uploaded = true;
        this.#uploadBacklogBytes -= row.sizeBytes;
        this.#uploadsPending--;
        await Deno.remove(join(this.#o.segmentDir, fileName(row))).catch(
          () => {},
        );
      }
      s.put.clear();
    }
    s.upload.failures = 0;
  }

  /** A sealed segment's bytes: its file, else rebuilt from the WAL. */
  async #segmentBytes(row: SegmentRow): Promise<Uint8Array> {
    try {
      return await Deno.readFile(join(this.#o.segmentDir, fileName(row)));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const rebuilt = await encodeRange(
      (id, from, end, bytesMax) =>
        this.#o.store.readChunks(id, from, end, bytesMax),
      this.#o.codec,
      row.streamId,
      row.startPos,
      row.endPos,
      { endPosExact: row.endPos },
    );
    assert(rebuilt !== undefined, "a sealed range is never empty");
    return rebuilt.bytes;
  }

  // ---- releasing deleted streams -------------------------------------------

  #release(id: number): void {
    const s = this.#streams.get(id);
    if (s === undefined) return;
    this.#streams.delete(id);
    this.#walBacklogBytes -= s.tailPos - s.walStart;
    for (const row of s.segments) {
      if (!row.uploaded) {
        this.#uploadBacklogBytes -= row.sizeBytes;
        this.#uploadsPending--;
      }
      this.#cache.delete(segmentKey(id, row.startPos, row.endPos));
      Deno.remove(join(this.#o.segmentDir, fileName(row))).catch(() => {});
    }
    if (this.#releases.size >= this.#o.config.releaseQueueMax) {
      this.#releasesDropped++;
      this.#o.log.warn(
        `release queue full: objects of stream id ${id} stay in the object store`,
      );
      return;
    }
    this.#releases.set(id, { failures: 0, retryAtMs: 0 });
  }

  async #releaseDue(): Promise<void> {
    for (const [id, state] of [...this.#releases]) {
      if (this.#closed) return;
      if (this.#clock.now() < state.retryAtMs) continue;
      try {
        // The manifest goes first: without it, bootstrap ignores the rest.
        await this.#o.objects.delete(manifestKey(id));
        for (let guard = 0; guard < 1_000_000; guard++) {
          const page = await this.#o.objects.list(streamPrefix(id));
          if (page.keys.length === 0) break;
          for (const key of page.keys) await this.#o.objects.delete(key);
        }
        this.#releases.delete(id);
      } catch {
        const { uploadRetryMinMs, uploadRetryMaxMs } = this.#o.config;
        this.#retryLater(state, uploadRetryMinMs, uploadRetryMaxMs);
      }
    }
  }

  // ---- the local backlog -----------------------------------------------------

  /**
   * Notes stream `id`'s committed tail. The server calls it after every
   * commit, so the backlog figure `admit()` checks is current without a scan.
   */
  committed(id: number, tailPos: number): void {
    let s = this.#streams.get(id);
    if (s === undefined) {
      const info = this.#o.streamInfo?.(id);
      if (info === undefined) return;
      s = this.#stream(id, info.fork?.position ?? 0);
    }
    this.#noteTail(s, tailPos);
  }

  #noteTail(s: TierStream, tailPos: number): void {
    if (tailPos <= s.tailPos) return;
    this.#walBacklogBytes += tailPos - s.tailPos;
    s.tailPos = tailPos;
  }

  /**
   * Refuses writes that add bytes while the local backlog (WAL bytes not yet
   * published plus sealed bytes not yet uploaded) is above
   * `--backlog-bytes-max`, so an object-store outage cannot fill the disk.
   * Writes already queued still commit: the WAL ends at most one append
   * queue's worth above the budget.
   */
  admit(_bytes: number): StreamError | undefined {
    const backlogBytes = this.#walBacklogBytes + this.#uploadBacklogBytes;
    const { backlogBytesMax } = this.#o.config;
    if (backlogBytes <= backlogBytesMax) return undefined;
    return new StreamError(
      "overloaded",
      `Server is busy: ${backlogBytes} bytes wait for the object store (limit ${backlogBytesMax})`,
      { retryAfterSeconds: 5 },
    );
  }

  // ---- introspection and lifecycle -----------------------------------------

  /** `_details` figures for stream `id`. */
  details(id: number, basePos: number): TierDetails {
    const s = this.#streams.get(id);
    const segments = s?.segments ?? [];
    let uploadedThroughPos = basePos;
    let uploadedSegmentCount = 0;
    for (const row of segments) {
      if (!row.uploaded) break;
      uploadedThroughPos = row.endPos;
      uploadedSegmentCount++;
    }
    return {
      sealedThroughPos: s?.sealedThrough ?? basePos,
      uploadedThroughPos,
      walStartPos: s?.walStart ?? basePos,
      segmentCount: segments.length,
      segmentBytes: segments.reduce((n, r) => n + r.sizeBytes, 0),
      uploadedSegmentCount,
    };
  }

  /** Whole-tier counters. */
  stats(): TierStats {
    assert(
      this.#walBacklogBytes >= 0 && this.#uploadBacklogBytes >= 0 &&
        this.#uploadsPending >= 0,
      "backlog counters never go negative",
    );
    return {
      backlogBytes: this.#walBacklogBytes + this.#uploadBacklogBytes,
      backlogBytesMax: this.#o.config.backlogBytesMax,
      walBacklogBytes: this.#walBacklogBytes,
      uploadBacklogBytes: this.#uploadBacklogBytes,
      uploadsPending: this.#uploadsPending,
      releaseQueue: this.#releases.size,
      releasesDropped: this.#releasesDropped,
      cache: this.#cache.stats(),
    };
  }

  /**
   * Test only (`DS_TEST_CRASH_POINT=<point>[:<n>]`): dies like `kill -9` the
   * n-th time (default 1st) the loop reaches `point`.
   */
  #crashPoint(point: (typeof CRASH_POINTS)[number]): void {
    const [name, nth] = this.#o.config.testCrashPoint.split(":");
    if (name !== point) return;
    this.#crashHits++;
    if (this.#crashHits >= Number(nth ?? "1")) Deno.kill(Deno.pid, "SIGKILL");
  }

  /** Stops the loop after the current step. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stop.abort();
    await Promise.all(this.#loops);
    this.#sealer.close();
  }
}

function findSegment(rows: SegmentRow[], pos: number): SegmentRow | undefined {
  let lo = 0;
  let hi = rows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid].endPos <= pos) lo = mid + 1;
    else if (rows[mid].startPos > pos) hi = mid - 1;
    else return rows[mid];
  }
  return undefined;
}

/**
 * What the last published manifest of `s` must have said, when that can be
 * known after a restart, so the first upload pass does not publish every
 * stream's manifest again. Segments are marked uploaded only after a
 * manifest naming them is published, so with none pending that manifest ends
 * at the last segment; a stream open and not soft-deleted now was so at
 * every publish (both only ever turn on). Otherwise `undefined`: publish once.
 */
function publishedAtStart(s: TierStream, row: StreamRow): string | undefined {
  const last = s.segments[s.segments.length - 1];
  if (last === undefined || !last.uploaded) return undefined;
  if (row.closed || row.softDeleted) return undefined;
  return `${last.endPos}|false|false`;
}

function manifestOf(
  info: StreamInfo,
  rows: SegmentRow[],
  through: number,
): Manifest {
  return {
    version: 1,
    name: info.name,
    id: info.id,
    contentType: info.contentType,
    createdAtMs: info.createdAtMs,
    closed: info.closed && through === info.tailPos,
    ttlSeconds: info.ttlSeconds,
    expiresAtMs: info.expiresAtMs,
    softDeleted: info.softDeleted,
    fork: info.fork,
    segments: rows.map((r) => ({
      key: segmentKey(r.streamId, r.startPos, r.endPos),
      startPos: r.startPos,
      endPos: r.endPos,
      bytes: r.sizeBytes,
    })),
    uploadedThrough: through,
  };
}
