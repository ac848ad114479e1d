/**
 * @module
 * `GET /v1/stream/{name}/_index_status`: how far the stream's indexes are
 * built (the routing-key index; families not built yet report
 * `configured: false`). A weak ETag over the body (without `lag_ms`, which
 * moves with the clock) answers a matching `If-None-Match` with 304;
 * `live=long-poll` waits for the tag to change first.
 */

import { StreamError } from "../errors.ts";
import type { Registry } from "../schema/registry.ts";
import { type SearchField, validateSearchConfig } from "../search/config.ts";
import type { SearchFamilyStatus } from "../tier/details.ts";
import type { HttpContext } from "./context.ts";
import { errorResponse, respond } from "./respond.ts";
import type { RouteRequest } from "./router.ts";
import { parseTimeout } from "./stream_routes.ts";

/**
 * GET of `_index_status`. With `live=long-poll` and an `If-None-Match`
 * naming the current tag, waits (up to `timeout` seconds, capped by
 * `--long-poll-timeout-ms`) for the tag to change: 200 with the new body,
 * else 304 at the timeout or when the client hangs up.
 */
export async function getIndexStatus(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const method = req.request.method;
  const params = new URL(req.request.url).searchParams;
  const live = params.get("live");
  if (live !== null && live !== "long-poll") {
    return errorResponse(
      new StreamError(
        "bad_request",
        `Invalid live mode "${live}" for _index_status: use long-poll`,
      ),
      method,
    );
  }
  const timeout = parseTimeout(
    params.get("timeout"),
    ctx.http.longPollTimeoutMs,
  );
  if (!timeout.ok) return errorResponse(timeout.error, method);
  const ifNoneMatch = req.request.headers.get("if-none-match");
  const deadline = Date.now() + timeout.value;
  while (true) {
    const current = render(ctx, req.name);
    if (current instanceof Response) return current;
    const { body, etag } = current;
    const headers = {
      "content-type": "application/json",
      "cache-control": "no-cache",
      etag,
    };
    if (!etagMatches(ifNoneMatch, etag)) return respond(body, 200, headers);
    const left = deadline - Date.now();
    const wait = ctx.indexStatusWait;
    if (live === null || wait === undefined || left <= 0) {
      return respond(null, 304, headers);
    }
    // A client that hangs up ends the wait at once.
    const waited = await wait(left, req.request.signal);
    if (!waited.ok) return errorResponse(waited.error, method);
    if (waited.value !== "changed") return respond(null, 304, headers);
  }

  function render(
    ctx: HttpContext,
    name: string,
  ): { body: string; etag: string } | Response {
    if (ctx.indexStatus === undefined) {
      return errorResponse(
        new StreamError("not_found", `No index status for "${name}"`),
        method,
      );
    }
    const found = ctx.indexStatus(name);
    if (!found.ok) return errorResponse(found.error, method);
    const schema = ctx.engine?.schemaRegistry(name);
    if (schema?.ok) {
      found.value.search_families = searchFamilies(
        schema.value.registry,
        found.value.segments.uploaded_count,
        found.value.bundled_companions,
      );
    }
    const body = JSON.stringify(found.value);
    // `lag_ms` grows with the clock alone: the tag leaves it out, so it
    // changes when the index or the uploads move, not on every request.
    const rk = found.value.routing_key_index;
    const tagged = rk.configured ? { ...rk, lag_ms: null } : rk;
    const etag = `W/"${
      bodyHash(JSON.stringify({ ...found.value, routing_key_index: tagged }))
    }"`;
    return { body, etag };
  }
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

/** The search families a registry's `search` section configures. */
export function searchFamilies(
  registry: Registry,
  uploadedSegments: number,
  companions: { object_count: number; bytes_at_rest: string } = {
    object_count: 0,
    bytes_at_rest: "0",
  },
): SearchFamilyStatus[] {
  const checked = registry.search === null
    ? undefined
    : validateSearchConfig(registry.search);
  if (checked === undefined || !checked.ok) return [];
  const config = checked.value;
  const fields = Object.entries(config.fields);
  const named = (keep: (f: SearchField) => boolean) =>
    fields.filter(([, f]) => keep(f)).map(([name]) => name);
  const families: [string, string[]][] = [
    ["col", named((f) => f.column === true)],
    ["fts", named((f) => f.kind === "text" || f.prefix === true)],
    ["exact", named((f) => f.exact === true)],
    ["agg", Object.keys(config.rollups ?? {})],
  ];
  return families.filter(([, covered]) => covered.length > 0).map((
    [family, covered],
  ) => ({
    family,
    fields: covered,
    plan_generation: registry.searchPlan?.generation ?? 1,
    // Every family is a section of each segment's one companion object.
    indexed_segments: Math.min(companions.object_count, uploadedSegments),
    lag_segments: Math.max(0, uploadedSegments - companions.object_count),
    bytes_at_rest: companions.bytes_at_rest,
  }));
}
