/**
 * @module
 * `WalStore` on PostgreSQL (`pg`, node-postgres, from npm). A commit is one
 * transaction for a whole group of appends: it locks the stream rows it
 * touches in id order (so two writers batching the same streams never
 * deadlock), writes chunks, tails and producer states with a few multi-row
 * statements, and resolves only after `COMMIT` returns.
 *
 * Failures: a deadlock or serialization failure retries the transaction; a
 * lost connection or a statement timeout before `COMMIT` rolled everything
 * back, so the commit rejects with a `retryableError` (503) and the pool
 * connects afresh for the next one. A connection lost *during* `COMMIT`
 * leaves the outcome unknown: the store asks a new connection for
 * `txid_status` of the transaction until the database answers (up to the
 * connect timeout), and resolves or rejects by what it says. Only when that
 * too fails is the error fatal. The connection URL's password never
 * appears in an error message.
 */

// @ts-types="@types/pg"
import pg from "pg";
import type { Durability } from "../config.ts";
import { StartupError, StreamError } from "../errors.ts";
import {
  DATABASE_RETRY_AFTER_SECONDS,
  PG_CONFLICT_RETRIES_MAX,
  PG_OUTCOME_POLL_MS,
  PG_READ_PAGE_ROWS,
  PG_ROWS_PER_STATEMENT_MAX,
} from "../limits.ts";
import type { Logger } from "../log.ts";
import { planCompaction } from "./_compact.ts";
import {
  chunkFromPgRow,
  describe,
  isConnectionError,
  isPgDiskFull,
  isRetryableConflict,
  isStatementTimeout,
  MIGRATION_LOCK_KEY,
  MIGRATIONS,
  PG_SCHEMA_VERSION,
  type PgRow,
  redactUrl,
  SCHEMA_NAME,
  streamFromPgRow,
} from "./_pg_schema.ts";
import { mergeChunks } from "./chunk.ts";
import {
  type Chunk,
  diskFullError,
  type ProducerRow,
  retryableError,
  type SegmentRow,
  type StreamRow,
  type StreamTail,
  type WalOp,
  type WalSnapshot,
  type WalStore,
} from "./wal_store.ts";

export { PG_SCHEMA_VERSION } from "./_pg_schema.ts";

/** How to reach the database; from `config.storage`. */
export interface PgStoreOptions {
  /** `postgres://user:password@host:port/database`. */
  url: string;
  /** Schema holding the tables (created if missing). */
  schema: string;
  /** Pooled connections at most. */
  poolSize: number;
  /** Longest statement, in ms. */
  statementTimeoutMs: number;
  /** Longest wait for a connection, in ms. */
  connectTimeoutMs: number;
  /** `os` turns `synchronous_commit` off for our sessions. */
  durability: Durability;
  /** Where connection losses are reported. */
  log?: Logger;
}

type Client = pg.PoolClient;

/**
 * Connects, migrates the schema (under an advisory lock) and checks it.
 * Rejects with a one-line `StartupError` when the database cannot be used.
 */
export async function openPgStore(options: PgStoreOptions): Promise<PgStore> {
  if (!SCHEMA_NAME.test(options.schema)) {
    throw new StartupError(
      "database_unusable",
      `cannot use PostgreSQL schema "${options.schema}" (--postgres-schema): use lower-case letters, digits and _`,
    );
  }
  const store = new PgStore(options);
  try {
    await store.migrate();
    await store.checkDurability();
  } catch (error) {
    await store.close();
    if (error instanceof StartupError) throw error;
    throw new StartupError(
      "database_unusable",
      `cannot use PostgreSQL at ${redactUrl(options.url)} (--postgres-url): ${
        describe(error, options.url)
      }`,
    );
  }
  return store;
}

/** The PostgreSQL `WalStore`. Use `openPgStore`. */
export class PgStore implements WalStore {
  #pool: pg.Pool;
  #options: PgStoreOptions;
  #closed = false;
  #persistedNextId = -1;

