/**
 * @module
 * The group-commit writer. Requests enqueue their WAL operations; one flush
 * at a time takes everything queued (up to `commitBatchMax` requests),
 * merges consecutive appends to the same stream into one chunk, commits the
 * lot in one transaction and only then acknowledges each request. The queue
 * is bounded in requests and bytes; a full queue answers `overloaded`.
 *
 * A commit that fails for a passing reason (a full disk, a lost database
 * connection: the store kept nothing of it, see `isRetryable`) pauses the
 * writer: every queued request gets `unavailable`, the owner rolls its
 * memory back to the WAL and calls `resume()`, and writes are refused until
 * `DISK_FULL_PAUSE_MS` after the failure. A commit refused as stale
 * (another node changed its streams, see `isStale`) rejects the batch and
 * the queue with that error and pauses only until the owner has reloaded
 * and calls `resume()`; the owner plans those requests again. Any other
 * failed commit is fatal.
 */

import { setImmediate } from "node:timers";
import { type OverloadReason, StreamError } from "../errors.ts";
import { Histogram } from "../histogram.ts";
import {
  DISK_FULL_PAUSE_MS,
  DISK_FULL_RETRY_AFTER_SECONDS,
  MERGED_CHUNK_BYTES_MAX,
  QUEUE_FULL_RETRY_AFTER_SECONDS,
} from "../limits.ts";
import { mergeChunks } from "../storage/chunk.ts";
import {
  type Chunk,
  isDiskFull,
  isRetryable,
  isStale,
  type StreamTail,
  type WalOp,
  type WalStore,
} from "../storage/wal_store.ts";

/** Writer limits, from `config.limits`. */
export interface WriterLimits {
  /** Requests queued at most. */
  appendQueueMax: number;
  /** Bytes queued at most. */
  appendQueueBytesMax: number;
  /** Requests per transaction at most. */
  commitBatchMax: number;
}

interface Item {
  ops: WalOp[];
  bytes: number;
  onCommit: (() => void) | undefined;
  resolve: () => void;
  reject: (error: StreamError) => void;
}

/** Counters for operators (`GET /health`, `/metrics`). */
export interface WriterStats {
  /** Transactions committed. */
  commits: number;
  /** Requests acknowledged by those commits. */
  requests: number;
  /** Total time spent waiting for commits, in ms. */
  commitMs: number;
  /** Records appended by those commits. */
  appendRecords: number;
  /** Record bytes appended by those commits. */
  appendBytes: number;
  /** Requests refused because the queue was full. */
  queueRejections: number;
  /** Requests waiting now. */
  queued: number;
  /** Bytes of the requests waiting now. */
  queuedBytes: number;
  /** Commit durations, in seconds (live: read it, do not keep it). */
  commitSeconds: Histogram;
}

/** What the writer reports to its owner. */
export interface WriterEvents {
  /** The WAL failed for good; nothing more will commit. */
  onFatal: (error: StreamError) => void;
  /**
   * A commit failed for a passing reason (see `isRetryable`) and every
   * queued request was rejected: memory is ahead of the WAL. Roll it back,
   * then call `resume()` (or `halt()` if that fails). `cause` is the
   * store's error.
   */
  onRolledBack: (cause: StreamError) => void;
  /**
   * A commit found streams changed by another node (see `isStale`): every
   * queued request was rejected with the stale error, to be planned again.
   * Reload (at least the streams of `ops`, what those requests wrote),
   * then call `resume()`.
   */
  onStale?: (cause: StreamError, ops: WalOp[]) => void;
}

