/**
 * @module
 * The operator's pages: `GET /metrics` (Prometheus text exposition) and
 * `GET /v1/server/_details` (limits, memory by subsystem, queues, backlog,
 * the largest streams). Both need the `admin` scope under `--auth api-key`
 * (their rows in `routes.ts`), on every stream (`authorizeServer()`);
 * `--public-metrics` opens `/metrics` only.
 */

import { StreamError } from "../errors.ts";
import { authorizeServer } from "./access.ts";
import type { HttpContext } from "./context.ts";
import { errorResponse, respond, respondJson } from "./respond.ts";
import type { Method, RouteRequest } from "./router.ts";

/** GET and HEAD of `/metrics`. */
export async function getMetrics(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const denied = refused(ctx, req);
  if (denied !== undefined) return denied;
  if (ctx.ops === undefined) return notServed(req);
  const { contentType, body } = await ctx.ops.metrics();
  const headers = new Headers({
    "content-type": contentType,
    "cache-control": "no-store",
  });
  return respond(req.request.method === "HEAD" ? null : body, 200, headers);
}

/** GET and HEAD of `/v1/server/_details`. */
export function getServerDetails(
  ctx: HttpContext,
  req: RouteRequest,
): Response {
  const denied = refused(ctx, req);
  if (denied !== undefined) return denied;
  if (ctx.ops === undefined) return notServed(req);
  return respondJson(ctx.ops.details());
}

/** The 403 when the key lacks `admin` on every stream. */
function refused(ctx: HttpContext, req: RouteRequest): Response | undefined {
  const method = req.request.method;
  const operation = req.route.methods[method as Method]?.name ?? "";
  const denied = authorizeServer(ctx, req, operation);
  return denied === undefined ? undefined : errorResponse(denied, method);
}

function notServed(req: RouteRequest): Response {
  return errorResponse(
    new StreamError("not_found", "This server does not serve this page"),
    req.request.method,
  );
}
