/**
 * @module
 * `GET /health`: liveness plus the figures an operator watches (streams,
 * waiting readers, group-commit batching, request bodies held in memory,
 * and whatever the server adds, such as the tiered-storage backlog). When
 * what the server adds says `status: "unavailable"` (its database cannot be
 * reached), or the engine refuses writes after a failed commit
 * (`writesRefused` says why), the answer is 503. `GET /v1/server/_access`: what the caller's
 * key may do (`Principal.describe()`), so a client such as the console can
 * leave out what would be refused.
 */

import { Principal } from "../auth/principal.ts";
import type { HttpContext } from "./context.ts";
import { respondJson } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

/**
 * GET and HEAD of `/health`. Without a key (`--public-health` under
 * `--auth api-key`) it answers only the status.
 */
export function getHealth(ctx: HttpContext, req: RouteRequest): Response {
  if (req.principal === Principal.NOBODY) return respondJson({ status: "ok" });
  const writer = ctx.engine.writerStats();
  const extra = ctx.health?.() ?? {};
  const refused = ctx.engine.writesRefusedBecause;
  if (refused !== undefined) {
    extra.status = "unavailable";
    extra.writesRefused = refused;
  }
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
    ...extra,
  }, extra.status === "unavailable" ? 503 : 200);
}

/**
 * GET of `/v1/server/_access`: `{"auth": false}` under `--auth none`, else
 * the key's id, scopes and stream globs (never its secret).
 */
export function getAccess(_ctx: HttpContext, req: RouteRequest): Response {
  return respondJson(req.principal.describe());
}
