/**
 * @module
 * The PostgreSQL WAL's tables, as numbered migrations, and how rows and
 * errors read back: decoding of `chunks` and `streams` rows (bad bytes are
 * `corrupt`), telling a lost connection from a failed statement, and
 * keeping the connection URL's password out of every message.
 */

import { StreamError } from "../errors.ts";
import { decodeTimes } from "../record_meta.ts";
import type { Chunk, StreamRow } from "./wal_store.ts";

/**
 * Migration `i` takes a schema from version `i` to `i + 1`. Append only:
 * a released migration never changes. Table names are unqualified; the
 * connection's `search_path` names the schema.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
   CREATE TABLE streams (
     id bigint PRIMARY KEY,
     name text NOT NULL UNIQUE,
     content_type text NOT NULL,
     created_at_ms bigint NOT NULL,
     accessed_at_ms bigint NOT NULL,
     ttl_s bigint,
     expires_at_ms bigint,
     tail_pos bigint NOT NULL,
     closed boolean NOT NULL,
     closed_by_producer text,
     closed_by_epoch bigint,
     closed_by_seq bigint,
     stream_seq text,
     forked_from bigint,
     fork_pos bigint,
     soft_deleted boolean NOT NULL DEFAULT false
   );
   -- One row per group-commit run of a stream's records; 'keys' is the slot
   -- for per-record routing keys, as in the SQLite WAL.
   CREATE TABLE chunks (
     stream_id bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
     start_pos bigint NOT NULL,
     end_pos bigint NOT NULL,
     data bytea NOT NULL,
     lengths bytea,
     keys bytea,
     PRIMARY KEY (stream_id, start_pos)
   );
   CREATE TABLE segments (
     stream_id bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
     start_pos bigint NOT NULL,
     end_pos bigint NOT NULL,
     size_bytes bigint NOT NULL,
     uploaded boolean NOT NULL,
     PRIMARY KEY (stream_id, start_pos)
   );
   CREATE TABLE producers (
     stream_id bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
     producer_id text NOT NULL,
     epoch bigint NOT NULL,
     seq bigint NOT NULL,
     updated_at_ms bigint NOT NULL,
     PRIMARY KEY (stream_id, producer_id)
   );`,
  // Append times per record: 'times' as runs (src/record_meta.ts; NULL for
  // records written before, read as 0), 'max_time_ms' the last record's time
  // for time seeks, and each stream's last append time.
  `ALTER TABLE chunks ADD COLUMN times bytea;
   ALTER TABLE chunks ADD COLUMN max_time_ms bigint NOT NULL DEFAULT 0;
   CREATE INDEX chunks_by_time ON chunks (stream_id, max_time_ms, start_pos);
   ALTER TABLE streams ADD COLUMN last_time_ms bigint NOT NULL DEFAULT 0;`,
  // Schema registries: one JSON document per stream that has one, removed
  // with its stream.
  `CREATE TABLE stream_schemas (
     stream_id bigint PRIMARY KEY REFERENCES streams (id) ON DELETE CASCADE,
     registry text NOT NULL
   );`,
  // Several nodes on one schema: 'version' is the id of the transaction that
  // last changed a stream (a node checks it under the row lock against the
  // one it planned from), 'meta_version' counts creates, deletes, closes and
  // schema changes, and 'nodes' lists the servers with their heartbeats.
  `ALTER TABLE streams ADD COLUMN version bigint NOT NULL DEFAULT 0;
   INSERT INTO meta (key, value) VALUES ('meta_version', '0')
     ON CONFLICT (key) DO NOTHING;
   CREATE TABLE nodes (
     node_id text PRIMARY KEY,
     started_at_ms bigint NOT NULL,
     heartbeat_at_ms bigint NOT NULL
   );`,
  // Stream profiles: kind and options (JSON text); NULL for generic.
  `ALTER TABLE streams ADD COLUMN profile_kind text;
   ALTER TABLE streams ADD COLUMN profile_json text;`,
  // Subscriptions (cursors, leases, signing keys, the token secret) and the
  // routing-key run catalog, as in the SQLite file. 'version' of rk_state
  // grows by one per change, for compare-and-set commits. None of these
  // references 'streams': they are written through the synchronous client
  // (src/storage/pg_sync.ts) while the event loop waits, and a foreign key
  // would make such a write wait for a stream row lock that an append
  // transaction of that same event loop holds.
  `CREATE TABLE subscriptions (
     id text PRIMARY KEY,
     config text NOT NULL,
     config_hash text NOT NULL,
     created_at_ms bigint NOT NULL,
     deleted boolean NOT NULL,
     status text NOT NULL,
     generation bigint NOT NULL,
     wake_id text,
     wake_snapshot text,
     holder text,
     lease_expires_at_ms bigint,
     retry_count integer NOT NULL,
     next_attempt_at_ms bigint
   );
   CREATE TABLE subscription_links (
     subscription_id text NOT NULL,
     path text NOT NULL,
     explicit boolean NOT NULL,
     glob boolean NOT NULL,
     acked_pos bigint NOT NULL,
     PRIMARY KEY (subscription_id, path)
   );
   CREATE TABLE subscription_keys (
     kid text PRIMARY KEY,
     private_jwk text NOT NULL,
     created_at_ms bigint NOT NULL,
     retired_at_ms bigint
   );
   CREATE TABLE subscription_secrets (
     name text PRIMARY KEY,
     value bytea NOT NULL
   );
   CREATE TABLE rk_state (
     stream_id bigint PRIMARY KEY,
     seed text NOT NULL,
     indexed_through bigint NOT NULL,
     updated_at_ms bigint NOT NULL,
     version bigint NOT NULL
   );
   CREATE TABLE rk_runs (
     stream_id bigint NOT NULL,
     level integer NOT NULL,
     first_seg bigint NOT NULL,
     last_seg bigint NOT NULL,
     object_key text NOT NULL,
     bytes bigint NOT NULL,
     retired_at_ms bigint,
     PRIMARY KEY (stream_id, object_key)
   );
   -- Full mode: the generation of each stream's published manifest, moved
   -- by one compare-and-set per publication (stream ids are never reused,
   -- so a deleted stream's row is inert).
   CREATE TABLE manifests (
     stream_id bigint PRIMARY KEY,
     generation bigint NOT NULL,
     published_at_ms bigint NOT NULL
   );
   -- Full mode: which node seals, uploads and publishes a stream; 'token'
   -- grows by one whenever the lease changes hands (fencing).
   CREATE TABLE stream_leases (
     stream_id bigint PRIMARY KEY,
     node_id text NOT NULL,
     token bigint NOT NULL,
     expires_at_ms bigint NOT NULL
   );`,
  // Touch templates (touch-live.md §7), as in the SQLite file. No foreign
  // key to 'streams', for the reason the subscription tables have none.
  `CREATE TABLE live_templates (
     stream_id bigint NOT NULL,
     template_id text NOT NULL,
     entity text NOT NULL,
     fields text NOT NULL,
     encodings text NOT NULL,
     state text NOT NULL,
     created_at_ms bigint NOT NULL,
     last_seen_at_ms bigint NOT NULL,
     inactivity_ttl_ms bigint NOT NULL,
     active_from_pos bigint NOT NULL,
     retired_at_ms bigint,
     retired_reason text,
     PRIMARY KEY (stream_id, template_id)
   );`,
  // Touch checkpoints (touch-live.md §4): how far each stream's processor
  // has read, and for which journal epoch.
  `CREATE TABLE touch_state (
     stream_id bigint PRIMARY KEY,
     processed_through_pos bigint NOT NULL,
     epoch text NOT NULL,
     updated_at_ms bigint NOT NULL
   );`,
  // The release log (docs/segments.md "Releasing deleted streams"): a
  // stream's delete records it here in the same transaction; the row goes
  // once every object of the stream is deleted. 'node_id' and
  // 'claimed_until_ms' say which node releases it (full mode: one node at
  // a time; a dead node's claim is taken over once it has run out). No
  // foreign key: the stream row is gone by then.
  `CREATE TABLE releases (
     stream_id bigint PRIMARY KEY,
     deleted_at_ms bigint NOT NULL,
     node_id text,
     claimed_until_ms bigint NOT NULL DEFAULT 0
   );`,
];

/** The version this code writes and reads. */
export const PG_SCHEMA_VERSION: number = MIGRATIONS.length;

