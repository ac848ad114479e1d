/**
 * @module
 * `GET`/`POST /v1/stream/{name}/_search` and `POST .../_aggregate`
 * (specs/search.md §3-4): the body (or the GET form's query parameters)
 * read, handed to the engine, and the answer rendered with its coverage.
 * A search or aggregate that ran out of time answers 408 with the partial
 * result as a valid body.
 */

import type { AggregateOutcome, SearchOutcome } from "../engine/search_exec.ts";
import { fail, ok, type Result } from "../errors.ts";
import { encodeOffset } from "../protocol/offset.ts";
import { scalarToJson } from "../search/extract.ts";
import { fieldsToJson } from "../search/search_request.ts";
import { sortValuesToJson } from "../search/sort.ts";
import { readBody } from "./body.ts";
import type { HttpContext } from "./context.ts";
import { errorResponse, respondJson } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** The tier split the coverage figures need (no tiering: all WAL). */
export function positionsOf(
  ctx: HttpContext,
  name: string,
): {
  splitPos: number;
  publishedPos: number;
  segments: number;
  sealedPos: number;
} {
  const details = ctx.details?.(name);
  if (details === undefined || !details.ok) {
    return { splitPos: 0, publishedPos: Infinity, segments: 0, sealedPos: 0 };
  }
  const d = details.value;
  return {
    splitPos: d.sealedThroughPos,
    publishedPos: d.uploadedThroughPos,
    segments: d.segmentCount,
    sealedPos: d.sealedThroughPos,
  };
}

