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
  /** The messages as parsed, in order (for key extraction and validation). */
  values?: readonly unknown[];
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
  const framed = encodeMessages(values.map((v) => JSON.stringify(v) + ","));
  return ok({ ...framed, values });
}

/**
 * Frames already parsed values as stored JSON messages (each followed by a
 * comma), for records rewritten before they are stored.
 */
export function frameJsonValues(values: readonly unknown[]): FramedMessages {
  return encodeMessages(values.map((v) => JSON.stringify(v) + ","));
}

// Encodes each message straight into one buffer: no per-message buffers to
// concatenate (a large batch would otherwise be held twice). The buffer is
// first sized for ASCII text, the common case, so no message is measured
// first; text that does not fit moves to a buffer sized by its UTF-8 length.
function encodeMessages(texts: string[]): FramedMessages {
  if (texts.length === 1) {
    const bytes = encoder.encode(texts[0]);
    return { bytes, lengths: [bytes.length] };
  }
  let units = 0;
  for (const text of texts) units += text.length;
  let bytes = new Uint8Array(units);
  const lengths = new Array<number>(texts.length);
  let at = 0;
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i];
    const { read, written } = encoder.encodeInto(text, bytes.subarray(at));
    if (read === text.length) {
      lengths[i] = written;
      at += written;
      continue;
    }
    let rest = 0;
    for (let j = i; j < texts.length; j++) rest += utf8Length(texts[j]);
    const larger = new Uint8Array(at + rest);
    larger.set(bytes.subarray(0, at));
    bytes = larger;
    lengths[i] = encoder.encodeInto(text, bytes.subarray(at)).written;
    at += lengths[i];
  }
  return { bytes: at === bytes.length ? bytes : bytes.slice(0, at), lengths };
}

/** UTF-8 length of well-formed text (JSON.stringify escapes lone surrogates). */
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      bytes += 2; // a pair: 4 bytes for 2 units
      i++;
    } else bytes += 2;
  }
  return bytes;
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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * The end offset (exclusive, after its comma) of each stored message in
 * `stored`, a run of whole messages each followed by a comma. Scans the
 * bytes once, tracking strings and nesting; no parse.
 */
export function storedMessageEnds(stored: Uint8Array): number[] {
  const ends: number[] = [];
  let depth = 0;
  let inString = false;
  for (let i = 0; i < stored.length; i++) {
    const byte = stored[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (byte === 0x7b || byte === OPEN_BRACKET) depth++;
    else if (byte === 0x7d || byte === CLOSE_BRACKET) depth--;
    else if (byte === COMMA && depth === 0) ends.push(i + 1);
  }
  return ends;
}
