/**
 * @module
 * `GET /v1/streams?prefix=&after=&limit=`: a page of live streams, sorted by
 * name, with `next` naming the `after` value for the following page. An
 * empty parameter (`?prefix=&after=&limit=`) means its default.
 */

import { StreamError } from "../errors.ts";
import { encodeOffset } from "../protocol/offset.ts";
import type { HttpContext } from "./context.ts";
import { errorResponse, respondJson } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

/** Lists streams. */
export function listStreams(ctx: HttpContext, req: RouteRequest): Response {
  const params = new URLSearchParams(req.query);
  const prefix = params.get("prefix") ?? "";
  const after = params.get("after") || undefined;
  const limitRaw = params.get("limit") ?? "";
  let limit = ctx.limits.listPageMax;
  if (limitRaw !== "") {
    if (!/^[1-9]\d{0,6}$/.test(limitRaw)) {
      return errorResponse(
        new StreamError("bad_request", `Invalid limit "${limitRaw}"`),
      );
    }
    limit = Math.min(Number(limitRaw), ctx.limits.listPageMax);
  }
  const page = ctx.engine.list(prefix, after, limit);
  const streams = page.streams.map((s) => ({
    name: s.name,
    contentType: s.contentType,
    nextOffset: encodeOffset(s.tailPos),
    closed: s.closed,
    createdAt: new Date(s.createdAtMs).toISOString(),
    ttlSeconds: s.ttlSeconds,
    expiresAt: s.expiresAtMs === null
      ? null
      : new Date(s.expiresAtMs).toISOString(),
  }));
  const next = page.more ? streams[streams.length - 1].name : null;
  return respondJson({ streams, next });
}
