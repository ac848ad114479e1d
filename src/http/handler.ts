/**
 * @module
 * The HTTP entry: CORS preflight, routing, method checks, and the one error
 * boundary that turns a thrown error into a 500 (our bug) or a 503.
 */

import type { HttpConfig, LimitsConfig } from "../config.ts";
import type { Engine } from "../engine/engine.ts";
import { type Result, StreamError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { STREAM_PREFIX } from "./request_headers.ts";
import {
  ALLOWED_HEADERS,
  errorResponse,
  respond,
  respondJson,
} from "./respond.ts";
import {
  deleteStream,
  getStream,
  headStream,
  postStream,
  putStream,
  type StreamRouteContext,
} from "./stream_routes.ts";
import { BodyBudget } from "./body.ts";
import { listStreams } from "./list_route.ts";
import { requestTarget } from "./request_target.ts";

/** What the handler needs. */
export interface HandlerOptions {
  /** The engine. */
  engine: Engine;
  /** HTTP settings. */
  http: HttpConfig;
  /** Limits. */
  limits: LimitsConfig;
  /** Logger. */
  log: Logger;
  /**
   * Handles the reserved `/v1/stream/__ds/...` routes (subscriptions); they
   * are routed before stream handling. Without it those paths answer 404.
   */
  reservedRoutes?: (request: Request, url: URL) => Promise<Response>;
  /** `GET /v1/stream/{name}/_details`: where the stream's bytes live. */
  details?: (name: string) => Result<Record<string, unknown>>;
  /** More fields for `GET /health` (the tiered-storage backlog). */
  health?: () => Record<string, unknown>;
}

const STREAM_METHODS = "GET, HEAD, POST, PUT, DELETE, OPTIONS";
const RESERVED_PREFIX = STREAM_PREFIX + "__ds/";

/** Builds the `Deno.serve` handler. */
export function createHandler(
  options: HandlerOptions,
): (request: Request) => Promise<Response> {
  const { engine, limits } = options;
  // Never below body-bytes-max: any body the server takes can be read when
  // nothing else is in flight, so a 503 for the budget is always temporary.
  const budget = new BodyBudget(
    Math.max(limits.bodyInflightBytesMax, limits.bodyBytesMax),
  );
  const ctx: StreamRouteContext = {
    engine,
    http: options.http,
    limits,
    body: {
      bytesMax: limits.bodyBytesMax,
      budget,
      admit: (bytes) => engine.admitAppendBytes(bytes),
    },
  };
  return async (request) => {
    try {
      return await route(ctx, request, options);
    } catch (error) {
      if (error instanceof StreamError) {
        return errorResponse(error, request.method);
      }
      options.log.error(`${request.method} ${request.url} failed`, error);
      return errorResponse(
        new StreamError("internal", "Internal server error"),
        request.method,
      );
    }
  };
}

async function route(
  ctx: StreamRouteContext,
  request: Request,
  options: HandlerOptions,
): Promise<Response> {
  const reservedRoutes = options.reservedRoutes;
  const target = requestTarget(request.url, request.headers.get("host"));
  if (target === undefined) {
    return errorResponse(
      new StreamError("bad_request", "Malformed Host header or request URL"),
      request.method,
    );
  }
  const path = target.path;
  if (request.method === "OPTIONS") return preflight();
  // PROTOCOL.md §6: the reserved __ds prefix is routed before streams.
  if (path.startsWith(RESERVED_PREFIX)) {
    if (reservedRoutes !== undefined) {
      return await reservedRoutes(request, new URL(request.url));
    }
    return errorResponse(
      new StreamError("not_found", `No route for ${path}`),
      request.method,
    );
  }
  if (path.startsWith(STREAM_PREFIX)) {
    const name = streamName(
      path.slice(STREAM_PREFIX.length),
      ctx.limits.streamNameBytesMax,
    );
    if (name instanceof StreamError) return errorResponse(name, request.method);
    if (name === DETAILS || name.endsWith("/" + DETAILS)) {
      return details(options, name, request.method);
    }
    switch (request.method) {
      case "PUT":
        return await putStream(ctx, name, request);
      case "POST":
        return await postStream(ctx, name, request);
      case "GET":
        return await getStream(
          ctx,
          name,
          request,
          new URLSearchParams(target.query),
        );
      case "HEAD":
        return headStream(ctx, name);
      case "DELETE":
        return await deleteStream(ctx, name);
      default:
        return methodNotAllowed(request.method, STREAM_METHODS);
    }
  }
  if (path === "/v1/streams") {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return methodNotAllowed(request.method, "GET, HEAD");
    }
    return listStreams(ctx, new URLSearchParams(target.query));
  }
  if (path === "/health") {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return methodNotAllowed(request.method, "GET, HEAD");
    }
    const writer = ctx.engine.writerStats();
    return respondJson({
      status: "ok",
      streams: ctx.engine.streamCount,
      waiting: ctx.engine.waiting,
      writer: {
        commits: writer.commits,
        requests: writer.requests,
        batchAvg: writer.commits === 0
          ? 0
          : Number((writer.requests / writer.commits).toFixed(2)),
        commitMsAvg: writer.commits === 0
          ? 0
          : Number((writer.commitMs / writer.commits).toFixed(3)),
        queued: writer.queued,
      },
      bodyBytesInFlight: ctx.body.budget?.reservedBytes ?? 0,
      ...options.health?.(),
    });
  }
  return errorResponse(
    new StreamError("not_found", `No route for ${path}`),
    request.method,
  );
}

