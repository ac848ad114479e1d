/**
 * @module
 * The only place a `StreamError` becomes a `Response`: status from `STATUS`,
 * a JSON body `{"error":{"code","message"}}`, and the protocol headers some
 * kinds carry (`Stream-Closed`, `Producer-Epoch`, `Retry-After`, ...). Also
 * the headers every response carries (nosniff; CORS grants depend on the
 * request's origin and are added by `access.ts`).
 */

import {
  overloadIndex,
  RETRY_AFTER_S,
  STATUS,
  type StreamError,
  SUBSCRIPTION_CODE,
} from "../errors.ts";
import { encodeOffset } from "../protocol/offset.ts";

/** Headers the browser may read from our responses (when CORS grants it). */
export const EXPOSED_HEADERS: string = [
  "Stream-Next-Offset",
  "Stream-Up-To-Date",
  "Stream-Closed",
  "Stream-Cursor",
  "Stream-TTL",
  "Stream-Expires-At",
  "ETag",
  "Location",
  "Content-Type",
  "Producer-Epoch",
  "Producer-Seq",
  "Producer-Expected-Seq",
  "Producer-Received-Seq",
  "Retry-After",
  "Stream-Scanned-Bytes",
  "Stream-Scan-Limit-Reached",
  "Stream-Filter-Scanned-Bytes",
  "Stream-Filter-Scan-Limit-Reached",
  "Stream-Filter-Scan-Limit-Bytes",
  "Server-Timing",
  "stream-sse-data-encoding",
].join(", ");

/** Request headers a browser may send (CORS preflight). */
export const ALLOWED_HEADERS: string = [
  "Content-Type",
  "Stream-TTL",
  "Stream-Expires-At",
  "Stream-Closed",
  "Stream-Seq",
  "Producer-Id",
  "Producer-Epoch",
  "Producer-Seq",
  "Stream-Forked-From",
  "Stream-Fork-Offset",
  "Stream-Fork-Sub-Offset",
  "Stream-Key",
  "Stream-Timestamp",
  "If-None-Match",
  "Authorization",
].join(", ");

/** Response headers as a plain record of lower-case names. */
export type HeaderRecord = Record<string, string>;

/** The headers every response carries. */
const COMMON_HEADERS: Readonly<HeaderRecord> = Object.freeze({
  "x-content-type-options": "nosniff",
  "cross-origin-resource-policy": "cross-origin",
});

/**
 * Bodiless responses with only the common headers, one per status, built
 * once: a clone copies their checked header list instead of building and
 * checking it again per response.
 */
const bodiless = new Map<number, Response>();

/** Adds the headers every response carries. */
export function withCommonHeaders(headers: Headers): Headers {
  for (const name in COMMON_HEADERS) headers.set(name, COMMON_HEADERS[name]);
  return headers;
}

/**
 * A response with the common headers and `headers`. Headers are set on the
 * response after it is built, never passed in its init: in Deno 2.9 a
 * `new Response(body, { headers })` costs 3-4x as much CPU as setting the
 * same headers afterwards (bench/README.md, "Hot path").
 */
export function respond(
  body: BodyInit | null,
  status: number,
  headers?: Headers | HeaderRecord,
): Response {
  let response: Response;
  if (body === null) {
    response = bodilessTemplate(status).clone();
  } else {
    response = new Response(body, { status });
    withCommonHeaders(response.headers);
  }
  if (headers === undefined) return response;
  const target = response.headers;
  if (headers instanceof Headers) {
    for (const [name, value] of headers) target.set(name, value);
  } else {
    for (const name in headers) target.set(name, headers[name]);
  }
  return response;
}

function bodilessTemplate(status: number): Response {
  let template = bodiless.get(status);
  if (template === undefined) {
    template = new Response(null, { status });
    withCommonHeaders(template.headers);
    bodiless.set(status, template);
  }
  return template;
}

