/**
 * @module
 * Handlers for `/v1/stream/{name}`: PUT creates, POST appends or closes,
 * GET reads (catch-up, long-poll, SSE), HEAD describes, DELETE deletes.
 * Each parses, calls one engine function and responds.
 */

import type {
  KeyedReadOutcome,
  ReadOutcome,
  StreamView,
} from "../engine/types.ts";
import { fail, type Result, StreamError } from "../errors.ts";
import { isJsonContentType } from "../protocol/headers.ts";
import { jsonArrayBody } from "../protocol/json.ts";
import { encodeOffset } from "../protocol/offset.ts";
import { responseCursor } from "../protocol/cursor.ts";
import { withBody } from "./body.ts";
import type { HttpContext } from "./context.ts";
import { parseReadParams, type ReadParams } from "./read_params.ts";
import { parseAppendHeaders, parseCreateHeaders } from "./request_headers.ts";
import { errorResponse, type HeaderRecord, respond } from "./respond.ts";
import type { RouteRequest } from "./router.ts";
import { sseBody } from "./sse.ts";
import { reservedNameProblem, streamUrlPath } from "./stream_path.ts";

const CACHEABLE = "public, max-age=60, stale-while-revalidate=300";

/**
 * PUT: create, confirm, or fork (§5.1, §4.2). A name that would read as a
 * subresource of a shorter one (`a/_x`, `a/pk/k`) is a 400.
 */
export async function putStream(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const { name, request } = req;
  const reserved = reservedNameProblem(name);
  if (reserved !== undefined) return errorResponse(reserved);
  return await withBody(
    request,
    ctx.body,
    (body) => create(ctx, name, request, body),
  );
}

async function create(
  ctx: HttpContext,
  name: string,
  request: Request,
  body: Uint8Array,
): Promise<Response> {
  const parsed = parseCreateHeaders(
    request.headers,
    body,
    ctx.limits.routingKeyBytesMax,
  );
  if (!parsed.ok) return errorResponse(parsed.error);
  const resolved = await ctx.engine.resolveForkSubOffset(parsed.value);
  if (!resolved.ok) return errorResponse(resolved.error);
  const created = await ctx.engine.create(name, resolved.value);
  if (!created.ok) return errorResponse(created.error);
  const headers = streamHeaders(created.value.stream);
  if (created.value.created) {
    headers["location"] = new URL(streamUrlPath(name), request.url).href;
  }
  return respond(null, created.value.created ? 201 : 200, headers);
}

/** POST: append and/or close (§5.2, §5.3). */
export async function postStream(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const { name, request } = req;
  return await withBody(
    request,
    ctx.body,
    (body) => append(ctx, name, request.headers, body),
  );
}

async function append(
  ctx: HttpContext,
  name: string,
  requestHeaders: Headers,
  body: Uint8Array,
): Promise<Response> {
  const parsed = parseAppendHeaders(
    requestHeaders,
    body,
    ctx.limits.routingKeyBytesMax,
  );
  if (!parsed.ok) return errorResponse(parsed.error);
  const appended = await ctx.engine.append(name, parsed.value);
  if (!appended.ok) return errorResponse(appended.error);
  const outcome = appended.value;
  const headers: HeaderRecord = {
    "stream-next-offset": encodeOffset(outcome.nextPos),
  };
  if (outcome.closed) headers["stream-closed"] = "true";
  if (outcome.producer !== undefined) {
    headers["producer-epoch"] = String(outcome.producer.epoch);
    headers["producer-seq"] = String(outcome.producer.seq);
  }
  const status =
    outcome.kind === "accepted" && parsed.value.producer !== undefined
      ? 200
      : 204;
  return respond(null, status, headers);
}

/** HEAD: metadata, never cached, does not reset the TTL (§5.5). */
export async function headStream(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const found = await ctx.engine.headFresh(req.name);
  if (!found.ok) return errorResponse(found.error, "HEAD");
  const headers = streamHeaders(found.value);
  if (found.value.ttlSeconds !== null) {
    headers["stream-ttl"] = String(found.value.ttlSeconds);
  }
  if (found.value.expiresAtMs !== null) {
    headers["stream-expires-at"] = new Date(found.value.expiresAtMs)
      .toISOString();
  }
  headers["cache-control"] = "no-store";
  return respond(null, 200, headers);
}

/** DELETE (§5.4). */
export async function deleteStream(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const deleted = await ctx.engine.delete(req.name);
  if (!deleted.ok) return errorResponse(deleted.error);
  return respond(null, 204);
}

/**
 * GET: catch-up, long-poll or SSE, by the `live` parameter (§5.6-5.8);
 * `since` starts at a time, `key` (or `pk/{key}`) keeps one key's records.
 */
