/**
 * @module
 * `WalStore` on PostgreSQL (`pg`, node-postgres, from npm). A commit is one
 * transaction for a whole group of appends: it locks the stream rows it
 * touches in id order (so two writers batching the same streams never
 * deadlock), writes chunks, tails and producer states with a few multi-row
 * statements sent together (`_pg_batch.ts`), and resolves only after
 * `COMMIT` returns.
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
 *
 * About 650 lines, kept as one class: every method shares the pool, the
 * failure classification and the commit-outcome protocol above, and the
 * SQL text itself lives in `_pg_batch.ts` and `_pg_schema.ts`.
 */

// @ts-types="@types/pg"
import pg from "pg";
import type { Durability } from "../config.ts";
import { StartupError, StreamError } from "../errors.ts";
import { assert } from "../assert.ts";
import {
  DATABASE_RETRY_AFTER_SECONDS,
  PG_CONFLICT_RETRIES_MAX,
  PG_MESSAGE_BYTES_MAX,
  PG_OUTCOME_POLL_MS,
  PG_READ_PAGE_ROWS,
  QUERY_TIMEOUT_MARGIN_MS,
} from "../limits.ts";
import type { Logger } from "../log.ts";
import { planCompaction } from "./_compact.ts";
import {
  batchStatements,
  insertChunks,
  literal,
  packMessages,
  segmentStatement,
} from "./_pg_batch.ts";
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
import { mergeChunks, seekTimeInChunk } from "./chunk.ts";
import {
  type Chunk,
  diskFullError,
  type ProducerRow,
  retryableError,
  type SchemaRegistryRow,
  type SegmentRow,
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
  #unreachable: string | undefined;

  /** Creates the pool; nothing connects until the first query. */
  constructor(options: PgStoreOptions) {
    this.#options = options;
    const sessionOptions = [
      `-c search_path=${options.schema}`,
      // Literals in _pg_batch.ts are written for standard strings.
      "-c standard_conforming_strings=on",
      // A transaction whose client vanished must not hold its row locks.
      `-c idle_in_transaction_session_timeout=${
        options.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS
      }`,
    ];
    if (options.durability === "os") {
      sessionOptions.push("-c synchronous_commit=off");
    }
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      connectionTimeoutMillis: options.connectTimeoutMs,
      statement_timeout: options.statementTimeoutMs,
      // Our side's limit, for a network that drops packets without a reset
      // (the server's statement_timeout cannot answer then).
      query_timeout: options.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
      keepAlive: true,
      application_name: "streambed",
      options: sessionOptions.join(" "),
    });
    // A connection that dies emits "error": on the pool while idle, on the
    // client while checked out (the failing query rejects too). Without a
    // listener either would crash the process. The pool drops the dead
    // connection and connects anew when next asked.
    const lost = (error: Error) => {
      this.#unreachable = describe(error, options.url);
      options.log?.warn(`PostgreSQL connection lost: ${this.#unreachable}`);
    };
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

  /**
   * Reads every stream, producer, segment and schema registry in one
   * snapshot.
   */
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
      const schemaRegistries = (await client.query(
        "SELECT stream_id, registry FROM stream_schemas ORDER BY stream_id",
      )).rows.map((r: PgRow): SchemaRegistryRow => ({
        streamId: Number(r.stream_id),
        registry: String(r.registry),
      }));
      const profiles = (await client.query(
        `SELECT id, profile_kind, profile_json FROM streams
         WHERE profile_kind IS NOT NULL ORDER BY id`,
      )).rows.map((r: PgRow) => ({
        streamId: Number(r.id),
        kind: String(r.profile_kind),
        options: String(r.profile_json),
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
        schemaRegistries,
        profiles,
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
    const pid = (client as unknown as { processID: number | null }).processID;
    let xid: string | undefined;
    try {
      xid = await this.#write(client, ops, nextStreamId);
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
      if (await this.#committed(xid, pid, error)) return;
      throw error; // rolled back: reported as retryable by #failure
    }
  }

  /**
   * Opens the transaction, locks the stream rows of `ops` in id order (so
   * two writers batching the same streams cannot deadlock) and applies
   * `ops`, in as few messages as their size allows: usually one round trip.
   * Returns the transaction id, to learn its fate if the connection drops
   * during `COMMIT`.
   */
  async #write(
    client: Client,
    ops: WalOp[],
    nextStreamId: number,
  ): Promise<string> {
    const ids = lockIds(ops);
    const statements = ["BEGIN", "SELECT txid_current() AS xid"];
    if (ids.length > 0) {
      statements.push(
        `SELECT id FROM streams WHERE id IN (${
          ids.join(",")
        }) ORDER BY id FOR UPDATE`,
      );
    }
    statements.push(...batchStatements(ops, PG_MESSAGE_BYTES_MAX / 2));
    if (nextStreamId !== this.#persistedNextId) {
      statements.push(
        `INSERT INTO meta (key, value) VALUES ('next_stream_id', ${
          literal(String(nextStreamId))
        }) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      );
    }
    let xid: string | undefined;
    for (const message of packMessages(statements, PG_MESSAGE_BYTES_MAX)) {
      const result = await client.query(message);
      const results =
        (Array.isArray(result) ? result : [result]) as pg.QueryResult[];
      for (const r of results) {
        if (r.fields?.[0]?.name === "xid") xid = String(r.rows[0].xid);
      }
    }
    assert(xid !== undefined, "the first message reports the transaction id");
    return xid;
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
   * unknown, which is fatal: memory and database may disagree). While the
   * old session (`pid`) still holds it open (its packets lost, not reset),
   * that session is terminated, which settles the transaction one way.
   */
  async #committed(
    xid: string | undefined,
    pid: number | null,
    lost: unknown,
  ): Promise<boolean> {
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
        if (pid !== null) {
          await this.#pool.query("SELECT pg_terminate_backend($1)", [pid]);
        }
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

  /**
   * Why the database looks unreachable (the last connection failure), or
   * `undefined` once a connection worked again; for `GET /health`.
   */
  get unreachable(): string | undefined {
    return this.#unreachable;
  }

  /** A pooled connection, or a retryable error when none can be had. */
  async #connect(action: string): Promise<Client> {
    if (this.#closed) throw new StreamError("unavailable", "WAL is closed");
    try {
      const client = await this.#pool.connect();
      this.#unreachable = undefined;
      return client;
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
      this.#unreachable = why;
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
      await client.query(segmentStatement(row));
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

  /** The first record at or after a time (see `WalStore`). */
  async seekTime(
    streamId: number,
    fromPos: number,
    endPos: number,
    timeMs: number,
  ): Promise<number | undefined> {
    const client = await this.#connect("Cannot read the WAL");
    try {
      // Times never decrease along a stream, so max_time_ms orders like
      // start_pos: the first chunk whose last record is late enough.
      const { rows } = await client.query(
        `SELECT start_pos, end_pos, data, lengths, keys, times FROM chunks
         WHERE stream_id = $1 AND max_time_ms >= $2 AND end_pos > $3 AND start_pos < $4
         ORDER BY max_time_ms, start_pos LIMIT 1`,
        [streamId, timeMs, fromPos, endPos],
      );
      client.release();
      if (rows.length === 0) return undefined;
      const pos = seekTimeInChunk(chunkFromPgRow(rows[0]), fromPos, timeMs);
      return pos === undefined || pos >= endPos ? undefined : pos;
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
           RETURNING start_pos, end_pos, data, lengths, keys, times`,
          [streamId, start, end],
        );
        const merged = mergeChunks(
          rows.map(chunkFromPgRow).sort((a, b) => a.startPos - b.startPos),
        );
        for (
          const statement of insertChunks([[streamId, merged]], Infinity)
        ) {
          await client.query(statement);
        }
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
    `SELECT start_pos, end_pos, data, lengths, keys, times FROM chunks
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
      `SELECT start_pos, end_pos, data, lengths, keys, times FROM chunks
       WHERE stream_id = $1 AND start_pos > $2 AND start_pos < $3
       ORDER BY start_pos LIMIT $4`,
      [streamId, after, endPos, PG_READ_PAGE_ROWS],
    ));
  }
}
