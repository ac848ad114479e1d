/**
 * @module
 * Where a stream's bytes live, for `GET /v1/stream/{name}/_details`: its
 * tail, how far it is sealed and uploaded, where the WAL starts, its
 * segments, and the node-wide tiering counters. `http/` renders it.
 */

import { ok, type Result } from "../errors.ts";
import type { RoutingIndexStatus } from "../index/status.ts";
import type { StreamInfo, StreamView } from "../engine/types.ts";
import type { Tier, TierStats } from "./tier.ts";

/** The engine reads `_details` needs (an `Engine` fits). */
export interface DetailsSource {
  /** Metadata of stream `name`, as HEAD answers it. */
  head(name: string): Result<StreamView>;
  /** Committed state of stream `id`. */
  streamInfo(id: number): StreamInfo | undefined;
}

/** A stream's storage, positions in bytes. */
export interface StreamDetails {
  /** Stream name. */
  name: string;
  /** Content type. */
  contentType: string;
  /** Whether the stream is closed. */
  closed: boolean;
  /** Committed tail. */
  tailPos: number;
  /** Sealed into segments up to here. */
  sealedThroughPos: number;
  /** Named by a published manifest up to here. */
  uploadedThroughPos: number;
  /** Read from the WAL from here on. */
  walStartPos: number;
  /** Sealed segments. */
  segmentCount: number;
  /** Their encoded bytes. */
  segmentBytes: number;
  /** Segments a published manifest names. */
  uploadedSegmentCount: number;
  /** Node-wide tiering counters; null without an object store. */
  tier: TierStats | null;
}

/** The details of stream `name` (404/410 as a read would answer). */
export function streamDetails(
  engine: DetailsSource,
  tier: Tier | undefined,
  name: string,
): Result<StreamDetails> {
  const found = engine.head(name);
  if (!found.ok) return found;
  const view = found.value;
  const basePos = engine.streamInfo(view.id)?.fork?.position ?? 0;
  const t = tier?.details(view.id, basePos);
  return ok({
    name: view.name,
    contentType: view.contentType,
    closed: view.closed,
    tailPos: view.tailPos,
    sealedThroughPos: t?.sealedThroughPos ?? basePos,
    uploadedThroughPos: t?.uploadedThroughPos ?? basePos,
    walStartPos: t?.walStartPos ?? basePos,
    segmentCount: t?.segmentCount ?? 0,
    segmentBytes: t?.segmentBytes ?? 0,
    uploadedSegmentCount: t?.uploadedSegmentCount ?? 0,
    tier: tier?.stats() ?? null,
  });
}

/** The `GET .../_index_status` body (snake_case, as served). */
export interface IndexStatusBody {
  stream: string;
  profile: string;
  segments: { total_count: number; uploaded_count: number };
  routing_key_index: RoutingIndexStatus;
  routing_key_lexicon: { configured: false };
  exact_indexes: never[];
  bundled_companions: {
    object_count: number;
    bytes_at_rest: string;
    fully_indexed_uploaded_segments: boolean;
  };
  search_families: SearchFamilyStatus[];
}

/**
 * One search index family of a stream's `search` section (specs/search.md
 * §5): what it covers and how far it is built. No family is built yet, so
 * every uploaded segment is lag and queries scan.
 */
export interface SearchFamilyStatus {
  /** `col`, `fts`, `exact` or `agg`. */
  family: string;
  /** The fields (or rollups, for `agg`) it covers. */
  fields: string[];
  /** The search plan generation it would be built for. */
  plan_generation: number;
  /** Uploaded segments it covers. */
  indexed_segments: number;
  /** Uploaded segments it does not cover yet. */
  lag_segments: number;
  /** Bytes of its objects, as a decimal string. */
  bytes_at_rest: string;
}

/**
 * The index progress of stream `name` (404/410 as a read would answer).
 * The routing-key index counts as configured once the stream has a
 * routing-key rule or its index has state (it has uploaded segments).
 */
export function streamIndexStatus(
  engine: DetailsSource,
  tier: Tier | undefined,
  name: string,
  routingRule: boolean,
): Result<IndexStatusBody> {
  const found = engine.head(name);
  if (!found.ok) return found;
  const view = found.value;
  const basePos = engine.streamInfo(view.id)?.fork?.position ?? 0;
  const t = tier?.details(view.id, basePos);
  const hasIndex = tier?.routingIndex?.manifest(view.id) !== undefined;
  return ok({
    stream: view.name,
    profile: "generic",
    segments: {
      total_count: t?.segmentCount ?? 0,
      uploaded_count: t?.uploadedSegmentCount ?? 0,
    },
    routing_key_index: tier === undefined
      ? { configured: false }
      : tier.indexStatus(view.id, routingRule || hasIndex),
    routing_key_lexicon: { configured: false },
    exact_indexes: [],
    bundled_companions: tier?.companionStatus(
      view.id,
      engine.streamInfo(view.id)?.schemaRegistry?.search ?? null,
    ) ?? {
      object_count: 0,
      bytes_at_rest: "0",
      fully_indexed_uploaded_segments: true,
    },
    search_families: [],
  });
}
