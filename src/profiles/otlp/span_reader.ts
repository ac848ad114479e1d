/**
 * @module
 * OTLP protobuf `ExportTraceServiceRequest` bodies read straight into
 * canonical span records with protobufjs's `Reader`, field by field as the
 * official definitions number them (`proto/`, the same numbers
 * `trace_proto.generated.ts` holds). It skips the message objects and the
 * JSON mapping `decode.ts` builds: attributes become maps as they are read,
 * ids hex and times integers, and spans, events and links past their limits
 * are skipped unread. `bench/otlp_pieces.ts` measures both paths; the
 * results equal `decodeTraceRequestProtobuf()` then `exportToSpans()` (a
 * differential test checks this).
 */

import protobuf from "protobufjs";
import { fail, ok, type Result } from "../../errors.ts";
import type { OtelTracesOptions } from "../_otel_options.ts";
import {
  addOverLimit,
  addSpan,
  AnyValueBounds,
  canonicalSpan,
  type SpanBatch,
  type SpanInput,
  spanKind,
  statusCode,
  truncate,
} from "../_otel_span.ts";
import { type Json, type JsonObject, setField } from "../profile.ts";

type Reader = protobuf.Reader;

const HEX: string[] = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);

// Wire types.
const VARINT = 0;
const FIXED64 = 1;
const LENGTH = 2;

/** A KeyValue list being read into a map, at most `maxAttributes` kept. */
class AttributeMap {
  readonly map: JsonObject = {};
  dropped = 0;
  #size = 0;
  #seen = 0;

  /** Reads one KeyValue message at the reader into the map. */
  add(reader: Reader, options: OtelTracesOptions): void {
    const limits = options.otlpLimits;
    if (++this.#seen > limits.maxKvEntries * limits.maxArrayItems) {
      throw new AnyValueBounds("too many attributes");
    }
    const entry = readKeyValue(reader);
    if (entry.key === null) return;
    const known = Object.hasOwn(this.map, entry.key);
    if (
      !known && this.#size >= options.attributeLimits.maxAttributes
    ) {
      this.dropped++;
      return;
    }
    if (!known) this.#size++;
    setField(this.map, entry.key, valueAt(reader, entry, 0, options));
  }
}

interface KeyValue {
  key: string | null;
  valueStart: number;
  valueEnd: number;
}

/** A KeyValue's key and the byte range of its value (-1: absent). */
function readKeyValue(reader: Reader): KeyValue {
  const end = messageEnd(reader);
  const entry: KeyValue = { key: null, valueStart: -1, valueEnd: -1 };
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === (1 << 3 | LENGTH)) entry.key = readString(reader);
    else if (tag === (2 << 3 | LENGTH)) {
      const length = reader.uint32();
      entry.valueStart = reader.pos;
      entry.valueEnd = reader.pos + length;
      reader.skip(length);
    } else reader.skipType(tag & 7);
  }
  return entry;
}

/** The JSON value of a KeyValue's AnyValue (null when it has none). */
function valueAt(
  reader: Reader,
  entry: KeyValue,
  depth: number,
  options: OtelTracesOptions,
): Json {
  if (entry.valueStart < 0) return null;
  const resume = reader.pos;
  reader.pos = entry.valueStart;
  const value = readAnyValue(reader, entry.valueEnd, depth, options);
  reader.pos = resume;
  return value;
}

/**
 * One AnyValue (its bytes run to `end`) as JSON, with the precedence and
 * bounds `anyValue()` applies to the JSON mapping: a string, bool, int,
 * double or bytes value wins; arrays and kvlists nest at most
 * `maxAnyValueDepth` deep.
 */