  /** Creates the pool; nothing connects until the first query. */
  constructor(options: PgStoreOptions) {
    this.#options = options;
    const sessionOptions = [`-c search_path=${options.schema}`];
    if (options.durability === "os") {
      sessionOptions.push("-c synchronous_commit=off");
    }
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      connectionTimeoutMillis: options.connectTimeoutMs,
      statement_timeout: options.statementTimeoutMs,
      application_name: "streambed",
      options: sessionOptions.join(" "),
    });
    // A connection that dies emits "error": on the pool while idle, on the
    // client while checked out (the failing query rejects too). Without a
    // listener either would crash the process. The pool drops the dead
    // connection and connects anew when next asked.
    const lost = (error: Error) =>
      options.log?.warn(
        `PostgreSQL connection lost: ${describe(error, options.url)}`,
      );
    this.#pool.on("error", lost);
    this.#pool.on("connect", (client) => client.on("error", lost));
  }

  /** Brings the schema to `PG_SCHEMA_VERSION`; refuses a newer one. */
  async migrate(): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [
        MIGRATION_LOCK_KEY,
        this.#options.schema,
      ]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.#options.schema}`);
      await client.query(
        "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)",
      );
      const { rows } = await client.query(
        "SELECT coalesce(max(version), 0) AS v FROM schema_version",
      );
      const version = Number(rows[0].v);
      if (version > PG_SCHEMA_VERSION) {
        throw new StartupError(
          "database_unusable",
          `cannot use PostgreSQL schema "${this.#options.schema}" (--postgres-schema): it is at version ${version}, newer than this server's ${PG_SCHEMA_VERSION}; upgrade Streambed`,
        );
      }
      for (let v = version; v < PG_SCHEMA_VERSION; v++) {
        await client.query(MIGRATIONS[v]);
      }
      if (version < PG_SCHEMA_VERSION) {
        await client.query("DELETE FROM schema_version");
        await client.query("INSERT INTO schema_version VALUES ($1)", [
          PG_SCHEMA_VERSION,
        ]);
      }
      await client.query("COMMIT");
      client.release();
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      client.release(true);
      throw error;
    }
  }

  /**
   * With `--durability fsync` an acknowledged append must survive a crash
   * of the database too: refuse a server whose commits do not wait for its
   * WAL flush.
   */
  async checkDurability(): Promise<void> {
    if (this.#options.durability !== "fsync") return;
    const { rows } = await this.#pool.query(
      "SELECT current_setting('synchronous_commit') AS s",
    );
    if (rows[0].s === "off") {
      throw new StartupError(
        "database_unusable",
        "cannot use PostgreSQL with synchronous_commit=off and --durability fsync: turn synchronous_commit on, or pass --durability os",
      );
    }
  }

  /** Reads every stream, producer and segment in one snapshot. */
  async load(): Promise<WalSnapshot> {
    const client = await this.#connect("Cannot load the WAL");
    try {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const streams = (await client.query("SELECT * FROM streams ORDER BY id"))
        .rows.map(streamFromPgRow);
      const producers = (await client.query("SELECT * FROM producers")).rows
        .map((r: PgRow): ProducerRow => ({
          streamId: Number(r.stream_id),
          producerId: String(r.producer_id),
          epoch: Number(r.epoch),
          seq: Number(r.seq),
          updatedAtMs: Number(r.updated_at_ms),
        }));
      const segments = (await client.query(
        "SELECT * FROM segments ORDER BY stream_id, start_pos",
      )).rows.map((r: PgRow): SegmentRow => ({
        streamId: Number(r.stream_id),
        startPos: Number(r.start_pos),
        endPos: Number(r.end_pos),
        sizeBytes: Number(r.size_bytes),
        uploaded: r.uploaded === true,
      }));
      const next = await client.query(
        "SELECT value FROM meta WHERE key = 'next_stream_id'",
      );
      await client.query("COMMIT");
      client.release();
      const maxId = streams.reduce((m, s) => Math.max(m, s.id), 0);
      const stored = next.rows.length === 0 ? 1 : Number(next.rows[0].value);
      return {
        streams,
        producers,
        segments,
        nextStreamId: Math.max(stored, maxId + 1),
      };
    } catch (error) {
      client.release(true);
      throw this.#failure("Cannot load the WAL", error);
    }
  }

  /**
   * Applies `ops` in one transaction, retrying it after a deadlock or
   * serialization failure; resolves after `COMMIT`.
   */
  async commit(ops: WalOp[], nextStreamId: number): Promise<void> {
    for (let attempt = 1;; attempt++) {
      try {
        await this.#commitOnce(ops, nextStreamId);
        this.#persistedNextId = nextStreamId;
        return;
      } catch (error) {
        if (isRetryableConflict(error) && attempt < PG_CONFLICT_RETRIES_MAX) {
          await sleep(Math.random() * 10 * attempt);
          continue;
        }
        throw this.#failure("WAL commit failed", error);
      }
    }
  }

  async #commitOnce(ops: WalOp[], nextStreamId: number): Promise<void> {
    const client = await this.#connect("WAL commit failed");
    let xid: string | undefined;
    try {
      xid = await this.#begin(client, lockIds(ops));
      await applyOps(client, ops);
      if (nextStreamId !== this.#persistedNextId) {
        await client.query(
          `INSERT INTO meta (key, value) VALUES ('next_stream_id', $1)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
          [String(nextStreamId)],
        );
      }
    } catch (error) {
      await this.#abandon(client, error);
      throw error;
    }
    try {
      await client.query("COMMIT");
      client.release();
    } catch (error) {
      client.release(true);
      if (!isConnectionError(error)) throw error;
      if (await this.#committed(xid, error)) return;
      throw error; // rolled back: reported as retryable by #failure
    }
  }

  /**
   * Opens the transaction and locks the rows of `ids` (sorted) in one round
   * trip; returns the transaction id, to learn its fate if the connection
   * drops during `COMMIT`.
   */
  async #begin(client: Client, ids: number[]): Promise<string> {
    // Ids are integers from our own ops, so they can be inlined, which lets
    // the three statements share one round trip (a simple query).
    const lock = ids.length === 0
      ? ""
      : `SELECT id FROM streams WHERE id IN (${
        ids.join(",")
      }) ORDER BY id FOR UPDATE;`;
    const results = await client.query(
      `BEGIN; SELECT txid_current() AS xid; ${lock}`,
    ) as unknown as pg.QueryResult[];
    return String(results[1].rows[0].xid);
  }

  /** Rolls back after a failed statement; drops the connection if it broke. */
  async #abandon(client: Client, error: unknown): Promise<void> {
    if (isConnectionError(error)) {
      client.release(true);
      return;
    }
    try {
      await client.query("ROLLBACK");
      client.release();
    } catch {
      client.release(true);
    }
  }

  /**
   * Whether transaction `xid` committed, asked on a fresh connection until
   * the database answers or the connect timeout passes (then the outcome is
   * unknown, which is fatal: memory and database may disagree).
   */
  async #committed(xid: string | undefined, lost: unknown): Promise<boolean> {
    if (xid === undefined) return false;
    const deadline = Date.now() + this.#options.connectTimeoutMs;
    for (;;) {
      try {
        const { rows } = await this.#pool.query(
          "SELECT txid_status($1) AS status",
          [xid],
        );
        const status = rows[0].status as string | null;
        if (status === "committed") return true;
        if (status !== "in progress") return false; // aborted, or long gone
      } catch (error) {
        if (!isConnectionError(error)) throw error;
      }
      if (this.#closed || Date.now() >= deadline) {
        throw new StreamError(
          "unavailable",
          `WAL commit failed: the connection to PostgreSQL was lost during COMMIT and whether it committed cannot be learned: ${
            describe(lost, this.#options.url)
          }`,
        );
      }
      await sleep(PG_OUTCOME_POLL_MS);
    }
  }

  /** A pooled connection, or a retryable error when none can be had. */
  async #connect(action: string): Promise<Client> {
    if (this.#closed) throw new StreamError("unavailable", "WAL is closed");
    try {
      return await this.#pool.connect();
    } catch (error) {
      throw this.#failure(action, error);
    }
  }

  /**
   * The typed error for a failed operation: passing failures (a lost
   * connection, a timeout, a full disk, a conflict that kept recurring)
   * are retryable, since the database rolled the transaction back; the
   * rest (a broken invariant, e.g. a duplicate name) are not.
   */
  #failure(action: string, error: unknown): StreamError {
    if (error instanceof StreamError) return error;
    const why = describe(error, this.#options.url);
    if (isPgDiskFull(error)) return diskFullError(action, error);
    if (isConnectionError(error)) {
      return retryableError(
        action,
        `PostgreSQL is unreachable (${why})`,
        DATABASE_RETRY_AFTER_SECONDS,
      );
    }
    if (isStatementTimeout(error) || isRetryableConflict(error)) {
      return retryableError(
        action,
        `PostgreSQL did not finish in time (${why})`,
        DATABASE_RETRY_AFTER_SECONDS,
      );
    }
    return new StreamError("unavailable", `${action}: ${why}`);
  }

  /** Runs `work` in a transaction on one connection. */
  async #transaction<T>(
    action: string,
    work: (client: Client) => Promise<T>,
  ): Promise<T> {
    const client = await this.#connect(action);
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      client.release();
      return result;
    } catch (error) {
      await this.#abandon(client, error);
      throw this.#failure(action, error);
    }
  }

  /** Records a sealed segment (see `WalStore`). */
  addSegment(row: SegmentRow): Promise<void> {
    return this.#transaction("Cannot record segment", async (client) => {
      await writeSegment(client, row);
    });
  }

  /** Marks segments uploaded and deletes WAL chunks below `belowPos`, atomically. */
  truncate(streamId: number, belowPos: number): Promise<void> {
    return this.#transaction("WAL truncation failed", async (client) => {
      await client.query(
        "UPDATE segments SET uploaded = true WHERE stream_id = $1 AND end_pos <= $2",
        [streamId, belowPos],
      );
      await client.query(
        "DELETE FROM chunks WHERE stream_id = $1 AND end_pos <= $2",
        [streamId, belowPos],
      );
    });
  }

  /**
   * Chunks overlapping `[fromPos, endPos)`, up to about `bytesMax` bytes,
   * fetched in pages so a read near the start of a long stream does not
   * pull the whole stream.
   */
  async readChunks(
    streamId: number,
    fromPos: number,
    endPos: number,
    bytesMax: number,
  ): Promise<Chunk[]> {
    const client = await this.#connect("Cannot read the WAL");
    try {
      const chunks = await readPages(
        client,
        streamId,
        fromPos,
        endPos,
        bytesMax,
      );
      client.release();
      return chunks;
    } catch (error) {
      client.release(isConnectionError(error));
      if (error instanceof StreamError) throw error; // corrupt rows
      throw this.#failure("Cannot read the WAL", error);
    }
  }

  /** Merges small chunks into ~`targetBytes` ones (see `WalStore`). */
  compact(
    streamId: number,
    fromPos: number,
    endPos: number,
    targetBytes: number,
    bytesMax: number,
  ): Promise<number> {
    return this.#transaction("WAL compaction failed", async (client) => {
      // Under the stream's row lock, like a commit, so the two never race.
      await client.query("SELECT id FROM streams WHERE id = $1 FOR UPDATE", [
        streamId,
      ]);
      const spanLimit = Math.max(64, Math.ceil(bytesMax / 16));
      const spans = (await client.query(
        `SELECT start_pos, end_pos FROM chunks WHERE stream_id = $1 AND start_pos >= $2
         AND start_pos < $3 ORDER BY start_pos LIMIT $4`,
        [streamId, fromPos, endPos, spanLimit],
      )).rows.map((r: PgRow) => ({
        startPos: Number(r.start_pos),
        endPos: Number(r.end_pos),
      }));
      const plan = planCompaction(spans, targetBytes, bytesMax);
      for (const run of plan.runs) {
        const start = run[0].startPos;
        const end = run[run.length - 1].endPos;
        const { rows } = await client.query(
          `DELETE FROM chunks WHERE stream_id = $1 AND start_pos >= $2 AND start_pos < $3
           RETURNING start_pos, end_pos, data, lengths`,
          [streamId, start, end],
        );
        const merged = mergeChunks(
          rows.map(chunkFromPgRow).sort((a, b) => a.startPos - b.startPos),
        );
        await insertChunks(client, [[streamId, merged]]);
      }
      return plan.compactedPos;
    });
  }

  /** Closes the pool; later calls fail. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Stream ids whose rows a batch changes, ascending (the lock order). */
function lockIds(ops: WalOp[]): number[] {
  const ids = new Set<number>();
  for (const op of ops) {
    if (op.op === "create") continue; // no row yet
    ids.add(op.op === "producer" ? op.row.streamId : op.streamId);
  }
  return [...ids].sort((a, b) => a - b);
}

async function readPages(
  client: Client,
  streamId: number,
  fromPos: number,
  endPos: number,
  bytesMax: number,
): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  let bytes = 0;
  // The chunk holding fromPos, then every later one below endPos.
  let { rows } = await client.query(
    `SELECT start_pos, end_pos, data, lengths FROM chunks
     WHERE stream_id = $1 AND start_pos < $3 AND start_pos >= coalesce(
       (SELECT max(start_pos) FROM chunks WHERE stream_id = $1 AND start_pos <= $2), 0)
     ORDER BY start_pos LIMIT $4`,
    [streamId, fromPos, endPos, PG_READ_PAGE_ROWS],
  );
  for (;;) {
    for (const row of rows) {
      const chunk = chunkFromPgRow(row);
      if (chunk.endPos <= fromPos) continue;
      chunks.push(chunk);
      bytes += chunk.data.length;
      if (bytes >= bytesMax) return chunks;
    }
    if (rows.length < PG_READ_PAGE_ROWS) return chunks;
    const after = Number(rows[rows.length - 1].start_pos);
    ({ rows } = await client.query(
      `SELECT start_pos, end_pos, data, lengths FROM chunks
       WHERE stream_id = $1 AND start_pos > $2 AND start_pos < $3
       ORDER BY start_pos LIMIT $4`,
      [streamId, after, endPos, PG_READ_PAGE_ROWS],
    ));
  }
}

// ---- applying a batch ------------------------------------------------------

/**
 * Applies `ops` in order, as few statements as that allows: each run of
 * creates is one insert; each run of appends and producer updates (which
 * never depend on each other's order) is one chunk insert, one tail update
 * and one producer upsert; a run of touches is one update.
 */
async function applyOps(client: Client, ops: WalOp[]): Promise<void> {
  for (let i = 0; i < ops.length;) {
    const group = groupOf(ops[i]);
    let j = i + 1;
    while (j < ops.length && groupOf(ops[j]) === group && group !== "single") {
      j++;
    }
    const run = ops.slice(i, j);
    if (group === "create") await insertStreams(client, run);
    else if (group === "write") await writeRun(client, run);
    else if (group === "touch") await touchStreams(client, run);
    else await applyOne(client, run[0]);
    i = j;
  }
}

function groupOf(op: WalOp): "create" | "write" | "touch" | "single" {
  if (op.op === "create") return "create";
  if (op.op === "append" || op.op === "producer") return "write";
  if (op.op === "touch") return "touch";
  return "single";
}

async function applyOne(client: Client, op: WalOp): Promise<void> {
  switch (op.op) {
    case "segment":
      await writeSegment(client, op.segment);
      return;
    case "soft_delete":
      await client.query(
        "UPDATE streams SET soft_deleted = true WHERE id = $1",
        [
          op.streamId,
        ],
      );
      return;
    case "delete": // chunks, segments and producers go with it (cascade)
      await client.query("DELETE FROM streams WHERE id = $1", [op.streamId]);
      return;
    default:
      throw new Error(`unexpected op ${op.op} applied alone`);
  }
}

function writeSegment(client: Client, r: SegmentRow): Promise<unknown> {
  return client.query(
    `INSERT INTO segments (stream_id, start_pos, end_pos, size_bytes, uploaded)
     SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM streams WHERE id = $1)
     ON CONFLICT (stream_id, start_pos) DO UPDATE SET end_pos = excluded.end_pos,
       size_bytes = excluded.size_bytes, uploaded = excluded.uploaded`,
    [r.streamId, r.startPos, r.endPos, r.sizeBytes, r.uploaded],
  );
}

/**
 * `(…),(…)` with `rows` tuples of `casts.length` parameters each, numbered
 * from `$1`; each parameter carries its cast (types of a `VALUES` list in
 * `FROM` are not inferred from the target table).
 */
function tuples(rows: number, casts: readonly string[]): string {
  const out: string[] = [];
  let n = 1;
  for (let r = 0; r < rows; r++) {
    out.push(`(${casts.map((c) => `$${n++}::${c}`).join(",")})`);
  }
  return out.join(",");
}

/** Runs `statement(rows)` over `rows` in slices small enough for one statement. */
async function inSlices<T>(
  rows: T[],
  statement: (slice: T[]) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < rows.length; i += PG_ROWS_PER_STATEMENT_MAX) {
    await statement(rows.slice(i, i + PG_ROWS_PER_STATEMENT_MAX));
  }
}

const STREAM_CASTS = [
  "bigint",
  "text",
  "text",
  "bigint",
  "bigint",
  "bigint",
  "bigint",
  "bigint",
  "boolean",
  "text",
  "bigint",
  "bigint",
  "text",
  "bigint",
  "bigint",
  "boolean",
] as const;

function insertStreams(client: Client, ops: WalOp[]): Promise<void> {
  const rows = ops.map((op) => (op as { stream: StreamRow }).stream);
  return inSlices(rows, (slice) =>
    client.query(
      `INSERT INTO streams (id, name, content_type, created_at_ms, accessed_at_ms,
       ttl_s, expires_at_ms, tail_pos, closed, closed_by_producer, closed_by_epoch,
       closed_by_seq, stream_seq, forked_from, fork_pos, soft_deleted)
       VALUES ${tuples(slice.length, STREAM_CASTS)}`,
      slice.flatMap((s) => [
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
      ]),
    ));
}

/** One run of appends and producer updates: three statements at most. */
async function writeRun(client: Client, ops: WalOp[]): Promise<void> {
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
  await insertChunks(client, chunks);
  await updateTails(client, [...tails]);
  await upsertProducers(client, [...producers.values()]);
}

function insertChunks(
  client: Client,
  chunks: [number, Chunk][],
): Promise<void> {
  return inSlices(chunks, (slice) =>
    client.query(
      `INSERT INTO chunks (stream_id, start_pos, end_pos, data, lengths)
       VALUES ${
        tuples(slice.length, ["bigint", "bigint", "bigint", "bytea", "bytea"])
      }`,
      slice.flatMap(([streamId, c]) => [
        streamId,
        c.startPos,
        c.endPos,
        c.data,
        c.lengths === null ? null : new Uint8Array(
          c.lengths.buffer,
          c.lengths.byteOffset,
          c.lengths.byteLength,
        ),
      ]),
    ));
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
] as const;

function updateTails(
  client: Client,
  tails: [number, StreamTail][],
): Promise<void> {
  return inSlices(tails, (slice) =>
    client.query(
      `UPDATE streams AS s SET tail_pos = v.tail_pos, closed = v.closed,
         closed_by_producer = v.producer, closed_by_epoch = v.epoch,
         closed_by_seq = v.seq, stream_seq = v.stream_seq, accessed_at_ms = v.accessed
       FROM (VALUES ${tuples(slice.length, TAIL_CASTS)})
         AS v(id, tail_pos, closed, producer, epoch, seq, stream_seq, accessed)
       WHERE s.id = v.id`,
      slice.flatMap(([id, t]) => [
        id,
        t.tailPos,
        t.closed,
        t.closedBy?.producerId ?? null,
        t.closedBy?.epoch ?? null,
        t.closedBy?.seq ?? null,
        t.streamSeq,
        t.accessedAtMs,
      ]),
    ));
}

function upsertProducers(client: Client, rows: ProducerRow[]): Promise<void> {
  return inSlices(rows, (slice) =>
    client.query(
      `INSERT INTO producers (stream_id, producer_id, epoch, seq, updated_at_ms)
       VALUES ${
        tuples(slice.length, ["bigint", "text", "bigint", "bigint", "bigint"])
      }
       ON CONFLICT (stream_id, producer_id) DO UPDATE SET epoch = excluded.epoch,
         seq = excluded.seq, updated_at_ms = excluded.updated_at_ms`,
      slice.flatMap((r) => [
        r.streamId,
        r.producerId,
        r.epoch,
        r.seq,
        r.updatedAtMs,
      ]),
    ));
}

function touchStreams(client: Client, ops: WalOp[]): Promise<void> {
  const last = new Map<number, number>();
  for (const op of ops) {
    if (op.op === "touch") last.set(op.streamId, op.accessedAtMs);
  }
  return inSlices([...last], (slice) =>
    client.query(
      `UPDATE streams AS s SET accessed_at_ms = v.accessed
       FROM (VALUES ${
        tuples(slice.length, ["bigint", "bigint"])
      }) AS v(id, accessed)
       WHERE s.id = v.id`,
      slice.flat(),
    ));
}
