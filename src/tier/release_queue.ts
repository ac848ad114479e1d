/**
 * @module
 * Releasing deleted streams: their local state, cache entries and files go
 * at once; their objects (manifest first, so `--bootstrap` ignores what is
 * left) are deleted in the background, retried with backoff. The queue is
 * bounded by `--release-queue-max`; beyond it objects stay behind (logged).
 */

import { RELEASE_LIST_PAGES_MAX, RELEASE_WAIT_MS } from "../limits.ts";
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
  #dropped = 0;

  /** An empty queue over `ctx`'s stores. */
  constructor(ctx: TierContext) {
    this.#ctx = ctx;
  }

  /** Streams waiting. */
  get size(): number {
    return this.#releases.size;
  }

  /** Releases dropped because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Forgets stream `id` locally and queues its objects for deletion. */
  release(id: number): void {
    const { streams, cache, segmentDir, config, log } = this.#ctx;
    const s = streams.remove(id);
    if (s === undefined) return;
    for (const row of s.segments) {
      cache.delete(segmentKey(id, row.startPos, row.endPos));
      void removeSegmentFile(segmentDir, row);
    }
    if (this.#releases.size >= config.releaseQueueMax) {
      this.#dropped++;
      log.warn(
        `release queue full: objects of stream id ${id} stay in the object store`,
      );
      return;
    }
    this.#releases.set(id, freshRetry());
  }

  /** Deletes the objects of every queued stream whose retry time has come. */
  async pass(): Promise<void> {
    const { objects, clock, random, config } = this.#ctx;
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
        // The manifests go first: without them, bootstrap ignores the rest.
        const generations = await objects.list(manifestGenerationsPrefix(id));
        for (const key of generations.keys) await objects.delete(key);
        await objects.delete(manifestKey(id));
        for (let page = 0; page < RELEASE_LIST_PAGES_MAX; page++) {
          const listed = await objects.list(streamPrefix(id));
          if (listed.keys.length === 0) break;
          for (const key of listed.keys) await objects.delete(key);
        }
        // A batched manifest of the stream is hidden by a tombstone.
        this.#ctx.batches?.tombstone(id);
        this.#releases.delete(id);
      } catch {
        const { uploadRetryMinMs, uploadRetryMaxMs } = config;
        retryLater(state, clock, random, uploadRetryMinMs, uploadRetryMaxMs);
      }
    }
  }
}