function readAnyValue(
  reader: Reader,
  end: number,
  depth: number,
  options: OtelTracesOptions,
): Json {
  let string: string | undefined;
  let bool: boolean | undefined;
  let int: Json | undefined;
  let double: number | null | undefined;
  let bytes: string | undefined;
  let nested: Json | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32();
    switch (tag) {
      case 1 << 3 | LENGTH:
        string = readString(reader);
        break;
      case 2 << 3 | VARINT:
        bool = reader.bool();
        break;
      case 3 << 3 | VARINT:
        int = intValue(reader.int64());
        break;
      case 4 << 3 | FIXED64: {
        const n = reader.double();
        double = Number.isFinite(n) ? n : null;
        break;
      }
      case 5 << 3 | LENGTH:
        nested = readArray(reader, deeper(depth, options), options);
        break;
      case 6 << 3 | LENGTH:
        nested = readKvList(reader, deeper(depth, options), options);
        break;
      case 7 << 3 | LENGTH: {
        const length = reader.uint32();
        bytes = protobuf.util.base64.encode(
          reader.buf,
          reader.pos,
          reader.pos + length,
        );
        reader.skip(length);
        break;
      }
      default:
        reader.skipType(tag & 7);
    }
  }
  if (string !== undefined) {
    return truncate(string, options.attributeLimits.maxValueBytes);
  }
  if (bool !== undefined) return bool;
  if (int !== undefined) return int;
  if (double !== undefined) return double;
  if (bytes !== undefined) return bytes;
  if (nested !== undefined) return nested;
  deeper(depth, options);
  return null;
}

/** `depth + 1`, or the bounds signal when `depth` is already the limit. */
function deeper(depth: number, options: OtelTracesOptions): number {
  const max = options.otlpLimits.maxAnyValueDepth;
  if (depth >= max) {
    throw new AnyValueBounds(`AnyValue nests deeper than ${max}`);
  }
  return depth + 1;
}

/** A signed int64 as a number when exact, else its decimal string. */
function intValue(raw: protobuf.Long | number): Json {
  if (typeof raw === "number") return raw;
  const high = raw.high | 0;
  const low = raw.low >>> 0;
  if (high >= -0x200000 && high < 0x200000) {
    const n = high * 4294967296 + low;
    if (Number.isSafeInteger(n)) return n;
  }
  return String((BigInt(high) << 32n) + BigInt(low));
}

function readArray(
  reader: Reader,
  depth: number,
  options: OtelTracesOptions,
): Json[] {
  const max = options.otlpLimits.maxArrayItems;
  const end = messageEnd(reader);
  const values: Json[] = [];
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag !== (1 << 3 | LENGTH)) {
      reader.skipType(tag & 7);
      continue;
    }
    if (values.length >= max) {
      throw new AnyValueBounds(`AnyValue array has more than ${max} items`);
    }
    const itemEnd = messageEnd(reader);
    values.push(readAnyValue(reader, itemEnd, depth, options));
  }
  return values;
}

function readKvList(
  reader: Reader,
  depth: number,
  options: OtelTracesOptions,
): JsonObject {
  const max = options.otlpLimits.maxKvEntries;
  const end = messageEnd(reader);
  const out: JsonObject = {};
  let count = 0;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag !== (1 << 3 | LENGTH)) {
      reader.skipType(tag & 7);
      continue;
    }
    if (++count > max) {
      throw new AnyValueBounds(`AnyValue kvlist has more than ${max} entries`);
    }
    const entry = readKeyValue(reader);
    if (entry.key !== null) {
      setField(out, entry.key, valueAt(reader, entry, depth, options));
    }
  }
  return out;
}

/** Where the length-delimited field at the reader ends (its length read). */
function messageEnd(reader: Reader): number {
  const length = reader.uint32();
  return reader.pos + length;
}

const HEX_CODES = new TextEncoder().encode("0123456789abcdef");
const hexScratch = new Uint16Array(64);

/**
 * Lower-case hex of a length-delimited bytes field, built as one flat
 * string: appending two digits at a time would leave a rope that every
 * later `JSON.stringify` has to flatten again.
 */
