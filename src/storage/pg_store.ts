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
  PG_META_GAP_MS,
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
  isStaleConflict,
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
  type PartialSnapshot,
  type ProducerRow,
  type ReloadScope,
  retryableError,
  type SchemaRegistryRow,
  type SegmentRow,
  type SharedWal,
  staleError,
  type WalOp,
  type WalSnapshot,
  type WalStore,
} from "./wal_store.ts";
import {
  META_CHANNEL,
  NOTIFY_BYTES_MAX,
  PgNodeLink,
  TAIL_CHANNEL,
} from "./_pg_node.ts";

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
  /** This node's id in the node registry; a random one when absent. */
  nodeId?: string;
  /**
   * Other nodes share the schema: register in `nodes`, announce commits
   * with `NOTIFY`, listen for theirs (see `shared`).
   */
  multiNode?: boolean;
  /**
   * Whether a `delete` records its stream in the release log (off when no
   * object store is used: nothing would take the rows out). @default true
   */
  releaseLog?: boolean;
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
    await store.join();
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
  /**
   * `next_stream_id` as this node last knew it stored (at load, or after its
   * own commit): ids below it are ones this node may already hold (its own
   * earlier reservations run ahead of the creates that use them).
   */
  #knownNextId = 1;
  #unreachable: string | undefined;
  /**
   * Each stream's `version` (the transaction that last changed it) as this
   * node last loaded or committed it: a commit changing a stream whose row
   * holds another version was planned from stale state.
   */
  #versions = new Map<number, string>();
  /**
   * `meta_version` up to which every create, delete, close and schema
   * change is loaded here (own commits, announced changes reloaded, a full
   * load), and the versions above it already applied (`#noteMeta`).
   */
  #metaVersion = 0;
  #metaAhead = new Set<number>();
  /** The node registry row, heartbeats and the LISTEN connection. */
  readonly #node: PgNodeLink;
  /**
   * Other nodes' announcements and the staleness checks (see `SharedWal`),
   * with `multiNode`. Commits check staleness either way, so a second
   * node started without it is refused (503), never trusted.
   */
  readonly shared: SharedWal | undefined;

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
    // Only a new connection that finished its handshake shows the database
    // reachable again: an idle pooled one may be dead without knowing it.
    this.#pool.on("connect", (client) => {
      this.#unreachable = undefined;
      client.on("error", lost);
    });
    this.#node = new PgNodeLink({
      url: options.url,
      schema: options.schema,
      nodeId: options.nodeId ?? crypto.randomUUID().slice(0, 13),
      pool: this.#pool,
      connectTimeoutMs: options.connectTimeoutMs,
      log: options.log,
    });
    const node = this.#node;
    this.shared = options.multiNode !== true ? undefined : {
      nodeId: node.nodeId,
      watch: (events) => node.watch(events),
      announcePrefix: node.prefix,
      watchSubscriptions: (listener) => node.watchSubscriptions(listener),
      current: (ids, names) => this.#current(ids, names ?? []),
      poll: (ids, names) => this.#poll(ids, names ?? []),
      metaApplied: (meta) => this.#metaVersion >= meta,
      loadSome: (scope) => this.#loadSome(scope),
    };
  }

  /** Registers this node and starts its heartbeat (multi-node only). */
  async join(): Promise<void> {
    if (this.shared !== undefined) await this.#node.join();
  }

  /**
   * Whether `ids` hold the versions this node knows and streams named
   * `names` are known here (a stream's version moves with every change to
   * it, its producers and its schema; other streams do not matter).
   */
  async #current(ids: number[], names: string[]): Promise<boolean> {
    const { rows } = await this.#peek(ids, names, "id, version");
    const found = new Set(rows.map((r) => Number(r.id)));
    return ids.every((id) => found.has(id)) &&
      rows.every((r) => this.#versions.get(Number(r.id)) === String(r.version));
  }

  async #poll(ids: number[], names: string[]) {
    const { rows, meta } = await this.#peek(
      ids,
      names,
      "id, version, tail_pos, closed, accessed_at_ms",
    );
    const asked = new Set(ids);
    const found = new Set(rows.map((r) => Number(r.id)));
    return {
      full: this.#metaGapOld(meta),
      changed: meta !== this.#metaVersion ||
        ids.some((id) => !found.has(id)) ||
        rows.some((r) => {
          const known = this.#versions.get(Number(r.id));
          return known === undefined ||
            (r.closed === true && known !== String(r.version));
        }),
      tails: rows.filter((r) => asked.has(Number(r.id))).map((r) => ({
        streamId: Number(r.id),
        tailPos: Number(r.tail_pos),
        accessedAtMs: Number(r.accessed_at_ms),
      })),
      meta,
    };
  }

  /**
   * Whether meta changes up to `meta` (the stored `meta_version`) are not
   * all applied here and some have stayed so for `PG_META_GAP_MS`: their
   * announcements were missed.
   */
  #metaGapOld(meta: number): boolean {
    const gap = this.#metaGap;
    const now = Date.now();
    if (gap !== undefined && this.#metaVersion < gap.meta) {
      if (now - gap.sinceMs < PG_META_GAP_MS) return false;
      this.#metaGap = undefined;
      return true;
    }
    this.#metaGap = meta > this.#metaVersion
      ? { meta, sinceMs: now }
      : undefined;
    return false;
  }

  #metaGap: { meta: number; sinceMs: number } | undefined;

  async #peek(
    ids: number[],
    names: string[],
    columns: string,
  ): Promise<{ rows: PgRow[]; meta: number }> {
    const client = await this.#connect("Cannot read the WAL");
    try {
      // One round trip: the meta row, joined with the streams asked about.
      const qualified = columns.split(",").map((c) => `s.${c.trim()}`);
      const { rows } = await client.query(
        `SELECT m.value AS meta_value, ${qualified.join(", ")} FROM meta m
         LEFT JOIN streams s
           ON s.id = ANY($1::bigint[]) OR s.name = ANY($2::text[])
         WHERE m.key = 'meta_version'`,
        [ids, names],
      );
      client.release();
      return {
        rows: rows.filter((r: PgRow) => r.id !== null),
        meta: Number(rows[0]?.meta_value ?? 0),
      };
    } catch (error) {
      client.release(isConnectionError(error));
      throw this.#failure("Cannot read the WAL", error);
    }
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

  /** The committed producer states of stream `streamId`. */
  async loadProducers(streamId: number): Promise<ProducerRow[]> {
    const client = await this.#connect("Cannot read the WAL");
    try {
      const { rows } = await client.query(
        "SELECT * FROM producers WHERE stream_id = $1",
        [streamId],
      );
      client.release();
      return rows.map(producerFromPgRow);
    } catch (error) {
      client.release(isConnectionError(error));
      throw this.#failure("Cannot read the WAL", error);
    }
  }

  /**
   * Reads every stream, segment and schema registry in one snapshot
   * (producer states are read per stream, on demand).
   */
  async load(): Promise<WalSnapshot> {
    const client = await this.#connect("Cannot load the WAL");
    try {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const streamRows = (await client.query(
        "SELECT * FROM streams ORDER BY id",
      )).rows;
      const streams = streamRows.map(streamFromPgRow);
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
      const meta = await client.query(
        "SELECT value FROM meta WHERE key = 'meta_version'",
      );
      await client.query("COMMIT");
      client.release();
      this.#versions = new Map(
        streamRows.map((r: PgRow) => [Number(r.id), String(r.version)]),
      );
      this.#metaVersion = Number(meta.rows[0]?.value ?? 0);
      this.#metaAhead.clear();
      const maxId = streams.reduce((m, s) => Math.max(m, s.id), 0);
      const stored = next.rows.length === 0 ? 1 : Number(next.rows[0].value);
      this.#knownNextId = Math.max(stored, maxId + 1);
      return {
        streams,
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
        this.#knownNextId = Math.max(this.#knownNextId, nextStreamId);
        return;
      } catch (error) {
        if (isRetryableConflict(error) && attempt < PG_CONFLICT_RETRIES_MAX) {
          await sleep(Math.random() * 10 * attempt);
          continue;
        }
        if (isStaleConflict(error)) {
          // A name or id taken, or a stream gone, by another node's commit.
          throw staleError(
            "WAL commit failed",
            `another node changed these streams (${
              describe(error, this.#options.url)
            })`,
          );
        }
        throw this.#failure("WAL commit failed", error);
      }
    }
  }

  async #commitOnce(ops: WalOp[], nextStreamId: number): Promise<void> {
    const client = await this.#connect("WAL commit failed");
    const pid = (client as unknown as { processID: number | null }).processID;
    let written: Written | undefined;
    try {
      written = await this.#write(client, ops, nextStreamId);
      this.#checkFresh(ops, written, nextStreamId);
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
      if (!await this.#committed(written.xid, pid, error)) throw error; // rolled back: retryable
    }
    this.#remember(ops, written);
  }

  /**
   * Rejects with a `staleError` when a stream `ops` change holds a version
   * this node did not plan from (another node committed to it, or deleted
   * it), or another node handed out the ids `ops` create.
   */
  #checkFresh(ops: WalOp[], written: Written, nextStreamId: number): void {
    const sources = [...written.locked.keys()].filter((id) =>
      !lockIds(ops).includes(id)
    );
    for (const id of [...checkedIds(ops), ...sources]) {
      const known = this.#versions.get(id);
      if (known !== undefined && written.locked.get(id) !== known) {
        throw staleError(
          "WAL commit failed",
          `stream id ${id} was changed by another node`,
        );
      }
    }
    if (written.nextId !== undefined) {
      // Ids below `#knownNextId` were reserved by this node already (the
      // engine hands them out ahead of the flush that commits them); only a
      // batch reserving new ones must find nobody took them meanwhile.
      const known = this.#knownNextId;
      const created = ops.flatMap((op) =>
        op.op === "create" ? [op.stream.id] : []
      );
      const reserves = nextStreamId > known ||
        created.some((id) => id >= known);
      if (reserves && written.nextId > known) {
        throw staleError(
          "WAL commit failed",
          `stream id ${known} was handed out by another node`,
        );
      }
    }
  }

  /** Notes the versions a committed batch gave its streams. */
  #remember(ops: WalOp[], written: Written): void {
    for (const op of ops) {
      if (op.op === "delete") this.#versions.delete(op.streamId);
    }
    for (const id of bumpedIds(ops)) {
      if (this.#versions.has(id) || createdIds(ops).has(id)) {
        this.#versions.set(id, written.xid);
      }
    }
    if (written.metaVersion !== undefined) {
      this.#noteMeta([written.metaVersion]);
    }
  }

  /**
   * Notes meta changes as applied here, and moves `#metaVersion` over the
   * ones now contiguous. Announcements arrive in commit order, own commits
   * may come before or after them.
   */
  #noteMeta(versions: string[]): void {
    for (const v of versions) {
      const n = Number(v);
      if (Number.isSafeInteger(n) && n > this.#metaVersion) {
        this.#metaAhead.add(n);
      }
    }
    while (this.#metaAhead.delete(this.#metaVersion + 1)) this.#metaVersion++;
  }

  /**
   * Reads the streams of `scope` (and their fork sources) and their schema
   * registries in one snapshot, and notes their versions: a
   * reload that costs the streams it names, not every stream (every query
   * is an index lookup: `EXPLAIN` showed a join with a recursive query
   * scanning the whole table once it was a few thousand rows).
   */
  async #loadSome(scope: ReloadScope): Promise<PartialSnapshot> {
    const client = await this.#connect("Cannot load the WAL");
    try {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      // By primary key and name index, then fork sources a level at a time
      // (chains are short): index lookups only, whatever the table's size.
      const byId = new Map<number, PgRow>();
      let found: PgRow[] = (await client.query(
        "SELECT * FROM streams WHERE id = ANY($1::bigint[]) OR name = ANY($2::text[])",
        [scope.ids, scope.names],
      )).rows;
      while (found.length > 0) {
        for (const r of found) byId.set(Number(r.id), r);
        const sources = new Set<number>();
        for (const r of found) {
          const source = r.forked_from === null ? null : Number(r.forked_from);
          if (source !== null && !byId.has(source)) sources.add(source);
        }
        if (sources.size === 0) break;
        found = (await client.query(
          "SELECT * FROM streams WHERE id = ANY($1::bigint[])",
          [[...sources]],
        )).rows;
      }
      const ids = [...byId.keys()].sort((x, y) => x - y);
      const streamRows = ids.map((id) => byId.get(id)!);
      const schemaRegistries = (await client.query(
        `SELECT stream_id, registry FROM stream_schemas
          WHERE stream_id = ANY($1::bigint[]) ORDER BY stream_id`,
        [ids],
      )).rows.map((r: PgRow): SchemaRegistryRow => ({
        streamId: Number(r.stream_id),
        registry: String(r.registry),
      }));
      const next = await client.query(
        "SELECT value FROM meta WHERE key = 'next_stream_id'",
      );
      await client.query("COMMIT");
      client.release();
      for (const id of scope.ids) this.#versions.delete(id);
      for (const r of streamRows) {
        this.#versions.set(Number(r.id), String(r.version));
      }
      this.#noteMeta(scope.metaVersions ?? []);
      const streams = streamRows.map(streamFromPgRow);
      const profiles = streamRows.filter((r) => r.profile_kind !== null).map((
        r,
      ) => ({
        streamId: Number(r.id),
        kind: String(r.profile_kind),
        options: String(r.profile_json),
      }));
      const maxId = streams.reduce((m, s) => Math.max(m, s.id), 0);
      const stored = next.rows.length === 0 ? 1 : Number(next.rows[0].value);
      // Ids another node handed out since are no longer free.
      this.#knownNextId = Math.max(this.#knownNextId, stored, maxId + 1);
      return {
        streams,
        schemaRegistries,
        profiles,
        nextStreamId: Math.max(stored, maxId + 1),
      };
    } catch (error) {
      client.release(true);
      throw this.#failure("Cannot load the WAL", error);
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
  ): Promise<Written> {
    const ids = lockIds(ops);
    const statements = ["BEGIN", "SELECT txid_current() AS xid"];
    if (ids.length > 0) {
      // The source of a stream deleted here too: whether its delete
      // cascades was decided from the source's state.
      const deleted = ops.flatMap((op) =>
        op.op === "delete" ? [op.streamId] : []
      );
      const sources = deleted.length === 0
        ? ""
        : ` OR id IN (SELECT forked_from FROM streams WHERE id IN (${
          deleted.join(",")
        }))`;
      statements.push(
        `SELECT id AS locked_id, version AS locked_version FROM streams WHERE id IN (${
          ids.join(",")
        })${sources} ORDER BY id FOR UPDATE`,
      );
    }
    // Meta rows after stream rows, in key order: no lock cycle.
    const creates = createdIds(ops).size > 0;
    if (creates) {
      statements.push(
        "SELECT value AS next_id FROM meta WHERE key = 'next_stream_id' FOR UPDATE",
      );
    }
    if (creates || nextStreamId !== this.#persistedNextId) {
      statements.push(
        `INSERT INTO meta (key, value) VALUES ('next_stream_id', ${
          literal(String(nextStreamId))
        }) ON CONFLICT (key) DO UPDATE SET value =
          greatest(meta.value::bigint, excluded.value::bigint)::text`,
      );
    }
    statements.push(
      ...batchStatements(
        ops,
        PG_MESSAGE_BYTES_MAX / 2,
        this.#options.releaseLog ?? true,
      ),
    );
    // Tail updates set their streams' version themselves.
    const tails = new Set(
      ops.flatMap((op) => op.op === "append" ? [op.streamId] : []),
    );
    const bumped = [...bumpedIds(ops)].filter((id) => !tails.has(id));
    if (bumped.length > 0) {
      statements.push(
        `UPDATE streams SET version = txid_current() WHERE id IN (${
          bumped.join(",")
        })`,
      );
    }
    if (changesMeta(ops)) {
      statements.push(
        `UPDATE meta SET value = (value::bigint + 1)::text
         WHERE key = 'meta_version' RETURNING value AS meta_version`,
      );
    }
    if (this.shared !== undefined) statements.push(...this.#notices(ops));
    const written: Written = { xid: "", locked: new Map() };
    for (const message of packMessages(statements, PG_MESSAGE_BYTES_MAX)) {
      const result = await client.query(message);
      const results =
        (Array.isArray(result) ? result : [result]) as pg.QueryResult[];
      for (const r of results) {
        const field = r.fields?.[0]?.name;
        if (field === "xid") written.xid = String(r.rows[0].xid);
        else if (field === "locked_id") {
          for (const row of r.rows) {
            written.locked.set(
              Number(row.locked_id),
              String(row.locked_version),
            );
          }
        } else if (field === "next_id") {
          written.nextId = r.rows.length === 0 ? 0 : Number(r.rows[0].next_id);
        } else if (field === "meta_version") {
          written.metaVersion = String(r.rows[0].meta_version);
        }
      }
    }
    assert(written.xid !== "", "the first message reports the transaction id");
    return written;
  }

  /**
   * The `NOTIFY`s of a batch, sent inside its transaction (so delivered
   * only if it commits, in commit order): one on the meta channel when it
   * creates, deletes, closes or changes a schema, and its tails on the
   * tail channel, as few messages as the payload limit allows.
   */
  #notices(ops: WalOp[]): string[] {
    const prefix = this.#node.prefix;
    const out = tailPayloads(prefix, ops).map((payload) =>
      `SELECT pg_notify(${literal(TAIL_CHANNEL)}, ${literal(payload)})`
    );
    if (changesMeta(ops)) {
      // `<prefix>|<meta_version>|<scope>`: the version this batch bumped
      // meta_version to (read after the bump, in this transaction).
      out.push(
        `SELECT pg_notify(${literal(META_CHANNEL)}, ${
          literal(`${prefix}|`)
        } || (SELECT value FROM meta WHERE key = 'meta_version') || ${
          literal(`|${metaScope(ops)}`)
        })`,
      );
    }
    return out;
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
   * `undefined` once a new connection was made again; for `GET /health`.
   */
  get unreachable(): string | undefined {
    return this.#unreachable;
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

  /**
   * Records a sealed segment (see `WalStore`); with `leaseToken`, only while
   * the stream's lease still carries it (else `fenced`, nothing written).
   */
  addSegment(row: SegmentRow, leaseToken?: number): Promise<void> {
    return this.#transaction("Cannot record segment", async (client) => {
      await fenceLease(client, row.streamId, leaseToken);
      await client.query(segmentStatement(row));
    });
  }

  /**
   * Marks segments uploaded and deletes WAL chunks below `belowPos`,
   * atomically; with `leaseToken`, only while the stream's lease still
   * carries it (else `fenced`, nothing changed).
   */
  truncate(
    streamId: number,
    belowPos: number,
    leaseToken?: number,
  ): Promise<void> {
    return this.#transaction("WAL truncation failed", async (client) => {
      await fenceLease(client, streamId, leaseToken);
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

  /** Release log entries above `afterId` (see `WalStore`). */
  async pendingReleases(afterId: number, limit: number): Promise<number[]> {
    const rows = await this.#transaction(
      "Cannot read the release log",
      (client) =>
        client.query(
          `SELECT stream_id FROM releases WHERE stream_id > $1
           ORDER BY stream_id LIMIT $2`,
          [afterId, limit],
        ),
    );
    return rows.rows.map((row) => Number(row.stream_id));
  }

  /** Removes stream `streamId` from the release log. */
  async released(streamId: number): Promise<void> {
    await this.#transaction(
      "Cannot update the release log",
      (client) =>
        client.query("DELETE FROM releases WHERE stream_id = $1", [streamId]),
    );
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

  /** Leaves the node registry, closes the listener and the pool. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#node.leave();
    this.#closed = true;
    await this.#pool.end();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What the write of a batch reported back. */
