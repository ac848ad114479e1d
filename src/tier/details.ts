/**
 * @module
 * `GET /v1/stream/{name}/_details`: where a stream's bytes live. Offsets use
 * the protocol's format; `tier` carries the node-wide tiering counters. The
 * engine is reached through the two reads this needs, not imported.
 */

import type { StreamInfo, StreamView } from "../engine/types.ts";
import { ok, type Result } from "../errors.ts";
import { encodeOffset } from "../protocol/offset.ts";
import type { Tier } from "./tier.ts";

/** The engine reads `_details` needs (an `Engine` fits). */
export interface DetailsSource {
  /** Metadata of stream `name`, as HEAD answers it. */
  head(name: string): Result<StreamView>;
  /** Committed state of stream `id`. */
  streamInfo(id: number): StreamInfo | undefined;
}

/** The `_details` body of stream `name` (404/410 as a read would answer). */
export function streamDetails(
  engine: DetailsSource,
  tier: Tier | undefined,
  name: string,
): Result<Record<string, unknown>> {
  const found = engine.head(name);
  if (!found.ok) return found;
  const view = found.value;
  const basePos = engine.streamInfo(view.id)?.fork?.position ?? 0;
  const t = tier?.details(view.id, basePos);
  return ok({
    name: view.name,
    contentType: view.contentType,
    closed: view.closed,
    tailOffset: encodeOffset(view.tailPos),
    sealedThroughOffset: encodeOffset(t?.sealedThroughPos ?? basePos),
    uploadedThroughOffset: encodeOffset(t?.uploadedThroughPos ?? basePos),
    walStartOffset: encodeOffset(t?.walStartPos ?? basePos),
    segmentCount: t?.segmentCount ?? 0,
    segmentBytes: t?.segmentBytes ?? 0,
    uploadedSegmentCount: t?.uploadedSegmentCount ?? 0,
    tier: tier?.stats() ?? null,
  });
}
