/**
 * @module
 * `LiveTemplateStore` in PostgreSQL (`live_templates`, migration 7, and
 * `touch_state`, migration 8), for
 * servers whose WAL is there: touch templates then outlive a node replaced
 * by an empty one, like every other piece of state in PostgreSQL modes. The
 * interface is synchronous, so it runs on the synchronous client
 * (`pg_sync.ts`), one transaction per call.
 */

import {
  type LiveTemplateRow,
  type LiveTemplateStore,
  templateValues,
  touchStateOf,
  type TouchStateRow,
} from "./live_template_store.ts";
import type { PgSyncClient, SyncRow, SyncStatement } from "./pg_sync.ts";

/** Touch templates in PostgreSQL, over a synchronous client it does not own. */
export class PgLiveTemplateStore implements LiveTemplateStore {
  readonly #client: PgSyncClient;

  constructor(client: PgSyncClient) {
    this.#client = client;
  }

  /** Every row of `streamId`, by template id. */
  load(streamId: number): LiveTemplateRow[] {
    return this.#client.query(
      "SELECT * FROM live_templates WHERE stream_id = $1 ORDER BY template_id",
      [streamId],
      "loading touch templates",
    ).map(fromRow);
  }

  /** Inserts or replaces rows, in one transaction. */
  put(rows: readonly LiveTemplateRow[]): void {
    if (rows.length === 0) return;
    const statements: SyncStatement[] = rows.map((r) => ({
      text: `INSERT INTO live_templates (stream_id, template_id, entity, fields,
        encodings, state, created_at_ms, last_seen_at_ms, inactivity_ttl_ms,
        active_from_pos, retired_at_ms, retired_reason)
        VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
        ON CONFLICT (stream_id, template_id) DO UPDATE SET
          entity = excluded.entity, fields = excluded.fields,
          encodings = excluded.encodings, state = excluded.state,
          created_at_ms = excluded.created_at_ms,
          last_seen_at_ms = excluded.last_seen_at_ms,
          inactivity_ttl_ms = excluded.inactivity_ttl_ms,
          active_from_pos = excluded.active_from_pos,
          retired_at_ms = excluded.retired_at_ms,
          retired_reason = excluded.retired_reason`,
      values: templateValues(r),
    }));
    this.#client.transaction(statements, "storing touch templates");
  }

  /** Drops the rows of some templates of `streamId`. */
  deleteTemplates(streamId: number, templateIds: readonly string[]): void {
    if (templateIds.length === 0) return;
    this.#client.query(
      "DELETE FROM live_templates WHERE stream_id = $1 AND template_id = ANY($2)",
      [streamId, [...templateIds]],
      "deleting touch templates",
    );
  }

  /** The checkpoint of `streamId`. */
  touchState(streamId: number): TouchStateRow | null {
    const rows = this.#client.query(
      "SELECT * FROM touch_state WHERE stream_id = $1",
      [streamId],
      "loading the touch checkpoint",
    );
    return rows.length === 0 ? null : touchStateOf(rows[0]);
  }

  /** Writes a checkpoint. */
  putTouchState(row: TouchStateRow): void {
    this.#client.query(
      `INSERT INTO touch_state (stream_id, processed_through_pos, epoch,
        updated_at_ms) VALUES ($1,$2,$3,$4)
        ON CONFLICT (stream_id) DO UPDATE SET
          processed_through_pos = excluded.processed_through_pos,
          epoch = excluded.epoch, updated_at_ms = excluded.updated_at_ms`,
      [row.streamId, row.processedThroughPos, row.epoch, row.updatedAtMs],
      "storing the touch checkpoint",
    );
  }

  /** Drops every row and the checkpoint of `streamId`. */
  deleteStream(streamId: number): void {
    this.#client.transaction([
      {
        text: "DELETE FROM live_templates WHERE stream_id = $1",
        values: [streamId],
      },
      {
        text: "DELETE FROM touch_state WHERE stream_id = $1",
        values: [streamId],
      },
    ], "deleting touch templates");
  }

  /** Streams that have rows or a checkpoint. */
  streamIds(): number[] {
    return this.#client.query(
      "SELECT stream_id FROM live_templates UNION SELECT stream_id FROM touch_state",
      [],
      "listing touch templates",
    ).map((r) => Number(r.stream_id));
  }

  /** Nothing to close: the client belongs to the server. */
  close(): void {}
}

function fromRow(r: SyncRow): LiveTemplateRow {
  return {
    streamId: Number(r.stream_id),
    templateId: String(r.template_id),
    entity: String(r.entity),
    fields: JSON.parse(String(r.fields)),
    encodings: JSON.parse(String(r.encodings)),
    state: r.state === "retired" ? "retired" : "active",
    createdAtMs: Number(r.created_at_ms),
    lastSeenAtMs: Number(r.last_seen_at_ms),
    inactivityTtlMs: Number(r.inactivity_ttl_ms),
    activeFromPos: Number(r.active_from_pos),
    retiredAtMs: r.retired_at_ms === null ? null : Number(r.retired_at_ms),
    retiredReason: r.retired_reason === null ? null : String(r.retired_reason),
  };
}
