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
import type { ChunkReader } from "../engine/reader.ts";
import type { StreamInfo } from "../engine/types.ts";
import { StreamError } from "../errors.ts";
import { BACKLOG_RETRY_AFTER_SECONDS, TIER_TICK_MS } from "../limits.ts";
import type { Logger } from "../log.ts";
import type { ObjectStore } from "../objectstore/object_store.ts";
import { SegmentCache, type SegmentCacheStats } from "../segment/cache.ts";
import type { WalStore } from "../storage/wal_store.ts";
import { crashPointHook, type TierContext } from "./_context.ts";
import { inThreadSealer, type Sealer, workerSealer } from "./_seal.ts";
import { SYSTEM_CLOCK, type TierClock } from "./clock.ts";
import { tieredKeyedReader, tieredReader, tieredTimeSeeker } from "./reader.ts";
import type { KeyedChunkReader } from "../engine/keyed_reader.ts";
import type { TimeSeeker } from "../engine/types.ts";
import { ReleaseQueue } from "./release_queue.ts";
import { sealPass } from "./seal_loop.ts";
import { sweepSegmentFiles } from "./segment_files.ts";
import { type TierDetails, TierStreams } from "./streams.ts";
import { uploadPass } from "./upload_loop.ts";

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
  /** The segment cache. */
  cache: SegmentCacheStats;
}

/** See the module doc. Create with `Tier.open`. */
export class Tier {
  readonly #o: TierOptions;
  readonly #ctx: TierContext;
  readonly #sealer: Sealer;
  readonly #releases: ReleaseQueue;
  readonly #stop = new AbortController();
  #loops: Promise<void>[] = [];
  #closed = false;

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
      crashPoint: crashPointHook(options.config.testCrashPoint),
    };
    this.#releases = new ReleaseQueue(this.#ctx);
    this.#sealer = options.sealer ?? sealerFor(options);
  }

  /** Loads segment rows, sweeps stray files, and starts the loops. */
  static async open(options: TierOptions): Promise<Tier> {
    const tier = new Tier(options);
    const { streams, segmentDir } = tier.#ctx;
    try {
      await Deno.mkdir(segmentDir, { recursive: true });
      streams.load(await options.store.load());
      await sweepSegmentFiles(segmentDir, streams.pendingSegments());
      tier.#loops = [
        tier.#run(() => sealPass(tier.#ctx, tier.#sealer, tier.#refresh())),
        tier.#run(async () => {
          await uploadPass(tier.#ctx, tier.#refresh());
          await tier.#releases.pass();
        }),
      ];
    } catch (error) {
      tier.#sealer.close();
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

  /** Committed streams; releases the ones that are gone. */
  #refresh(): StreamInfo[] {
    const infos = new Map<number, StreamInfo>();
    for (const info of this.#o.streams()) infos.set(info.id, info);
    for (const id of this.#ctx.streams.ids()) {
      if (!infos.has(id)) this.#releases.release(id);
    }
    return [...infos.values()];
  }

  /** Wraps the WAL's reader: positions below a stream's WAL range come from segments. */
  reader(wal: ChunkReader): ChunkReader {
    const { streams, objects, cache } = this.#ctx;
    return tieredReader(streams, objects, cache, wal);
  }

  /** Wraps the WAL's reader for keyed reads (bloom filters skip blocks). */
  keyedReader(wal: ChunkReader): KeyedChunkReader {
    const { streams, objects, cache } = this.#ctx;
    return tieredKeyedReader(streams, objects, cache, wal);
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
    const { streams } = this.#ctx;
    let s = streams.get(id);
    if (s === undefined) {
      const info = this.#o.streamInfo?.(id);
      if (info === undefined) return;
      s = streams.ensure(id, info.fork?.position ?? 0);
    }
    streams.noteTail(s, tailPos);
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
      { retryAfterSeconds: BACKLOG_RETRY_AFTER_SECONDS },
    );
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
      cache: this.#ctx.cache.stats(),
    };
  }

  /** Stops the loops after the current step. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stop.abort();
    await Promise.all(this.#loops);
    this.#sealer.close();
  }
}

/** On a Worker when the WAL is a SQLite file, else on this thread. */
function sealerFor(options: TierOptions): Sealer {
  const { store, codec, segmentDir, config, walPath } = options;
  return walPath === undefined
    ? inThreadSealer(store, codec, segmentDir, config.segmentBytes)
    : workerSealer(walPath, segmentDir, config.segmentBytes);
}