/** Serialises all WAL writes and batches them into shared commits. */
export class Writer {
  #store: WalStore;
  #limits: WriterLimits;
  #nextStreamId: () => number;
  #events: WriterEvents;
  #now: () => number;
  #queue: Item[] = [];
  #queuedBytes = 0;
  #scheduled = false;
  #flushing: Promise<void> | undefined;
  #failed: StreamError | undefined;
  /** Set from a retryable failure until `resume()`. */
  #paused: StreamError | undefined;
  /** Writes are refused before this time (after a retryable failure)... */
  #pausedUntilMs = 0;
  /** ... with this reason. */
  #pauseReason = "";
  /** ... and this `overload_rejections_total` reason. */
  #pauseOverload: OverloadReason = "unavailable";
  #idle: (() => void)[] = [];
  #stats = {
    commits: 0,
    requests: 0,
    commitMs: 0,
    appendRecords: 0,
    appendBytes: 0,
    queueRejections: 0,
  };
  #commitSeconds = new Histogram();

  /** `nextStreamId` is persisted with every commit; `now` is the clock. */
  constructor(
    store: WalStore,
    limits: WriterLimits,
    nextStreamId: () => number,
    events: WriterEvents,
    now: () => number = Date.now,
  ) {
    this.#store = store;
    this.#limits = limits;
    this.#nextStreamId = nextStreamId;
    this.#events = events;
    this.#now = now;
  }

  /** Requests waiting for a commit. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Commit counters since start. */
  stats(): WriterStats {
    return {
      ...this.#stats,
      queued: this.#queue.length,
      queuedBytes: this.#queuedBytes,
      commitSeconds: this.#commitSeconds,
    };
  }

  /**
   * Whether a request of `bytes` fits in the queue now: `overloaded` (503,
   * retry later) when the queue is full, `payload_too_large` (413) when the
   * request is larger than the whole queue and so could never fit.
   */
  admit(bytes: number): StreamError | undefined {
    // A pause for stale streams lasts one reload: admitted requests wait
    // for it (the owner plans them again), so it refuses nothing here.
    const refused = isStale(this.#paused) && this.#failed === undefined
      ? undefined
      : this.#refusal();
    if (refused !== undefined) return refused;
    if (bytes > this.#limits.appendQueueBytesMax) {
      return new StreamError(
        "payload_too_large",
        `An append of ${bytes} bytes is larger than the append queue (${this.#limits.appendQueueBytesMax} bytes)`,
      );
    }
    if (
      this.#queue.length >= this.#limits.appendQueueMax ||
      this.#queuedBytes + bytes > this.#limits.appendQueueBytesMax
    ) {
      this.#stats.queueRejections++;
      return new StreamError(
        "overloaded",
        "Server is busy: the append queue is full",
        {
          retryAfterSeconds: QUEUE_FULL_RETRY_AFTER_SECONDS,
          overload: "append_queue",
        },
      );
    }
    return undefined;
  }

  /**
   * Queues `ops`; resolves after they commit. `onCommit` runs right after the
   * commit, before any later request is acknowledged. Call `admit` first.
   */
  enqueue(ops: WalOp[], bytes: number, onCommit?: () => void): Promise<void> {
    const refused = this.#refusal();
    if (refused !== undefined) return Promise.reject(refused);
    return new Promise((resolve, reject) => {
      this.#queue.push({ ops, bytes, onCommit, resolve, reject });
      this.#queuedBytes += bytes;
      this.#schedule();
    });
  }

  /**
   * Resolves once everything queued so far has committed. Rejects while
   * paused: memory may still hold state that never committed.
   */
  barrier(): Promise<void> {
    const refused = this.#failed ?? this.#paused;
    if (refused !== undefined) return Promise.reject(refused);
    if (this.#queue.length === 0 && this.#flushing === undefined) {
      return Promise.resolve();
    }
    return this.enqueue([], 0);
  }

  /**
   * Why writes are refused until further notice (a failed commit the owner
   * is recovering from, or a fatal one), or `undefined`. A pause for a stale
   * reload of other nodes' changes is not counted: admitted writes wait it
   * out.
   */
  get refusedBecause(): string | undefined {
    if (this.#failed !== undefined) return this.#failed.message;
    if (this.#paused !== undefined && !isStale(this.#paused)) {
      return this.#paused.message;
    }
    return undefined;
  }

  /** Ends a pause once the owner's memory matches the WAL again. */
  resume(): void {
    if (this.#failed === undefined) this.#paused = undefined;
  }

  /** Stops taking writes for good and reports `cause` as fatal. */
  halt(cause: unknown): void {
    if (this.#failed === undefined) this.#stop(this.#queue.splice(0), cause);
    this.#queuedBytes = 0;
  }

  /** Why a write must be refused now, if it must. */
  #refusal(): StreamError | undefined {
    if (this.#failed !== undefined) return this.#failed;
    if (this.#paused !== undefined) return this.#paused;
    if (this.#now() < this.#pausedUntilMs) {
      return new StreamError(
        "unavailable",
        `Cannot write: ${this.#pauseReason} moments ago; retry shortly`,
        {
          retryAfterSeconds: DISK_FULL_RETRY_AFTER_SECONDS,
          overload: this.#pauseOverload,
        },
      );
    }
    return undefined;
  }

  /** Resolves when the queue is empty and no commit is running. */
  drain(): Promise<void> {
    if (this.#queue.length === 0 && this.#flushing === undefined) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing !== undefined) return;
    this.#scheduled = true;
    // A macrotask, not a microtask, so requests whose bodies arrive in the
    // same turn of the event loop join this commit. setImmediate, not
    // setTimeout(0): Deno's timers cost ~2 ms per hop here, setImmediate ~8 µs.
    setImmediate(() => {
      this.#scheduled = false;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = undefined;
        if (this.#queue.length > 0) this.#schedule();
        else for (const resolve of this.#idle.splice(0)) resolve();
      });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue.splice(0, this.#limits.commitBatchMax);
    for (const item of batch) this.#queuedBytes -= item.bytes;
    const ops = mergeAppends(batch.flatMap((item) => item.ops));
    const startedMs = performance.now();
    try {
      if (ops.length > 0) await this.#store.commit(ops, this.#nextStreamId());
    } catch (cause) {
      this.#fail(batch, cause);
      return;
    }
    const commitMs = performance.now() - startedMs;
    this.#stats.commits++;
    this.#stats.requests += batch.length;
    this.#stats.commitMs += commitMs;
    this.#commitSeconds.observe(commitMs / 1000);
    this.#countAppends(ops);
    for (const item of batch) item.onCommit?.();
    for (const item of batch) item.resolve();
  }

  /** Adds the records and bytes of committed `ops` to the counters. */
  #countAppends(ops: WalOp[]): void {
    for (const op of ops) {
      if (op.op !== "append" || op.chunk === null) continue;
      this.#stats.appendRecords += op.chunk.lengths?.length ?? 1;
      this.#stats.appendBytes += op.chunk.data.length;
    }
  }

  // A failed commit leaves memory ahead of disk. Requests still queued were
  // checked against that memory, so they are refused with the batch. After
  // a retryable failure (a full disk, a lost database connection) the store
  // kept nothing and stays usable: pause until the owner has rolled memory
  // back. Otherwise nothing can be trusted until the process restarts and
  // reloads the WAL, so stop taking writes.
  #fail(batch: Item[], cause: unknown): void {
    const rejected = batch.concat(this.#queue.splice(0));
    this.#queuedBytes = 0;
    if (isStale(cause) && this.#events.onStale !== undefined) {
      this.#paused ??= cause as StreamError;
      for (const item of rejected) item.reject(cause as StreamError);
      // Each refusal names its streams: the owner reloads all of them.
      this.#events.onStale(
        cause as StreamError,
        rejected.flatMap((item) => item.ops),
      );
    } else if (isRetryable(cause)) this.#pause(rejected, cause as StreamError);
    else this.#stop(rejected, cause);
  }

  #pause(rejected: Item[], cause: StreamError): void {
    const first = this.#paused === undefined;
    const diskFull = isDiskFull(cause);
    this.#pauseReason = diskFull
      ? "the disk was full"
      : "the write-ahead log failed";
    this.#pauseOverload = diskFull ? "disk_full" : "unavailable";
    const error = new StreamError(
      "unavailable",
      diskFull
        ? "Cannot write: the disk is full; retry later"
        : `Cannot write: ${cause.message}; retry later`,
      {
        retryAfterSeconds: cause.detail?.retryAfterSeconds ??
          DISK_FULL_RETRY_AFTER_SECONDS,
        overload: this.#pauseOverload,
      },
      { cause },
    );
    this.#paused ??= error;
    this.#pausedUntilMs = this.#now() + DISK_FULL_PAUSE_MS;
    for (const item of rejected) item.reject(error);
    if (first) this.#events.onRolledBack(cause);
  }

  #stop(rejected: Item[], cause: unknown): void {
    const error = new StreamError(
      "unavailable",
      "The write-ahead log failed; the server must restart",
      undefined,
      { cause },
    );
    this.#failed = error;
    for (const item of rejected) item.reject(error);
    this.#events.onFatal(error);
  }
}

/**
 * Merges each append into the previous append of the same stream when their
 * chunks are contiguous, keeping the later tail. Producer ops do not block a
 * merge (another table); any other op on the stream does. Runs are gathered
 * first and concatenated once, so a batch costs linear copying.
 */
export function mergeAppends(ops: WalOp[]): WalOp[] {
  const out: (WalOp | Run)[] = [];
  const lastRun = new Map<number, Run>();
  for (const op of ops) {
    if (op.op === "producer") {
      out.push(op);
      continue;
    }
    if (op.op !== "append") {
      lastRun.delete(op.op === "create" ? op.stream.id : op.streamId);
      out.push(op);
      continue;
    }
    const run = lastRun.get(op.streamId);
    if (run !== undefined && fits(run, op.chunk)) {
      if (op.chunk !== null) run.chunks.push(op.chunk);
      run.bytes += op.chunk?.data.length ?? 0;
      run.tail = op.tail;
      continue;
    }
    const fresh: Run = {
      run: true,
      streamId: op.streamId,
      chunks: op.chunk === null ? [] : [op.chunk],
      bytes: op.chunk?.data.length ?? 0,
      tail: op.tail,
    };
    lastRun.set(op.streamId, fresh);
    out.push(fresh);
  }
  return out.map((entry) => "run" in entry ? finishRun(entry) : entry);
}

interface Run {
  run: true;
  streamId: number;
  chunks: Chunk[];
  bytes: number;
  tail: StreamTail;
}

function fits(run: Run, chunk: Chunk | null): boolean {
  if (chunk === null || run.chunks.length === 0) return true;
  const last = run.chunks[run.chunks.length - 1];
  return last.endPos === chunk.startPos &&
    run.bytes + chunk.data.length <= MERGED_CHUNK_BYTES_MAX;
}

function finishRun(run: Run): WalOp {
  const { chunks } = run;
  const chunk = chunks.length <= 1 ? chunks[0] ?? null : mergeChunks(chunks);
  return { op: "append", streamId: run.streamId, chunk, tail: run.tail };
}
