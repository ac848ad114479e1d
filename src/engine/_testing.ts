/**
 * @module
 * Create and append requests for tests that drive the engine: a text/plain
 * stream with every optional field unset, plus whatever fields a test names.
 */

import type { AppendRequest, CreateRequest } from "./types.ts";

const encoder = new TextEncoder();

/** A create request for a plain text stream, with `extra` over it. */
export function createReq(extra: Partial<CreateRequest> = {}): CreateRequest {
  return {
    contentType: "text/plain",
    ttlSeconds: undefined,
    expiresAtMs: undefined,
    closed: false,
    body: new Uint8Array(),
    fork: undefined,
    routingKey: undefined,
    timestampMs: undefined,
    ...extra,
  };
}

/** An append of `body` as plain text, with `extra` over it. */
export function appendReq(
  body: string,
  extra: Partial<AppendRequest> = {},
): AppendRequest {
  return {
    contentType: "text/plain",
    body: encoder.encode(body),
    close: false,
    streamSeq: undefined,
    producer: undefined,
    routingKey: undefined,
    timestampMs: undefined,
    ...extra,
  };
}
