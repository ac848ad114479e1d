/**
 * @module
 * `GET /v1/stream/{name}/_routing_keys?limit=&after=`: a page of the
 * stream's distinct routing keys in ascending byte order, with the cursor
 * of the next page and how much of the stream the answer covers. Segments
 * the routing-key index covers are answered from its key lexicons
 * (`coverage.indexed_segments`); every page scans the rest from the
 * stream's start within the keyed scan budget (`--keyed-scan-bytes-max`),
 * and `coverage.complete` is false when that scan stopped before the tail.
 */

import { StreamError } from "../errors.ts";
import { checkRoutingKey } from "../protocol/headers.ts";
import type { HttpContext } from "./context.ts";
import { errorResponse, respondJson } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

/** Default and largest page size. */
const LIMIT_DEFAULT = 100;
const LIMIT_MAX = 500;

const decoder = new TextDecoder();

/** GET (and HEAD) of `_routing_keys`. */
export async function getRoutingKeys(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const method = req.request.method;
  const params = new URLSearchParams(req.query);
  const limitRaw = params.get("limit");
  let limit = LIMIT_DEFAULT;
  if (limitRaw !== null) {
    if (!/^[1-9][0-9]{0,2}$/.test(limitRaw) || Number(limitRaw) > LIMIT_MAX) {
      return errorResponse(
        new StreamError(
          "bad_request",
          `Invalid limit "${limitRaw}": expected an integer in 1..${LIMIT_MAX}`,
        ),
        method,
      );
    }
    limit = Number(limitRaw);
  }
  const afterRaw = params.get("after");
  let after: Uint8Array | undefined;
  if (afterRaw !== null) {
    const checked = checkRoutingKey(
      new TextEncoder().encode(afterRaw),
      "after",
      ctx.limits.routingKeyBytesMax,
    );
    if (!checked.ok) return errorResponse(checked.error, method);
    after = checked.value;
  }
  const details = ctx.details?.(req.name);
  const walStart = details?.ok ? details.value.walStartPos : 0;
  const page = await ctx.engine.routingKeys(req.name, {
    after,
    limit,
    splitPos: walStart,
  });
  if (!page.ok) return errorResponse(page.error, method);
  const p = page.value;
  const keys = p.keys.map((k) => decoder.decode(k));
  return respondJson({
    stream: req.name,
    keys,
    next_after: p.more ? keys[keys.length - 1] : null,
    coverage: {
      complete: p.complete,
      indexed_segments: p.indexedSegments,
      scanned_segments: p.scannedSegments,
      scanned_wal_records: p.recordsFromSplit,
    },
  });
}
