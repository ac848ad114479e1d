/**
 * @module
 * Pure parsers for protocol request headers: content types, `Stream-TTL`,
 * `Stream-Expires-At`, `Stream-Closed`, `Stream-Seq` ordering and the three
 * producer headers. Each returns a value or a message for a 400; none do I/O.
 */

import { fail, ok, type Result } from "../errors.ts";

/** The content type a stream gets when PUT names none. */
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";
/** Largest TTL accepted, in seconds (100 years). */
export const TTL_SECONDS_MAX = 100 * 365 * 24 * 3600;
/** Producer epochs and seqs are integers in 0..2^53-1 (PROTOCOL.md §5.2.1). */
export const PRODUCER_NUMBER_MAX: number = Number.MAX_SAFE_INTEGER;

/**
 * Normalises a media type for comparison: the type/subtype lowercased,
 * parameters dropped (`Application/JSON; charset=utf-8` -> `application/json`).
 */
export function mediaType(contentType: string): string {
  const semicolon = contentType.indexOf(";");
  const bare = semicolon < 0 ? contentType : contentType.slice(0, semicolon);
  return bare.trim().toLowerCase();
}

/** True when a stream of this content type is in JSON mode (§9.1). */
export function isJsonContentType(contentType: string): boolean {
  return mediaType(contentType) === "application/json";
}

/** True when SSE data for this content type is sent as text, not base64. */
export function isTextContentType(contentType: string): boolean {
  const type = mediaType(contentType);
  return type.startsWith("text/") || type === "application/json";
}

/** A syntactically valid `type/subtype` media type (RFC 9110 tokens). */
export function isValidContentType(contentType: string): boolean {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(
    mediaType(contentType),
  );
}

/** `Stream-Closed` is present only when its value is `true`, any case (§4.1). */
export function parseStreamClosed(value: string | null): boolean {
  return value !== null && value.trim().toLowerCase() === "true";
}

/**
 * Parses `Stream-TTL`: a canonical decimal integer of seconds, at least 1.
 * PROTOCOL.md §5.1 allows 0 by syntax, but such a stream would be expired
 * the moment it is created (201, then 404), so it is refused as a 400.
 */
export function parseTtl(value: string): Result<number> {
  if (!/^(0|[1-9][0-9]*)$/.test(value)) {
    return fail(
      "bad_request",
      `Invalid Stream-TTL "${value}": expected a non-negative integer number of seconds without sign or leading zeros`,
    );
  }
  const seconds = Number(value);
  if (seconds === 0) {
    return fail(
      "bad_request",
      "Invalid Stream-TTL 0: the stream would expire as it is created",
    );
  }
  if (seconds > TTL_SECONDS_MAX) {
    return fail(
      "bad_request",
      `Invalid Stream-TTL "${value}": at most ${TTL_SECONDS_MAX} seconds`,
    );
  }
  return ok(seconds);
}

/**
 * RFC 3339 §5.6 `date-time`: `T` (or `t`, or a space, per its note) between
 * date and time, optional fraction, `Z`/`z` or a `±HH:MM` offset. Field
 * ranges and the calendar are checked after the match.
 */
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const MINUTE_MS = 60_000;

/**
 * Parses an RFC 3339 timestamp into epoch milliseconds, or `undefined` when
 * it is malformed or names no real time: the day must exist in its month
 * (leap years included), hours run 0-23, minutes 0-59, seconds 0-59, and
 * offsets up to ±23:59. A leap second (`:60`) is taken only where RFC 3339
 * §5.7 puts one, at 23:59:60 UTC on a month's last day, and counts as the
 * next midnight (epoch time has no leap seconds). Fractions past
 * milliseconds are truncated.
 */
export function parseRfc3339(value: string): number | undefined {
  const m = RFC3339.exec(value);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const offsetHours = m[8] === undefined ? 0 : Number(m[9]);
  const offsetMinutes = m[8] === undefined ? 0 : Number(m[10]);
  if (
    month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) ||
    hour > 23 || minute > 59 || second > 60 || offsetHours > 23 ||
    offsetMinutes > 59
  ) return undefined;
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(1, 4).padEnd(3, "0"));
  const sign = m[8] === "-" ? -1 : 1;
  const offsetMs = sign * (offsetHours * 60 + offsetMinutes) * MINUTE_MS;
  const local = Date.UTC(year, month - 1, day, hour, minute, 0, 0);
  // Date.UTC maps years 0-99 to 1900-1999; set the year explicitly.
  const localMs = new Date(local).setUTCFullYear(year, month - 1, day);
  const utcMs = localMs - offsetMs;
  if (second === 60 && !isLeapSecondSlot(utcMs)) return undefined;
  return utcMs + second * 1000 + ms;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    return leap ? 29 : 28;
  }
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** True when `minuteMs` (UTC) is 23:59 on the last day of a month. */
function isLeapSecondSlot(minuteMs: number): boolean {
  const at = new Date(minuteMs);
  return at.getUTCHours() === 23 && at.getUTCMinutes() === 59 &&
    new Date(minuteMs + MINUTE_MS).getUTCDate() === 1;
}

/**
 * Parses `Stream-Expires-At` (RFC 3339) into epoch milliseconds; a time at
 * or before `nowMs` is refused (the stream would be created expired).
 */
