/**
 * @module
 * A `WalStore` wrapper whose commits can be made to fail, as on a full disk
 * (the store keeps nothing and stays usable) or as on an I/O error (fatal),
 * for tests of both paths in-process and in `_faulty_main.ts` processes.
 */

import { StreamError } from "../src/errors.ts";
import type {
  Chunk,
  ProducerRow,
  SegmentRow,
  WalOp,
  WalSnapshot,
  WalStore,
} from "../src/storage/wal_store.ts";
import { diskFullError } from "../src/storage/wal_store.ts";

/** How commits fail while failing. */
export type Fault = "none" | "full" | "eio";

/** Delegates to `inner`; commits fail while `fault` is not "none". */
export class FaultyWal implements WalStore {
  /** The current fault. */
  fault: Fault = "none";
  /** Commits that failed. */
  failedCommits = 0;
  /** Commits that succeeded. */
  commits = 0;
  /** When set, the fault turns to this once `commits` reaches `faultAfter`. */
  faultAfter: { commits: number; fault: Fault } | undefined;
  /** When set, a failing commit waits for it first (to gather requests). */
  hold: Promise<void> | undefined;
  #inner: WalStore;

  /** Wraps `inner`. */
  constructor(inner: WalStore) {
    this.#inner = inner;
  }

  /** Delegates. */
  load(): Promise<WalSnapshot> {
    return this.#inner.load();
  }

  loadProducers(streamId: number): Promise<ProducerRow[]> {
    return this.#inner.loadProducers(streamId);
  }

  /** Fails as configured (keeping nothing), else delegates. */
  async commit(ops: WalOp[], nextStreamId: number): Promise<void> {
    if (this.faultAfter && this.commits >= this.faultAfter.commits) {
      this.fault = this.faultAfter.fault;
      this.faultAfter = undefined;
    }
    if (this.fault !== "none" && this.hold !== undefined) await this.hold;
    if (this.fault === "full") {
      this.failedCommits++;
      // What SqliteStore throws on SQLITE_FULL (errcode 13, from ENOSPC).
      throw diskFullError(
        "WAL commit failed",
        Object.assign(new Error("database or disk is full"), { errcode: 13 }),
      );
    }
    if (this.fault === "eio") {
      this.failedCommits++;
      throw new StreamError("unavailable", "WAL commit failed", undefined, {
        cause: new Error("disk I/O error"),
      });
    }
    await this.#inner.commit(ops, nextStreamId);
    this.commits++;
  }

  /** Delegates. */
  pendingReleases(afterId: number, limit: number): Promise<number[]> {
    return this.#inner.pendingReleases(afterId, limit);
  }

  /** Delegates. */
  released(streamId: number): Promise<void> {
    return this.#inner.released(streamId);
  }

  /** Delegates. */
  readChunks(
    streamId: number,
    fromPos: number,
    endPos: number,
    bytesMax: number,
  ): Promise<Chunk[]> {
    return this.#inner.readChunks(streamId, fromPos, endPos, bytesMax);
  }

  /** Delegates. */
  seekTime(
    streamId: number,
    fromPos: number,
    endPos: number,
    timeMs: number,
  ): Promise<number | undefined> {
    return this.#inner.seekTime(streamId, fromPos, endPos, timeMs);
  }

  /** Delegates. */
  compact(
    streamId: number,
    fromPos: number,
    endPos: number,
    targetBytes: number,
    bytesMax: number,
  ): Promise<number> {
    return this.#inner.compact(
      streamId,
      fromPos,
      endPos,
      targetBytes,
      bytesMax,
    );
  }

  /** Delegates. */
  addSegment(row: SegmentRow, leaseToken?: number): Promise<void> {
    return this.#inner.addSegment(row, leaseToken);
  }

  /** Delegates. */
  truncate(
    streamId: number,
    belowPos: number,
    leaseToken?: number,
  ): Promise<void> {
    return this.#inner.truncate(streamId, belowPos, leaseToken);
  }

  /** Delegates. */
  close(): Promise<void> {
    return this.#inner.close();
  }
}