/** A JSON response. */
export function respondJson(
  value: unknown,
  status = 200,
  headers: HeaderRecord = {},
): Response {
  headers["content-type"] = "application/json";
  headers["cache-control"] = "no-store";
  return respond(JSON.stringify(value), status, headers);
}

/**
 * How an error body is spelled: stream routes send `{"error":{"code","message"}}`
 * with the kind as the code; the subscription API (PROTOCOL.md §6-7) sends
 * its upper-case code and spreads the error's detail into the object
 * (`current_holder`, `generation`, ...).
 */
export type ErrorDialect = "streams" | "subscriptions";

/** What `errorResponse` notes of each response it builds. */
export interface ErrorNote {
  /** Index in `OVERLOAD_REASONS` of a 503/429 refusal, else -1. */
  readonly overload: number;
  /** The JSON body, or null for HEAD. */
  readonly body: string | null;
}

/** Error responses and their notes, read by the request wrapper. */
const errorNotes = new WeakMap<Response, ErrorNote>();

/** The note of a response `errorResponse` built, if it built it. */
export function errorNoteOf(response: Response): ErrorNote | undefined {
  return errorNotes.get(response);
}

/**
 * `response` (an error response with JSON body `body`) again, its body
 * naming the request as `error.request_id`; status and headers unchanged.
 */
export function withRequestId(
  response: Response,
  body: string,
  requestId: string,
): Response {
  // The body is `{"error":{...}}`: insert before its two closing braces.
  const named = `${body.slice(0, -2)},"request_id":${
    JSON.stringify(requestId)
  }}}`;
  const copy = new Response(named, {
    status: response.status,
    statusText: response.statusText,
  });
  for (const [name, value] of response.headers) copy.headers.set(name, value);
  response.body?.cancel();
  return copy;
}

/**
 * The response for an expected failure: status from `STATUS`, the protocol
 * headers its kind carries, `Retry-After` for temporary kinds, and no body
 * for HEAD. The request wrapper (`observe.ts`) counts 503/429 refusals by
 * reason and adds the request id to the body.
 */
export function errorResponse(
  error: StreamError,
  method = "GET",
  dialect: ErrorDialect = "streams",
): Response {
  const headers = errorHeaders(error);
  const status = STATUS[error.kind];
  const overload = overloadIndex(error);
  if (method === "HEAD") {
    const head = respond(null, status, headers);
    errorNotes.set(head, { overload, body: null });
    return head;
  }
  headers["content-type"] = "application/json";
  const body = dialect === "streams"
    ? { error: { code: error.kind, message: error.message } }
    : {
      error: {
        ...error.detail,
        code: SUBSCRIPTION_CODE[error.kind],
        message: error.message,
      },
    };
  const text = JSON.stringify(body);
  const response = respond(text, status, headers);
  errorNotes.set(response, { overload, body: text });
  return response;
}

function errorHeaders(error: StreamError): HeaderRecord {
  const headers: HeaderRecord = { "cache-control": "no-store" };
  const detail = error.detail ?? {};
  switch (error.kind) {
    case "stream_closed":
      headers["stream-closed"] = "true";
      if (typeof detail.nextPos === "number") {
        headers["stream-next-offset"] = encodeOffset(detail.nextPos);
      }
      break;
    case "producer_stale_epoch":
      headers["producer-epoch"] = String(detail.currentEpoch);
      break;
    case "producer_seq_gap":
      headers["producer-expected-seq"] = String(detail.expectedSeq);
      headers["producer-received-seq"] = String(detail.receivedSeq);
      break;
    case "method_not_allowed":
      if (typeof detail.allow === "string") headers["allow"] = detail.allow;
      break;
    case "unauthorized":
      headers["www-authenticate"] = "Bearer";
      break;
  }
  const retryAfterS = detail.retryAfterSeconds ?? RETRY_AFTER_S[error.kind];
  if (retryAfterS !== undefined) {
    headers["retry-after"] = String(retryAfterS);
  }
  return headers;
}
