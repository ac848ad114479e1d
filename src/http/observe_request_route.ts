/**
 * @module
 * `POST /v1/observe/request` (ops-security.md §6.2), and its `GET` form with
 * query parameters: one request's timeline across an evlog stream and its
 * otel-traces stream. The body is checked (400), `read` is needed on both
 * streams (403), each must exist (404) with its profile (400); the lookup
 * runs under the search gate within a 5 s budget and answers 408 with the
 * partial body when the budget runs out.
 */

import { fail, ok, type Result } from "../errors.ts";
import {
  type ObserveRequest,
  parseObserveRequest,
} from "../profiles/observe_request.ts";
import { lookUp, type SearchFn } from "../profiles/request_lookup.ts";
import { observeBody } from "../profiles/request_timeline.ts";
import { isObject, type JsonObject } from "../profiles/profile.ts";
import { OBSERVE_REQUEST_BUDGET_MS } from "../limits.ts";
import { authorize } from "./access.ts";
import { readBody } from "./body.ts";
import type { HttpContext } from "./context.ts";
import { errorResponse, respondJson } from "./respond.ts";
import type { RouteRequest } from "./router.ts";
import { positionsOf } from "./search_route.ts";
import { sortValuesToJson } from "../search/sort.ts";

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** `POST /v1/observe/request` with a JSON body. */
export async function postObserveRequest(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const bytes = await readBody(req.request, ctx.limits.bodyBytesMax);
  if (!bytes.ok) return errorResponse(bytes.error);
  let body: unknown;
  try {
    body = JSON.parse(strictDecoder.decode(bytes.value));
  } catch (cause) {
    return errorResponse(
      fail(
        "bad_request",
        `Invalid observe request: body is not JSON: ${
          (cause as Error).message
        }`,
      ).error,
    );
  }
  return await observe(ctx, req, body);
}

const GET_PARAMS = [
  "requestId",
  "traceId",
  "spanId",
  "events",
  "traces",
  "from",
  "to",
  "paddingMs",
  "includeEvents",
  "includeTrace",
  "timeline",
  "raw",
  "limitEvents",
  "limitSpans",
];

/**
 * The `GET` form's query parameters as a request body: `requestId`,
 * `traceId` or `spanId`; `events`, `traces`; `from`, `to`, `paddingMs`;
 * `includeEvents`, `includeTrace`, `timeline`, `raw` (`true`/`false`);
 * `limitEvents`, `limitSpans`.
 */
export function observeBodyFromQuery(
  params: URLSearchParams,
): Result<JsonObject> {
  const seen = new Set<string>();
  const body = {
    streams: {} as JsonObject,
    lookup: {} as JsonObject,
    include: {} as JsonObject,
    limits: {} as JsonObject,
    time: {} as JsonObject,
  };
  for (const [name, value] of params) {
    if (!GET_PARAMS.includes(name)) {
      return fail(
        "bad_request",
        `Invalid observe request: unknown parameter "${name}"`,
      );
    }
    if (seen.has(name)) {
      return fail(
        "bad_request",
        `Invalid observe request: "${name}" given twice`,
      );
    }
    seen.add(name);
    const number = /^[0-9]{1,9}$/.test(value) ? Number(value) : value;
    const flag = value === "true" ? true : value === "false" ? false : value;
    if (name === "events" || name === "traces") body.streams[name] = value;
    else if (name === "requestId" || name === "traceId" || name === "spanId") {
      body.lookup[name] = value;
    } else if (name === "from" || name === "to") body.time[name] = value;
    else if (name === "paddingMs") body.time.paddingMs = number;
    else if (name === "includeEvents") body.include.events = flag;
    else if (name === "includeTrace") body.include.trace = flag;
    else if (name === "timeline" || name === "raw") body.include[name] = flag;
    else if (name === "limitEvents") body.limits.events = number;
    else body.limits.spans = number;
  }
  const out: JsonObject = { streams: body.streams, lookup: body.lookup };
  for (const key of ["include", "limits", "time"] as const) {
    if (Object.keys(body[key]).length > 0) out[key] = body[key];
  }
  return ok(out);
}