function readHex(reader: Reader): string {
  const length = reader.uint32();
  const end = reader.pos + length;
  if (end > reader.len) reader.skip(length); // throws: out of range
  const buf = reader.buf;
  let hex = "";
  if (length <= 32) {
    for (let i = 0; i < length; i++) {
      const byte = buf[reader.pos + i];
      hexScratch[2 * i] = HEX_CODES[byte >> 4];
      hexScratch[2 * i + 1] = HEX_CODES[byte & 15];
    }
    hex = String.fromCharCode.apply(
      null,
      hexScratch.subarray(0, 2 * length) as unknown as number[],
    );
  } else {
    for (let i = reader.pos; i < end; i++) hex += HEX[buf[i]];
  }
  reader.pos = end;
  return hex;
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true });
/** ASCII strings up to this many bytes are built from their char codes. */
const CHAR_CODES_BYTES_MAX = 256;
// A plain array, not a typed one: `fromCharCode.apply` over a typed array
// was measured slower, and its strings slower to stringify.
const charCodes: number[] = [];

/**
 * A length-delimited string field, always as one flat string. protobufjs
 * builds short strings by appending to a string, which leaves V8 a rope
 * (a "cons string") for those of 13 characters and more, and a rope in a
 * record takes `JSON.stringify` off its fast path for the whole record.
 * Invalid UTF-8 is refused, as proto3 and protobufjs's message decoding
 * (`decode.ts`) refuse it.
 */
function readString(reader: Reader): string {
  const length = reader.uint32();
  const start = reader.pos;
  const end = start + length;
  if (end > reader.len) reader.skip(length); // throws: out of range
  reader.pos = end;
  if (length === 0) return "";
  if (length <= CHAR_CODES_BYTES_MAX) {
    const buf = reader.buf;
    const units = charCodes;
    units.length = length;
    let high = 0;
    for (let i = 0; i < length; i++) {
      const byte = buf[start + i];
      high |= byte;
      units[i] = byte;
    }
    if (high < 0x80) return String.fromCharCode.apply(null, units);
  }
  try {
    return strictDecoder.decode(reader.buf.subarray(start, end));
  } catch {
    throw new RangeError("invalid UTF-8 in a string field");
  }
}

/** An unsigned fixed64 (nanoseconds) as a bigint. */
function readNanos(reader: Reader): bigint {
  const low = reader.fixed32();
  const high = reader.fixed32();
  if (high < 0x200000) return BigInt(high * 4294967296 + low);
  return (BigInt(high) << 32n) | BigInt(low);
}

/** Resource (or scope) attributes of one `ResourceSpans`. */
interface Scope {
  name: string | null;
  version: string | null;
  attributes: JsonObject;
}

/**
 * Reads an `ExportTraceServiceRequest` into canonical span records. Bytes
 * that are not protobuf, or structure past the OTLP limits, are a 400 for
 * the whole request; a bad span is counted and skipped.
 */
export function readTraceRequest(
  bytes: Uint8Array,
  options: OtelTracesOptions,
): Result<SpanBatch> {
  const reader = new protobuf.Reader(bytes);
  const batch: SpanBatch = { records: [], rejectedSpans: 0, errorMessage: "" };
  const counts = { resourceSpans: 0, scopeSpans: 0, overLimit: 0 };
  try {
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag !== (1 << 3 | LENGTH)) {
        reader.skipType(tag & 7);
        continue;
      }
      if (++counts.resourceSpans > options.otlpLimits.maxResourceSpans) {
        return fail(
          "bad_request",
          `More than ${options.otlpLimits.maxResourceSpans} resource spans in one request`,
        );
      }
      const refused = readResourceSpans(reader, options, batch, counts);
      if (refused !== null) return refused;
    }
  } catch (error) {
    if (error instanceof AnyValueBounds) {
      return fail("bad_request", error.message);
    }
    // The reader throws RangeError and Error on bad bytes; a TypeError or
    // ReferenceError would be a bug here, not bad input.
    if (error instanceof TypeError || error instanceof ReferenceError) {
      throw error;
    }
    return fail(
      "bad_request",
      `Malformed OTLP protobuf request: ${(error as Error).message}`,
    );
  }
  addOverLimit(
    batch,
    counts.overLimit,
    options.otlpLimits.maxSpansPerRequest,
  );
  return ok(batch);
}

