/**
 * @module
 * `WalStore` on Deno's built-in `node:sqlite`, in WAL journal mode. One
 * connection, synchronous calls: a commit is one `BEGIN IMMEDIATE ... COMMIT`
 * covering a whole group of appends, so its fsync is shared by all of them.
 * The tables and row decoding live in `_sqlite_schema.ts`; this file is the
 * prepared statements and the operations on them (about 620 lines, one
 * statement set shared by every method).
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Durability } from "../config.ts";
import { StreamError } from "../errors.ts";
import { planCompaction } from "./_compact.ts";
import {
  chunkFromRow,
  isSqliteFull,
  MIGRATIONS,
  type Row,
  SCHEMA,
  SCHEMA_VERSION,
  streamFromRow,
  SYNCHRONOUS,
} from "./_sqlite_schema.ts";
import { WAL_LOAD_PAGE_ROWS } from "../limits.ts";
import { encodeTimes } from "../record_meta.ts";
import { mergeChunks, seekTimeInChunk } from "./chunk.ts";
import {
  type Chunk,
  diskFullError,
  type ProducerRow,
  type SegmentRow,
  type StreamRow,
  type StreamTail,
  type WalOp,
  type WalSnapshot,
  type WalStore,
} from "./wal_store.ts";

export { SYNCHRONOUS } from "./_sqlite_schema.ts";

/** Options of `openSqliteStore`. */
export interface SqliteStoreOptions {
  /**
   * Largest database size, in pages (SQLite `max_page_count`): beyond it a
   * commit fails as on a full disk. Unlimited by default; tests use it.
   */
  pagesMax?: number;
  /**
   * Whether a `delete` records its stream in the release log (the tier
   * deletes its objects from it). Off when no object store is used: nothing
   * would ever take the rows out. @default true
   */
  releaseLog?: boolean;
}

/** Opens (creating if needed) the SQLite WAL at `path`. */
export function openSqliteStore(
  path: string,
  durability: Durability,
  options: SqliteStoreOptions = {},
): SqliteStore {
  return new SqliteStore(path, durability, options);
}

/** The SQLite `WalStore`. Use `openSqliteStore`. */
export class SqliteStore implements WalStore {
  #db: DatabaseSync;
  #insertStream: StatementSync;
  #insertChunk: StatementSync;
  #updateTail: StatementSync;
  #upsertProducer: StatementSync;
  #softDelete: StatementSync;
  #deleteStream: StatementSync;
  #deleteChunks: StatementSync;
  #deleteProducers: StatementSync;
  #touch: StatementSync;
  #putSchemaRegistry: StatementSync;
  #deleteSchemaRegistry: StatementSync;
  #setProfile: StatementSync;
  #setNextId: StatementSync;
  #readChunks: StatementSync;
  #chunkSpans: StatementSync;
  #chunkRange: StatementSync;
  #deleteChunkRange: StatementSync;
  #insertSegment: StatementSync;
  #deleteSegments: StatementSync;
  #markUploaded: StatementSync;
  #deleteChunksBelow: StatementSync;
  #seekTime: StatementSync;
  #logRelease: StatementSync | undefined;
  #pendingReleases: StatementSync;
  #released: StatementSync;
  // Prepared, not exec'd: only statement errors carry SQLite's result code
  // (`errcode`), which tells a full disk from other failures.
  #begin: StatementSync;
  #commit: StatementSync;
  #rollback: StatementSync;
  #closed = false;
  #persistedNextId = -1;
  #synchronous: "FULL" | "NORMAL";

