/**
 * @module
 * `GET /v1/streams?prefix=&after=&limit=`: a page of live streams, sorted by
 * name, with `next` naming the `after` value for the following page. An
 * empty parameter (`?prefix=&after=&limit=`) means its default. A key sees
 * only the streams it may read; a page may then end early (with `next`)
 * when many names in a row are not readable.
 */

import { Principal } from "../auth/principal.ts";
import type { Engine } from "../engine/engine.ts";
import type { StreamView } from "../engine/types.ts";
import { StreamError } from "../errors.ts";
import { LIST_SCAN_NAMES_MAX } from "../limits.ts";
import { encodeOffset } from "../protocol/offset.ts";
import type { HttpContext } from "./context.ts";
import { errorResponse, respondJson } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

/** Lists streams. */
export async function listStreams(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const params = new URLSearchParams(req.query);
  const prefix = params.get("prefix") ?? "";
  const after = params.get("after") || undefined;
  const limitRaw = params.get("limit") ?? "";
  let limit = ctx.limits.listPageMax;
  if (limitRaw !== "") {
    if (!/^[1-9]\d{0,6}$/.test(limitRaw)) {
      return errorResponse(
        new StreamError("bad_request", `Invalid limit "${limitRaw}"`),
      );
    }
    limit = Math.min(Number(limitRaw), ctx.limits.listPageMax);
  }
  // With several nodes: creates and deletes made elsewhere first.
  await ctx.engine.syncStreamSet();
  const page: { streams: StreamView[]; more: boolean; next?: string } =
    req.principal === Principal.OPEN
      ? ctx.engine.list(prefix, after, limit)
      : readablePage(ctx.engine, req.principal, prefix, after, limit);
  const streams = page.streams.map((s) => ({
    name: s.name,
    contentType: s.contentType,
    nextOffset: encodeOffset(s.tailPos),
    // Bytes readable from the start: the tail's byte position (a fork
    // counts its source's bytes up to the fork point, as its reads do).
    sizeBytes: s.tailPos,
    closed: s.closed,
    createdAt: new Date(s.createdAtMs).toISOString(),
    ttlSeconds: s.ttlSeconds,
    expiresAt: s.expiresAtMs === null
      ? null
      : new Date(s.expiresAtMs).toISOString(),
    profile: s.profile?.kind ?? "generic",
    ...observabilityOf(s),
  }));
  const next = page.next ??
    (page.more ? streams[streams.length - 1].name : null);
  return respondJson({ streams, next });
}

/**
 * The `observability.request` streams a listing item names (profiles.md
 * §1): the ones the stream's profile options declare, if any.
 */
function observabilityOf(
  view: StreamView,
): { observability?: { request: Record<string, string> } } {
  const declared = view.profile?.observability;
  if (typeof declared !== "object" || declared === null) return {};
  const request = (declared as { request?: unknown }).request;
  if (typeof request !== "object" || request === null) return {};
  const out: Record<string, string> = {};
  const { eventsStream, tracesStream } = request as Record<string, unknown>;
  if (typeof eventsStream === "string") out.events_stream = eventsStream;
  if (typeof tracesStream === "string") out.traces_stream = tracesStream;
  return Object.keys(out).length === 0
    ? {}
    : { observability: { request: out } };
}

/**
 * A page of the streams `principal` may read: scans pages of names until
 * `limit` are readable, the names run out, or `LIST_SCAN_NAMES_MAX` were
 * examined (then `next` is the last name examined).
 */
function readablePage(
  engine: Engine,
  principal: Principal,
  prefix: string,
  after: string | undefined,
  limit: number,
): { streams: StreamView[]; more: boolean; next?: string } {
  const streams: StreamView[] = [];
  let scanned = 0;
  for (;;) {
    const page = engine.list(prefix, after, limit);
    for (const [i, view] of page.streams.entries()) {
      if (!principal.allows("read", view.name)) continue;
      if (streams.length === limit) return { streams, more: true };
      streams.push(view);
      if (streams.length === limit && i === page.streams.length - 1) {
        return { streams, more: page.more };
      }
    }
    scanned += page.streams.length;
    if (!page.more) return { streams, more: false };
    after = page.streams[page.streams.length - 1].name;
    if (scanned >= LIST_SCAN_NAMES_MAX) {
      return { streams, more: true, next: after };
    }
  }
}
