/**
 * @module
 * Tiered storage, assembled: two background loops (sealing WAL ranges into
 * segment files, `seal_loop.ts`; uploading them and publishing manifests,
 * then truncating the WAL, `upload_loop.ts`), the release queue for deleted
 * streams, the tiered chunk reader, and the local backlog budget (`admit`).
 * The engine never imports this: `server.ts` hands the tier the engine's
 * committed streams and wires the reader, the commit listener and the
 * admission gate into the engine. See docs/segments.md.
 */

import type { Codec } from "../_wasm/codec.ts";
import type { SegmentConfig } from "../config.ts";
import type { ChunkReader, TierReadBytes } from "../engine/reader.ts";
import type { StreamInfo, WaitOutcome } from "../engine/types.ts";
import { fail, ok, type Result, StreamError } from "../errors.ts";
import {
  BACKLOG_RETRY_AFTER_SECONDS,
  INDEX_STATUS_WAITERS_MAX,
  SEAL_PRESSED_STREAMS,
  TIER_TICK_MS,
  WAITERS_RETRY_AFTER_SECONDS,
} from "../limits.ts";
import type { Logger } from "../log.ts";
import type { ObjectStore } from "../objectstore/object_store.ts";
import { SegmentCache, type SegmentCacheStats } from "../segment/cache.ts";
import type { WalSnapshot, WalStore } from "../storage/wal_store.ts";
import type {
  ManifestGenerations,
  StreamLeases,
} from "../storage/manifest_generations.ts";
import { crashPointHook, type TierContext } from "./_context.ts";
import {
  inThreadSealer,
  type Sealer,
  type WalSource,
  workerSealer,
} from "./_seal.ts";
import { SYSTEM_CLOCK, type TierClock } from "./clock.ts";
import {
  segmentFileOf,
  tieredKeyedReader,
  tieredKeyLexicon,
  tieredReader,
  tieredTimeSeeker,
  uploadedCount,
} from "./reader.ts";
import {
  pooledRunBuilder,
  type RunBuilder,
  workerRunBuilder,
} from "../index/builder.ts";
import { RunCache } from "../index/cache.ts";
import type { RunCatalog } from "../index/catalog.ts";
import { defaultShape, type RoutingIndexShape } from "../index/plan.ts";
import { RoutingKeyIndex } from "../index/routing_index.ts";
import {
  type CompanionBuilder,
  type CompanionCacheStats,
  Companions,
  workerCompanionBuilder,
} from "./companions.ts";
import { validateSearchConfig } from "../search/config.ts";
import type { RoutingIndexStatus } from "../index/status.ts";
import {
  COMPANION_BLOCK_BYTES,
  ROUTING_RUN_CACHE_BYTES_DEFAULT,
} from "../limits.ts";
import type { KeyedChunkReader } from "../engine/keyed_reader.ts";
import type { KeyLexiconSource, TimeSeeker } from "../engine/types.ts";
import { DueQueue } from "./due.ts";
import { freshSweep, sweepLeases } from "./lease_sweep.ts";
import { ReleaseQueue } from "./release_queue.ts";
import { sealPass } from "./seal_loop.ts";
import { removeSegmentFile, sweepSegmentFiles } from "./segment_files.ts";
import {
  packText,
  publishedSummary,
  type TierDetails,
  type TierStream,
  TierStreams,
} from "./streams.ts";
import { ManifestBatcher } from "./manifest_batch.ts";
import { Packer } from "./packs.ts";
import { uploadPass } from "./upload_loop.ts";

