/**
 * @module
 * The SQLite WAL's tables and how their rows read back: the schema and its
 * version, the `synchronous` level per durability, decoding of `chunks` and
 * `streams` rows (bad bytes are `corrupt`), and recognising a full disk.
 */

import type { Durability } from "../config.ts";
import { StreamError } from "../errors.ts";
import { decodeTimes } from "../record_meta.ts";
import type { Chunk, StreamRow } from "./wal_store.ts";

/**
 * Bumped when the tables change. A WAL of an older version this code can
 * migrate (`MIGRATIONS`) is migrated on open; any other mismatch refuses
 * to open.
 */
export const SCHEMA_VERSION = "5";

/** Every table of the WAL, created if missing. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS streams (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  content_type TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  accessed_at_ms INTEGER NOT NULL,
  ttl_s INTEGER,
  expires_at_ms INTEGER,
  tail_pos INTEGER NOT NULL,
  closed INTEGER NOT NULL,
  closed_by_producer TEXT,
  closed_by_epoch INTEGER,
  closed_by_seq INTEGER,
  stream_seq TEXT,
  forked_from INTEGER,
  fork_pos INTEGER,
  soft_deleted INTEGER NOT NULL DEFAULT 0,
  last_time_ms INTEGER NOT NULL DEFAULT 0,
  -- The stream's profile (kind and options as JSON text); NULL: generic.
  profile_kind TEXT,
  profile_json TEXT
);
-- One row per group-commit run of a stream's records. 'keys' holds the
-- per-record routing keys as a key table (src/record_meta.ts, the segment
-- block layout) or NULL when none has a key; 'times' the per-record append
-- times as runs (NULL: written before times were kept, read as 0);
-- 'max_time_ms' the last record's time, indexed for time seeks.
-- A rowid table plus an index, not WITHOUT ROWID: rows hold KiB-sized blobs,
-- and appends to many streams then land at the end of the table instead of
-- splitting pages all over a (stream_id, start_pos) tree (5x faster inserts).
CREATE TABLE IF NOT EXISTS chunks (
  id INTEGER PRIMARY KEY,
  stream_id INTEGER NOT NULL,
  start_pos INTEGER NOT NULL,
  end_pos INTEGER NOT NULL,
  data BLOB NOT NULL,
  lengths BLOB,
  keys BLOB,
  times BLOB,
  max_time_ms INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS chunks_by_position ON chunks (stream_id, start_pos);
CREATE INDEX IF NOT EXISTS chunks_by_time ON chunks (stream_id, max_time_ms, start_pos);
-- Sealed segments of a stream's own records; 'uploaded' once a published
-- manifest names them (then the WAL chunks below are gone).
CREATE TABLE IF NOT EXISTS segments (
  stream_id INTEGER NOT NULL,
  start_pos INTEGER NOT NULL,
  end_pos INTEGER NOT NULL,
  size_bytes INTEGER NOT NULL,
  uploaded INTEGER NOT NULL,
  pack_key TEXT,
  pack_offset INTEGER,
  PRIMARY KEY (stream_id, start_pos)
) WITHOUT ROWID;
-- A stream's schema registry (JSON text): versions, boundaries, lenses,
-- routing-key rule. Written by commits like appends, so it is ordered with them.
CREATE TABLE IF NOT EXISTS stream_schemas (
  stream_id INTEGER PRIMARY KEY,
  registry TEXT NOT NULL
);
-- The release log: streams whose delete committed and whose objects may
-- still be in the object store (docs/segments.md "Releasing deleted
-- streams"). A row goes only once every object of the stream is deleted.
-- New tables need no version bump: SCHEMA runs on every open.
CREATE TABLE IF NOT EXISTS releases (
  stream_id INTEGER PRIMARY KEY,
  deleted_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS producers (
  stream_id INTEGER NOT NULL,
  producer_id TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (stream_id, producer_id)
) WITHOUT ROWID;
`;

/**
 * Statements that take a WAL of the keyed version to the next, run in one
 * transaction with the version update. Version 2 had no append times (its
 * records read as time 0) and an unused `chunks.keys` column; version 3 no
 * stream profiles.
 */
