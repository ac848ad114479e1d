/**
 * @module
 * `RunCatalog` on PostgreSQL (`--storage postgres`): tables `rk_state` and
 * `rk_runs` (a migration of the WAL schema), through the synchronous client
 * of `storage/pg_sync.ts`. A commit reads the state and runs, checks the
 * change as every catalog does, then writes it in one transaction that is a
 * compare-and-set on `rk_state.version`: if another node changed the
 * stream's catalog in between, nothing is written and the commit fails with
 * `fenced`, so two builders can never both extend the tiling.
 */

import { StreamError } from "../errors.ts";
import type { PgSyncClient, SyncRow } from "../storage/pg_sync.ts";
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

const INSERT_RUN = `INSERT INTO rk_runs (stream_id, level, first_seg, last_seg,
  object_key, bytes, retired_at_ms) VALUES ($1,$2,$3,$4,$5,$6,$7)
  ON CONFLICT (stream_id, object_key) DO UPDATE SET level = $2,
  first_seg = $3, last_seg = $4, bytes = $6, retired_at_ms = $7`;

/** See the module doc. The client is the caller's to close. */
export class PgRunCatalog implements RunCatalog {
  #client: PgSyncClient;

  /** Uses `client`, whose schema has been migrated by the WAL store. */
  constructor(client: PgSyncClient) {
    this.#client = client;
  }

  state(streamId: number): RoutingState | undefined {
    return this.#read(streamId)?.state;
  }

  init(streamId: number, seed: bigint, nowMs: number): RoutingState {
    const [, rows] = this.#client.transaction([
      {
        text: `INSERT INTO rk_state VALUES ($1, $2, 0, $3, 0)
          ON CONFLICT (stream_id) DO NOTHING`,
        values: [streamId, seedToHex(seed), nowMs],
      },
      {
        text: "SELECT * FROM rk_state WHERE stream_id = $1",
        values: [streamId],
      },
    ], "Cannot start a routing-key catalog");
    return stateOf(streamId, rows[0]).state;
  }

  runs(streamId: number): RunRow[] {
    return this.#client.query(
      "SELECT * FROM rk_runs WHERE stream_id = $1 ORDER BY first_seg, level",
      [streamId],
      "Cannot read routing-key runs",
    ).map(runOf);
  }

  commit(streamId: number, change: CatalogChange): void {
    const [states, runRows] = this.#client.transaction([
      {
        text: "SELECT * FROM rk_state WHERE stream_id = $1",
        values: [streamId],
      },
      {
        text:
          "SELECT * FROM rk_runs WHERE stream_id = $1 ORDER BY first_seg, level",
        values: [streamId],
      },
    ], "Cannot read routing-key catalog");
    if (states.length === 0) throw noState(streamId);
    const { state, version } = stateOf(streamId, states[0]);
    applyChange(state, runRows.map(runOf), change); // throws if invalid
    const done = this.#client.transactionIf([
      {
        text: `UPDATE rk_state SET indexed_through = $2, updated_at_ms = $3,
          version = version + 1 WHERE stream_id = $1 AND version = $4`,
        values: [streamId, change.indexedThrough, change.nowMs, version],
        expectRows: true,
      },
      ...change.retire.map((key) => ({
        text: `UPDATE rk_runs SET retired_at_ms = $3
          WHERE stream_id = $1 AND object_key = $2`,
        values: [streamId, key, change.nowMs],
      })),
      ...change.add.map((r) => ({
        text: INSERT_RUN,
        values: runValues(streamId, { ...r, retiredAtMs: null }),
      })),
    ], "Cannot commit routing-key catalog");
    if (done === undefined) {
      throw new StreamError(
        "fenced",
        `Routing-key catalog of stream ${streamId} changed elsewhere`,
      );
    }
  }

  forget(streamId: number, objectKeys: string[]): void {
    if (objectKeys.length === 0) return;
    this.#client.query(
      `DELETE FROM rk_runs WHERE stream_id = $1 AND object_key = ANY($2)
        AND retired_at_ms IS NOT NULL`,
      [streamId, objectKeys],
      "Cannot forget routing-key runs",
    );
  }

  drop(streamId: number): void {
    this.#client.transaction([
      { text: "DELETE FROM rk_runs WHERE stream_id = $1", values: [streamId] },
      { text: "DELETE FROM rk_state WHERE stream_id = $1", values: [streamId] },
    ], "Cannot drop routing-key catalog");
  }

  replace(streamId: number, state: RoutingState, rows: RunRow[]): void {
    checkTiling(activeRuns(rows), state.indexedThrough);
    this.#client.transaction([
      { text: "DELETE FROM rk_runs WHERE stream_id = $1", values: [streamId] },
      {
        text: `INSERT INTO rk_state VALUES ($1, $2, $3, $4, 0)
          ON CONFLICT (stream_id) DO UPDATE SET seed = $2,
          indexed_through = $3, updated_at_ms = $4,
          version = rk_state.version + 1`,
        values: [
          streamId,
          seedToHex(state.seed),
          state.indexedThrough,
          state.updatedAtMs,
        ],
      },
      ...rows.map((r) => ({
        text: INSERT_RUN,
        values: runValues(streamId, r),
      })),
    ], "Cannot restore routing-key catalog");
  }

  /** Nothing to release: the client belongs to the server. */
  close(): void {}

  #read(
    streamId: number,
  ): { state: RoutingState; version: number } | undefined {
    const rows = this.#client.query(
      "SELECT * FROM rk_state WHERE stream_id = $1",
      [streamId],
      "Cannot read routing-key catalog",
    );
    return rows.length === 0 ? undefined : stateOf(streamId, rows[0]);
  }
}

function stateOf(
  streamId: number,
  row: SyncRow,
): { state: RoutingState; version: number } {
  const seed = seedFromHex(row.seed);
  if (seed === undefined) {
    throw new StreamError(
      "corrupt",
      `Bad routing-key seed for stream ${streamId}`,
    );
  }
  return {
    state: {
      seed,
      indexedThrough: Number(row.indexed_through),
      updatedAtMs: Number(row.updated_at_ms),
    },
    version: Number(row.version),
  };
}

function runOf(r: SyncRow): RunRow {
  return {
    level: Number(r.level),
    firstSegment: Number(r.first_seg),
    lastSegment: Number(r.last_seg),
    objectKey: String(r.object_key),
    bytes: Number(r.bytes),
    retiredAtMs: r.retired_at_ms === null ? null : Number(r.retired_at_ms),
  };
}

function runValues(streamId: number, r: RunRow): unknown[] {
  return [
    streamId,
    r.level,
    r.firstSegment,
    r.lastSegment,
    r.objectKey,
    r.bytes,
    r.retiredAtMs,
  ];
}
