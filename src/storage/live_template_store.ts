/**
 * @module
 * Touch templates that outlive a restart (touch-live.md §7): one row per
 * stream and template in `live_templates`, kept in the data dir's local
 * SQLite file beside the subscription tables, with an in-memory twin for
 * tests. Touch journals are never stored; only the templates are, with
 * their state and a last-seen time written at most every
 * `lastSeenPersistIntervalMs` by the caller, and each stream's processor
 * checkpoint (touch-live.md §4) in `touch_state`.
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Durability } from "../config.ts";
import { SYNCHRONOUS } from "./_sqlite_schema.ts";

/** One stored template. */
export interface LiveTemplateRow {
  /** Internal id of the stream. */
  streamId: number;
  /** Hex16 template id. */
  templateId: string;
  /** Entity (State Protocol `type`). */
  entity: string;
  /** Field names, in key order. */
  fields: string[];
  /** Each field's encoding, in the same order. */
  encodings: string[];
  /** `active` or `retired`. */
  state: "active" | "retired";
  /** First activation, epoch ms. */
  createdAtMs: number;
  /** Last heartbeat written, epoch ms. */
  lastSeenAtMs: number;
  /** Idle time after which GC retires it. */
  inactivityTtlMs: number;
  /** The stream's tail position when it was (re)activated. */
  activeFromPos: number;
  /** When it was retired, epoch ms; null while active. */
  retiredAtMs: number | null;
  /** `inactivity` or `cap_exceeded`; null while active. */
  retiredReason: string | null;
}

/**
 * A stream's touch checkpoint (touch-live.md §4): the position its
 * processor has read through, and the journal epoch that read it.
 */
export interface TouchStateRow {
  /** Internal id of the stream. */
  streamId: number;
  /** Every record before this position has been turned into touches. */
  processedThroughPos: number;
  /** The epoch of the journal those touches went to. */
  epoch: string;
  /** When it was written, epoch ms. */
  updatedAtMs: number;
}

/** Where templates and touch checkpoints are kept. */
export interface LiveTemplateStore {
  /** Every row of stream `streamId`. */
  load(streamId: number): LiveTemplateRow[];
  /** Inserts or replaces rows, in one transaction. */
  put(rows: readonly LiveTemplateRow[]): void;
  /** Drops the rows of some templates of stream `streamId`. */
  deleteTemplates(streamId: number, templateIds: readonly string[]): void;
  /** The touch checkpoint of stream `streamId`, if one was written. */
  touchState(streamId: number): TouchStateRow | null;
  /** Writes a stream's touch checkpoint (replacing the last one). */
  putTouchState(row: TouchStateRow): void;
  /** Drops every row of stream `streamId`, its checkpoint too. */
  deleteStream(streamId: number): void;
  /** Streams that have rows or a checkpoint. */
  streamIds(): number[];
  /** Closes the store. */
  close(): void;
}

/** Templates in memory (tests, and servers without a local file). */
export class MemoryLiveTemplateStore implements LiveTemplateStore {
  readonly #rows = new Map<number, Map<string, LiveTemplateRow>>();
  readonly #states = new Map<number, TouchStateRow>();