export const MIGRATIONS: Readonly<Record<string, string>> = {
  "2": `
ALTER TABLE streams ADD COLUMN last_time_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chunks ADD COLUMN times BLOB;
ALTER TABLE chunks ADD COLUMN max_time_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS chunks_by_time ON chunks (stream_id, max_time_ms, start_pos);
UPDATE meta SET value = '3' WHERE key = 'schema_version';
`,
  // Version 3 had no stream profiles: every stream was generic.
  "3": `
ALTER TABLE streams ADD COLUMN profile_kind TEXT;
ALTER TABLE streams ADD COLUMN profile_json TEXT;
UPDATE meta SET value = '4' WHERE key = 'schema_version';
`,
  // Version 4 had no packed segments: every segment was an object of its own.
  "4": `
ALTER TABLE segments ADD COLUMN pack_key TEXT;
ALTER TABLE segments ADD COLUMN pack_offset INTEGER;
UPDATE meta SET value = '5' WHERE key = 'schema_version';
`,
};

/** A row as `node:sqlite` returns it in object mode. */
export type Row = Record<string, unknown>;

/**
 * SQLite `synchronous` level per durability. WAL mode with NORMAL syncs at
 * checkpoints only: a power loss may lose the last commits but never
 * corrupts the database. OFF would risk corruption on an OS crash.
 */
export const SYNCHRONOUS: Readonly<Record<Durability, "FULL" | "NORMAL">> = {
  fsync: "FULL",
  os: "NORMAL",
};

/** SQLITE_FULL: "database or disk is full" (primary result code 13). */
const SQLITE_FULL = 13;

/** True for a SQLite error whose primary result code is SQLITE_FULL. */
export function isSqliteFull(error: unknown): boolean {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === "number" && (code & 0xff) === SQLITE_FULL;
}

/**
 * A `chunks` row read in array mode (start, end, data, lengths, keys,
 * times), checked.
 */
export function chunkFromRow(row: unknown[]): Chunk {
  const data = row[2] as Uint8Array;
  const rawLengths = row[3] as Uint8Array | null;
  let lengths: Uint32Array | null = null;
  if (rawLengths !== null) {
    if (rawLengths.byteLength % 4 !== 0) {
      throw new StreamError(
        "corrupt",
        "Chunk record lengths are not a whole number of u32s",
      );
    }
    // Copy: the blob's offset need not be 4-byte aligned.
    lengths = new Uint32Array(rawLengths.slice().buffer);
  }
  const startPos = Number(row[0]);
  const endPos = Number(row[1]);
  if (endPos - startPos !== data.length) {
    throw new StreamError(
      "corrupt",
      `Chunk at ${startPos} has ${data.length} bytes, expected ${
        endPos - startPos
      }`,
    );
  }
  const count = lengths?.length ?? 1;
  const keys = (row[4] ?? null) as Uint8Array | null;
  const rawTimes = (row[5] ?? null) as Uint8Array | null;
  const times = rawTimes === null ? null : decodeTimes(rawTimes, count);
  return { startPos, endPos, data, lengths, keys, times };
}

/** A `streams` row. */
export function streamFromRow(r: Row): StreamRow {
  return {
    id: Number(r.id),
    name: String(r.name),
    contentType: String(r.content_type),
    createdAtMs: Number(r.created_at_ms),
    accessedAtMs: Number(r.accessed_at_ms),
    ttlSeconds: r.ttl_s === null ? null : Number(r.ttl_s),
    expiresAtMs: r.expires_at_ms === null ? null : Number(r.expires_at_ms),
    tailPos: Number(r.tail_pos),
    closed: Number(r.closed) === 1,
    closedBy: r.closed_by_producer === null ? null : {
      producerId: String(r.closed_by_producer),
      epoch: Number(r.closed_by_epoch),
      seq: Number(r.closed_by_seq),
    },
    streamSeq: r.stream_seq === null ? null : String(r.stream_seq),
    forkedFrom: r.forked_from === null ? null : Number(r.forked_from),
    forkPos: r.fork_pos === null ? null : Number(r.fork_pos),
    softDeleted: Number(r.soft_deleted) === 1,
    lastTimeMs: Number(r.last_time_ms ?? 0),
  };
}
