/**
 * @module
 * A commit's operations as SQL text for the PostgreSQL WAL, so a whole
 * group commit travels in one simple-query message (a few when large)
 * instead of a round trip per statement: on a loaded machine each round
 * trip costs a scheduling delay of the database process. Values are
 * inlined as literals: integers checked safe, text through the driver's
 * `escapeLiteral`, bytes as hex `bytea`, so nothing a client sent can
 * change the statement.
 */

// @ts-types="@types/pg"
import pg from "pg";
import { encodeTimes } from "../record_meta.ts";
import { assert } from "../assert.ts";
import { PG_ROWS_PER_STATEMENT_MAX } from "../limits.ts";
import type {
  Chunk,
  ProducerRow,
  SegmentRow,
  StreamRow,
  StreamTail,
  WalOp,
} from "./wal_store.ts";

/** A value that can be inlined into SQL. */
type Value = number | string | boolean | null | Uint8Array;

/** `value` as a SQL literal. */
export function literal(value: Value): string {
  if (value === null) return "NULL";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    assert(Number.isSafeInteger(value), `SQL integer ${value} is not safe`);
    return String(value);
  }
  if (typeof value === "string") return pg.escapeLiteral(value);
  return `'\\x${hex(value)}'::bytea`;
}

function hex(bytes: Uint8Array): string {
  // Buffer's native hex encoder: ~1 GB/s, versus ~50 MB/s in a JS loop.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString("hex");
}

/** Rows as `(a,b),(c,d)`, with `casts` on the first row (types of `VALUES` in `FROM`). */
function values(rows: Value[][], casts?: readonly string[]): string {
  return rows.map((row, r) =>
    `(${
      row.map((v, i) =>
        r === 0 && casts !== undefined
          ? `${literal(v)}::${casts[i]}`
          : literal(v)
      ).join(",")
    })`
  ).join(",");
}

/**
 * Splits `rows` into slices of at most `PG_ROWS_PER_STATEMENT_MAX` rows
 * and about `bytesMax` bytes (a larger row goes alone).
 */
function slices<T>(
  rows: T[],
  bytesOf: (row: T) => number,
  bytesMax: number,
): T[][] {
  const out: T[][] = [];
  let slice: T[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = bytesOf(row);
    if (
      slice.length > 0 &&
      (slice.length >= PG_ROWS_PER_STATEMENT_MAX || bytes + size > bytesMax)
    ) {
      out.push(slice);
      slice = [];
      bytes = 0;
    }
    slice.push(row);
    bytes += size;
  }
  if (slice.length > 0) out.push(slice);
  return out;
}

/**
 * The statements applying `ops` in order, as few as order allows: each run
 * of creates is one insert; each run of appends and producer updates
 * (which never depend on each other's order) is one chunk insert, one tail
 * update and one producer upsert; a run of touches is one update. Chunk
 * inserts are split so that each statement carries about `bytesMax` bytes
 * of records at most.
 */
export function batchStatements(
  ops: WalOp[],
  bytesMax: number,
  releaseLog = true,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < ops.length;) {
    const group = groupOf(ops[i]);
    let j = i + 1;
    while (j < ops.length && groupOf(ops[j]) === group && group !== "single") {
      j++;
    }
    const run = ops.slice(i, j);
    if (group === "create") out.push(...insertStreams(run));
    else if (group === "write") out.push(...writeRun(run, bytesMax));
    else if (group === "touch") out.push(...touchStreams(run));
    else out.push(single(run[0]));
    if (releaseLog && run[0].op === "delete") {
      out.push(releaseStatement(run[0].streamId));
    }
    i = j;
  }
  return out;
}

function groupOf(op: WalOp): "create" | "write" | "touch" | "single" {
  if (op.op === "create") return "create";
  if (op.op === "append" || op.op === "producer") return "write";
  if (op.op === "touch") return "touch";
  return "single";
}

