/**
 * @module
 * JSON-mode framing (PROTOCOL.md §9.1). A POSTed body is validated and split
 * into messages (a top-level array is flattened exactly one level). Each
 * message is stored as its compact JSON text followed by a comma, so a read
 * of any run of whole messages becomes a JSON array by adding `[` in front
 * and turning the final comma into `]`: no re-parsing on the read path.
 */

import { fail, ok, type Result } from "../errors.ts";

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Messages ready to store: concatenated bytes and each message's length. */
export interface FramedMessages {
  /** The messages' stored bytes, back to back. */
  bytes: Uint8Array;
  /** Stored length of each message, in order; sums to `bytes.length`. */
  lengths: number[];
}

/**
 * Validates a JSON body and frames its messages. An empty top-level array is
 * an error unless `allowEmptyArray` (PUT may create an empty stream with `[]`).
 */
export function frameJsonMessages(
  body: Uint8Array,
  allowEmptyArray: boolean,
): Result<FramedMessages> {
  let value: unknown;
  try {
    value = JSON.parse(strictDecoder.decode(body));
  } catch (cause) {
    return fail(
      "bad_request",
      `Invalid JSON body: ${(cause as Error).message}`,
    );
  }
  const values = Array.isArray(value) ? value : [value];
  if (values.length === 0 && !allowEmptyArray) {
    return fail("bad_request", "Cannot append an empty JSON array");
  }
  const parts = values.map((v) => encoder.encode(JSON.stringify(v) + ","));
  return ok(concatParts(parts));
}

function concatParts(parts: Uint8Array[]): FramedMessages {
  let total = 0;
  for (const part of parts) total += part.length;
  const bytes = new Uint8Array(total);
  const lengths = new Array<number>(parts.length);
  let at = 0;
  for (let i = 0; i < parts.length; i++) {
    bytes.set(parts[i], at);
    at += parts[i].length;
    lengths[i] = parts[i].length;
  }
  return { bytes, lengths };
}

/**
 * Turns stored JSON messages (each ending in a comma) into a JSON array body.
 * `[]` when there are none.
 */
export function jsonArrayBody(stored: Uint8Array): Uint8Array {
  if (stored.length === 0) return encoder.encode("[]");
  const out = new Uint8Array(stored.length + 1);
  out[0] = OPEN_BRACKET;
  out.set(stored, 1);
  out[stored.length] = CLOSE_BRACKET; // replaces the last message's comma
  return out;
}
