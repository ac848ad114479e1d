/**
 * @module
 * Turns protocol request headers into engine requests (`CreateRequest`,
 * `AppendRequest`), reporting the first malformed header as a 400.
 */

import { fail, ok, type Result } from "../errors.ts";
import type {
  AppendRequest,
  CreateRequest,
  ForkRequest,
} from "../engine/types.ts";
import {
  isValidContentType,
  parseExpiresAt,
  parseProducerHeaders,
  parseRoutingKeyHeader,
  parseStreamClosed,
  parseStreamTimestamp,
  parseTtl,
} from "../protocol/headers.ts";
import { decodeOffset } from "../protocol/offset.ts";
import { STREAM_PREFIX } from "./stream_path.ts";

/**
 * Parses the headers of a PUT (create or fork); `nowMs` is the time a
 * `Stream-Expires-At` must lie after.
 */
export function parseCreateHeaders(
  headers: Headers,
  body: Uint8Array,
  keyBytesMax: number,
  nowMs: number = Date.now(),
): Result<CreateRequest> {
  const contentType = parseContentType(headers);
  if (!contentType.ok) return contentType;
  const ttlHeader = headers.get("stream-ttl");
  const expiresHeader = headers.get("stream-expires-at");
  if (ttlHeader !== null && expiresHeader !== null) {
    return fail(
      "bad_request",
      "Send Stream-TTL or Stream-Expires-At, not both",
    );
  }
  let ttlSeconds: number | undefined;
  if (ttlHeader !== null) {
    const ttl = parseTtl(ttlHeader);
    if (!ttl.ok) return ttl;
    ttlSeconds = ttl.value;
  }
  let expiresAtMs: number | undefined;
  if (expiresHeader !== null) {
    const expires = parseExpiresAt(expiresHeader, nowMs);
    if (!expires.ok) return expires;
    expiresAtMs = expires.value;
  }
  const fork = parseForkHeaders(headers);
  if (!fork.ok) return fork;
  const record = parseRecordHeaders(headers, keyBytesMax);
  if (!record.ok) return record;
  return ok({
    ...record.value,
    contentType: contentType.value,
    ttlSeconds,
    expiresAtMs,
    closed: parseStreamClosed(headers.get("stream-closed")),
    body,
    fork: fork.value,
  });
}

function parseForkHeaders(headers: Headers): Result<ForkRequest | undefined> {
  const from = headers.get("stream-forked-from");
  const offset = headers.get("stream-fork-offset");
  const sub = headers.get("stream-fork-sub-offset");
  if (from === null) {
    if (offset !== null || sub !== null) {
      return fail(
        "bad_request",
        "Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From",
      );
    }
    return ok(undefined);
  }
  const source = forkSourceName(from);
  if (source === undefined) {
    return fail(
      "bad_request",
      `Invalid Stream-Forked-From "${from}": expected a stream path like /v1/stream/name`,
    );
  }
  let position: number | undefined;
  if (offset !== null) {
    position = offset === "-1" ? 0 : decodeOffset(offset);
    if (position === undefined) {
      return fail("bad_request", `Invalid Stream-Fork-Offset "${offset}"`);
    }
  }
  let subOffset: number | undefined;
  if (sub !== null) {
    if (!/^(0|[1-9][0-9]{0,15})$/.test(sub)) {
      return fail(
        "bad_request",
        `Invalid Stream-Fork-Sub-Offset "${sub}": expected a non-negative integer`,
      );
    }
    subOffset = Number(sub);
  }
  return ok({ source, position, subOffset });
}

function forkSourceName(value: string): string | undefined {
  let path = value;
  if (/^https?:\/\//i.test(path)) {
    try {
      path = new URL(path).pathname;
    } catch {
      return undefined;
    }
  }
  if (!path.startsWith(STREAM_PREFIX)) return undefined;
  try {
    const name = decodeURIComponent(path.slice(STREAM_PREFIX.length));
    return name.length > 0 ? name : undefined;
  } catch {
    return undefined;
  }
}

/** Parses the headers of a POST (append and/or close). */
export function parseAppendHeaders(
  headers: Headers,
  body: Uint8Array,
  keyBytesMax: number,
): Result<AppendRequest> {
  const contentType = parseContentType(headers);
  if (!contentType.ok) return contentType;
  const producer = parseProducerHeaders(
    headers.get("producer-id"),
    headers.get("producer-epoch"),
    headers.get("producer-seq"),
  );
  if (!producer.ok) return producer;
  const record = parseRecordHeaders(headers, keyBytesMax);
  if (!record.ok) return record;
  return ok({
    ...record.value,
    contentType: contentType.value,
    body,
    close: parseStreamClosed(headers.get("stream-closed")),
    streamSeq: headers.get("stream-seq") ?? undefined,
    producer: producer.value,
  });
}

/** `Stream-Key` and `Stream-Timestamp`, which apply to every record sent. */
function parseRecordHeaders(
  headers: Headers,
  keyBytesMax: number,
): Result<
  { routingKey: Uint8Array | undefined; timestampMs: number | undefined }
> {
  const key = headers.get("stream-key");
  let routingKey: Uint8Array | undefined;
  if (key !== null) {
    const parsed = parseRoutingKeyHeader(key, keyBytesMax);
    if (!parsed.ok) return parsed;
    routingKey = parsed.value;
  }
  const time = headers.get("stream-timestamp");
  let timestampMs: number | undefined;
  if (time !== null) {
    const parsed = parseStreamTimestamp(time);
    if (!parsed.ok) return parsed;
    timestampMs = parsed.value;
  }
  return ok({ routingKey, timestampMs });
}

function parseContentType(headers: Headers): Result<string | undefined> {
  const value = headers.get("content-type");
  if (value === null || value.trim() === "") return ok(undefined);
  if (!isValidContentType(value)) {
    return fail("bad_request", `Invalid Content-Type "${value}"`);
  }
  return ok(value);
}
