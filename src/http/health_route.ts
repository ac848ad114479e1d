/**
 * @module
 * `GET /health`: liveness plus the figures an operator watches (streams,
 * waiting readers, group-commit batching, request bodies held in memory,
 * and whatever the server adds, such as the tiered-storage backlog).
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
    ...ctx.health?.(),
  });
}