/** `GET /v1/observe/request?requestId=…&events=…&traces=…`. */
export async function getObserveRequest(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const body = observeBodyFromQuery(new URLSearchParams(req.query));
  if (!body.ok) return errorResponse(body.error);
  return await observe(ctx, req, body.value);
}

async function observe(
  ctx: HttpContext,
  req: RouteRequest,
  body: unknown,
): Promise<Response> {
  const parsed = parseObserveRequest(
    body,
    (stream, want) => linked(ctx, stream, want),
  );
  if (!parsed.ok) return errorResponse(parsed.error);
  const request = parsed.value;
  const checked = checkStreams(ctx, req, request);
  if (checked !== undefined) return errorResponse(checked);
  const deadlineMs = Date.now() + OBSERVE_REQUEST_BUDGET_MS;
  const task = () => lookUp(request, searchFn(ctx, deadlineMs), deadlineMs);
  const found = ctx.searchGate === undefined
    ? await task()
    : await ctx.searchGate.run(task).then((r) => (r.ok ? r.value : r));
  if (!found.ok) return errorResponse(found.error);
  const json = observeBody(request, found.value);
  const coverage = json.coverage as {
    events: JsonObject | null;
    traces: JsonObject | null;
  };
  const timedOut = coverage.events?.timed_out === true ||
    coverage.traces?.timed_out === true;
  return respondJson(json, timedOut ? 408 : 200, {
    "cache-control": "no-store",
  });
}

/** The stream the profile of `stream` links for `want`, if any. */
function linked(
  ctx: HttpContext,
  stream: string,
  want: "events" | "traces",
): string | null {
  const found = ctx.engine.profile(stream);
  if (!found.ok) return null;
  const observability =
    (found.value.options as unknown as JsonObject).observability;
  if (!isObject(observability) || !isObject(observability.request)) return null;
  const name =
    observability.request[want === "events" ? "eventsStream" : "tracesStream"];
  return typeof name === "string" && name !== "" ? name : null;
}

/** `read` on both streams (403), both exist (404) with their profiles (400). */
function checkStreams(
  ctx: HttpContext,
  req: RouteRequest,
  request: ObserveRequest,
) {
  const wanted: [string | null, string, string][] = [
    [request.eventsStream, "evlog", "streams.events"],
    [request.tracesStream, "otel-traces", "streams.traces"],
  ];
  for (const [name] of wanted) {
    if (name === null) continue;
    const denied = authorize(ctx, req, "read", name);
    if (denied !== undefined) return denied;
  }
  for (const [name, kind, path] of wanted) {
    if (name === null) continue;
    const found = ctx.engine.profile(name);
    if (!found.ok) return found.error;
    if (found.value.options.kind !== kind) {
      return fail(
        "bad_request",
        `Invalid observe request: "${path}" names stream "${name}" with the "${found.value.options.kind}" profile; it must be ${kind}`,
      ).error;
    }
  }
  return undefined;
}

/** `_search` pages through the engine, each within what is left of the budget. */
function searchFn(ctx: HttpContext, deadlineMs: number): SearchFn {
  return async (stream, q, size, searchAfter) => {
    const body: Record<string, unknown> = {
      q,
      size,
      timeout_ms: Math.max(0, deadlineMs - Date.now()),
    };
    if (searchAfter !== null) body.search_after = searchAfter;
    const found = await ctx.engine.search(
      stream,
      body,
      positionsOf(ctx, stream),
    );
    if (!found.ok) return found;
    const r = found.value;
    return ok({
      records: r.hits.filter((h) => isObject(h.source)).map((h) => ({
        offset: h.offset,
        record: h.source as JsonObject,
      })),
      next: r.nextSearchAfter === null
        ? null
        : sortValuesToJson(r.nextSearchAfter),
      timedOut: r.timedOut,
    });
  };
}