/** Options of `Tier.open`. */
export interface TierOptions {
  /** The WAL. */
  store: WalStore;
  /** Where segments and manifests are published. */
  objects: ObjectStore;
  /**
   * The WAL's snapshot, when just loaded (the engine's, at start-up);
   * otherwise the tier loads one. Streams gone since are released by the
   * first passes.
   */
  snapshot?: WalSnapshot;
  /** Block codec. */
  codec: Codec;
  /** Folder for sealed segment files awaiting upload. */
  segmentDir: string;
  /** Thresholds and limits. */
  config: SegmentConfig;
  /**
   * Committed streams, from the engine: read once at open (every stream is
   * looked at by the first passes); after that the loops look only at
   * streams named by `committed()` and `changed()` or scheduled by a pass.
   */
  streams: () => Iterable<StreamInfo>;
  /** One committed stream; undefined once it is gone (then it is released). */
  streamInfo: (id: number) => StreamInfo | undefined;
  /** Logger. */
  log: Logger;
  /** Time and the wait between passes; tests step the loops by hand. */
  clock?: TierClock;
  /** Jitter source for retry delays, uniform in [0, 1). @default Math.random */
  random?: () => number;
  /** Seals ranges into files; tests inject failures. Default: see `walPath`. */
  sealer?: Sealer;
  /**
   * The WAL (a SQLite file's path, or PostgreSQL's options): sealing (WAL
   * reads, compression, checksums, the file write) then runs on a Worker
   * with its own read connection. Without it, sealing runs on this thread in
   * slices that yield between blocks.
   */
  walPath?: WalSource;
  /**
   * Where manifest generations are kept (PostgreSQL full mode): each
   * publication first moves the stream's generation by compare-and-set, and
   * a publisher that finds it moved elsewhere writes no manifest.
   */
  manifestGenerations?: ManifestGenerations;
  /**
   * Stream leases (PostgreSQL full mode): streams whose lease another node
   * holds are neither sealed nor uploaded here, and each publication names
   * the lease token, so a node that lost the lease publishes nothing.
   */
  streamLeases?: StreamLeases;
  /**
   * The routing-key index: its catalog, and optionally where runs are built
   * and decoded (default: two Workers) and its shape. Without it, keyed
   * reads open every segment.
   */
  routingIndex?: TierIndexOptions;
  /**
   * Several nodes: the engine missed commits of stream `id` made through
   * another node (the lease sweep found the database's tail ahead of it);
   * it reads the stream's row again.
   */
  refreshStream?: (id: number) => void;
  /** Stored bytes per search companion block (tests make it small). */
  companionBlockBytes?: number;
  /** Bytes of decoded companions kept in memory (tests make it small). */
  companionMemoryBytesMax?: number;
  /**
   * Put tiny streams' sealed segments into shared pack objects
   * (docs/segments.md "Packed segments"); only where manifests are batched
   * and the WAL records pack ranges. @default false
   */
  packs?: boolean;
}

/** The routing-key index's parts (`TierOptions.routingIndex`). */
export interface TierIndexOptions {
  /** Which runs exist (the data dir's SQLite in the server). */
  catalog: RunCatalog;
  /** Where runs are built (default: a Worker). */
  builder?: RunBuilder;
  /** Where fetched runs are decoded (default: a second Worker). */
  decoder?: RunBuilder;
  /** Run hierarchy shape (default `defaultShape()`). */
  shape?: RoutingIndexShape;
  /** Budget of decoded runs and lexicons in memory. */
  cacheBytes?: number;
  /**
   * Streams whose index builds run at once (default 1); without `builder`,
   * builds get this many Workers.
   */
  concurrency?: number;
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
  /** Segments sealed since start. */
  segmentsSealed: number;
  /** Segments uploaded (named by a published manifest) since start. */
  segmentsUploaded: number;
  /** Streams whose objects wait to be deleted. */
  releaseQueue: number;
  /** Releases dropped because the queue was full. */
  releasesDropped: number;
  /**
   * Uploaded segments the routing-key index does not cover yet, the most
   * over all streams (0 without the index).
   */
  indexLagSegmentsMax: number;
  /** Routing-key index steps that built or compacted a run, since start. */
  indexBuilds: number;
  /** The segment cache. */
  cache: SegmentCacheStats;
  /** Decoded search companions kept in memory. */
  companions: CompanionCacheStats;
}