export async function getStream(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const { name, request } = req;
  const params = new URLSearchParams(req.query);
  const parsed = parseReadParams(req, params, ctx.limits.routingKeyBytesMax);
  if (!parsed.ok) return errorResponse(parsed.error);
  const p = parsed.value;
  let from = p.from;
  if (p.sinceMs !== undefined) {
    const found = await ctx.engine.positionAtTime(name, p.sinceMs);
    if (!found.ok) return errorResponse(found.error);
    from = found.value;
  }
  const read = readerFor(ctx, name, p);
  const live = params.get("live");
  if (live === null) return await catchUp(read, p, request, from);
  if (p.offsetParam === null && p.sinceMs === undefined) {
    return errorResponse(
      new StreamError(
        "bad_request",
        "Live reads need an offset (or since) parameter",
      ),
    );
  }
  if (live === "long-poll") {
    const timeout = parseTimeout(
      params.get("timeout"),
      ctx.http.longPollTimeoutMs,
    );
    if (!timeout.ok) return errorResponse(timeout.error);
    return await longPoll(ctx, read, name, from, {
      params: p,
      clientCursor: params.get("cursor"),
      timeoutMs: timeout.value,
      signal: request.signal,
    });
  }
  if (live === "sse") {
    return await sse(
      ctx,
      read,
      name,
      from,
      params.get("cursor"),
      request.signal,
    );
  }
  return errorResponse(
    new StreamError(
      "bad_request",
      `Invalid live mode "${live}": use long-poll or sse`,
    ),
  );
}

/** A read of the stream from a position: every record, or one key's. */
type Read = (
  from: number | "start" | "now",
  bytesMax?: number,
  fresh?: boolean,
) => Promise<Result<ReadOutcome & Partial<KeyedScan>>>;

/** What a keyed or filtered read adds to a read's outcome. */
type KeyedScan =
  & Pick<KeyedReadOutcome, "scannedBytes" | "scanLimitReached">
  & { filterScanBytesMax: number };

function readerFor(ctx: HttpContext, name: string, p: ReadParams): Read {
  const key = p.key;
  const filter = p.filter;
  if (filter !== undefined) {
    const cap = ctx.limits.filterScanBytesMax;
    return async (from, bytesMax) => {
      const r = await ctx.engine.readFiltered(
        name,
        from,
        filter,
        key,
        bytesMax,
      );
      return r.ok
        ? { ok: true, value: { ...r.value, filterScanBytesMax: cap } }
        : r;
    };
  }
  if (key === undefined) {
    return (from, bytesMax, fresh) =>
      ctx.engine.read(name, from, bytesMax, fresh);
  }
  return (from, bytesMax) => ctx.engine.readKeyed(name, from, key, bytesMax);
}

async function catchUp(
  read: Read,
  p: ReadParams,
  request: Request,
  from: number | "start" | "now",
): Promise<Response> {
  const result = await read(from);
  if (!result.ok) return errorResponse(result.error);
  const r = result.value;
  const headers = readHeaders(r);
  if (from === "now") {
    headers["cache-control"] = "no-store";
  } else {
    const etag = etagOf(r, p);
    headers["etag"] = etag;
    headers["cache-control"] = CACHEABLE;
    if (matchesEtag(request.headers.get("if-none-match"), etag)) {
      return respond(null, 304, headers);
    }
  }
  return respond(readBodyBytes(r), 200, headers);
}

/** The ETag of a read: stream, range, the key and filter if any, closure. */
function etagOf(r: ReadOutcome, p: ReadParams): string {
  let key = p.key === undefined ? "" : `:key=${encodeURIComponent(p.keyText)}`;
  if (p.filter !== undefined) key += `:filter=${encodeURIComponent(p.filter)}`;
  return `"${r.stream.id}:${r.startPos}:${r.nextPos}${key}${
    r.closed ? ":c" : ""
  }"`;
}

async function longPoll(
  ctx: HttpContext,
  read: Read,
  name: string,
  from: number | "start" | "now",
  options: {
    params: ReadParams;
    clientCursor: string | null;
    timeoutMs: number;
    signal: AbortSignal;
  },
): Promise<Response> {
  const deadline = Date.now() + options.timeoutMs;
  let position = from;
  // After a wait that returned "changed" the tail is current already.
  let fresh = false;
  while (true) {
    const result = await read(position, undefined, fresh);
    if (!result.ok) return errorResponse(result.error);
    const r = result.value;
    const cursor = responseCursor(options.clientCursor, Date.now());
    // A keyed scan that stopped at its budget answers what it found, so the
    // client moves on from the stop point.
    if (r.data.length > 0 || r.scanLimitReached === true) {
      const headers = readHeaders(r);
      if (!r.closed) headers["stream-cursor"] = cursor;
      headers["cache-control"] = CACHEABLE;
      headers["etag"] = etagOf(r, options.params);
      return respond(readBodyBytes(r), 200, headers);
    }
    position = r.nextPos;
    const left = deadline - Date.now();
    if (r.closed || left <= 0) return longPollEmpty(r, cursor);
    // A client that hangs up frees its waiter slot at once.
    const waited = await ctx.engine.waitForData(
      name,
      r.nextPos,
      left,
      options.signal,
      true, // the read above just brought the tail up to date
    );
    if (!waited.ok) return errorResponse(waited.error);
    if (waited.value === "aborted") return longPollEmpty(r, cursor);
    fresh = waited.value === "changed";
  }
}

