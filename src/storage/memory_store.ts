/**
 * @module
 * An in-memory `WalStore` for tests: the same contract as SQLite, no disk.
 * `commitGate` lets a test hold commits open to observe queueing.
 */

import { StreamError } from "../errors.ts";
import { planCompaction } from "./_compact.ts";
import { mergeChunks, seekTimeInChunk } from "./chunk.ts";
import type {
  Chunk,
  ProducerRow,
  SegmentRow,
  StreamRow,
  WalOp,
  WalSnapshot,
  WalStore,
} from "./wal_store.ts";

/** Keeps all data in maps; "reopening" shares the same `MemoryWal` state. */
export class MemoryWal {
  /** Streams by id. */
  streams: Map<number, StreamRow> = new Map();
  /** Chunks by stream id, in position order. */
  chunks: Map<number, Chunk[]> = new Map();
  /** Producers by `streamId/producerId`. */
  producers: Map<string, ProducerRow> = new Map();
  /** Segment rows by stream id, in position order. */
  segments: Map<number, SegmentRow[]> = new Map();
  /** Schema registries by stream id. */
  schemaRegistries: Map<number, string> = new Map();
  /** Profiles (kind and options text) by stream id. */
  profiles: Map<number, { kind: string; options: string }> = new Map();
  /** The release log: deleted streams whose objects may remain. */
  releases: Set<number> = new Set();
  /** Next stream id. */
  nextStreamId = 1;
  /** Number of commits applied. */
  commits = 0;
  /** Sizes (op count) of each commit, for batching tests. */
  commitSizes: number[] = [];
}

/** A `WalStore` on a `MemoryWal`. */
export class MemoryStore implements WalStore {
  #wal: MemoryWal;
  #closed = false;
  /** When set, each commit waits for this promise first. */
  commitGate: Promise<void> | undefined;
  /** When set, the next commit fails with it (once), applying nothing. */
  failNextCommit: Error | undefined;

  /** Wraps `wal` (a fresh one by default). */
  constructor(wal: MemoryWal = new MemoryWal()) {
    this.#wal = wal;
  }

