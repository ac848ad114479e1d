/**
 * @module
 * An experiment kept for `span_json_bench.ts`: JSON written straight into
 * one UTF-8 byte buffer in TypeScript, byte for byte what `JSON.stringify()`
 * and a UTF-8 encoder give together, without an intermediate string per
 * record; and on top of it a writer specialised to canonical span records
 * (fixed keys from pre-encoded bytes, fields that never need escaping
 * copied as they are, the resource and scope text every span of a request
 * shares written once). Both lose to V8's own `JSON.stringify` on flat
 * strings (see bench/README.md, "OTLP trace ingest"), so the server does
 * not use them. Anything other than plain JSON data (a `toJSON` method, a
 * class instance, a bigint) is handed to `JSON.stringify` itself, so the
 * output stays identical; `_span_json_writer_test.ts` holds both to it.
 */

import { assert } from "../src/assert.ts";
import type { JsonObject } from "../src/profiles/profile.ts";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const HEX = "0123456789abcdef";
const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];
// The two-character escapes JSON.stringify uses below U+0020.
const SHORT_ESCAPES: Record<number, number> = {
  0x08: 0x62, // \b
  0x09: 0x74, // \t
  0x0a: 0x6e, // \n
  0x0c: 0x66, // \f
  0x0d: 0x72, // \r
};

/** Bytes a scratch buffer keeps between uses; larger ones are let go. */
const SCRATCH_BYTES_KEPT_MAX = 4 * 1024 * 1024;

/**
 * A growing byte buffer JSON is written into. `bytes` and `at` are public
 * so specialised writers (one record shape) can add their own fixed text.
 */
export class JsonWriter {
  /** The buffer; valid up to `at`. */
  bytes: Uint8Array;
  /** Bytes written so far. */
  at = 0;

  /** A writer with room for `bytes` before it first grows. */
  constructor(bytes = 64 * 1024) {
    this.bytes = new Uint8Array(bytes);
  }

  /** Makes room for `count` more bytes. */
  reserve(count: number): void {
    const need = this.at + count;
    if (need <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < need) size *= 2;
    const larger = new Uint8Array(size);
    larger.set(this.bytes.subarray(0, this.at));
    this.bytes = larger;
  }

  /** Writes one byte. */
  byte(value: number): void {
    this.reserve(1);
    this.bytes[this.at++] = value;
  }

  /** Writes text known to be ASCII with nothing to escape, as is. */
  ascii(text: string): void {
    this.reserve(text.length);
    const bytes = this.bytes;
    let at = this.at;
    for (let i = 0; i < text.length; i++) bytes[at++] = text.charCodeAt(i);
    this.at = at;
  }