/** See the module doc. Create with `Tier.open`. */
export class Tier {
  readonly #o: TierOptions;
  readonly #ctx: TierContext;
  readonly #sealer: Sealer;
  readonly #index: RoutingKeyIndex | undefined;
  readonly #closeIndex: () => void;
  readonly #companionBuilder: CompanionBuilder = workerCompanionBuilder();
  readonly #openedAtMs: number;
  readonly #releases: ReleaseQueue;
  readonly #stop = new AbortController();
  #loops: Promise<void>[] = [];
  /** Streams the seal loop must look at, now or at a time. */
  readonly #sealDue = new DueQueue();
  /** Streams the upload loop must look at, now or at a time. */
  readonly #uploadDue = new DueQueue();
  /** Where the walk over the stream leases is (several nodes). */
  readonly #leaseSweep = freshSweep();
  /** Requests waiting for the next tiering pass (`waitForPass`). */
  readonly #passWaiters = new Set<() => void>();
  #closed = false;
  /** Per stream: the highest registry revision a published manifest names. */
  readonly #schemaRevisions = new Map<number, number>();
  /** Per stream: requests waiting for a registry revision to be published. */
  readonly #schemaWaiters = new Map<
    number,
    Set<{ revision: number; settle: (published: boolean) => void }>
  >();

