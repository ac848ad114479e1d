/**
 * @module
 * The operator's pages: `GET /metrics` (Prometheus text exposition) and
 * `GET /v1/server/_details` (limits, memory by subsystem, queues, backlog,
 * the largest streams). Both need the `admin` scope when API-key auth is on
 * (`--public-metrics` opens `/metrics`); see `ADMIN_ROUTES` in `routes.ts`.
 */

import { StreamError } from "../errors.ts";
import type { HttpContext } from "./context.ts";
import { errorResponse, respond, respondJson } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

/** GET and HEAD of `/metrics`. */
export async function getMetrics(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
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
  if (ctx.ops === undefined) return notServed(req);
  return respondJson(ctx.ops.details());
}

function notServed(req: RouteRequest): Response {
  return errorResponse(
    new StreamError("not_found", "This server does not serve this page"),
    req.request.method,
  );
}