  /** Writes `text` as a JSON string literal, quotes included. */
  string(text: string): void {
    // Worst case: every unit a six-byte `\u00XX` escape.
    this.reserve(text.length * 6 + 2);
    const bytes = this.bytes;
    let at = this.at;
    bytes[at++] = QUOTE;
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      if (unit < 0x80) {
        if (unit >= 0x20 && unit !== QUOTE && unit !== BACKSLASH) {
          bytes[at++] = unit;
        } else at = escapeAscii(bytes, at, unit);
      } else if (unit < 0x800) {
        bytes[at++] = 0xc0 | (unit >> 6);
        bytes[at++] = 0x80 | (unit & 0x3f);
      } else if (unit < 0xd800 || unit > 0xdfff) {
        bytes[at++] = 0xe0 | (unit >> 12);
        bytes[at++] = 0x80 | ((unit >> 6) & 0x3f);
        bytes[at++] = 0x80 | (unit & 0x3f);
      } else {
        const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
        if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          const point = 0x10000 + ((unit - 0xd800) << 10) + (next - 0xdc00);
          bytes[at++] = 0xf0 | (point >> 18);
          bytes[at++] = 0x80 | ((point >> 12) & 0x3f);
          bytes[at++] = 0x80 | ((point >> 6) & 0x3f);
          bytes[at++] = 0x80 | (point & 0x3f);
          i++;
        } else at = unicodeEscape(bytes, at, unit); // a lone surrogate
      }
    }
    bytes[at++] = QUOTE;
    this.at = at;
  }

  /** Writes a number as `JSON.stringify` does (`null` when not finite). */
  number(value: number): void {
    if (Number.isFinite(value)) this.ascii(String(value));
    else this.#bytes(NULL);
  }

  /** Writes any JSON value. */
  value(value: unknown): void {
    switch (typeof value) {
      case "string":
        this.string(value);
        return;
      case "number":
        this.number(value);
        return;
      case "boolean":
        this.#bytes(value ? TRUE : FALSE);
        return;
      case "object":
        if (value === null) this.#bytes(NULL);
        else if (Array.isArray(value)) this.#array(value);
        else if (isPlain(value)) this.object(value as Record<string, unknown>);
        else this.#stringified(value);
        return;
      default:
        this.#stringified(value);
    }
  }

  /** Writes a plain object's own enumerable properties in their order. */
  object(value: Record<string, unknown>): void {
    this.byte(0x7b);
    let first = true;
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      const item = value[key];
      if (skipped(item)) continue;
      if (!first) this.byte(COMMA);
      first = false;
      this.string(key);
      this.byte(COLON);
      this.value(item);
    }
    this.byte(0x7d);
  }

  /** Copies the bytes written so far out, and starts over. */
  take(): Uint8Array {
    const out = this.bytes.slice(0, this.at);
    this.at = 0;
    return out;
  }

  #array(values: unknown[]): void {
    this.byte(0x5b);
    for (let i = 0; i < values.length; i++) {
      if (i > 0) this.byte(COMMA);
      const item = values[i];
      if (skipped(item)) this.#bytes(NULL);
      else this.value(item);
    }
    this.byte(0x5d);
  }

  #bytes(list: number[]): void {
    this.reserve(list.length);
    for (const b of list) this.bytes[this.at++] = b;
  }

  // Whatever is not plain data: JSON.stringify's own text (or its error).
  #stringified(value: unknown): void {
    const text = JSON.stringify(value);
    assert(text !== undefined, "skipped values are filtered by the caller");
    this.#raw(text);
  }

  // JSON text (already escaped), encoded as UTF-8.
  #raw(text: string): void {
    this.reserve(text.length * 3);
    const { written } = new TextEncoder().encodeInto(
      text,
      this.bytes.subarray(this.at),
    );
    this.at += written;
  }
}

/** What `JSON.stringify` leaves out of objects (and writes as null in arrays). */
function skipped(value: unknown): boolean {
  const type = typeof value;
  return type === "undefined" || type === "function" || type === "symbol";
}

// Plain data: an object literal or JSON.parse result without `toJSON`.
function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) &&
    typeof (value as { toJSON?: unknown }).toJSON !== "function";
}

function escapeAscii(bytes: Uint8Array, at: number, unit: number): number {
  bytes[at++] = BACKSLASH;
  if (unit === QUOTE || unit === BACKSLASH) {
    bytes[at++] = unit;
    return at;
  }
  const short = SHORT_ESCAPES[unit];
  if (short !== undefined) {
    bytes[at++] = short;
    return at;
  }
  return unicodeEscape(bytes, at - 1, unit);
}

/** `\uXXXX` with lower-case hex, as JSON.stringify writes it. */
function unicodeEscape(bytes: Uint8Array, at: number, unit: number): number {
  bytes[at++] = BACKSLASH;
  bytes[at++] = 0x75;
  bytes[at++] = HEX.charCodeAt(unit >> 12);
  bytes[at++] = HEX.charCodeAt((unit >> 8) & 15);
  bytes[at++] = HEX.charCodeAt((unit >> 4) & 15);
  bytes[at++] = HEX.charCodeAt(unit & 15);
  return at;
}

let scratch: JsonWriter | null = null;

/**
 * A writer for one synchronous use (`take()` ends it): one scratch buffer is
 * reused across calls, so framing a batch allocates only its output.
 */
export function scratchWriter(): JsonWriter {
  if (scratch === null || scratch.bytes.length > SCRATCH_BYTES_KEPT_MAX) {
    scratch = new JsonWriter();
  }
  scratch.at = 0;
  return scratch;
}

/** The keys `canonicalSpan()` writes, in its order. */
export const CANONICAL_SPAN_KEYS: readonly string[] = [
  "traceId",
  "spanId",
  "parentSpanId",
  "traceState",
  "name",
  "kind",
  "startUnixNano",
  "endUnixNano",
  "timestamp",
  "endTimestamp",
  "duration",
  "status",
  "service",
  "serviceNamespace",
  "serviceInstanceId",
  "environment",
  "version",
  "region",
  "requestId",
  "http",
  "db",
  "rpc",
  "messaging",
  "error",
  "eventNames",
  "attributes",
  "resource",
  "instrumentationScope",
  "events",
  "links",
  "dropped",
  "redaction",
];

