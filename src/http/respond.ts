/**
 * @module
 * The only place a `StreamError` becomes a `Response`: status from `STATUS`,
 * a JSON body `{"error":{"code","message"}}`, and the protocol headers some
 * kinds carry (`Stream-Closed`, `Producer-Epoch`, `Retry-After`, ...). Also
 * the headers every response carries (nosniff; CORS grants depend on the
 * request's origin and are added by `access.ts`).
 */

import {
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
  "If-None-Match",
  "Authorization",
].join(", ");

/** Adds the headers every response carries. */
export function withCommonHeaders(headers: Headers): Headers {
  headers.set("x-content-type-options", "nosniff");
  headers.set("cross-origin-resource-policy", "cross-origin");
  return headers;
}

/** A response with the common headers. */
export function respond(
  body: BodyInit | null,
  status: number,
  headers: Headers = new Headers(),
): Response {
  return new Response(body, { status, headers: withCommonHeaders(headers) });
}

/** A JSON response. */
export function respondJson(
  value: unknown,
  status = 200,
  headers: Headers = new Headers(),
): Response {
  headers.set("content-type", "application/json");
  headers.set("cache-control", "no-store");
  return respond(JSON.stringify(value), status, headers);
}

/**
 * How an error body is spelled: stream routes send `{"error":{"code","message"}}`
 * with the kind as the code; the subscription API (PROTOCOL.md §6-7) sends
 * its upper-case code and spreads the error's detail into the object
 * (`current_holder`, `generation`, ...).
 */
export type ErrorDialect = "streams" | "subscriptions";

/**
 * The response for an expected failure: status from `STATUS`, the protocol
 * headers its kind carries, `Retry-After` for temporary kinds, and no body
 * for HEAD.
 */
export function errorResponse(
  error: StreamError,
  method = "GET",
  dialect: ErrorDialect = "streams",
): Response {
  const headers = errorHeaders(error);
  const status = STATUS[error.kind];
  if (method === "HEAD") return respond(null, status, headers);
  headers.set("content-type", "application/json");
  const body = dialect === "streams"
    ? { error: { code: error.kind, message: error.message } }
    : {
      error: {
        ...error.detail,
        code: SUBSCRIPTION_CODE[error.kind],
        message: error.message,
      },
    };
  return respond(JSON.stringify(body), status, headers);
}

function errorHeaders(error: StreamError): Headers {
  const headers = new Headers({ "cache-control": "no-store" });
  const detail = error.detail ?? {};
  switch (error.kind) {
    case "stream_closed":
      headers.set("stream-closed", "true");
      if (typeof detail.nextPos === "number") {
        headers.set("stream-next-offset", encodeOffset(detail.nextPos));
      }
      break;
    case "producer_stale_epoch":
      headers.set("producer-epoch", String(detail.currentEpoch));
      break;
    case "producer_seq_gap":
      headers.set("producer-expected-seq", String(detail.expectedSeq));
      headers.set("producer-received-seq", String(detail.receivedSeq));
      break;
    case "method_not_allowed":
      if (typeof detail.allow === "string") headers.set("allow", detail.allow);
      break;
    case "unauthorized":
      headers.set("www-authenticate", "Bearer");
      break;
  }
  const retryAfterS = detail.retryAfterSeconds ?? RETRY_AFTER_S[error.kind];
  if (retryAfterS !== undefined) {
    headers.set("retry-after", String(retryAfterS));
  }
  return headers;
}