interface Written {
  /** The transaction id (also the version it gives the streams it changes). */
  xid: string;
  /** Locked stream rows' versions, by id. */
  locked: Map<number, string>;
  /** `next_stream_id` as stored before this batch (when it creates). */
  nextId?: number;
  /** `meta_version` after this batch's bump (when it has one). */
  metaVersion?: string;
}

/** Streams whose state the engine planned from: checked under the lock. */
function checkedIds(ops: WalOp[]): Set<number> {
  const ids = new Set<number>();
  const created = createdIds(ops);
  for (const op of ops) {
    if (op.op === "create") {
      // A fork was planned from its source, and changes what deleting the
      // source means: the source's row is checked and moved too.
      const source = op.stream.forkedFrom;
      if (source !== null && !created.has(source)) ids.add(source);
      continue;
    }
    if (op.op === "touch" || op.op === "segment") continue;
    const id = op.op === "producer" ? op.row.streamId : op.streamId;
    if (!created.has(id)) ids.add(id);
  }
  return ids;
}

function producerFromPgRow(r: PgRow): ProducerRow {
  return {
    streamId: Number(r.stream_id),
    producerId: String(r.producer_id),
    epoch: Number(r.epoch),
    seq: Number(r.seq),
    updatedAtMs: Number(r.updated_at_ms),
  };
}

