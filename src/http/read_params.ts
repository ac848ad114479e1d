/**
 * @module
 * The query of a stream read, taken apart: where to start (`offset`, or
 * `since` for the first record appended at or after a time, when no offset
 * is given) and which records to keep (`key`, or the `pk/{key}` path form,
 * which wins; `filter`, checked by the engine against the stream's search
 * configuration). Bad values are 400s; nothing here reads the stream.
 */

import { fail, ok, type Result } from "../errors.ts";
import { checkRoutingKey, parseTimePoint } from "../protocol/headers.ts";
import { parseOffsetParam } from "../protocol/offset.ts";
import type { RouteRequest } from "./router.ts";

/** Where a read starts and what it keeps. */
export interface ReadParams {
  /** The `offset` parameter as sent (`null` when absent). */
  offsetParam: string | null;
  /** Start: a position, the stream's start, or its tail. */
  from: number | "start" | "now";
  /**
   * `since` in epoch ms, when it decides the start (no `offset` given); the
   * start is then the first record appended at or after it.
   */
  sinceMs: number | undefined;
  /** Routing key to keep, UTF-8 (`undefined`: every record). */
  key: Uint8Array | undefined;
  /** The key as text, for ETags. */
  keyText: string;
  /** The `filter=` expression (specs/search.md §2), when given. */
  filter: string | undefined;
}

/**
 * Parses the read parameters of `req`. `offset` wins over `since` (as in
 * Prisma Streams: a client resuming from an offset keeps its place even if
 * its URL still says `since`); `since` alone starts at a time.
 */
export function parseReadParams(
  req: RouteRequest,
  params: URLSearchParams,
  keyBytesMax: number,
): Result<ReadParams> {
  const offsetParam = params.get("offset");
  const offset = parseOffsetParam(offsetParam);
  if (offset === undefined) {
    return fail("bad_request", `Invalid offset "${offsetParam}"`);
  }
  const since = params.get("since");
  let sinceMs: number | undefined;
  if (since !== null) {
    sinceMs = parseTimePoint(since.trim(), "ceil");
    if (sinceMs === undefined) {
      return fail(
        "bad_request",
        `Invalid since "${since}": expected RFC 3339 or integer Unix nanoseconds, not before 1970`,
      );
    }
    if (offsetParam !== null) sinceMs = undefined; // offset wins
  }
  const pathKey = req.route.sub === "pk";
  const keyText = pathKey ? req.key : params.get("key");
  let key: Uint8Array | undefined;
  if (keyText !== null) {
    const checked = checkRoutingKey(
      new TextEncoder().encode(keyText),
      pathKey ? "The pk/{key} routing key" : "The key parameter",
      keyBytesMax,
    );
    if (!checked.ok) return checked;
    key = checked.value;
  }
  return ok({
    offsetParam,
    from: offset.kind === "position" ? offset.position : offset.kind,
    sinceMs,
    key,
    keyText: keyText ?? "",
    filter: params.get("filter") ?? undefined,
  });
}
