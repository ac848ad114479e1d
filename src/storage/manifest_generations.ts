/**
 * @module
 * Manifest generations (PostgreSQL full mode, spec postgres-multinode §6):
 * each stream's published manifest has a generation in the database, and a
 * publisher first moves it from the one it knows to the next with a
 * compare-and-set. A publisher that finds it moved (another node published
 * meanwhile) writes no manifest, so it can never roll a newer one back from
 * a stale view. `PgManifestGenerations` keeps them in the `manifests` table
 * through the synchronous client.
 */

import type { PgSyncClient } from "./pg_sync.ts";

/** Where manifest generations are kept. */
export interface ManifestGenerations {
  /** The generation last published for stream `streamId` (0: none yet). */
  current(streamId: number): number;
  /**
   * Moves stream `streamId`'s generation from `expected` to `expected + 1`;
   * false, changing nothing, when it is no longer `expected`.
   */
  advance(streamId: number, expected: number, nowMs: number): boolean;
}

/** `ManifestGenerations` in PostgreSQL's `manifests` table. */
export class PgManifestGenerations implements ManifestGenerations {
  #client: PgSyncClient;

  /** Uses `client` (the caller's to close) on a migrated schema. */
  constructor(client: PgSyncClient) {
    this.#client = client;
  }

  current(streamId: number): number {
    const rows = this.#client.query(
      "SELECT generation FROM manifests WHERE stream_id = $1",
      [streamId],
      "Cannot read the manifest generation",
    );
    return rows.length === 0 ? 0 : Number(rows[0].generation);
  }

  advance(streamId: number, expected: number, nowMs: number): boolean {
    const statement = expected === 0
      ? {
        text: `INSERT INTO manifests VALUES ($1, 1, $2)
          ON CONFLICT (stream_id) DO UPDATE SET generation = 1,
          published_at_ms = $2 WHERE manifests.generation = 0`,
        values: [streamId, nowMs],
        expectRows: true,
      }
      : {
        text: `UPDATE manifests SET generation = generation + 1,
          published_at_ms = $3 WHERE stream_id = $1 AND generation = $2`,
        values: [streamId, expected, nowMs],
        expectRows: true,
      };
    return this.#client.transactionIf(
      [statement],
      "Cannot move the manifest generation",
    ) !== undefined;
  }
}