  /** Every row of `streamId`. */
  load(streamId: number): LiveTemplateRow[] {
    return [...(this.#rows.get(streamId)?.values() ?? [])].map(copy);
  }

  /** Inserts or replaces rows. */
  put(rows: readonly LiveTemplateRow[]): void {
    for (const row of rows) {
      let stream = this.#rows.get(row.streamId);
      if (stream === undefined) {
        this.#rows.set(row.streamId, stream = new Map());
      }
      stream.set(row.templateId, copy(row));
    }
  }

  /** Drops the rows of some templates of `streamId`. */
  deleteTemplates(streamId: number, templateIds: readonly string[]): void {
    const stream = this.#rows.get(streamId);
    for (const id of templateIds) stream?.delete(id);
  }

  /** The checkpoint of `streamId`. */
  touchState(streamId: number): TouchStateRow | null {
    const state = this.#states.get(streamId);
    return state === undefined ? null : { ...state };
  }

  /** Writes a checkpoint. */
  putTouchState(row: TouchStateRow): void {
    this.#states.set(row.streamId, { ...row });
  }

  /** Drops the rows and the checkpoint of `streamId`. */
  deleteStream(streamId: number): void {
    this.#rows.delete(streamId);
    this.#states.delete(streamId);
  }

  /** Streams that have rows or a checkpoint. */
  streamIds(): number[] {
    return [...new Set([...this.#rows.keys(), ...this.#states.keys()])];
  }

  /** Nothing to close. */
  close(): void {}
}

function copy(row: LiveTemplateRow): LiveTemplateRow {
  return { ...row, fields: [...row.fields], encodings: [...row.encodings] };
}

/**
 * A row's values in column order (stream, template, entity, fields,
 * encodings, state, created, last seen, TTL, active from, retired at,
 * reason), as both SQL stores write them.
 */
export function templateValues(
  r: LiveTemplateRow,
): [
  number,
  string,
  string,
  string,
  string,
  string,
  number,
  number,
  number,
  number,
  number | null,
  string | null,
] {
  return [
    r.streamId,
    r.templateId,
    r.entity,
    JSON.stringify(r.fields),
    JSON.stringify(r.encodings),
    r.state,
    r.createdAtMs,
    r.lastSeenAtMs,
    r.inactivityTtlMs,
    r.activeFromPos,
    r.retiredAtMs,
    r.retiredReason,
  ];
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS live_templates (
  stream_id INTEGER NOT NULL,
  template_id TEXT NOT NULL,
  entity TEXT NOT NULL,
  fields TEXT NOT NULL,
  encodings TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  inactivity_ttl_ms INTEGER NOT NULL,
  active_from_pos INTEGER NOT NULL,
  retired_at INTEGER,
  retired_reason TEXT,
  PRIMARY KEY (stream_id, template_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS touch_state (
  stream_id INTEGER PRIMARY KEY,
  processed_through_pos INTEGER NOT NULL,
  epoch TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);`;

/** A checkpoint from a stored row (both SQL stores name columns alike). */
export function touchStateOf(r: Record<string, unknown>): TouchStateRow {
  return {
    streamId: Number(r.stream_id),
    processedThroughPos: Number(r.processed_through_pos),
    epoch: String(r.epoch),
    updatedAtMs: Number(r.updated_at_ms ?? r.updated_at),
  };
}

/** `LiveTemplateStore` on `node:sqlite`, in the file at `path`. */
export class SqliteLiveTemplateStore implements LiveTemplateStore {
  readonly #db: DatabaseSync;
  readonly #load: StatementSync;
  readonly #put: StatementSync;
  readonly #delete: StatementSync;
  readonly #deleteOne: StatementSync;
  readonly #streams: StatementSync;
  readonly #state: StatementSync;
  readonly #putState: StatementSync;
  readonly #deleteState: StatementSync;
  #closed = false;

  /** Opens its own connection and creates the table. */
  constructor(path: string, durability: Durability) {
    this.#db = new DatabaseSync(path);
    this.#db.exec(`PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL;
      PRAGMA synchronous=${SYNCHRONOUS[durability]};`);
    this.#db.exec(SCHEMA);
    this.#load = this.#db.prepare(
      `SELECT * FROM live_templates WHERE stream_id = ? ORDER BY template_id`,
    );
    this.#put = this.#db.prepare(
      `INSERT OR REPLACE INTO live_templates (stream_id, template_id, entity,
       fields, encodings, state, created_at, last_seen_at, inactivity_ttl_ms,
       active_from_pos, retired_at, retired_reason)
       VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
    );
    this.#delete = this.#db.prepare(
      `DELETE FROM live_templates WHERE stream_id = ?`,
    );
    this.#deleteOne = this.#db.prepare(
      `DELETE FROM live_templates WHERE stream_id = ? AND template_id = ?`,
    );
    this.#streams = this.#db.prepare(
      `SELECT stream_id FROM live_templates
       UNION SELECT stream_id FROM touch_state`,
    );
    this.#state = this.#db.prepare(
      `SELECT * FROM touch_state WHERE stream_id = ?`,
    );
    this.#putState = this.#db.prepare(
      `INSERT OR REPLACE INTO touch_state (stream_id, processed_through_pos,
       epoch, updated_at) VALUES (?,?,?,?)`,
    );
    this.#deleteState = this.#db.prepare(
      `DELETE FROM touch_state WHERE stream_id = ?`,
    );
  }

  /** The checkpoint of `streamId`. */
  touchState(streamId: number): TouchStateRow | null {
    const row = this.#state.get(streamId);
    return row === undefined ? null : touchStateOf(row);
  }

  /** Writes a checkpoint. */
  putTouchState(row: TouchStateRow): void {
    this.#putState.run(
      row.streamId,
      row.processedThroughPos,
      row.epoch,
      row.updatedAtMs,
    );
  }

  /** Every row of `streamId`. */
  load(streamId: number): LiveTemplateRow[] {
    return this.#load.all(streamId).map((r) => ({
      streamId: Number(r.stream_id),
      templateId: String(r.template_id),
      entity: String(r.entity),
      fields: JSON.parse(String(r.fields)),
      encodings: JSON.parse(String(r.encodings)),
      state: r.state === "retired" ? "retired" : "active",
      createdAtMs: Number(r.created_at),
      lastSeenAtMs: Number(r.last_seen_at),
      inactivityTtlMs: Number(r.inactivity_ttl_ms),
      activeFromPos: Number(r.active_from_pos),
      retiredAtMs: r.retired_at === null ? null : Number(r.retired_at),
      retiredReason: r.retired_reason === null
        ? null
        : String(r.retired_reason),
    }));
  }

  /** Inserts or replaces rows in one transaction. */
  put(rows: readonly LiveTemplateRow[]): void {
    if (rows.length === 0) return;
    this.#db.exec("BEGIN");
    try {
      for (const r of rows) {
        this.#put.run(...templateValues(r));
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Drops the rows of some templates of `streamId`, in one transaction. */
  deleteTemplates(streamId: number, templateIds: readonly string[]): void {
    if (templateIds.length === 0) return;
    this.#db.exec("BEGIN");
    try {
      for (const id of templateIds) this.#deleteOne.run(streamId, id);
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Drops the rows and the checkpoint of `streamId`. */
  deleteStream(streamId: number): void {
    this.#db.exec("BEGIN");
    try {
      this.#delete.run(streamId);
      this.#deleteState.run(streamId);
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Streams that have rows or a checkpoint. */
  streamIds(): number[] {
    return this.#streams.all().map((r) => Number(r.stream_id));
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
