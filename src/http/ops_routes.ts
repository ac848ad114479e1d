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
  const { contentType, body } = await ctx.ops.metrics(
    wantsOpenMetrics(req.request.headers.get("accept")),
  );
  const headers = new Headers({
    "content-type": contentType,
    "cache-control": "no-store",
  });
  return respond(req.request.method === "HEAD" ? null : body, 200, headers);
}

/**
 * Whether an `Accept` header asks for OpenMetrics text: it lists
 * `application/openmetrics-text` with a nonzero `q` (Prometheus sends it
 * first, then `text/plain` as a fallback). Anything else gets Prometheus
 * text 0.0.4.
 */
export function wantsOpenMetrics(accept: string | null): boolean {
  if (accept === null) return false;
  for (const range of accept.split(",")) {
    const [type, ...params] = range.split(";");
    if (type.trim().toLowerCase() !== "application/openmetrics-text") continue;
    const q = params.map((p) => p.trim().toLowerCase()).find((p) =>
      p.startsWith("q=")
    );
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
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