// Fields whose values `canonicalSpan()` builds from characters JSON never
// escapes: checked hex ids, decimal nanoseconds and ISO timestamps.
const PLAIN_TEXT = new Set([
  "traceId",
  "spanId",
  "parentSpanId",
  "startUnixNano",
  "endUnixNano",
  "timestamp",
  "endTimestamp",
]);

const keyEncoder = new TextEncoder();
/** `{"traceId":`, `,"spanId":`, ...: each key with its separator. */
const KEY_BYTES = CANONICAL_SPAN_KEYS.map((key, i) =>
  keyEncoder.encode(`${i === 0 ? "{" : ","}${JSON.stringify(key)}:`)
);
const PLAIN = CANONICAL_SPAN_KEYS.map((key) => PLAIN_TEXT.has(key));
const RESOURCE = CANONICAL_SPAN_KEYS.indexOf("resource");
const SCOPE = CANONICAL_SPAN_KEYS.indexOf("instrumentationScope");

/** Stored messages: bytes back to back, with each message's length. */
export interface FramedSpans {
  /** The messages' bytes, each `JSON.stringify(record) + ","`. */
  bytes: Uint8Array;
  /** Byte length of each message, in order. */
  lengths: number[];
}

/** A run of already written bytes another span may copy. */
interface Written {
  of: unknown;
  name: unknown;
  version: unknown;
  start: number;
  end: number;
}

/** Frames canonical span records as stored JSON messages. */
export function frameCanonicalSpans(
  records: readonly JsonObject[],
): FramedSpans {
  const w = scratchWriter();
  const lengths = new Array<number>(records.length);
  const shared: Written[] = [unset(), unset()];
  for (let i = 0; i < records.length; i++) {
    const start = w.at;
    if (isCanonicalShape(records[i])) writeSpan(w, records[i], shared);
    else w.value(records[i]);
    w.byte(COMMA);
    lengths[i] = w.at - start;
  }
  return { bytes: w.take(), lengths };
}

function unset(): Written {
  return {
    of: undefined,
    name: undefined,
    version: undefined,
    start: 0,
    end: 0,
  };
}

/** Whether the record's own keys are exactly the canonical ones, in order. */
function isCanonicalShape(record: JsonObject): boolean {
  let i = 0;
  for (const key in record) {
    if (key !== CANONICAL_SPAN_KEYS[i++] || !Object.hasOwn(record, key)) {
      return false;
    }
  }
  return i === CANONICAL_SPAN_KEYS.length &&
    Object.getPrototypeOf(record) === Object.prototype;
}

function writeSpan(w: JsonWriter, record: JsonObject, shared: Written[]): void {
  for (let k = 0; k < CANONICAL_SPAN_KEYS.length; k++) {
    const key = CANONICAL_SPAN_KEYS[k];
    const keyBytes = KEY_BYTES[k];
    w.reserve(keyBytes.length);
    const bytes = w.bytes;
    let at = w.at;
    for (let b = 0; b < keyBytes.length; b++) bytes[at++] = keyBytes[b];
    w.at = at;
    const value = record[key];
    if (typeof value === "string" && PLAIN[k]) {
      w.reserve(value.length + 2);
      w.bytes[w.at++] = 0x22;
      w.ascii(value);
      w.bytes[w.at++] = 0x22;
    } else if (k === RESOURCE || k === SCOPE) {
      writeShared(w, value, shared[k === RESOURCE ? 0 : 1]);
    } else w.value(value);
  }
  w.byte(0x7d);
}

// `resource` and `instrumentationScope` wrap attribute maps that every span
// of one resource (scope) shares as one object: the text written for the
// last such map is copied while the map and the names around it are the
// same.
function writeShared(w: JsonWriter, value: unknown, last: Written): void {
  const wrapper = value as Record<string, unknown> | null;
  const attributes = wrapper?.attributes;
  const simple = wrapper !== null && typeof wrapper === "object" &&
    typeof attributes === "object" && attributes !== null &&
    Object.keys(wrapper).length === (wrapper.name === undefined ? 1 : 3);
  if (
    simple && last.of === attributes && last.name === wrapper.name &&
    last.version === wrapper.version
  ) {
    const length = last.end - last.start;
    w.reserve(length);
    w.bytes.copyWithin(w.at, last.start, last.end);
    w.at += length;
    return;
  }
  const start = w.at;
  w.value(value);
  if (simple) {
    last.of = attributes;
    last.name = wrapper.name;
    last.version = wrapper.version;
    last.start = start;
    last.end = w.at;
  }
}