interface Counts {
  resourceSpans: number;
  scopeSpans: number;
  overLimit: number;
}

// Field order on the wire is free: the resource may follow its scope
// spans, so the scope spans' ranges are kept until the message ends.
function readResourceSpans(
  reader: Reader,
  options: OtelTracesOptions,
  batch: SpanBatch,
  counts: Counts,
): Result<never> | null {
  const end = messageEnd(reader);
  const resource = new AttributeMap();
  const scopes: number[] = [];
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === (1 << 3 | LENGTH)) {
      const resourceEnd = messageEnd(reader);
      while (reader.pos < resourceEnd) {
        const inner = reader.uint32();
        if (inner === (1 << 3 | LENGTH)) resource.add(reader, options);
        else reader.skipType(inner & 7);
      }
    } else if (tag === (2 << 3 | LENGTH)) {
      if (++counts.scopeSpans > options.otlpLimits.maxScopeSpans) {
        return fail(
          "bad_request",
          `More than ${options.otlpLimits.maxScopeSpans} scope spans in one request`,
        );
      }
      const length = reader.uint32();
      scopes.push(reader.pos, reader.pos + length);
      reader.skip(length);
    } else reader.skipType(tag & 7);
  }
  const resume = reader.pos;
  for (let i = 0; i < scopes.length; i += 2) {
    reader.pos = scopes[i];
    readScopeSpans(reader, scopes[i + 1], resource.map, options, batch, counts);
  }
  reader.pos = resume;
  return null;
}

function readScopeSpans(
  reader: Reader,
  end: number,
  resource: JsonObject,
  options: OtelTracesOptions,
  batch: SpanBatch,
  counts: Counts,
): void {
  let scope: Scope = { name: null, version: null, attributes: {} };
  const spans: number[] = [];
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === (1 << 3 | LENGTH)) scope = readScope(reader, options);
    else if (tag === (2 << 3 | LENGTH)) {
      const length = reader.uint32();
      spans.push(reader.pos, reader.pos + length);
      reader.skip(length);
    } else reader.skipType(tag & 7);
  }
  const max = options.otlpLimits.maxSpansPerRequest;
  for (let i = 0; i < spans.length; i += 2) {
    if (batch.records.length >= max) {
      counts.overLimit++;
      continue;
    }
    reader.pos = spans[i];
    const input = readSpan(reader, spans[i + 1], resource, scope, options);
    const record = canonicalSpan(input, options, null);
    addSpan(batch, record);
  }
  reader.pos = end;
}

function readScope(reader: Reader, options: OtelTracesOptions): Scope {
  const end = messageEnd(reader);
  let name = "";
  let version = "";
  const attributes = new AttributeMap();
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === (1 << 3 | LENGTH)) name = readString(reader);
    else if (tag === (2 << 3 | LENGTH)) version = readString(reader);
    else if (tag === (3 << 3 | LENGTH)) attributes.add(reader, options);
    else reader.skipType(tag & 7);
  }
  return {
    name: name === "" ? null : name,
    version: version === "" ? null : version,
    attributes: attributes.map,
  };
}