  /** Opens the database and creates the schema. */
  constructor(
    path: string,
    durability: Durability,
    options: SqliteStoreOptions = {},
  ) {
    this.#db = new DatabaseSync(path);
    const synchronous = SYNCHRONOUS[durability];
    this.#synchronous = synchronous;
    // busy_timeout first: switching to WAL mode needs a lock that a closing
    // connection (a previous server in this process) may still hold.
    this.#db.exec(`PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL;
      PRAGMA synchronous=${synchronous}; PRAGMA cache_size=-65536;`);
    this.#checkVersion();
    this.#db.exec(SCHEMA);
    if (options.pagesMax !== undefined) {
      this.#db.exec(`PRAGMA max_page_count=${Math.trunc(options.pagesMax)}`);
    }
    const db = this.#db;
    this.#insertStream = db.prepare(
      `INSERT INTO streams (id, name, content_type, created_at_ms, accessed_at_ms,
       ttl_s, expires_at_ms, tail_pos, closed, closed_by_producer, closed_by_epoch,
       closed_by_seq, stream_seq, forked_from, fork_pos, soft_deleted, last_time_ms)
       VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    );
    this.#insertChunk = db.prepare(
      `INSERT INTO chunks (stream_id, start_pos, end_pos, data, lengths, keys,
       times, max_time_ms) VALUES (?,?,?,?,?,?,?,?)`,
    );
    this.#updateTail = db.prepare(
      `UPDATE streams SET tail_pos=?, closed=?, closed_by_producer=?, closed_by_epoch=?,
       closed_by_seq=?, stream_seq=?, accessed_at_ms=?, last_time_ms=? WHERE id=?`,
    );
    this.#upsertProducer = db.prepare(
      `INSERT INTO producers (stream_id, producer_id, epoch, seq, updated_at_ms)
       VALUES (?,?,?,?,?) ON CONFLICT (stream_id, producer_id) DO UPDATE SET
       epoch=excluded.epoch, seq=excluded.seq, updated_at_ms=excluded.updated_at_ms`,
    );
    this.#softDelete = db.prepare(
      "UPDATE streams SET soft_deleted=1 WHERE id=?",
    );
    this.#deleteStream = db.prepare("DELETE FROM streams WHERE id=?");
    this.#deleteChunks = db.prepare("DELETE FROM chunks WHERE stream_id=?");
    this.#deleteProducers = db.prepare(
      "DELETE FROM producers WHERE stream_id=?",
    );
    this.#touch = db.prepare("UPDATE streams SET accessed_at_ms=? WHERE id=?");
    this.#putSchemaRegistry = db.prepare(
      `INSERT INTO stream_schemas (stream_id, registry) VALUES (?, ?)
       ON CONFLICT (stream_id) DO UPDATE SET registry=excluded.registry`,
    );
    this.#deleteSchemaRegistry = db.prepare(
      "DELETE FROM stream_schemas WHERE stream_id=?",
    );
    this.#setProfile = db.prepare(
      "UPDATE streams SET profile_kind=?, profile_json=? WHERE id=?",
    );
    this.#setNextId = db.prepare(
      "INSERT INTO meta (key, value) VALUES ('next_stream_id', ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
    );
    // The chunk holding fromPos, then every later one below endPos.
    this.#readChunks = db.prepare(
      `SELECT start_pos, end_pos, data, lengths, keys, times FROM chunks
       WHERE stream_id = ?1 AND start_pos < ?3 AND start_pos >= coalesce(
         (SELECT max(start_pos) FROM chunks WHERE stream_id = ?1 AND start_pos <= ?2), 0)
       ORDER BY start_pos`,
    );
    this.#chunkSpans = db.prepare(
      `SELECT start_pos, end_pos FROM chunks WHERE stream_id = ? AND start_pos >= ?
       AND start_pos < ? ORDER BY start_pos LIMIT ?`,
    );
    this.#chunkRange = db.prepare(
      `SELECT start_pos, end_pos, data, lengths, keys, times FROM chunks
       WHERE stream_id = ? AND start_pos >= ? AND start_pos < ? ORDER BY start_pos`,
    );
    this.#deleteChunkRange = db.prepare(
      "DELETE FROM chunks WHERE stream_id = ? AND start_pos >= ? AND start_pos < ?",
    );
    this.#insertSegment = db.prepare(
      `INSERT OR REPLACE INTO segments (stream_id, start_pos, end_pos, size_bytes, uploaded, pack_key, pack_offset)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM streams WHERE id = ?1)`,
    );
    this.#deleteSegments = db.prepare("DELETE FROM segments WHERE stream_id=?");
    this.#markUploaded = db.prepare(
      "UPDATE segments SET uploaded=1 WHERE stream_id = ? AND end_pos <= ?",
    );
    this.#logRelease = options.releaseLog === false ? undefined : db.prepare(
      `INSERT OR IGNORE INTO releases (stream_id, deleted_at_ms)
         VALUES (?, CAST(strftime('%s', 'now') AS INTEGER) * 1000)`,
    );
    this.#pendingReleases = db.prepare(
      `SELECT stream_id FROM releases WHERE stream_id > ?
       ORDER BY stream_id LIMIT ?`,
    );
    this.#released = db.prepare("DELETE FROM releases WHERE stream_id = ?");
    this.#begin = db.prepare("BEGIN IMMEDIATE");
    this.#commit = db.prepare("COMMIT");
    this.#rollback = db.prepare("ROLLBACK");
    this.#deleteChunksBelow = db.prepare(
      "DELETE FROM chunks WHERE stream_id = ? AND end_pos <= ?",
    );
    // The first chunk whose last record is at or after the time: times never
    // decrease along a stream, so max_time_ms orders like start_pos.
    this.#seekTime = db.prepare(
      `SELECT start_pos, end_pos, data, lengths, keys, times FROM chunks
       WHERE stream_id = ?1 AND max_time_ms >= ?2 AND end_pos > ?3 AND start_pos < ?4
       ORDER BY max_time_ms, start_pos LIMIT 1`,
    );
    for (
      const statement of [this.#chunkSpans, this.#chunkRange, this.#seekTime]
    ) {
      (statement as unknown as { setReturnArrays(on: boolean): void })
        .setReturnArrays(true);
    }
    // Arrays instead of objects: about 3x faster on the read path. The
    // method exists at run time; Deno's bundled node:sqlite types lag it.
    (this.#readChunks as unknown as { setReturnArrays(on: boolean): void })
      .setReturnArrays(true);
  }

  /**
   * Stamps a new WAL with the schema version, migrates an older one it
   * knows (each step in one transaction), and refuses any other. Runs
   * before `SCHEMA`, whose indexes may name columns a migration adds.
   */
  #checkVersion(): void {
    this.#db.exec(
      "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    );
    const read = this.#db.prepare(
      "SELECT value FROM meta WHERE key='schema_version'",
    );
    let row = read.get() as Row | undefined;
    if (row === undefined) {
      this.#db.prepare(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
      ).run(SCHEMA_VERSION);
      return;
    }
    while (row !== undefined && row.value !== SCHEMA_VERSION) {
      const from = String(row.value);
      const step = MIGRATIONS[from];
      if (step === undefined) {
        throw new StreamError(
          "corrupt",
          `Cannot open WAL: schema version ${from} is not ${SCHEMA_VERSION}`,
        );
      }
      // Another connection (a threaded store's other side) may migrate at
      // the same moment: check again under the write lock.
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        const current = read.get() as Row | undefined;
        if (current?.value === from) this.#db.exec(step);
        this.#db.exec("COMMIT");
      } catch (error) {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
        throw error;
      }
      row = read.get() as Row | undefined;
    }
  }

  /** The committed producer states of stream `streamId`. */
  loadProducers(streamId: number): Promise<ProducerRow[]> {
    return this.#run(() =>
      (this.#db.prepare("SELECT * FROM producers WHERE stream_id=?")
        .all(streamId) as Row[]).map(producerFromRow)
    );
  }

  /**
   * Reads every stream (not their producer states). Rows are read a page
   * (`WAL_LOAD_PAGE_ROWS`) at a time and converted, so start-up never holds
   * every raw row and every converted row at once; a page per query keeps
   * the native calls few (stepping row by row took twice as long).
   */
  load(): Promise<WalSnapshot> {
    const streams: StreamRow[] = [];
    const page = this.#db.prepare(
      "SELECT * FROM streams WHERE id > ? ORDER BY id LIMIT ?",
    );
    for (let afterId = Number.MIN_SAFE_INTEGER;;) {
      const rows = page.all(afterId, WAL_LOAD_PAGE_ROWS) as Row[];
      for (const r of rows) streams.push(streamFromRow(r));
      if (rows.length < WAL_LOAD_PAGE_ROWS) break;
      afterId = streams[streams.length - 1].id;
    }
    const segments = (this.#db.prepare(
      `SELECT * FROM segments WHERE stream_id IN (SELECT id FROM streams)
       ORDER BY stream_id, start_pos`,
    ).all() as Row[]).map((r): SegmentRow => ({
      streamId: Number(r.stream_id),
      startPos: Number(r.start_pos),
      endPos: Number(r.end_pos),
      sizeBytes: Number(r.size_bytes),
      uploaded: Number(r.uploaded) === 1,
      ...(r.pack_key == null
        ? {}
        : { pack: { key: String(r.pack_key), offset: Number(r.pack_offset) } }),
    }));
    const schemaRegistries = (this.#db.prepare(
      `SELECT stream_id, registry FROM stream_schemas
       WHERE stream_id IN (SELECT id FROM streams) ORDER BY stream_id`,
    ).all() as Row[]).map((r) => ({
      streamId: Number(r.stream_id),
      registry: String(r.registry),
    }));
    const profiles = (this.#db.prepare(
      `SELECT id, profile_kind, profile_json FROM streams
       WHERE profile_kind IS NOT NULL ORDER BY id`,
    ).all() as Row[]).map((r) => ({
      streamId: Number(r.id),
      kind: String(r.profile_kind),
      options: String(r.profile_json),
    }));
    const next = this.#db.prepare(
      "SELECT value FROM meta WHERE key='next_stream_id'",
    )
      .get() as Row | undefined;
    // Ids of streams waiting in the release log are never handed out again
    // (their objects' keys name them).
    const logged = this.#db.prepare("SELECT max(stream_id) AS id FROM releases")
      .get() as Row | undefined;
    const maxId = streams.reduce(
      (m, s) => Math.max(m, s.id),
      Number(logged?.id ?? 0),
    );
    const nextStreamId = Math.max(
      next === undefined ? 1 : Number(next.value),
      maxId + 1,
    );
    return Promise.resolve({
      streams,
      segments,
      nextStreamId,
      schemaRegistries,
      profiles,
    });
  }

  /** Applies `ops` in one transaction. */
  commit(ops: WalOp[], nextStreamId: number): Promise<void> {
    return this.#run(() => {
      this.#transaction("WAL commit failed", () => {
        for (const op of ops) this.#apply(op);
        // Only when it moved: a write per commit would cost a WAL page each.
        if (nextStreamId !== this.#persistedNextId) {
          this.#setNextId.run(String(nextStreamId));
        }
      });
      this.#persistedNextId = nextStreamId;
    });
  }

  /**
   * Runs synchronous `work` as a promise: rejected when the store is closed
   * or with whatever `work` throws.
   */
  #run<T>(work: () => T): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new StreamError("unavailable", "WAL is closed"));
    }
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Runs `work` in one write transaction. On failure it rolls back; typed
   * errors pass through, anything else becomes `unavailable` with `message`.
   */
  #transaction<T>(message: string, work: () => T): T {
    try {
      this.#begin.run();
      const result = work();
      this.#commit.run();
      return result;
    } catch (cause) {
      this.#rollBack(message, cause);
      if (cause instanceof StreamError) throw cause; // e.g. corrupt rows
      // SQLite guarantees a full disk leaves the database as it was, once
      // the transaction is rolled back: the store stays usable.
      if (isSqliteFull(cause)) throw diskFullError(message, cause);
      throw new StreamError("unavailable", message, undefined, { cause });
    }
  }

  /**
   * Ends a failed transaction. SQLite may have rolled it back already (it
   * does on SQLITE_FULL); if an explicit ROLLBACK fails too, the store's
   * state is unknown and the failure is not a recoverable one.
   */
  #rollBack(message: string, cause: unknown): void {
    if (!this.#db.isTransaction) return;
    try {
      this.#rollback.run();
    } catch (rollbackError) {
      throw new StreamError(
        "unavailable",
        `${message}, and so did its rollback`,
        undefined,
        { cause: new AggregateError([cause, rollbackError]) },
      );
    }
  }

  #apply(op: WalOp): void {
    switch (op.op) {
      case "create": {
        const s = op.stream;
        this.#insertStream.run(
          s.id,
          s.name,
          s.contentType,
          s.createdAtMs,
          s.accessedAtMs,
          s.ttlSeconds,
          s.expiresAtMs,
          s.tailPos,
          s.closed ? 1 : 0,
          s.closedBy?.producerId ?? null,
          s.closedBy?.epoch ?? null,
          s.closedBy?.seq ?? null,
          s.streamSeq,
          s.forkedFrom,
          s.forkPos,
          s.softDeleted ? 1 : 0,
          s.lastTimeMs,
        );
        return;
      }
      case "append":
        if (op.chunk !== null) this.#writeChunk(op.streamId, op.chunk);
        this.#writeTail(op.streamId, op.tail);
        return;
      case "producer": {
        const r = op.row;
        this.#upsertProducer.run(
          r.streamId,
          r.producerId,
          r.epoch,
          r.seq,
          r.updatedAtMs,
        );
        return;
      }
      case "soft_delete":
        this.#softDelete.run(op.streamId);
        return;
      case "segment":
        this.#writeSegment(op.segment);
        return;
      case "schema_registry":
        if (op.registry === null) this.#deleteSchemaRegistry.run(op.streamId);
        else this.#putSchemaRegistry.run(op.streamId, op.registry);
        return;
      case "profile":
        this.#setProfile.run(op.kind, op.options, op.streamId);
        return;
      case "delete":
        this.#deleteSchemaRegistry.run(op.streamId);
        this.#deleteSegments.run(op.streamId);
        this.#deleteChunks.run(op.streamId);
        this.#deleteProducers.run(op.streamId);
        this.#deleteStream.run(op.streamId);
        this.#logRelease?.run(op.streamId);
        return;
      case "touch":
        this.#touch.run(op.accessedAtMs, op.streamId);
        return;
    }
  }

  #writeSegment(r: SegmentRow): void {
    this.#insertSegment.run(
      r.streamId,
      r.startPos,
      r.endPos,
      r.sizeBytes,
      r.uploaded ? 1 : 0,
      r.pack?.key ?? null,
      r.pack?.offset ?? null,
    );
  }

  /** Records a sealed segment (see `WalStore`). */
  addSegment(row: SegmentRow): Promise<void> {
    return this.#run(() =>
      this.#transaction("Cannot record segment", () => this.#writeSegment(row))
    );
  }

  /** Release log entries above `afterId` (see `WalStore`). */
  pendingReleases(afterId: number, limit: number): Promise<number[]> {
    return this.#run(() =>
      (this.#pendingReleases.all(afterId, limit) as Row[]).map((r) =>
        Number(r.stream_id)
      )
    );
  }

  /** Removes stream `streamId` from the release log. */
  released(streamId: number): Promise<void> {
    return this.#run(() =>
      this.#transaction("Cannot update the release log", () => {
        this.#released.run(streamId);
      })
    );
  }

  /** Marks segments uploaded and deletes WAL chunks below `belowPos`, in one transaction. */
  truncate(streamId: number, belowPos: number): Promise<void> {
    return this.#run(() =>
      this.#transaction("WAL truncation failed", () => {
        this.#markUploaded.run(streamId, belowPos);
        this.#deleteChunksBelow.run(streamId, belowPos);
      })
    );
  }

  #writeChunk(streamId: number, chunk: Chunk): void {
    const lengths = chunk.lengths === null ? null : new Uint8Array(
      chunk.lengths.buffer,
      chunk.lengths.byteOffset,
      chunk.lengths.byteLength,
    );
    const times = chunk.times;
    this.#insertChunk.run(
      streamId,
      chunk.startPos,
      chunk.endPos,
      chunk.data,
      lengths,
      chunk.keys,
      times === null ? null : encodeTimes(times),
      times === null ? 0 : times[times.length - 1],
    );
  }

  #writeTail(streamId: number, t: StreamTail): void {
    this.#updateTail.run(
      t.tailPos,
      t.closed ? 1 : 0,
      t.closedBy?.producerId ?? null,
      t.closedBy?.epoch ?? null,
      t.closedBy?.seq ?? null,
      t.streamSeq,
      t.accessedAtMs,
      t.lastTimeMs,
      streamId,
    );
  }

  /** Chunks overlapping `[fromPos, endPos)`, up to about `bytesMax` bytes. */
  readChunks(
    streamId: number,
    fromPos: number,
    endPos: number,
    bytesMax: number,
  ): Promise<Chunk[]> {
    return this.#run(() =>
      this.#collectChunks(streamId, fromPos, endPos, bytesMax)
    );
  }

  #collectChunks(
    streamId: number,
    fromPos: number,
    endPos: number,
    bytesMax: number,
  ): Chunk[] {
    const chunks: Chunk[] = [];
    let bytes = 0;
    const rows = this.#readChunks.iterate(streamId, fromPos, endPos);
    for (const row of rows as unknown as unknown[][]) {
      const chunk = chunkFromRow(row);
      if (chunk.endPos <= fromPos) continue;
      chunks.push(chunk);
      bytes += chunk.data.length;
      if (bytes >= bytesMax) break;
    }
    return chunks;
  }

  /** The first record at or after a time (see `WalStore`). */
  seekTime(
    streamId: number,
    fromPos: number,
    endPos: number,
    timeMs: number,
  ): Promise<number | undefined> {
    return this.#run(() => {
      const row = this.#seekTime.get(streamId, timeMs, fromPos, endPos) as
        | unknown[]
        | undefined;
      if (row === undefined) return undefined;
      const pos = seekTimeInChunk(chunkFromRow(row), fromPos, timeMs);
      return pos === undefined || pos >= endPos ? undefined : pos;
    });
  }

  /** Merges small chunks into ~`targetBytes` ones (see `WalStore`). */
  compact(
    streamId: number,
    fromPos: number,
    endPos: number,
    targetBytes: number,
    bytesMax: number,
  ): Promise<number> {
    return this.#run(() =>
      this.#compact(streamId, fromPos, endPos, targetBytes, bytesMax)
    );
  }

  #compact(
    streamId: number,
    fromPos: number,
    endPos: number,
    targetBytes: number,
    bytesMax: number,
  ): number {
    // Enough spans to fill bytesMax even if every chunk is one tiny record.
    const spanLimit = Math.max(64, Math.ceil(bytesMax / 16));
    const spans = (this.#chunkSpans.all(
      streamId,
      fromPos,
      endPos,
      spanLimit,
    ) as unknown as number[][])
      .map(([startPos, endPos]) => ({
        startPos: Number(startPos),
        endPos: Number(endPos),
      }));
    const plan = planCompaction(spans, targetBytes, bytesMax);
    if (plan.runs.length === 0) return plan.compactedPos;
    // A merge keeps every byte, so it need not be on disk before anything
    // else: no fsync of its own (NORMAL in WAL mode still commits atomically;
    // after a power loss it is there or not). The next commit's fsync covers
    // it, since it syncs the whole WAL file.
    if (this.#synchronous === "FULL") {
      this.#db.exec("PRAGMA synchronous=NORMAL");
    }
    try {
      this.#mergeRuns(streamId, plan.runs);
    } finally {
      if (this.#synchronous === "FULL") {
        this.#db.exec("PRAGMA synchronous=FULL");
      }
    }
    return plan.compactedPos;
  }

  #mergeRuns(
    streamId: number,
    runs: readonly { startPos: number; endPos: number }[][],
  ): void {
    this.#transaction("WAL compaction failed", () => {
      for (const run of runs) {
        const start = run[0].startPos;
        const end = run[run.length - 1].endPos;
        const rows = this.#chunkRange.all(
          streamId,
          start,
          end,
        ) as unknown as unknown[][];
        const merged = mergeChunks(rows.map(chunkFromRow));
        this.#deleteChunkRange.run(streamId, start, end);
        this.#writeChunk(streamId, merged);
      }
    });
  }

  /** The connection's `PRAGMA synchronous` (0 OFF, 1 NORMAL, 2 FULL). */
  synchronousLevel(): number {
    const row = this.#db.prepare("PRAGMA synchronous").get() as Row;
    return Number(row.synchronous);
  }

  /** Database size now, in pages (for tests of `pagesMax`). */
  pageCount(): number {
    const row = this.#db.prepare("PRAGMA page_count").get() as Row;
    return Number(row.page_count);
  }

  /** Closes the database. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }
}

function producerFromRow(r: Row): ProducerRow {
  return {
    streamId: Number(r.stream_id),
    producerId: String(r.producer_id),
    epoch: Number(r.epoch),
    seq: Number(r.seq),
    updatedAtMs: Number(r.updated_at_ms),
  };
}
