/**
 * @module
 * `GET /v1/stream/{name}/_details`: where a stream's bytes live, with
 * positions as protocol offsets (docs/segments.md).
 */

import type { StreamDetails } from "../tier/details.ts";
import { StreamError } from "../errors.ts";
import { encodeOffset } from "../protocol/offset.ts";
import type { Registry } from "../schema/registry.ts";
import type { HttpContext } from "./context.ts";
import { errorResponse, respondJson } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

/** GET and HEAD of `_details`. */
export function getDetails(ctx: HttpContext, req: RouteRequest): Response {
  const method = req.request.method;
  if (ctx.details === undefined) {
    return errorResponse(
      new StreamError("not_found", `No details for "${req.name}"`),
      method,
    );
  }
  const found = ctx.details(req.name);
  if (!found.ok) return errorResponse(found.error, method);
  const schema = ctx.engine.schemaRegistry(req.name);
  return respondJson(
    detailsJson(found.value, schema.ok ? schema.value.registry : undefined),
  );
}

/** The schema part of `_details`: versions and key rule, not the schemas. */
export function schemaSummary(registry: Registry): Record<string, unknown> {
  return {
    name: registry.schema,
    currentVersion: registry.currentVersion,
    routingKey: registry.routingKey,
    boundaries: registry.boundaries.map((b) => ({
      offset: encodeOffset(b.position),
      version: b.version,
    })),
    search: registry.search !== null,
  };
}

/** The `_details` JSON body. */
export function detailsJson(
  d: StreamDetails,
  registry?: Registry,
): Record<string, unknown> {
  return {
    name: d.name,
    contentType: d.contentType,
    closed: d.closed,
    tailOffset: encodeOffset(d.tailPos),
    sealedThroughOffset: encodeOffset(d.sealedThroughPos),
    uploadedThroughOffset: encodeOffset(d.uploadedThroughPos),
    walStartOffset: encodeOffset(d.walStartPos),
    segmentCount: d.segmentCount,
    segmentBytes: d.segmentBytes,
    uploadedSegmentCount: d.uploadedSegmentCount,
    tier: d.tier,
    ...(registry === undefined ? {} : { schema: schemaSummary(registry) }),
  };
}