  /** The committed producer states of stream `streamId`. */
  loadProducers(streamId: number): Promise<ProducerRow[]> {
    return Promise.resolve(
      [...this.#wal.producers.values()]
        .filter((p) => p.streamId === streamId)
        .map((p) => ({ ...p })),
    );
  }

  /** Returns a deep-enough copy of everything. */
  load(): Promise<WalSnapshot> {
    return Promise.resolve({
      streams: [...this.#wal.streams.values()].sort((a, b) => a.id - b.id).map((
        s,
      ) => ({ ...s })),
      segments: [...this.#wal.segments.entries()]
        .filter(([id]) => this.#wal.streams.has(id))
        .sort((a, b) => a[0] - b[0])
        .flatMap(([, rows]) => rows.map((r) => ({ ...r }))),
      nextStreamId: this.#wal.nextStreamId,
      schemaRegistries: [...this.#wal.schemaRegistries.entries()]
        .filter(([id]) => this.#wal.streams.has(id))
        .sort((a, b) => a[0] - b[0])
        .map(([streamId, registry]) => ({ streamId, registry })),
      profiles: [...this.#wal.profiles.entries()]
        .filter(([id]) => this.#wal.streams.has(id))
        .sort((a, b) => a[0] - b[0])
        .map(([streamId, p]) => ({ streamId, ...p })),
    });
  }

  /** Validates the whole batch, then applies it. */
  async commit(ops: WalOp[], nextStreamId: number): Promise<void> {
    if (this.#closed) throw new StreamError("unavailable", "store is closed");
    if (this.commitGate !== undefined) await this.commitGate;
    if (this.failNextCommit !== undefined) {
      const error = this.failNextCommit;
      this.failNextCommit = undefined;
      // A StreamError (e.g. a diskFullError) is thrown as the store's own.
      if (error instanceof StreamError) throw error;
      throw new StreamError("unavailable", "commit failed", undefined, {
        cause: error,
      });
    }
    // Check the batch in order (as SQLite would) before applying any of it.
    const names = new Map(
      [...this.#wal.streams.values()].map((s) => [s.id, s.name]),
    );
    for (const op of ops) {
      if (op.op === "delete") names.delete(op.streamId);
      if (op.op !== "create") continue;
      if ([...names.values()].includes(op.stream.name)) {
        throw new StreamError("unavailable", "unique name violated");
      }
      names.set(op.stream.id, op.stream.name);
    }
    for (const op of ops) this.#apply(op);
    this.#wal.nextStreamId = nextStreamId;
    this.#wal.commits++;
    this.#wal.commitSizes.push(ops.length);
  }

  #apply(op: WalOp): void {
    const wal = this.#wal;
    switch (op.op) {
      case "create":
        wal.streams.set(op.stream.id, { ...op.stream });
        wal.chunks.set(op.stream.id, []);
        return;
      case "append": {
        const row = wal.streams.get(op.streamId)!;
        if (op.chunk !== null) wal.chunks.get(op.streamId)!.push(op.chunk);
        wal.streams.set(op.streamId, { ...row, ...op.tail });
        return;
      }
      case "producer":
        wal.producers.set(`${op.row.streamId}/${op.row.producerId}`, {
          ...op.row,
        });
        return;
      case "soft_delete":
        wal.streams.get(op.streamId)!.softDeleted = true;
        return;
      case "segment":
        this.#putSegment(op.segment);
        return;
      case "schema_registry":
        if (op.registry === null) wal.schemaRegistries.delete(op.streamId);
        else wal.schemaRegistries.set(op.streamId, op.registry);
        return;
      case "profile":
        if (!wal.streams.has(op.streamId)) return;
        if (op.kind === null || op.options === null) {
          wal.profiles.delete(op.streamId);
        } else {
          wal.profiles.set(op.streamId, { kind: op.kind, options: op.options });
        }
        return;
      case "delete":
        wal.profiles.delete(op.streamId);
        wal.schemaRegistries.delete(op.streamId);
        wal.streams.delete(op.streamId);
        wal.chunks.delete(op.streamId);
        wal.segments.delete(op.streamId);
        for (const key of [...wal.producers.keys()]) {
          if (key.startsWith(`${op.streamId}/`)) wal.producers.delete(key);
        }
        wal.releases.add(op.streamId);
        return;
      case "touch": {
        const row = wal.streams.get(op.streamId);
        if (row !== undefined) row.accessedAtMs = op.accessedAtMs;
        return;
      }
    }
  }

  #putSegment(row: SegmentRow): void {
    if (!this.#wal.streams.has(row.streamId)) return;
    const rows = (this.#wal.segments.get(row.streamId) ?? [])
      .filter((r) => r.startPos !== row.startPos);
    rows.push({ ...row });
    rows.sort((a, b) => a.startPos - b.startPos);
    this.#wal.segments.set(row.streamId, rows);
  }

  /** Records a sealed segment (see `WalStore`). */
  addSegment(row: SegmentRow): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new StreamError("unavailable", "store is closed"));
    }
    this.#putSegment(row);
    return Promise.resolve();
  }

  /** Release log entries above `afterId`, in id order. */
  pendingReleases(afterId: number, limit: number): Promise<number[]> {
    if (this.#closed) {
      return Promise.reject(new StreamError("unavailable", "store is closed"));
    }
    return Promise.resolve(
      [...this.#wal.releases].filter((id) => id > afterId)
        .sort((a, b) => a - b).slice(0, limit),
    );
  }

  /** Removes stream `streamId` from the release log. */
  released(streamId: number): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new StreamError("unavailable", "store is closed"));
    }
    this.#wal.releases.delete(streamId);
    return Promise.resolve();
  }

  /** Marks segments uploaded and drops chunks below `belowPos`. */
  truncate(streamId: number, belowPos: number): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new StreamError("unavailable", "store is closed"));
    }
    for (const row of this.#wal.segments.get(streamId) ?? []) {
      if (row.endPos <= belowPos) row.uploaded = true;
    }
    const chunks = this.#wal.chunks.get(streamId);
    if (chunks !== undefined) {
      this.#wal.chunks.set(
        streamId,
        chunks.filter((c) => c.endPos > belowPos),
      );
    }
    return Promise.resolve();
  }

  /** Chunks overlapping `[fromPos, endPos)`. */
  readChunks(
    streamId: number,
    fromPos: number,
    endPos: number,
    bytesMax: number,
  ): Promise<Chunk[]> {
    const out: Chunk[] = [];
    let bytes = 0;
    for (const chunk of this.#wal.chunks.get(streamId) ?? []) {
      if (chunk.endPos <= fromPos || chunk.startPos >= endPos) continue;
      out.push(chunk);
      bytes += chunk.data.length;
      if (bytes >= bytesMax) break;
    }
    return Promise.resolve(out);
  }

  /** The first record at or after a time (see `WalStore`). */
  seekTime(
    streamId: number,
    fromPos: number,
    endPos: number,
    timeMs: number,
  ): Promise<number | undefined> {
    for (const chunk of this.#wal.chunks.get(streamId) ?? []) {
      if (chunk.endPos <= fromPos || chunk.startPos >= endPos) continue;
      const pos = seekTimeInChunk(chunk, fromPos, timeMs);
      if (pos !== undefined) {
        return Promise.resolve(pos < endPos ? pos : undefined);
      }
    }
    return Promise.resolve(undefined);
  }

  /** Merges small chunks (see `WalStore`). */
  compact(
    streamId: number,
    fromPos: number,
    endPos: number,
    targetBytes: number,
    bytesMax: number,
  ): Promise<number> {
    const chunks = this.#wal.chunks.get(streamId) ?? [];
    const inRange = chunks.filter((c) =>
      c.startPos >= fromPos && c.startPos < endPos
    );
    const plan = planCompaction(inRange, targetBytes, bytesMax);
    for (const run of plan.runs) {
      const first = chunks.findIndex((c) => c.startPos === run[0].startPos);
      const merged = mergeChunks(chunks.slice(first, first + run.length));
      chunks.splice(first, run.length, merged);
    }
    return Promise.resolve(plan.compactedPos);
  }

  /** Marks the store closed (the data stays in the `MemoryWal`). */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
