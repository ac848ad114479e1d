/**
 * @module
 * The SQLite `WalStore` with its writes on a Worker (opt-in: `--wal-worker`).
 * Commits and compaction run on the Worker's own connection, so fsync never
 * stalls the event loop and the next group commit forms while the previous
 * one syncs. On the 2-core machines we measure on, the hand-off between
 * threads costs more than the stall it avoids (bench/README.md), so the
 * inline `SqliteStore` is the default. Reads and
 * startup loading use a connection on the calling thread; SQLite's WAL mode
 * lets them run beside the writer, and the engine never reads past what a
 * finished commit made visible.
 */

import type { Durability } from "../config.ts";
import { type ErrorKind, StreamError } from "../errors.ts";
import type {
  Chunk,
  ProducerRow,
  SegmentRow,
  WalOp,
  WalSnapshot,
  WalStore,
} from "./wal_store.ts";
import { SqliteStore } from "./sqlite_store.ts";
import type { WorkerReply, WorkerRequest } from "./sqlite_worker.ts";

type Pending = {
  resolve: (value: number | undefined) => void;
  reject: (error: StreamError) => void;
};
type Payload<T> = T extends unknown ? Omit<T, "id"> : never;

/** Opens the WAL at `path` with a writer Worker; resolves once both sides are open. */
export async function openThreadedSqliteStore(
  path: string,
  durability: Durability,
  options: { releaseLog?: boolean } = {},
): Promise<ThreadedSqliteStore> {
  // Open on this thread first: creates the schema and checks its version.
  const reader = new SqliteStore(path, durability);
  const store = new ThreadedSqliteStore(reader);
  const releaseLog = options.releaseLog ?? true;
  try {
    await store.call({ type: "open", path, durability, releaseLog });
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** See the module doc. Use `openThreadedSqliteStore`. */
export class ThreadedSqliteStore implements WalStore {
  #reader: SqliteStore;
  #worker: Worker;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #failed: StreamError | undefined;
  #closed = false;

  /** Wraps `reader` and starts the writer Worker. */
  constructor(reader: SqliteStore) {
    this.#reader = reader;
    this.#worker = new Worker(new URL("./sqlite_worker.ts", import.meta.url), {
      type: "module",
    });
    this.#worker.onmessage = (event: MessageEvent<WorkerReply>) =>
      this.#reply(event.data);
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#failAll(
        new StreamError("unavailable", `WAL writer crashed: ${event.message}`),
      );
    };
  }

  #reply(reply: WorkerReply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (reply.ok) pending.resolve(reply.value);
    else {
      pending.reject(
        new StreamError(reply.kind as ErrorKind, reply.message, reply.detail),
      );
    }
  }

  #failAll(error: StreamError): void {
    this.#failed = error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }

  /** Sends one request to the writer and waits for its answer. */
  call(request: Payload<WorkerRequest>): Promise<number | undefined> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...request, id } as WorkerRequest);
    });
  }

  /** Reads every stream and producer (on this thread). */
  load(): Promise<WalSnapshot> {
    return this.#reader.load();
  }

  /** The committed producer states of stream `streamId`. */
  loadProducers(streamId: number): Promise<ProducerRow[]> {
    return this.#reader.loadProducers(streamId);
  }

  /** Commits on the writer thread. */
  async commit(ops: WalOp[], nextStreamId: number): Promise<void> {
    await this.call({ type: "commit", ops, nextStreamId });
  }

  /** Compacts on the writer thread. */
  async compact(
    streamId: number,
    fromPos: number,
    endPos: number,
    targetBytes: number,
    bytesMax: number,
  ): Promise<number> {
    const value = await this.call({
      type: "compact",
      streamId,
      fromPos,
      endPos,
      targetBytes,
      bytesMax,
    });
    return value ?? fromPos;
  }

  /** Records a segment on the writer thread. */
  async addSegment(row: SegmentRow): Promise<void> {
    await this.call({ type: "addSegment", row });
  }

  /** Marks segments uploaded and truncates on the writer thread. */
  async truncate(streamId: number, belowPos: number): Promise<void> {
    await this.call({ type: "truncate", streamId, belowPos });
  }

  /** Reads the release log on this thread. */
  pendingReleases(afterId: number, limit: number): Promise<number[]> {
    return this.#reader.pendingReleases(afterId, limit);
  }

  /** Updates the release log on the writer thread. */
  async released(streamId: number): Promise<void> {
    await this.call({ type: "released", streamId });
  }

  /** Reads chunks on this thread. */
  readChunks(
    streamId: number,
    fromPos: number,
    endPos: number,
    bytesMax: number,
  ): Promise<Chunk[]> {
    return this.#reader.readChunks(streamId, fromPos, endPos, bytesMax);
  }

  /** Seeks by append time on this thread. */
  seekTime(
    streamId: number,
    fromPos: number,
    endPos: number,
    timeMs: number,
  ): Promise<number | undefined> {
    return this.#reader.seekTime(streamId, fromPos, endPos, timeMs);
  }

  /** Closes the writer (after its queued work), then the reader. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#failed === undefined) {
      await this.call({ type: "close" }).catch(() => {});
    }
    this.#worker.terminate();
    this.#failAll(new StreamError("unavailable", "WAL is closed"));
    await this.#reader.close();
  }
}