function single(op: WalOp): string {
  switch (op.op) {
    case "segment":
      return segmentStatement(op.segment);
    case "soft_delete":
      return `UPDATE streams SET soft_deleted = true WHERE id = ${
        literal(op.streamId)
      }`;
    case "delete": // chunks, segments, producers, registry go with it (cascade)
      return `DELETE FROM streams WHERE id = ${literal(op.streamId)}`;
    case "schema_registry":
      return schemaRegistryStatement(op.streamId, op.registry);
    case "profile":
      return `UPDATE streams SET profile_kind = ${
        literal(op.kind)
      }, profile_json = ${literal(op.options)} WHERE id = ${
        literal(op.streamId)
      }`;
    default:
      throw new Error(`unexpected op ${op.op} applied alone`);
  }
}

/**
 * Records deleted stream `streamId` in the release log, in the delete's
 * transaction: its objects are deleted from there (`WalStore.released`).
 */
export function releaseStatement(streamId: number): string {
  return `INSERT INTO releases (stream_id, deleted_at_ms) VALUES (${
    literal(streamId)
  }, (extract(epoch from clock_timestamp()) * 1000)::bigint)
    ON CONFLICT (stream_id) DO NOTHING`;
}

/** Records a segment row unless its stream is gone (see `WalStore.addSegment`). */
export function segmentStatement(r: SegmentRow): string {
  return `INSERT INTO segments (stream_id, start_pos, end_pos, size_bytes, uploaded)
    SELECT ${literal(r.streamId)}, ${literal(r.startPos)}, ${
    literal(r.endPos)
  }, ${literal(r.sizeBytes)}, ${literal(r.uploaded)}
    WHERE EXISTS (SELECT 1 FROM streams WHERE id = ${literal(r.streamId)})
    ON CONFLICT (stream_id, start_pos) DO UPDATE SET end_pos = excluded.end_pos,
      size_bytes = excluded.size_bytes, uploaded = excluded.uploaded`;
}

/**
 * Stores (or, for `null`, removes) stream `streamId`'s schema registry;
 * like a segment row, nothing is stored for a stream that is gone.
 */
export function schemaRegistryStatement(
  streamId: number,
  registry: string | null,
): string {
  if (registry === null) {
    return `DELETE FROM stream_schemas WHERE stream_id = ${literal(streamId)}`;
  }
  return `INSERT INTO stream_schemas (stream_id, registry)
    SELECT ${literal(streamId)}, ${literal(registry)}
    WHERE EXISTS (SELECT 1 FROM streams WHERE id = ${literal(streamId)})
    ON CONFLICT (stream_id) DO UPDATE SET registry = excluded.registry`;
}

function insertStreams(ops: WalOp[]): string[] {
  const rows = ops.map((op) =>
    streamValues((op as { stream: StreamRow }).stream)
  );
  return slices(rows, () => 1, Infinity).map((slice) =>
    `INSERT INTO streams (id, name, content_type, created_at_ms, accessed_at_ms,
     ttl_s, expires_at_ms, tail_pos, closed, closed_by_producer, closed_by_epoch,
     closed_by_seq, stream_seq, forked_from, fork_pos, soft_deleted, last_time_ms)
     VALUES ${values(slice)}`
  );
}

function streamValues(s: StreamRow): Value[] {
  return [
    s.id,
    s.name,
    s.contentType,
    s.createdAtMs,
    s.accessedAtMs,
    s.ttlSeconds,
    s.expiresAtMs,
    s.tailPos,
    s.closed,
    s.closedBy?.producerId ?? null,
    s.closedBy?.epoch ?? null,
    s.closedBy?.seq ?? null,
    s.streamSeq,
    s.forkedFrom,
    s.forkPos,
    s.softDeleted,
    s.lastTimeMs,
  ];
}

/** One run of appends and producer updates: three statements (more if large). */
function writeRun(ops: WalOp[], bytesMax: number): string[] {
  const chunks: [number, Chunk][] = [];
  const tails = new Map<number, StreamTail>(); // the last tail per stream wins
  const producers = new Map<string, ProducerRow>(); // the last state wins
  for (const op of ops) {
    if (op.op === "append") {
      if (op.chunk !== null) chunks.push([op.streamId, op.chunk]);
      tails.set(op.streamId, op.tail);
    } else if (op.op === "producer") {
      producers.set(
        JSON.stringify([op.row.streamId, op.row.producerId]),
        op.row,
      );
    }
  }
  return [
    ...insertChunks(chunks, bytesMax),
    ...updateTails([...tails]),
    ...upsertProducers([...producers.values()]),
  ];
}