/**
 * First key of the advisory lock migrations run under (the second is the
 * hash of the schema name), so servers starting together migrate one by
 * one and each schema on its own.
 */
export const MIGRATION_LOCK_KEY = 0x5354_4244; // "STBD"

/** Schema names we accept: plain lower-case identifiers, never quoted. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** A result row as `pg` returns it (bigints as strings, bytea as Buffer). */
export type PgRow = Record<string, unknown>;

/** A `bytea` value as a plain `Uint8Array` view (not a `Buffer`, whose `slice` shares). */
export function bytesOf(value: unknown): Uint8Array {
  const b = value as Uint8Array;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** A `chunks` row (start_pos, end_pos, data, lengths, keys, times), checked. */
export function chunkFromPgRow(row: PgRow): Chunk {
  const data = bytesOf(row.data);
  let lengths: Uint32Array | null = null;
  if (row.lengths !== null) {
    const raw = bytesOf(row.lengths);
    if (raw.byteLength % 4 !== 0) {
      throw new StreamError(
        "corrupt",
        "Chunk record lengths are not a whole number of u32s",
      );
    }
    lengths = new Uint32Array(raw.slice().buffer); // copy: alignment
  }
  const startPos = Number(row.start_pos);
  const endPos = Number(row.end_pos);
  if (endPos - startPos !== data.length) {
    throw new StreamError(
      "corrupt",
      `Chunk at ${startPos} has ${data.length} bytes, expected ${
        endPos - startPos
      }`,
    );
  }
  const keys = row.keys === null || row.keys === undefined
    ? null
    : bytesOf(row.keys);
  const times = row.times === null || row.times === undefined
    ? null
    : decodeTimes(bytesOf(row.times), lengths?.length ?? 1);
  return { startPos, endPos, data, lengths, keys, times };
}

const orNull = (v: unknown) => v === null ? null : Number(v);

/** A `streams` row. */
export function streamFromPgRow(r: PgRow): StreamRow {
  return {
    id: Number(r.id),
    name: String(r.name),
    contentType: String(r.content_type),
    createdAtMs: Number(r.created_at_ms),
    accessedAtMs: Number(r.accessed_at_ms),
    ttlSeconds: orNull(r.ttl_s),
    expiresAtMs: orNull(r.expires_at_ms),
    tailPos: Number(r.tail_pos),
    closed: r.closed === true,
    closedBy: r.closed_by_producer === null ? null : {
      producerId: String(r.closed_by_producer),
      epoch: Number(r.closed_by_epoch),
      seq: Number(r.closed_by_seq),
    },
    streamSeq: r.stream_seq === null ? null : String(r.stream_seq),
    forkedFrom: orNull(r.forked_from),
    forkPos: orNull(r.fork_pos),
    softDeleted: r.soft_deleted === true,
    lastTimeMs: Number(r.last_time_ms ?? 0),
  };
}

/** The SQLSTATE of an error the server sent, if it is one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)
    ? code
    : undefined;
}

/**
 * True when the connection (not the statement) failed: a socket error or
 * timeout on our side, or the server saying it is going away (class 08,
 * admin shutdown, crash shutdown, cannot connect now, too many connections).
 * The transaction in progress, if any, is then rolled back by the server.
 */
export function isConnectionError(error: unknown): boolean {
  const state = sqlState(error);
  if (state === undefined) return true; // not from the server: the socket
  return state.startsWith("08") ||
    ["57P01", "57P02", "57P03", "53300"].includes(state);
}

/** Deadlock or serialization failure: the whole transaction may be retried. */
export function isRetryableConflict(error: unknown): boolean {
  const state = sqlState(error);
  return state === "40001" || state === "40P01";
}

/**
 * A unique or foreign-key violation in a commit: another node took a name
 * or id, or deleted a stream, since this node planned the batch.
 */
export function isStaleConflict(error: unknown): boolean {
  const state = sqlState(error);
  return state === "23505" || state === "23503";
}

/** `query_canceled` (statement timeout): the transaction was rolled back. */
export function isStatementTimeout(error: unknown): boolean {
  return sqlState(error) === "57014";
}

/** `disk_full`: the transaction was rolled back for lack of space. */
export function isPgDiskFull(error: unknown): boolean {
  return sqlState(error) === "53100";
}

/** The password in a connection URL, if it has one (raw and decoded). */
function passwordsOf(url: string): string[] {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^/@:]*:([^@/]*)@/i.exec(url);
  if (match === null || match[1] === "") return [];
  const raw = match[1];
  let decoded = raw;
  try {
    decoded = decodeURIComponent(raw);
  } catch { /* keep raw */ }
  return [...new Set([raw, decoded])];
}

/** `url` with its password replaced by `***`, for messages. */
export function redactUrl(url: string): string {
  return redact(url, url);
}

/** `text` with every occurrence of `url`'s password replaced by `***`. */
export function redact(text: string, url: string): string {
  let out = text;
  for (const password of passwordsOf(url)) {
    out = out.split(password).join("***");
  }
  return out;
}

/** An error's message, first line only, password removed. */
export function describe(error: unknown, url: string): string {
  const message = error instanceof Error
    ? error.message || error.name
    : String(error);
  return redact(message.split("\n")[0], url);
}