function longPollEmpty(r: ReadOutcome, cursor: string): Response {
  const headers: HeaderRecord = {
    "stream-next-offset": encodeOffset(r.nextPos),
    "stream-up-to-date": "true",
    "cache-control": "no-store",
  };
  if (r.closed) headers["stream-closed"] = "true";
  else headers["stream-cursor"] = cursor;
  return respond(null, 204, headers);
}

async function sse(
  ctx: HttpContext,
  read: Read,
  name: string,
  from: number | "start" | "now",
  clientCursor: string | null,
  signal: AbortSignal,
): Promise<Response> {
  // The first read happens here, so a missing stream or bad offset gets its
  // status before the 200; the body starts by sending it.
  const first = await read(from, ctx.limits.readBytesMax);
  if (!first.ok) return errorResponse(first.error);
  const headers: HeaderRecord = {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    "connection": "keep-alive",
  };
  const type = first.value.stream.contentType;
  if (!type.toLowerCase().startsWith("text/") && !isJsonContentType(type)) {
    headers["stream-sse-data-encoding"] = "base64";
  }
  const body = sseBody({
    engine: ctx.engine,
    read,
    name,
    from,
    first: first.value,
    clientCursor,
    connectionMs: ctx.http.sseConnectionMs,
    readBytesMax: ctx.limits.readBytesMax,
    stallMs: ctx.http.liveStallMs,
    signal,
  });
  return respond(body, 200, headers);
}

/**
 * The `timeout` parameter of a long-poll, in seconds, as milliseconds
 * capped at `fallbackMs` (also the value when it is absent).
 */
export function parseTimeout(
  value: string | null,
  fallbackMs: number,
): Result<number> {
  if (value === null) return { ok: true, value: fallbackMs };
  // `timeout` is in seconds, as in the reference server; capped by our own.
  if (!/^\d{1,6}(\.\d{1,3})?$/.test(value)) {
    return fail("bad_request", `Invalid timeout "${value}": expected seconds`);
  }
  return { ok: true, value: Math.min(Number(value) * 1000, fallbackMs) };
}

function streamHeaders(stream: StreamView): HeaderRecord {
  const headers: HeaderRecord = {
    "content-type": stream.contentType,
    "stream-next-offset": encodeOffset(stream.tailPos),
  };
  if (stream.closed) headers["stream-closed"] = "true";
  return headers;
}

function readHeaders(r: ReadOutcome & Partial<KeyedScan>): HeaderRecord {
  const headers: HeaderRecord = {
    "content-type": r.stream.contentType,
    "stream-next-offset": encodeOffset(r.nextPos),
  };
  if (r.upToDate) headers["stream-up-to-date"] = "true";
  if (r.closed) headers["stream-closed"] = "true";
  if (r.scannedBytes !== undefined) {
    headers["stream-scanned-bytes"] = String(r.scannedBytes);
  }
  if (r.scanLimitReached === true) {
    headers["stream-scan-limit-reached"] = "true";
  }
  if (r.filterScanBytesMax !== undefined) {
    // specs/search.md §2: the filter's own names for the same figures.
    headers["stream-filter-scanned-bytes"] = String(r.scannedBytes);
    if (r.scanLimitReached === true) {
      headers["stream-filter-scan-limit-reached"] = "true";
      headers["stream-filter-scan-limit-bytes"] = String(r.filterScanBytesMax);
    }
  }
  return headers;
}

function readBodyBytes(r: ReadOutcome): Uint8Array<ArrayBuffer> {
  const bytes = isJsonContentType(r.stream.contentType)
    ? jsonArrayBody(r.data)
    : r.data;
  return bytes as Uint8Array<ArrayBuffer>;
}

function matchesEtag(ifNoneMatch: string | null, etag: string): boolean {
  if (ifNoneMatch === null) return false;
  return ifNoneMatch.split(",").some((t) => {
    const tag = t.trim();
    return tag === "*" || tag === etag || tag === `W/${etag}`;
  });
}