/** Inserts chunks of a stream (also used by compaction). */
export function insertChunks(
  chunks: [number, Chunk][],
  bytesMax: number,
): string[] {
  return slices(chunks, ([, c]) => c.data.length, bytesMax).map((slice) =>
    `INSERT INTO chunks (stream_id, start_pos, end_pos, data, lengths, keys,
       times, max_time_ms) VALUES ${
      values(slice.map(([streamId, c]) => [
        streamId,
        c.startPos,
        c.endPos,
        c.data,
        c.lengths === null ? null : new Uint8Array(
          c.lengths.buffer,
          c.lengths.byteOffset,
          c.lengths.byteLength,
        ),
        c.keys,
        c.times === null ? null : encodeTimes(c.times),
        c.times === null ? 0 : c.times[c.times.length - 1],
      ]))
    }`
  );
}

const TAIL_CASTS = [
  "bigint",
  "bigint",
  "boolean",
  "text",
  "bigint",
  "bigint",
  "text",
  "bigint",
  "bigint",
] as const;

function updateTails(tails: [number, StreamTail][]): string[] {
  return slices(tails, () => 1, Infinity).map((slice) =>
    `UPDATE streams AS s SET tail_pos = v.tail_pos, closed = v.closed,
       closed_by_producer = v.producer, closed_by_epoch = v.epoch,
       closed_by_seq = v.seq, stream_seq = v.stream_seq, accessed_at_ms = v.accessed,
       last_time_ms = v.last_time, version = txid_current()
     FROM (VALUES ${
      values(
        slice.map(([id, t]) => [
          id,
          t.tailPos,
          t.closed,
          t.closedBy?.producerId ?? null,
          t.closedBy?.epoch ?? null,
          t.closedBy?.seq ?? null,
          t.streamSeq,
          t.accessedAtMs,
          t.lastTimeMs,
        ]),
        TAIL_CASTS,
      )
    }) AS v(id, tail_pos, closed, producer, epoch, seq, stream_seq, accessed, last_time)
     WHERE s.id = v.id`
  );
}

function upsertProducers(rows: ProducerRow[]): string[] {
  return slices(rows, () => 1, Infinity).map((slice) =>
    `INSERT INTO producers (stream_id, producer_id, epoch, seq, updated_at_ms)
     VALUES ${
      values(
        slice.map((r) => [
          r.streamId,
          r.producerId,
          r.epoch,
          r.seq,
          r.updatedAtMs,
        ]),
      )
    }
     ON CONFLICT (stream_id, producer_id) DO UPDATE SET epoch = excluded.epoch,
       seq = excluded.seq, updated_at_ms = excluded.updated_at_ms`
  );
}

function touchStreams(ops: WalOp[]): string[] {
  const last = new Map<number, number>();
  for (const op of ops) {
    if (op.op === "touch") last.set(op.streamId, op.accessedAtMs);
  }
  return slices([...last], () => 1, Infinity).map((slice) =>
    `UPDATE streams AS s SET accessed_at_ms = v.accessed
     FROM (VALUES ${values(slice, ["bigint", "bigint"])}) AS v(id, accessed)
     WHERE s.id = v.id`
  );
}

/**
 * Joins `statements` into simple-query messages of about `bytesMax`
 * characters each (a longer statement goes alone), in order.
 */
export function packMessages(statements: string[], bytesMax: number): string[] {
  const out: string[] = [];
  let message = "";
  for (const statement of statements) {
    if (message !== "" && message.length + statement.length > bytesMax) {
      out.push(message);
      message = "";
    }
    message += message === "" ? statement : `;\n${statement}`;
  }
  if (message !== "") out.push(message);
  return out;
}