async function jsonBody(
  ctx: HttpContext,
  request: Request,
  what: string,
): Promise<Result<Record<string, unknown>>> {
  const body = await readBody(request, ctx.limits.bodyBytesMax);
  if (!body.ok) return body;
  let value: unknown;
  try {
    value = JSON.parse(strictDecoder.decode(body.value));
  } catch (cause) {
    return fail(
      "bad_request",
      `Invalid ${what}: body is not JSON: ${(cause as Error).message}`,
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return fail("bad_request", `Invalid ${what}: body must be a JSON object`);
  }
  return ok(value as Record<string, unknown>);
}

const GET_PARAMS = [
  "q",
  "size",
  "sort",
  "search_after",
  "timeout_ms",
  "coverage",
];

/**
 * The GET form's query parameters as a `_search` body: `size` and
 * `timeout_ms` as numbers, `sort` split on commas, `search_after` as JSON.
 */
export function searchBodyFromQuery(
  params: URLSearchParams,
): Result<Record<string, unknown>> {
  const body: Record<string, unknown> = {};
  for (const [name, value] of params) {
    if (!GET_PARAMS.includes(name)) {
      return fail("bad_request", `Invalid search: unknown parameter "${name}"`);
    }
    if (Object.hasOwn(body, name)) {
      return fail("bad_request", `Invalid search: "${name}" given twice`);
    }
    if (name === "size" || name === "timeout_ms") {
      body[name] = /^[0-9]{1,9}$/.test(value) ? Number(value) : value;
    } else if (name === "sort") {
      body.sort = value.split(",").map((s) => s.trim());
    } else if (name === "search_after") {
      try {
        body.search_after = JSON.parse(value);
      } catch {
        return fail(
          "bad_request",
          "Invalid search: search_after must be a JSON array",
        );
      }
    } else body[name] = value;
  }
  return ok(body);
}

/** Runs `task` under the search gate (503 `overloaded` when it is full). */
async function gated<T>(
  ctx: HttpContext,
  task: () => Promise<Result<T>>,
): Promise<Result<T>> {
  if (ctx.searchGate === undefined) return await task();
  const ran = await ctx.searchGate.run(task);
  return ran.ok ? ran.value : ran;
}

/** `POST .../_search` with a JSON body. */
export async function postSearch(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const body = await jsonBody(ctx, req.request, "search");
  if (!body.ok) return errorResponse(body.error);
  return await search(ctx, req, body.value);
}

/** `GET .../_search?q=&size=&sort=&search_after=&timeout_ms=`. */
export async function getSearch(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const body = searchBodyFromQuery(new URLSearchParams(req.query));
  if (!body.ok) return errorResponse(body.error);
  return await search(ctx, req, body.value);
}

async function search(
  ctx: HttpContext,
  req: RouteRequest,
  body: Record<string, unknown>,
): Promise<Response> {
  const startedMs = Date.now();
  const positions = positionsOf(ctx, req.name);
  const found = await gated(
    ctx,
    () => ctx.engine.search(req.name, body, positions),
  );
  if (!found.ok) return errorResponse(found.error);
  const r = found.value;
  const tookMs = Date.now() - startedMs;
  const complete = !r.timedOut && r.omittedRecords === 0;
  const json = {
    stream: req.name,
    snapshot_end_offset: encodeOffset(r.snapshotEndPos),
    took_ms: tookMs,
    timed_out: r.timedOut,
    timeout_ms: r.request.timeoutMs,
    coverage: {
      mode: r.request.coverage,
      complete,
      ...coverageFigures(r, positions),
      // Records the answer did not examine: the unpublished suffix in
      // `published` mode; unknown (null) when the time budget ran out.
      possible_missing_events_upper_bound: r.timedOut ? null : r.omittedRecords,
      index_families_used: [],
    },
    total: {
      value: r.hits.length,
      relation: complete && r.nextSearchAfter === null ? "eq" : "gte",
    },
    hits: r.hits.map((hit) => ({
      offset: hit.offset,
      score: hit.score,
      sort: sortValuesToJson(hit.sort),
      fields: fieldsToJson(hit.doc),
      source: hit.source,
    })),
    next_search_after: r.nextSearchAfter === null
      ? null
      : sortValuesToJson(r.nextSearchAfter),
  };
  return respondJson(json, r.timedOut ? 408 : 200, {
    "server-timing": `scan;dur=${tookMs}`,
  });
}

/** The coverage figures shared by `_search` and `_aggregate`. */
function coverageFigures(
  r: SearchOutcome | AggregateOutcome,
  positions: ReturnType<typeof positionsOf>,
) {
  return {
    // Segments a companion answered for; the others were read.
    indexed_segments: r.indexedSegments,
    // Sealed segments are passed once the scan went by them; a scan that
    // stopped inside them cannot say how many (null).
    scanned_segments: r.scannedThroughPos >= positions.sealedPos
      ? Math.max(0, positions.segments - r.indexedSegments)
      : null,
    scanned_tail_docs: r.scannedTailDocs,
  };
}

/** `POST .../_aggregate` with a JSON body. */
export async function postAggregate(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const body = await jsonBody(ctx, req.request, "aggregate");
  if (!body.ok) return errorResponse(body.error);
  const positions = positionsOf(ctx, req.name);
  const found = await gated(
    ctx,
    () => ctx.engine.aggregate(req.name, body.value, positions),
  );
  if (!found.ok) return errorResponse(found.error);
  const r = found.value;
  const json = {
    stream: req.name,
    rollup: r.rollup,
    from: new Date(r.fromMs).toISOString(),
    to: new Date(r.toMs).toISOString(),
    interval: r.interval,
    timed_out: r.timedOut,
    coverage: {
      complete: !r.timedOut,
      // Rollup rows answered the inner windows of covered segments.
      used_rollups: r.usedRollups,
      ...coverageFigures(r, positions),
    },
    buckets: r.buckets.map((b) => ({
      start: new Date(b.startMs).toISOString(),
      end: new Date(b.endMs).toISOString(),
      groups: b.groups.map((g) => ({
        key: Object.fromEntries(
          Object.entries(g.key).map((
            [k, v],
          ) => [k, typeof v === "bigint" ? scalarToJson(v) : v]),
        ),
        measures: g.measures,
      })),
    })),
  };
  return respondJson(json, r.timedOut ? 408 : 200);
}
