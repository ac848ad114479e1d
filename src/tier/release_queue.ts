/**
 * @module
 * Releasing deleted streams. A stream's delete records it in the WAL's
 * release log in the same transaction; its local state, cache entries and
 * files go at once, and its objects (manifest first, so `--bootstrap`
 * ignores what is left) are deleted in the background, retried with
 * backoff. The log row goes only after every object is gone, so a crash
 * mid-release (or before the queue ran) is resumed from the log after the
 * restart. The queue in memory holds `--release-queue-max` streams at most;
 * the rest wait in the log and are read again every `RELEASE_LOG_READ_MS`.
 */

import {
  RELEASE_LIST_PAGES_MAX,
  RELEASE_LOG_READ_MS,
  RELEASE_WAIT_MS,
} from "../limits.ts";
import {
  manifestGenerationsPrefix,
  manifestKey,
  segmentKey,
  streamPrefix,
} from "../objectstore/manifest.ts";
import type { TierContext } from "./_context.ts";
import { freshRetry, type Retry, retryLater } from "./retry.ts";
import { removeSegmentFile } from "./segment_files.ts";

/** Streams whose objects wait to be deleted. */
export class ReleaseQueue {
  readonly #ctx: TierContext;
  readonly #releases = new Map<number, Retry>();
  #deferred = 0;
  /** When the release log was last read (-Infinity: never). */
  #logReadAtMs = -Infinity;
  /** The highest stream id the last read of the log returned (0: start). */
  #logAfterId = 0;
  #logFailures = 0;

  /** An empty queue over `ctx`'s stores. */
  constructor(ctx: TierContext) {
    this.#ctx = ctx;
  }

  /** Streams waiting in memory. */
  get size(): number {
    return this.#releases.size;
  }

  /**
   * Releases left in the log because the queue was full (read again from
   * the log later), since start.
   */
  get dropped(): number {
    return this.#deferred;
  }

  /** Forgets stream `id` locally and queues its objects for deletion. */
  release(id: number): void {
    const { streams, cache, segmentDir } = this.#ctx;
    const s = streams.remove(id);
    if (s === undefined) return;
    for (const row of s.segments) {
      cache.delete(segmentKey(id, row.startPos, row.endPos));
      void removeSegmentFile(segmentDir, row);
    }
    this.#enqueue(id);
  }

  #enqueue(id: number): void {
    if (this.#releases.has(id)) return;
    if (this.#releases.size >= this.#ctx.config.releaseQueueMax) {
      this.#deferred++; // still in the release log: read again later
      return;
    }
    this.#releases.set(id, freshRetry());
  }

  /**
   * Reads the next page of the release log into the queue, at most every
   * `RELEASE_LOG_READ_MS`, wrapping around at its end.
   */
  async #readLog(): Promise<void> {
    const { store, clock, config, log } = this.#ctx;
    const nowMs = clock.now();
    if (nowMs - this.#logReadAtMs < RELEASE_LOG_READ_MS) return;
    this.#logReadAtMs = nowMs;
    const room = config.releaseQueueMax - this.#releases.size;
    if (room <= 0) return;
    let ids: number[];
    try {
      ids = await store.pendingReleases(this.#logAfterId, room);
      this.#logFailures = 0;
    } catch (error) {
      this.#logFailures++;
      if (this.#logFailures === 1 || this.#logFailures % 20 === 0) {
        log.warn(
          `release log not read (attempt ${this.#logFailures}); will retry: ${
            (error as Error).message
          }`,
        );
      }
      return;
    }
    for (const id of ids) this.#enqueue(id);
    this.#logAfterId = ids.length < room ? 0 : ids[ids.length - 1];
  }

  /** Deletes the objects of every queued stream whose retry time has come. */
  async pass(): Promise<void> {
    await this.#readLog();
    const { clock, random, config } = this.#ctx;
    for (const [id, state] of [...this.#releases]) {
      if (this.#ctx.closed()) return;
      if (clock.now() < state.retryAtMs) continue;
      try {
        // Several nodes: the lease holder releases (or, once its lease
        // expired, the first node to ask); the others only forget.
        const claim = this.#ctx.leases?.claimRelease(id, clock.now()) ??
          "release";
        if (claim === "done") {
          this.#releases.delete(id);
          continue;
        }
        if (claim === "wait") {
          state.retryAtMs = clock.now() + RELEASE_WAIT_MS;
          continue;
        }
        await this.#deleteObjects(id);
        // A batched manifest of the stream is hidden by a tombstone (and,
        // should it be lost in a crash, by the next start's batch read).
        this.#ctx.batches?.tombstone(id);
        await this.#ctx.store.released(id);
        this.#releases.delete(id);
      } catch {
        const { uploadRetryMinMs, uploadRetryMaxMs } = config;
        retryLater(state, clock, random, uploadRetryMinMs, uploadRetryMaxMs);
      }
    }
  }

  /** Deletes every object of stream `id`: its manifests first. */
  async #deleteObjects(id: number): Promise<void> {
    const { objects, crashPoint } = this.#ctx;
    crashPoint("before_release_objects");
    const generations = await objects.list(manifestGenerationsPrefix(id));
    for (const key of generations.keys) {
      await objects.delete(key);
      crashPoint("after_release_object");
    }
    await objects.delete(manifestKey(id));
    crashPoint("after_release_object");
    for (let page = 0; page < RELEASE_LIST_PAGES_MAX; page++) {
      const listed = await objects.list(streamPrefix(id));
      if (listed.keys.length === 0) break;
      for (const key of listed.keys) {
        await objects.delete(key);
        crashPoint("after_release_object");
      }
    }
  }
}
