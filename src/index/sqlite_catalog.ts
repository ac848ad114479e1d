/**
 * @module
 * `RunCatalog` in SQLite: tables `rk_state` and `rk_runs`, created if
 * missing, through a connection of its own (normally to the WAL file, as
 * the subscription store does). Every method is one synchronous
 * transaction, so a crash leaves either the old catalog or the new one.
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Durability } from "../config.ts";
import { StreamError } from "../errors.ts";
import {
  activeRuns,
  applyChange,
  type CatalogChange,
  checkTiling,
  noState,
  type RoutingState,
  type RunCatalog,
  type RunRow,
} from "./catalog.ts";
import { seedFromHex, seedToHex } from "./fingerprint.ts";

/** The catalog's tables (idempotent). */
export const RUN_CATALOG_SCHEMA = `
CREATE TABLE IF NOT EXISTS rk_state (
  stream_id INTEGER PRIMARY KEY,
  seed TEXT NOT NULL,
  indexed_through INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rk_runs (
  stream_id INTEGER NOT NULL,
  level INTEGER NOT NULL,
  first_seg INTEGER NOT NULL,
  last_seg INTEGER NOT NULL,
  object_key TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  retired_at_ms INTEGER,
  PRIMARY KEY (stream_id, object_key)
) WITHOUT ROWID;
`;

type Row = Record<string, unknown>;

/** Opens (creating the tables if needed) the catalog in the SQLite file at `path`. */
export function openSqliteRunCatalog(
  path: string,
  durability: Durability,
): SqliteRunCatalog {
  return new SqliteRunCatalog(new DatabaseSync(path), durability);
}

/** The SQLite `RunCatalog`. Use `openSqliteRunCatalog`. */
export class SqliteRunCatalog implements RunCatalog {
  #db: DatabaseSync;
  #getState: StatementSync;
  #insertState: StatementSync;
  #updateState: StatementSync;
  #getRuns: StatementSync;
  #insertRun: StatementSync;
  #retireRun: StatementSync;
  #deleteRun: StatementSync;
  #deleteRuns: StatementSync;
  #deleteState: StatementSync;

  /** Wraps `db`, creating the tables if missing. */
  constructor(db: DatabaseSync, durability: Durability) {
    this.#db = db;
    db.exec(`PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL;
      PRAGMA synchronous=${durability === "fsync" ? "FULL" : "NORMAL"};`);
    db.exec(RUN_CATALOG_SCHEMA);
    this.#getState = db.prepare("SELECT * FROM rk_state WHERE stream_id = ?");
    this.#insertState = db.prepare(
      "INSERT OR IGNORE INTO rk_state VALUES (?, ?, ?, ?)",
    );
    this.#updateState = db.prepare(
      "UPDATE rk_state SET indexed_through = ?, updated_at_ms = ? WHERE stream_id = ?",
    );
    this.#getRuns = db.prepare(
      "SELECT * FROM rk_runs WHERE stream_id = ? ORDER BY first_seg, level",
    );
    this.#insertRun = db.prepare(
      "INSERT OR REPLACE INTO rk_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.#retireRun = db.prepare(
      "UPDATE rk_runs SET retired_at_ms = ? WHERE stream_id = ? AND object_key = ?",
    );
    this.#deleteRun = db.prepare(
      "DELETE FROM rk_runs WHERE stream_id = ? AND object_key = ? AND retired_at_ms IS NOT NULL",
    );
    this.#deleteRuns = db.prepare("DELETE FROM rk_runs WHERE stream_id = ?");
    this.#deleteState = db.prepare("DELETE FROM rk_state WHERE stream_id = ?");
  }

  state(streamId: number): RoutingState | undefined {
    const row = this.#getState.get(streamId) as Row | undefined;
    if (row === undefined) return undefined;
    const seed = seedFromHex(row.seed);
    if (seed === undefined) {
      throw new StreamError(
        "corrupt",
        `Bad routing-key seed for stream ${streamId}`,
      );
    }
    return {
      seed,
      indexedThrough: Number(row.indexed_through),
      updatedAtMs: Number(row.updated_at_ms),
    };
  }

  init(streamId: number, seed: bigint, nowMs: number): RoutingState {
    this.#insertState.run(streamId, seedToHex(seed), 0, nowMs);
    return this.state(streamId)!;
  }

  runs(streamId: number): RunRow[] {
    return (this.#getRuns.all(streamId) as Row[]).map((r) => ({
      level: Number(r.level),
      firstSegment: Number(r.first_seg),
      lastSegment: Number(r.last_seg),
      objectKey: String(r.object_key),
      bytes: Number(r.bytes),
      retiredAtMs: r.retired_at_ms === null ? null : Number(r.retired_at_ms),
    }));
  }

  commit(streamId: number, change: CatalogChange): void {
    this.#transaction(() => {
      const state = this.state(streamId);
      if (state === undefined) throw noState(streamId);
      applyChange(state, this.runs(streamId), change); // throws if invalid
      for (const key of change.retire) {
        this.#retireRun.run(change.nowMs, streamId, key);
      }
      for (const r of change.add) {
        this.#insert(streamId, { ...r, retiredAtMs: null });
      }
      this.#updateState.run(change.indexedThrough, change.nowMs, streamId);
    });
  }

  forget(streamId: number, objectKeys: string[]): void {
    this.#transaction(() => {
      for (const key of objectKeys) this.#deleteRun.run(streamId, key);
    });
  }

  drop(streamId: number): void {
    this.#transaction(() => {
      this.#deleteRuns.run(streamId);
      this.#deleteState.run(streamId);
    });
  }

  replace(streamId: number, state: RoutingState, rows: RunRow[]): void {
    checkTiling(activeRuns(rows), state.indexedThrough);
    this.#transaction(() => {
      this.#deleteRuns.run(streamId);
      this.#deleteState.run(streamId);
      this.#insertState.run(
        streamId,
        seedToHex(state.seed),
        state.indexedThrough,
        state.updatedAtMs,
      );
      for (const r of rows) this.#insert(streamId, r);
    });
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #insert(streamId: number, r: RunRow): void {
    this.#insertRun.run(
      streamId,
      r.level,
      r.firstSegment,
      r.lastSegment,
      r.objectKey,
      r.bytes,
      r.retiredAtMs,
    );
  }

  #transaction(body: () => void): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      body();
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }
}