/** Streams a batch creates. */
function createdIds(ops: WalOp[]): Set<number> {
  const ids = new Set<number>();
  for (const op of ops) if (op.op === "create") ids.add(op.stream.id);
  return ids;
}

/** Streams whose version a batch moves (checked ones and new ones). */
function bumpedIds(ops: WalOp[]): Set<number> {
  const ids = new Set([...checkedIds(ops), ...createdIds(ops)]);
  for (const op of ops) if (op.op === "delete") ids.delete(op.streamId);
  return ids;
}

/**
 * The streams a meta announcement names, as JSON `{"ids":[..],"names":[..]}`
 * (creates by name too); empty when too long for one payload, and the
 * other nodes then reload every stream.
 */
export function metaScope(ops: WalOp[]): string {
  const ids = new Set<number>();
  const names = new Set<string>();
  for (const op of ops) {
    if (op.op === "create") {
      ids.add(op.stream.id);
      names.add(op.stream.name);
      if (op.stream.forkedFrom !== null) ids.add(op.stream.forkedFrom);
    } else if (
      op.op === "delete" || op.op === "soft_delete" ||
      op.op === "schema_registry" || op.op === "profile" ||
      (op.op === "append" && op.tail.closed)
    ) ids.add(op.streamId);
  }
  const text = JSON.stringify({ ids: [...ids], names: [...names] });
  return text.length > NOTIFY_BYTES_MAX - 200 ? "" : text;
}