  private constructor(options: TierOptions) {
    this.#o = options;
    this.#ctx = {
      store: options.store,
      objects: options.objects,
      codec: options.codec,
      segmentDir: options.segmentDir,
      config: options.config,
      log: options.log,
      clock: options.clock ?? SYSTEM_CLOCK,
      random: options.random ?? Math.random,
      streams: new TierStreams(),
      cache: new SegmentCache(options.config.cacheBytes, options.codec),
      closed: () => this.#closed,
      schemaPublished: (id, revision) => this.#schemaPublished(id, revision),
      crashPoint: crashPointHook(options.config.testCrashPoint),
      indexBuilds: { count: 0 },
      indexLagging: new Set(),
      indexConcurrency: options.routingIndex?.concurrency ?? 1,
      generations: options.manifestGenerations,
      leases: options.streamLeases,
      adopted: (id) => {
        this.#sealDue.mark(id);
        this.#uploadDue.mark(id);
      },
    };
    this.#ctx.companions = new Companions({
      objects: options.objects,
      cache: this.#ctx.cache,
      log: options.log,
      blockBytes: options.companionBlockBytes ?? COMPANION_BLOCK_BYTES,
      memoryBytesMax: options.companionMemoryBytesMax,
      builder: this.#companionBuilder,
    });
    const ix = options.routingIndex;
    if (ix === undefined) {
      this.#index = undefined;
      this.#closeIndex = () => {};
    } else {
      const lanes = ix.concurrency ?? 1;
      const builder = ix.builder ??
        (lanes === 1 ? workerRunBuilder() : pooledRunBuilder(
          Array.from({ length: lanes }, () => workerRunBuilder()),
        ));
      const decoder = ix.decoder ??
        (ix.builder === undefined ? workerRunBuilder() : builder);
      const { streams, objects, cache } = this.#ctx;
      this.#index = new RoutingKeyIndex({
        objects,
        catalog: ix.catalog,
        builder,
        decoder,
        cache: new RunCache(
          ix.cacheBytes ?? ROUTING_RUN_CACHE_BYTES_DEFAULT,
        ),
        readKeys: (id, ordinal) => {
          const s = streams.get(id);
          if (s === undefined) {
            throw new StreamError("not_found", `No tiered stream id ${id}`);
          }
          return segmentFileOf(objects, cache, s, ordinal);
        },
        shape: ix.shape ?? defaultShape(),
        now: () => this.#ctx.clock.now(),
      });
      this.#closeIndex = () => {
        builder.close();
        if (decoder !== builder) decoder.close();
      };
    }
    this.#ctx.routingIndex = this.#index;
    // With several publishers (manifest generations, leases), every
    // manifest stays its stream's own object.
    if (
      options.manifestGenerations === undefined &&
      options.streamLeases === undefined
    ) {
      this.#ctx.batches = new ManifestBatcher({
        objects: options.objects,
        waitMs: options.config.manifestBatchMs,
        clock: this.#ctx.clock,
        random: this.#ctx.random,
        retryMinMs: options.config.uploadRetryMinMs,
        retryMaxMs: options.config.uploadRetryMaxMs,
        crashPoint: this.#ctx.crashPoint,
      });
      if (options.packs === true) {
        this.#ctx.packs = new Packer(
          options.objects,
          options.config.manifestBatchMs,
        );
      }
    }
    this.#openedAtMs = this.#ctx.clock.now();
    this.#releases = new ReleaseQueue(this.#ctx);
    this.#sealer = options.sealer ?? sealerFor(options);
  }

  /** The search companions of uploaded segments. */
  get companions(): Companions {
    return this.#ctx.companions!;
  }

  /**
   * `_index_status.bundled_companions` of stream `id` whose `search`
   * section is `search` (null: none, so nothing to build).
   */
  companionStatus(id: number, search: unknown): {
    object_count: number;
    bytes_at_rest: string;
    fully_indexed_uploaded_segments: boolean;
  } {
    const s = this.#ctx.streams.get(id);
    const checked = search === null ? undefined : validateSearchConfig(search);
    if (s === undefined || checked === undefined || !checked.ok) {
      return {
        object_count: 0,
        bytes_at_rest: "0",
        fully_indexed_uploaded_segments: true,
      };
    }
    const st = this.#ctx.companions!.status(s, checked.value);
    return {
      object_count: st.indexedSegments,
      bytes_at_rest: String(st.bytes),
      fully_indexed_uploaded_segments: st.indexedSegments >=
        st.uploadedSegments,
    };
  }

  /** The routing-key index, when configured. */
  get routingIndex(): RoutingKeyIndex | undefined {
    return this.#index;
  }

  /** Loads segment rows, sweeps stray files, and starts the loops. */
  static async open(options: TierOptions): Promise<Tier> {
    const tier = new Tier(options);
    const { streams, segmentDir } = tier.#ctx;
    try {
      await Deno.mkdir(segmentDir, { recursive: true });
      streams.load(options.snapshot ?? await options.store.load());
      await sweepSegmentFiles(segmentDir, streams.pendingSegments());
      tier.#seed();
      const info = (id: number) => tier.#o.streamInfo(id);
      const gone = (id: number) => tier.#gone(id);
      let batchesRead = false;
      tier.#loops = [
        tier.#run(async () => {
          const ctx = tier.#ctx;
          if (ctx.streams.backlogBytes * 2 > ctx.config.backlogBytesMax) {
            for (const id of ctx.streams.takeHeldSmall(SEAL_PRESSED_STREAMS)) {
              tier.#sealDue.mark(id); // backlog pressure: seal by age
            }
          }
          await sealPass(
            ctx,
            tier.#sealer,
            tier.#sealDue.take(ctx.clock.now()),
            {
              info,
              gone,
              due: tier.#sealDue,
              sealed: (id) => tier.#uploadDue.mark(id),
            },
          );
          tier.#wakePassWaiters();
        }),
        tier.#run(async () => {
          const ctx = tier.#ctx;
          // Before the first upload pass, not in `open`: start-up never
          // waits for the object store.
          if (!batchesRead) {
            batchesRead = true;
            await tier.#loadBatches();
          }
          await uploadPass(ctx, tier.#uploadDue.take(ctx.clock.now()), {
            info,
            gone,
            due: tier.#uploadDue,
          });
          await ctx.batches?.flush().catch((error) => {
            const failures = ctx.batches!.failures;
            if (failures !== 1 && failures % 20 !== 0) return;
            ctx.log.warn(
              `manifest batch not published (attempt ${failures}); will retry: ${
                (error as Error).message
              }`,
            );
          });
          tier.#wakePassWaiters();
          await tier.#releases.pass();
          sweepLeases(ctx, tier.#leaseSweep, {
            info,
            look: (id) => ctx.adopted!(id),
            refresh: (id) => tier.#o.refreshStream?.(id),
          });
        }),
      ];
    } catch (error) {
      tier.#sealer.close();
      tier.#closeIndex();
      tier.#companionBuilder.close();
      throw error;
    }
    return tier;
  }

  /**
   * Runs `pass` every `TIER_TICK_MS` until closed. Sealing and uploading are
   * two such loops, so a slow object store never holds up sealing (the
   * backlog limit does that) and sealing never delays an upload.
   */
  async #run(pass: () => Promise<void>): Promise<void> {
    while (!this.#closed) {
      try {
        await pass();
      } catch (error) {
        this.#ctx.log.error("tiering pass failed; will retry", error);
      }
      if (this.#closed) break;
      await this.#ctx.clock.sleep(TIER_TICK_MS, this.#stop.signal);
    }
  }

  /**
   * Reads the batch objects: a stream whose newest batched manifest is
   * there is not published again unless it changed, and an entry of a
   * stream that is gone (its release was lost in a crash) gets a tombstone.
   */
  async #loadBatches(): Promise<void> {
    const batches = this.#ctx.batches;
    if (batches === undefined) return;
    let newest;
    try {
      newest = await batches.open();
    } catch (error) {
      // Read again before the first batch is published; meanwhile every
      // stream's manifest is published again.
      this.#ctx.log.warn(
        `manifest batches not read: ${(error as Error).message}`,
      );
      return;
    }
    for (const [id, entry] of newest) {
      const m = entry.manifest;
      if (m === null) continue;
      if (this.#o.streamInfo(id) === undefined) {
        batches.tombstone(id);
        continue;
      }
      const s = this.#ctx.streams.ensure(id, m.fork?.position ?? 0);
      s.published ??= publishedSummary(
        m.uploadedThrough,
        m.closed,
        m.softDeleted,
        undefined,
        m.profile === undefined ? undefined : JSON.stringify(m.profile),
      ) + packText(m.segments.map((g) => ({
        pack: g.packOffset === undefined
          ? undefined
          : { key: g.key, offset: g.packOffset },
      })));
    }
  }

  /**
   * The first passes look at every stream the engine has, and at every
   * stream the WAL's tables track (those of no stream are released).
   */
  #seed(): void {
    for (const info of this.#o.streams()) {
      this.#sealDue.mark(info.id);
      this.#uploadDue.mark(info.id);
    }
    for (const id of this.#ctx.streams.ids()) {
      this.#sealDue.mark(id);
      this.#uploadDue.mark(id);
    }
  }

  /** Stream `id` is gone: its objects are released. */
  #gone(id: number): void {
    if (this.#ctx.streams.get(id) === undefined) return;
    this.#releases.release(id);
    this.#ctx.indexLagging.delete(id);
    this.#schemaRevisions.delete(id);
    this.#ctx.companions?.drop(id);
    this.#index?.dropStream(id).catch((error) =>
      this.#ctx.log.warn(
        `stream ${id}: routing-key index not dropped: ${
          (error as Error).message
        }`,
      )
    );
  }

  /** Wraps the WAL's reader: positions below a stream's WAL range come from segments. */
  reader(wal: ChunkReader, counts: TierReadBytes): ChunkReader {
    const { streams, objects, cache } = this.#ctx;
    return tieredReader(streams, objects, cache, wal, counts, this.#refresh);
  }

  /**
   * Several nodes: when a read finds WAL rows gone that this node's state
   * says are there, the node that holds the stream's lease published and
   * truncated them; the published segments are taken from the database.
   */
  readonly #refresh = (id: number): TierStream | undefined => {
    const leases = this.#ctx.leases;
    if (leases === undefined) return undefined;
    const info = this.#o.streamInfo(id);
    if (info === undefined) return undefined;
    const s = this.#ctx.streams.ensure(id, info.fork?.position ?? 0);
    const rows = leases.uploadedSegments(id);
    const end = rows.length === 0 ? s.basePos : rows[rows.length - 1].endPos;
    if (end <= s.walStart) return s;
    this.#ctx.streams.noteTail(s, info.tailPos, this.#ctx.clock.now());
    const dropped = this.#ctx.streams.adopt(s, rows);
    for (const row of dropped) {
      removeSegmentFile(this.#ctx.segmentDir, row).catch(() => {});
    }
    s.adoptedToken = undefined; // taken again in full on the next lease
    return s;
  };

  /** Wraps the WAL's reader for keyed reads (bloom filters skip blocks). */
  keyedReader(wal: ChunkReader, counts: TierReadBytes): KeyedChunkReader {
    const { streams, objects, cache } = this.#ctx;
    return tieredKeyedReader(
      streams,
      objects,
      cache,
      wal,
      counts,
      this.#index,
      this.#refresh,
    );
  }

  /**
   * What key listings take from the routing-key index: the keys of indexed
   * segments, and which uploaded segments they must read instead.
   */
  keyLexicon(): KeyLexiconSource {
    return tieredKeyLexicon(this.#ctx.streams, this.#index);
  }

  /** Wraps the WAL's time seeker: segments are searched by time bounds. */
  timeSeeker(wal: TimeSeeker): TimeSeeker {
    const { streams, objects, cache } = this.#ctx;
    return tieredTimeSeeker(streams, objects, cache, wal);
  }

  /**
   * Notes stream `id`'s committed tail. The server calls it after every
   * commit, so the backlog figure `admit()` checks is current without a scan.
   */
  committed(id: number, tailPos: number): void {
    const { streams, clock } = this.#ctx;
    let s = streams.get(id);
    if (s === undefined) {
      const info = this.#o.streamInfo(id);
      if (info === undefined) return;
      s = streams.ensure(id, info.fork?.position ?? 0);
    }
    streams.noteTail(s, tailPos, clock.now());
    this.#sealDue.mark(id);
    this.#uploadDue.mark(id);
  }

  /**
   * Stream `id` changed other than by its tail (closed, deleted,
   * soft-deleted, schema registry changed; committed): the next passes look
   * at it (and release it when it is gone).
   */
  changed(id: number): void {
    this.#sealDue.mark(id);
    this.#uploadDue.mark(id);
  }

  /**
   * Refuses writes that add bytes while the local backlog (WAL bytes not yet
   * published plus sealed bytes not yet uploaded) is above
   * `--backlog-bytes-max`, so an object-store outage cannot fill the disk.
   * Writes already queued still commit: the WAL ends at most one append
   * queue's worth above the budget.
   */
  admit(_bytes: number): StreamError | undefined {
    const { backlogBytes } = this.#ctx.streams;
    const { backlogBytesMax } = this.#o.config;
    if (backlogBytes <= backlogBytesMax) return undefined;
    return new StreamError(
      "overloaded",
      `Server is busy: ${backlogBytes} bytes wait for the object store (limit ${backlogBytesMax})`,
      { retryAfterSeconds: BACKLOG_RETRY_AFTER_SECONDS, overload: "backlog" },
    );
  }

  /**
   * Resolves true once a manifest naming stream `id`'s schema registry at
   * `revision` (or a later one) is published, false after `timeoutMs` (the
   * upload loop keeps trying; the change is already committed locally).
   */
  schemaPublishedWithin(
    id: number,
    revision: number,
    timeoutMs: number,
  ): Promise<boolean> {
    if ((this.#schemaRevisions.get(id) ?? 0) >= revision) {
      return Promise.resolve(true);
    }
    const { promise, resolve } = Promise.withResolvers<boolean>();
    let waiters = this.#schemaWaiters.get(id);
    if (waiters === undefined) this.#schemaWaiters.set(id, waiters = new Set());
    const waiter = {
      revision,
      settle: (published: boolean) => {
        clearTimeout(timer);
        resolve(published);
      },
    };
    const timer = setTimeout(() => {
      waiters.delete(waiter);
      if (waiters.size === 0) this.#schemaWaiters.delete(id);
      resolve(false);
    }, timeoutMs);
    waiters.add(waiter);
    return promise;
  }

  #schemaPublished(id: number, revision: number): void {
    this.#schemaRevisions.set(
      id,
      Math.max(revision, this.#schemaRevisions.get(id) ?? 0),
    );
    const waiters = this.#schemaWaiters.get(id);
    if (waiters === undefined) return;
    for (const waiter of waiters) {
      if (waiter.revision > revision) continue;
      waiters.delete(waiter);
      waiter.settle(true);
    }
    if (waiters.size === 0) this.#schemaWaiters.delete(id);
  }

  /**
   * The `routing_key_index` object of `_index_status` for stream `id`;
   * `configured` says whether the stream has keys or a routing-key rule.
   */
  indexStatus(id: number, configured: boolean): RoutingIndexStatus {
    const index = this.#index;
    if (index === undefined) return { configured: false };
    const s = this.#ctx.streams.get(id);
    const uploaded = s === undefined ? 0 : uploadedCount(s);
    const through = index.manifest(id)?.indexedThrough ?? 0;
    const oldest = s !== undefined && through < uploaded
      ? s.segments[through]
      : undefined;
    return index.status(id, {
      configured,
      uploadedCount: uploaded,
      oldestUnindexedUploadedAtMs: oldest === undefined
        ? undefined
        : this.#ctx.streams.uploadedAtMs.get(oldest) ?? this.#openedAtMs,
    });
  }

  /** `_details` figures for stream `id`. */
  details(id: number, basePos: number): TierDetails {
    return this.#ctx.streams.details(id, basePos);
  }

  /** Whole-tier counters. */
  stats(): TierStats {
    const counters = this.#ctx.streams.counters();
    return {
      backlogBytes: counters.walBacklogBytes + counters.uploadBacklogBytes,
      backlogBytesMax: this.#o.config.backlogBytesMax,
      ...counters,
      releaseQueue: this.#releases.size,
      releasesDropped: this.#releases.dropped,
      indexLagSegmentsMax: this.#indexLagMax(),
      indexBuilds: this.#ctx.indexBuilds.count,
      cache: this.#ctx.cache.stats(),
      companions: this.#ctx.companions!.cacheStats(),
    };
  }

  /**
   * The largest routing-key index lag over the streams, in segments: only
   * streams the upload loop saw lagging are looked at.
   */
  #indexLagMax(): number {
    const index = this.#index;
    if (index === undefined) return 0;
    let most = 0;
    for (const id of this.#ctx.indexLagging) {
      const s = this.#ctx.streams.get(id);
      if (s === undefined) continue;
      const through = index.manifest(id)?.indexedThrough ?? 0;
      most = Math.max(most, uploadedCount(s) - through);
    }
    return most;
  }

  /**
   * Waits until a tiering pass ends (the index or the uploads may have
   * moved), `timeoutMs` passes or `signal` aborts; `overloaded` when
   * `INDEX_STATUS_WAITERS_MAX` requests wait already.
   */
  waitForPass(
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Result<WaitOutcome>> {
    if (this.#passWaiters.size >= INDEX_STATUS_WAITERS_MAX) {
      return Promise.resolve(
        fail("overloaded", "Too many index status readers are waiting", {
          retryAfterSeconds: WAITERS_RETRY_AFTER_SECONDS,
          overload: "waiters",
        }),
      );
    }
    if (this.#closed || signal?.aborted === true) {
      return Promise.resolve(ok(signal?.aborted ? "aborted" : "timeout"));
    }
    return new Promise((resolve) => {
      const finish = (outcome: WaitOutcome) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#passWaiters.delete(wake);
        resolve(ok(outcome));
      };
      const wake = () => finish("changed");
      const onAbort = () => finish("aborted");
      const timer = setTimeout(() => finish("timeout"), timeoutMs);
      this.#passWaiters.add(wake);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Wakes every `waitForPass`. */
  #wakePassWaiters(): void {
    for (const wake of [...this.#passWaiters]) wake();
  }

  /** Stops the loops after the current step. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stop.abort();
    for (const waiters of this.#schemaWaiters.values()) {
      for (const waiter of waiters) waiter.settle(false);
    }
    this.#schemaWaiters.clear();
    this.#wakePassWaiters();
    await Promise.all(this.#loops);
    // Batched manifests still queued go out now (or on the next start).
    await this.#ctx.batches?.flush(true).catch(
      (error) =>
        this.#ctx.log.warn(
          `manifest batch not published: ${(error as Error).message}`,
        ),
    );
    this.#sealer.close();
    this.#closeIndex();
    this.#companionBuilder.close();
  }
}

/** On a Worker when the WAL is a SQLite file, else on this thread. */
function sealerFor(options: TierOptions): Sealer {
  const { store, codec, segmentDir, config, walPath } = options;
  return walPath === undefined
    ? inThreadSealer(store, codec, segmentDir, config.segmentBytes)
    : workerSealer(walPath, segmentDir, config.segmentBytes);
}