/** One `Span` message (its bytes run to `end`) as a `SpanInput`. */
function readSpan(
  reader: Reader,
  end: number,
  resource: JsonObject,
  scope: Scope,
  options: OtelTracesOptions,
): SpanInput {
  const limits = options.attributeLimits;
  const attributes = new AttributeMap();
  const input: SpanInput = {
    traceId: undefined,
    spanId: undefined,
    parentSpanId: undefined,
    traceState: null,
    name: "",
    kind: "unspecified",
    startUnixNano: undefined,
    endUnixNano: undefined,
    status: { code: "unset", message: null },
    attributes: attributes.map,
    resourceAttributes: resource,
    scope,
    events: [],
    links: [],
    dropped: { attributes: 0, events: 0, links: 0 },
  };
  const sent = { attributes: 0, events: 0, links: 0 };
  let eventsSeen = 0;
  let linksSeen = 0;
  while (reader.pos < end) {
    const tag = reader.uint32();
    switch (tag) {
      case 1 << 3 | LENGTH:
        input.traceId = readHex(reader);
        break;
      case 2 << 3 | LENGTH:
        input.spanId = readHex(reader);
        break;
      case 3 << 3 | LENGTH: {
        const state = readString(reader);
        input.traceState = state === "" ? null : state;
        break;
      }
      case 4 << 3 | LENGTH:
        input.parentSpanId = readHex(reader);
        break;
      case 5 << 3 | LENGTH:
        input.name = readString(reader);
        break;
      case 6 << 3 | VARINT:
        input.kind = spanKind(reader.int32());
        break;
      case 7 << 3 | FIXED64:
        input.startUnixNano = readNanos(reader);
        break;
      case 8 << 3 | FIXED64:
        input.endUnixNano = readNanos(reader);
        break;
      case 9 << 3 | LENGTH:
        attributes.add(reader, options);
        break;
      case 10 << 3 | VARINT:
        sent.attributes = reader.uint32();
        break;
      case 11 << 3 | LENGTH:
        if (eventsSeen++ < limits.maxEvents) {
          input.events.push(readEvent(reader, options));
        } else reader.skipType(LENGTH);
        break;
      case 12 << 3 | VARINT:
        sent.events = reader.uint32();
        break;
      case 13 << 3 | LENGTH:
        if (linksSeen++ < limits.maxLinks) {
          input.links.push(readLink(reader, options));
        } else reader.skipType(LENGTH);
        break;
      case 14 << 3 | VARINT:
        sent.links = reader.uint32();
        break;
      case 15 << 3 | LENGTH:
        input.status = readStatus(reader);
        break;
      default:
        reader.skipType(tag & 7);
    }
  }
  input.dropped = {
    attributes: sent.attributes + attributes.dropped,
    events: sent.events + eventsSeen - input.events.length,
    links: sent.links + linksSeen - input.links.length,
  };
  return input;
}

function readEvent(
  reader: Reader,
  options: OtelTracesOptions,
): SpanInput["events"][number] {
  const end = messageEnd(reader);
  const event: SpanInput["events"][number] = {
    name: "",
    timeUnixNano: null,
    attributes: {},
  };
  const attributes = new AttributeMap();
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === (1 << 3 | FIXED64)) {
      event.timeUnixNano = String(readNanos(reader));
    } else if (tag === (2 << 3 | LENGTH)) event.name = readString(reader);
    else if (tag === (3 << 3 | LENGTH)) attributes.add(reader, options);
    else reader.skipType(tag & 7);
  }
  event.attributes = attributes.map;
  return event;
}

function readLink(
  reader: Reader,
  options: OtelTracesOptions,
): SpanInput["links"][number] {
  const end = messageEnd(reader);
  const link: SpanInput["links"][number] = {
    traceId: "",
    spanId: "",
    traceState: null,
    attributes: {},
  };
  const attributes = new AttributeMap();
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === (1 << 3 | LENGTH)) link.traceId = readHex(reader);
    else if (tag === (2 << 3 | LENGTH)) link.spanId = readHex(reader);
    else if (tag === (3 << 3 | LENGTH)) {
      const state = readString(reader);
      link.traceState = state === "" ? null : state;
    } else if (tag === (4 << 3 | LENGTH)) attributes.add(reader, options);
    else reader.skipType(tag & 7);
  }
  link.attributes = attributes.map;
  return link;
}

function readStatus(reader: Reader): SpanInput["status"] {
  const end = messageEnd(reader);
  let message = "";
  let code = 0;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === (2 << 3 | LENGTH)) message = readString(reader);
    else if (tag === (3 << 3 | VARINT)) code = reader.int32();
    else reader.skipType(tag & 7);
  }
  return { code: statusCode(code), message: message === "" ? null : message };
}