/**
 * Whether other nodes must reload after `ops`: creates, deletes, closes,
 * schemas, profiles.
 */
function changesMeta(ops: WalOp[]): boolean {
  return ops.some((op) =>
    op.op === "create" || op.op === "delete" || op.op === "soft_delete" ||
    op.op === "schema_registry" || op.op === "profile" ||
    (op.op === "append" && op.tail.closed)
  );
}

/**
 * `<prefix>|<id>:<tail>,...` for every stream `ops` append to, split so
 * each payload stays under PostgreSQL's 8000-byte limit.
 */
export function tailPayloads(prefix: string, ops: WalOp[]): string[] {
  const tails = new Map<number, number>();
  for (const op of ops) {
    if (op.op === "append" && op.chunk !== null) {
      tails.set(op.streamId, op.tail.tailPos);
    }
  }
  const out: string[] = [];
  let payload = "";
  for (const [id, tail] of tails) {
    const entry = `${id}:${tail}`;
    if (
      payload !== "" && payload.length + entry.length + 1 > NOTIFY_BYTES_MAX
    ) {
      out.push(payload);
      payload = "";
    }
    payload += payload === "" ? `${prefix}|${entry}` : `,${entry}`;
  }
  if (payload !== "") out.push(payload);
  return out;
}

/** Stream ids whose rows a batch changes, ascending (the lock order). */
function lockIds(ops: WalOp[]): number[] {
  const ids = new Set<number>();
  for (const op of ops) {
    if (op.op === "create") {
      // No row yet; a fork's source is locked (see checkedIds).
      if (op.stream.forkedFrom !== null) ids.add(op.stream.forkedFrom);
      continue;
    }
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

/**
 * With `leaseToken`: throws `fenced` unless stream `streamId`'s lease still
 * carries that token (spec postgres-multinode §6: every owner-side commit
 * is fenced). The row is not locked: lease renewals go through the
 * synchronous client, which blocks this event loop, so a lock held here
 * would stall them. A lease taken over between this check and the commit
 * is harmless: the new owner's own writes start at the rows it reads.
 */
async function fenceLease(
  client: Client,
  streamId: number,
  leaseToken: number | undefined,
): Promise<void> {
  if (leaseToken === undefined) return;
  const { rows } = await client.query(
    "SELECT 1 FROM stream_leases WHERE stream_id = $1 AND token = $2",
    [streamId, leaseToken],
  );
  if (rows.length === 0) {
    throw new StreamError(
      "fenced",
      `the lease of stream id ${streamId} moved past token ${leaseToken}; not writing its tier state`,
    );
  }
}