/** A last path segment reserved for `_details` (docs/segments.md). */
const DETAILS = "_details";

function details(
  options: HandlerOptions,
  name: string,
  method: string,
): Response {
  const stream = name.slice(0, -(DETAILS.length + 1));
  if (method !== "GET" && method !== "HEAD") {
    return errorResponse(
      new StreamError(
        "bad_request",
        `Stream names ending in "/${DETAILS}" are reserved`,
      ),
      method,
    );
  }
  if (stream.length === 0 || options.details === undefined) {
    return errorResponse(
      new StreamError("not_found", `No details for "${name}"`),
      method,
    );
  }
  const found = options.details(stream);
  if (!found.ok) return errorResponse(found.error, method);
  return respondJson(found.value);
}

function preflight(): Response {
  const headers = new Headers({
    "access-control-allow-methods": STREAM_METHODS,
    "access-control-allow-headers": ALLOWED_HEADERS,
    "access-control-max-age": "86400",
  });
  return respond(null, 204, headers);
}

function methodNotAllowed(method: string, allow: string): Response {
  return errorResponse(
    new StreamError(
      "method_not_allowed",
      `Method ${method} is not allowed here`,
      { allow },
    ),
    method,
  );
}

const encoder = new TextEncoder();

/** Decodes and validates a stream name from the URL path. */
export function streamName(
  raw: string,
  bytesMax: number,
): string | StreamError {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    return new StreamError(
      "bad_request",
      "Stream name is not valid percent-encoding",
    );
  }
  if (name.length === 0) {
    return new StreamError("bad_request", "Stream name must not be empty");
  }
  if (encoder.encode(name).length > bytesMax) {
    return new StreamError(
      "bad_request",
      `Stream name is longer than ${bytesMax} bytes`,
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    return new StreamError(
      "bad_request",
      "Stream name must not contain control characters",
    );
  }
  const segments = name.split("/");
  if (segments.some((s) => s === "." || s === "..")) {
    return new StreamError(
      "bad_request",
      "Stream name must not contain . or .. segments",
    );
  }
  if (segments[0] === "__ds") {
    return new StreamError(
      "not_found",
      "The __ds prefix is reserved for subscription APIs",
    );
  }
  return name;
}
