/**
 * @module
 * The `routing_key_index` object of `GET .../_index_status`, as a pure
 * function of the catalog and the stream's upload progress, so the HTTP
 * layer only renders it. Field names follow Prisma Streams; byte counts and
 * `lag_ms` are decimal strings because they may pass 2^53.
 */

import { activeRuns, type RoutingState, type RunRow } from "./catalog.ts";

/** What `routingIndexStatus` reads. */
export interface RoutingIndexStatusInput {
  /** True once any record has a key or the registry has `routingKey`. */
  configured: boolean;
  /** Segments whose upload a published manifest names. */
  uploadedCount: number;
  /** The catalog state, or undefined when no index exists yet. */
  state: RoutingState | undefined;
  /** The catalog rows (active and retired). */
  rows: readonly RunRow[];
  /**
   * Upload time (epoch ms) of the oldest uploaded segment not yet covered
   * by a run, or undefined when every uploaded segment is covered.
   */
  oldestUnindexedUploadedAtMs: number | undefined;
  /** Epoch ms. */
  nowMs: number;
}

/** `routing_key_index` in `_index_status` (snake_case, as served). */
export type RoutingIndexStatus =
  | { configured: false }
  | {
    /** The stream has keys or a routing-key rule. */
    configured: true;
    /** Leading uploaded segments covered by active runs. */
    indexed_segment_count: number;
    /** Uploaded segments not yet covered. */
    lag_segments: number;
    /** Age of the oldest uncovered uploaded segment, ms; null when none. */
    lag_ms: string | null;
    /** Bytes of every run object, active and retired. */
    bytes_at_rest: string;
    /** Run objects, active and retired. */
    object_count: number;
    /** Runs lookups read. */
    active_run_count: number;
    /** Runs replaced by a compaction, awaiting deletion. */
    retired_run_count: number;
    /** Every uploaded segment is covered. */
    fully_indexed_uploaded_segments: boolean;
    /** Last catalog change, RFC 3339; null before the first. */
    updated_at: string | null;
  };

/** The status object for one stream. */
export function routingIndexStatus(
  input: RoutingIndexStatusInput,
): RoutingIndexStatus {
  if (!input.configured) return { configured: false };
  const indexed = Math.min(
    input.state?.indexedThrough ?? 0,
    input.uploadedCount,
  );
  const lagSegments = input.uploadedCount - indexed;
  const active = activeRuns(input.rows).length;
  let bytes = 0n;
  for (const r of input.rows) bytes += BigInt(r.bytes);
  const since = input.oldestUnindexedUploadedAtMs;
  const lagMs = lagSegments === 0 || since === undefined
    ? null
    : String(Math.max(0, input.nowMs - since));
  return {
    configured: true,
    indexed_segment_count: indexed,
    lag_segments: lagSegments,
    lag_ms: lagMs,
    bytes_at_rest: bytes.toString(),
    object_count: input.rows.length,
    active_run_count: active,
    retired_run_count: input.rows.length - active,
    fully_indexed_uploaded_segments: lagSegments === 0,
    updated_at: input.state === undefined
      ? null
      : new Date(input.state.updatedAtMs).toISOString(),
  };
}