export function parseExpiresAt(value: string, nowMs: number): Result<number> {
  const ms = parseRfc3339(value);
  if (ms === undefined) {
    return fail(
      "bad_request",
      `Invalid Stream-Expires-At "${value}": expected an RFC 3339 timestamp of a real time`,
    );
  }
  if (ms <= nowMs) {
    return fail(
      "bad_request",
      `Invalid Stream-Expires-At "${value}": the time has passed`,
    );
  }
  return ok(ms);
}

/**
 * Parses a point in time given as RFC 3339 or as integer Unix nanoseconds
 * (`Stream-Timestamp`, `since=`) into epoch milliseconds, or `undefined`.
 * `round` says which way nanoseconds between two milliseconds go: `floor`
 * for an append time, `ceil` for a lower bound (`since`: the first record
 * at or after the time). Times before 1970 are refused.
 */
export function parseTimePoint(
  value: string,
  round: "floor" | "ceil",
): number | undefined {
  if (/^[0-9]{1,19}$/.test(value)) {
    const nanos = BigInt(value);
    let ms = nanos / 1_000_000n;
    if (round === "ceil" && nanos % 1_000_000n !== 0n) ms++;
    return ms <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ms) : undefined;
  }
  const ms = parseRfc3339(value);
  if (ms === undefined || ms < 0) return undefined;
  // parseRfc3339 truncates to milliseconds; a lower bound rounds up.
  const fraction = /\.(\d+)/.exec(value)?.[1] ?? "";
  const subMs = /[1-9]/.test(fraction.slice(3));
  return round === "ceil" && subMs ? ms + 1 : ms;
}

/** Parses `Stream-Timestamp` into epoch ms (see `parseTimePoint`). */
export function parseStreamTimestamp(value: string): Result<number> {
  const ms = parseTimePoint(value.trim(), "floor");
  if (ms === undefined) {
    return fail(
      "bad_request",
      `Invalid Stream-Timestamp "${value}": expected RFC 3339 or integer Unix nanoseconds, not before 1970`,
    );
  }
  return ok(ms);
}

/**
 * Parses a routing key given in a header (`Stream-Key`). Header values
 * arrive as byte strings (one char per byte), so they are reinterpreted as
 * UTF-8, which makes the header and the percent-decoded `key=` agree;
 * invalid UTF-8, an empty key or one over `bytesMax` bytes is a 400.
 */
export function parseRoutingKeyHeader(
  value: string,
  bytesMax: number,
): Result<Uint8Array> {
  let bytes: Uint8Array;
  if (isByteString(value)) {
    bytes = Uint8Array.from(value, (c) => c.charCodeAt(0));
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return fail("bad_request", "Stream-Key is not valid UTF-8");
    }
  } else {
    bytes = new TextEncoder().encode(value); // already decoded text
  }
  return checkRoutingKey(bytes, "Stream-Key", bytesMax);
}

function isByteString(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0xff) return false;
  }
  return true;
}

/** A routing key must be 1..`bytesMax` bytes; `what` names its source. */
export function checkRoutingKey(
  bytes: Uint8Array,
  what: string,
  bytesMax: number,
): Result<Uint8Array> {
  if (bytes.length === 0) return fail("bad_request", `${what} is empty`);
  if (bytes.length > bytesMax) {
    return fail(
      "bad_request",
      `${what} is ${bytes.length} bytes; routing keys are at most ${bytesMax}`,
    );
  }
  return ok(bytes);
}

/** Producer headers of one request. */
export interface ProducerHeaders {
  /** `Producer-Id`: a non-empty string naming the writer. */
  id: string;
  /** `Producer-Epoch`. */
  epoch: number;
  /** `Producer-Seq`. */
  seq: number;
}

/** Parses the three producer headers: all present, or none (`undefined`). */
export function parseProducerHeaders(
  id: string | null,
  epoch: string | null,
  seq: string | null,
): Result<ProducerHeaders | undefined> {
  if (id === null && epoch === null && seq === null) return ok(undefined);
  if (id === null || epoch === null || seq === null) {
    return fail(
      "bad_request",
      "Producer-Id, Producer-Epoch and Producer-Seq must be sent together",
    );
  }
  if (id.length === 0) {
    return fail("bad_request", "Producer-Id must not be empty");
  }
  const epochValue = parseProducerNumber(epoch);
  if (epochValue === undefined) {
    return fail(
      "bad_request",
      `Invalid Producer-Epoch "${epoch}": expected an integer in 0..2^53-1`,
    );
  }
  const seqValue = parseProducerNumber(seq);
  if (seqValue === undefined) {
    return fail(
      "bad_request",
      `Invalid Producer-Seq "${seq}": expected an integer in 0..2^53-1`,
    );
  }
  return ok({ id, epoch: epochValue, seq: seqValue });
}

function parseProducerNumber(value: string): number | undefined {
  if (!/^\d{1,16}$/.test(value)) return undefined;
  const n = Number(value);
  return n <= PRODUCER_NUMBER_MAX ? n : undefined;
}

/**
 * Compares two `Stream-Seq` values byte-wise on their UTF-8 encodings
 * (§5.2), which equals code point order. Returns <0, 0 or >0.
 */
export function compareStreamSeq(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  let i = 0;
  while (i < length) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}
