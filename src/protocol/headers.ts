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

/** Parses `Stream-TTL`: a canonical non-negative decimal integer of seconds. */
export function parseTtl(value: string): Result<number> {
  if (!/^(0|[1-9][0-9]*)$/.test(value)) {
    return fail(
      "bad_request",
      `Invalid Stream-TTL "${value}": expected a non-negative integer number of seconds without sign or leading zeros`,
    );
  }
  const seconds = Number(value);
  if (seconds > TTL_SECONDS_MAX) {
    return fail(
      "bad_request",
      `Invalid Stream-TTL "${value}": at most ${TTL_SECONDS_MAX} seconds`,
    );
  }
  return ok(seconds);
}

const RFC3339 =
  /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Parses `Stream-Expires-At` (RFC 3339) into epoch milliseconds. */
export function parseExpiresAt(value: string): Result<number> {
  const ms = RFC3339.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    return fail(
      "bad_request",
      `Invalid Stream-Expires-At "${value}": expected an RFC 3339 timestamp`,
    );
  }
  return ok(ms);
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
