/**
 * @module
 * `GET /v1/stream/{name}/_index_status`: how far the stream's indexes are
 * built (the routing-key index; families not built yet report
 * `configured: false`). A weak ETag over the body (without `lag_ms`, which
 * moves with the clock) answers a matching `If-None-Match` with 304.
 */

import { StreamError } from "../errors.ts";
import type { HttpContext } from "./context.ts";
import { errorResponse, respond } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

/** GET of `_index_status`. */
export function getIndexStatus(ctx: HttpContext, req: RouteRequest): Response {
  const method = req.request.method;
  if (ctx.indexStatus === undefined) {
    return errorResponse(
      new StreamError("not_found", `No index status for "${req.name}"`),
      method,
    );
  }
  const found = ctx.indexStatus(req.name);
  if (!found.ok) return errorResponse(found.error, method);
  const body = JSON.stringify(found.value);
  // `lag_ms` grows with the clock alone: the tag leaves it out, so it
  // changes when the index or the uploads move, not on every request.
  const rk = found.value.routing_key_index;
  const tagged = rk.configured ? { ...rk, lag_ms: null } : rk;
  const etag = `W/"${
    bodyHash(JSON.stringify({ ...found.value, routing_key_index: tagged }))
  }"`;
  const headers = {
    "content-type": "application/json",
    "cache-control": "no-cache",
    etag,
  };
  if (etagMatches(req.request.headers.get("if-none-match"), etag)) {
    return respond(null, 304, headers);
  }
  return respond(body, 200, headers);
}

/** Whether an `If-None-Match` list names `etag` (weak comparison). */
function etagMatches(ifNoneMatch: string | null, etag: string): boolean {
  if (ifNoneMatch === null) return false;
  const opaque = etag.slice(2);
  return ifNoneMatch.split(",").some((t) => {
    const tag = t.trim();
    return tag === "*" || tag === etag || tag === opaque;
  });
}

/** Two FNV-1a variants over the UTF-16 units: 16 hex digits. */
function bodyHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, "0") +
    (b >>> 0).toString(16).padStart(8, "0");
}
