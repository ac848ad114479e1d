/**
 * @module
 * OTLP spans (JSON mapping) to canonical span records (profiles.md §6.2):
 * ids checked and lower-cased, times kept as decimal nanosecond strings with
 * ISO timestamps and a duration in ms, resource and semantic-convention
 * fields lifted out, every attribute map redacted, URL and statement
 * policies applied, and raw data kept as `store` allows. AnyValue nesting
 * and fan-out are bounded; a request past them is refused whole.
 */

import { fail, ok, type Result } from "../errors.ts";
import { isHexId, redact, REDACTED } from "./_json.ts";
import type { OtelTracesOptions } from "./_otel_options.ts";
import { OTEL_SECRET_KEYS } from "./_otel_options.ts";
import {
  type CanonicalRecord,
  isObject,
  type Json,
  type JsonObject,
  setField,
} from "./profile.ts";

/** What one OTLP export request yields. */
export interface SpanBatch {
  /** Accepted spans, in request order. */
  records: CanonicalRecord[];
  /** Spans not stored: invalid, or past `maxSpansPerRequest`. */
  rejectedSpans: number;
  /** Why the first spans were rejected; empty when none were. */
  errorMessage: string;
}

/**
 * Adds a span's canonical record to `batch` (keyed by its trace id), or
 * counts the span rejected, keeping the first rejection's reason.
 */
export function addSpan(batch: SpanBatch, record: Result<JsonObject>): void {
  if (record.ok) {
    batch.records.push({
      value: record.value,
      routingKey: record.value.traceId as string,
    });
    return;
  }
  if (batch.rejectedSpans === 0) {
    batch.errorMessage = `Rejected span: ${record.error.message}`;
  }
  batch.rejectedSpans++;
}

/** Counts `overLimit` spans past the limit of `max` rejected, and says so. */
export function addOverLimit(
  batch: SpanBatch,
  overLimit: number,
  max: number,
): void {
  if (overLimit === 0) return;
  batch.rejectedSpans += overLimit;
  const note = `${overLimit} spans past the limit of ${max} per request`;
  batch.errorMessage = batch.errorMessage === ""
    ? note
    : `${batch.errorMessage}; ${note}`;
}

/** A span ready to become a canonical record. */
export interface SpanInput {
  /** Trace id as sent (checked later). */
  traceId: unknown;
  /** Span id as sent (checked later). */
  spanId: unknown;
  /** Parent span id as sent, if any. */
  parentSpanId: unknown;
  /** W3C trace state, if any. */
  traceState: string | null;
  /** Span name. */
  name: string;
  /** Span kind, lower case. */
  kind: string;
  /** Start time in ns since the epoch, as sent. */
  startUnixNano: unknown;
  /** End time in ns since the epoch, as sent. */
  endUnixNano: unknown;
  /** Status code (lower case) and message. */
  status: { code: string; message: string | null };
  /** Span attributes as a map. */
  attributes: JsonObject;
  /** Resource attributes as a map. */
  resourceAttributes: JsonObject;
  /** Instrumentation scope. */
  scope: {
    name: string | null;
    version: string | null;
    attributes: JsonObject;
  };
  /** Span events, at most `maxEvents`. */
  events: {
    name: string;
    timeUnixNano: string | null;
    attributes: JsonObject;
  }[];
  /** Span links, at most `maxLinks`. */
  links: {
    traceId: string;
    spanId: string;
    traceState: string | null;
    attributes: JsonObject;
  }[];
  /** Items the sender or the limits dropped. */
  dropped: { attributes: number; events: number; links: number };
}

const KINDS = [
  "unspecified",
  "internal",
  "server",
  "client",
  "producer",
  "consumer",
];
const STATUS_CODES = ["unset", "ok", "error"];

/** A span kind from its OTLP number or enum name. */
export function spanKind(raw: unknown): string {
  if (typeof raw === "number") return KINDS[raw] ?? "unspecified";
  if (typeof raw === "string") {
    const name = raw.toLowerCase().replace(/^span_kind_/, "");
    if (KINDS.includes(name)) return name;
  }
  return "unspecified";
}

/** A status code from its OTLP number or enum name. */
export function statusCode(raw: unknown): string {
  if (typeof raw === "number") return STATUS_CODES[raw] ?? "unset";
  if (typeof raw === "string") {
    const name = raw.toLowerCase().replace(/^status_code_/, "");
    if (STATUS_CODES.includes(name)) return name;
  }
  return "unset";
}

/** Signals a request past the AnyValue bounds. */
export class AnyValueBounds {
  /** Why. */
  readonly message: string;
  /** Creates the signal. */
  constructor(message: string) {
    this.message = message;
  }
}

/** Converts an OTLP AnyValue to JSON within the request's bounds. */
export function anyValue(
  raw: unknown,
  depth: number,
  options: OtelTracesOptions,
): Json {
  const limits = options.otlpLimits;
  if (!isObject(raw)) return null;
  if ("stringValue" in raw) {
    return truncate(
      String(raw.stringValue),
      options.attributeLimits.maxValueBytes,
    );
  }
  if ("boolValue" in raw) return raw.boolValue === true;
  if ("intValue" in raw) {
    const n = Number(raw.intValue);
    if (Number.isSafeInteger(n)) return n;
    return /^-?\d+$/.test(String(raw.intValue)) ? String(raw.intValue) : null;
  }
  if ("doubleValue" in raw) {
    const n = Number(raw.doubleValue);
    return Number.isFinite(n) ? n : null;
  }
  if ("bytesValue" in raw) return String(raw.bytesValue);
  if (depth >= limits.maxAnyValueDepth) {
    throw new AnyValueBounds(
      `AnyValue nests deeper than ${limits.maxAnyValueDepth}`,
    );
  }
  if (isObject(raw.arrayValue)) {
    const values = Array.isArray(raw.arrayValue.values)
      ? raw.arrayValue.values
      : [];
    if (values.length > limits.maxArrayItems) {
      throw new AnyValueBounds(
        `AnyValue array has more than ${limits.maxArrayItems} items`,
      );
    }
    return values.map((v) => anyValue(v, depth + 1, options));
  }
  if (isObject(raw.kvlistValue)) {
    const values = Array.isArray(raw.kvlistValue.values)
      ? raw.kvlistValue.values
      : [];
    if (values.length > limits.maxKvEntries) {
      throw new AnyValueBounds(
        `AnyValue kvlist has more than ${limits.maxKvEntries} entries`,
      );
    }
    const out: JsonObject = {};
    for (const kv of values) {
      if (isObject(kv) && typeof kv.key === "string") {
        setField(out, kv.key, anyValue(kv.value, depth + 1, options));
      }
    }
    return out;
  }
  return null;
}

/** An OTLP KeyValue list as a map, at most `maxAttributes` kept. */
export function attributeMap(
  raw: unknown,
  options: OtelTracesOptions,
): { map: JsonObject; dropped: number } {
  const list = Array.isArray(raw) ? raw : [];
  const max = options.attributeLimits.maxAttributes;
  const limits = options.otlpLimits;
  if (list.length > limits.maxKvEntries * limits.maxArrayItems) {
    throw new AnyValueBounds("too many attributes");
  }
  const map: JsonObject = {};
  let dropped = 0;
  for (const kv of list) {
    if (!isObject(kv) || typeof kv.key !== "string") continue;
    if (Object.keys(map).length >= max && !Object.hasOwn(map, kv.key)) {
      dropped++;
      continue;
    }
    setField(map, kv.key, anyValue(kv.value, 0, options));
  }
  return { map, dropped };
}

/** Cuts a string to at most `maxBytes` of UTF-8. */
export function truncate(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text;
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= maxBytes) return text;
  return new TextDecoder().decode(bytes.subarray(0, maxBytes)).replace(
    /\uFFFD+$/,
    "",
  );
}

/** Builds a `SpanInput` from one OTLP span and its resource and scope. */
export function spanInputOf(
  span: Record<string, unknown>,
  resource: { map: JsonObject; dropped: number },
  scope: SpanInput["scope"],
  options: OtelTracesOptions,
): SpanInput {
  const attrs = attributeMap(span.attributes, options);
  const limits = options.attributeLimits;
  const rawEvents = Array.isArray(span.events) ? span.events : [];
  const rawLinks = Array.isArray(span.links) ? span.links : [];
  const events = rawEvents.slice(0, limits.maxEvents).filter(isObject).map((
    e,
  ) => ({
    name: typeof e.name === "string" ? e.name : "",
    timeUnixNano: e.timeUnixNano === undefined ? null : String(e.timeUnixNano),
    attributes: attributeMap(e.attributes, options).map,
  }));
  const links = rawLinks.slice(0, limits.maxLinks).filter(isObject).map((
    l,
  ) => ({
    traceId: String(l.traceId ?? "").toLowerCase(),
    spanId: String(l.spanId ?? "").toLowerCase(),
    traceState: typeof l.traceState === "string" && l.traceState !== ""
      ? l.traceState
      : null,
    attributes: attributeMap(l.attributes, options).map,
  }));
  const status = isObject(span.status) ? span.status : {};
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId,
    traceState: typeof span.traceState === "string" && span.traceState !== ""
      ? span.traceState
      : null,
    name: typeof span.name === "string" ? span.name : "",
    kind: spanKind(span.kind),
    startUnixNano: span.startTimeUnixNano,
    endUnixNano: span.endTimeUnixNano,
    status: {
      code: statusCode(status.code),
      message: typeof status.message === "string" && status.message !== ""
        ? status.message
        : null,
    },
    attributes: attrs.map,
    resourceAttributes: resource.map,
    scope,
    events,
    links,
    dropped: {
      attributes: count(span.droppedAttributesCount) + attrs.dropped,
      events: count(span.droppedEventsCount) + rawEvents.length - events.length,
      links: count(span.droppedLinksCount) + rawLinks.length - links.length,
    },
  };
}

function count(raw: unknown): number {
  const n = Number(raw ?? 0);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

function nanos(raw: unknown): bigint | null {
  // OTLP JSON may send 64-bit integers as numbers; past 2^53 they arrive
  // already rounded, which is the sender's precision, not ours to fix.
  if (typeof raw === "bigint") {
    return raw >= 0n && raw < 2n ** 64n ? raw : null;
  }
  if (typeof raw === "number") {
    return Number.isInteger(raw) && raw >= 0 && raw < 2 ** 64
      ? BigInt(raw)
      : null;
  }
  if (typeof raw !== "string" || !/^\d{1,20}$/.test(raw)) return null;
  const n = BigInt(raw);
  return n < 2n ** 64n ? n : null;
}

function spanId(raw: unknown, length: number): string | null {
  if (typeof raw !== "string") return null;
  const id = raw.toLowerCase();
  return isHexId(id, length) ? id : null;
}

/**
 * The canonical record of a span, or the reason it is rejected (bad ids or
 * times). `keep` holds derived fields of an already canonical record, kept
 * where the raw attributes no longer give them.
 */
export function canonicalSpan(
  input: SpanInput,
  options: OtelTracesOptions,
  keep: JsonObject | null,
): Result<JsonObject> {
  const traceId = spanId(input.traceId, 32);
  if (traceId === null) return fail("bad_request", "invalid traceId");
  const id = spanId(input.spanId, 16);
  if (id === null) return fail("bad_request", "invalid spanId");
  let parent: string | null = null;
  if (
    input.parentSpanId !== undefined && input.parentSpanId !== null &&
    input.parentSpanId !== ""
  ) {
    parent = spanId(input.parentSpanId, 16);
    if (parent === null) return fail("bad_request", "invalid parentSpanId");
  }
  const start = nanos(input.startUnixNano);
  const end = nanos(input.endUnixNano);
  if (start === null) return fail("bad_request", "invalid startTimeUnixNano");
  if (end === null || end < start) {
    return fail("bad_request", "invalid endTimeUnixNano");
  }
  const startMs = Number(start / 1_000_000n);
  const endMs = Number(end / 1_000_000n);
  if (endMs > 8.64e15) return fail("bad_request", "time out of range");
  const secret = secretMatcher(options);
  const redacted: string[] = [];
  const clean = (map: JsonObject, path: string): JsonObject =>
    cleanMap(map, options, secret, path, redacted);
  const attributes = clean(input.attributes, "attributes");
  const resourceAttributes = cleanShared(
    input.resourceAttributes,
    "resource.attributes",
    options,
    redacted,
  );
  const scopeAttributes = cleanShared(
    input.scope.attributes,
    "instrumentationScope.attributes",
    options,
    redacted,
  );
  const events = input.events.map((e, i) => ({
    ...e,
    attributes: clean(e.attributes, `events.${i}.attributes`),
  }));
  const links = input.links.map((l, i) => ({
    ...l,
    attributes: clean(l.attributes, `links.${i}.attributes`),
  }));
  const r = (key: string): string | null => str(resourceAttributes[key]);
  const a = (...keys: string[]): Json => {
    for (const key of keys) {
      if (attributes[key] !== undefined && attributes[key] !== null) {
        return attributes[key];
      }
    }
    return null;
  };
  const store = options.store;
  const groups = derivedGroups(a, input, events, options);
  const record: JsonObject = {
    traceId,
    spanId: id,
    parentSpanId: parent,
    traceState: input.traceState,
    name: input.name,
    kind: input.kind,
    startUnixNano: String(start),
    endUnixNano: String(end),
    timestamp: isoTime(startMs),
    endTimestamp: isoTime(endMs),
    duration: Number(end - start) / 1e6,
    status: input.status,
    service: r("service.name") ?? keepString(keep, "service"),
    serviceNamespace: r("service.namespace") ??
      keepString(keep, "serviceNamespace"),
    serviceInstanceId: r("service.instance.id") ??
      keepString(keep, "serviceInstanceId"),
    environment: r("deployment.environment.name") ??
      r("deployment.environment") ??
      keepString(keep, "environment"),
    version: r("service.version") ?? keepString(keep, "version"),
    region: r("cloud.region") ?? keepString(keep, "region"),
    requestId: requestIdOf(attributes, resourceAttributes, options) ??
      keepString(keep, "requestId"),
    http: groups.http ?? keepGroup(keep, "http", options),
    db: groups.db ?? keepGroup(keep, "db", options),
    rpc: groups.rpc ?? keepGroup(keep, "rpc", options),
    messaging: groups.messaging ?? keepGroup(keep, "messaging", options),
    error: groups.error,
    eventNames: events.map((e) => e.name),
    attributes: store.rawSpanAttributes ? attributes : null,
    resource: {
      attributes: store.rawResourceAttributes ? resourceAttributes : null,
    },
    instrumentationScope: {
      name: input.scope.name,
      version: input.scope.version,
      attributes: scopeAttributes,
    },
    events: store.rawEvents ? events : null,
    links: store.rawLinks ? links : null,
    dropped: input.dropped,
    redaction: { keys: redacted },
  };
  return ok(record);
}

// Spans of one batch mostly start within the same few seconds: the text up
// to the second is kept for the last second formatted. The result is built
// from char codes, so it is one flat string: a concatenation would leave a
// rope, which takes `JSON.stringify` off its fast path for the record.
let isoSecond = NaN;
const isoChars: number[] = new Array(24).fill(0x30);

/** `new Date(ms).toISOString()`, reusing the last second's text. */
export function isoTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    const text = new Date(second * 1000).toISOString();
    if (text.length !== 24) return new Date(ms).toISOString(); // years past 9999
    isoSecond = second;
    for (let i = 0; i < 20; i++) isoChars[i] = text.charCodeAt(i);
    isoChars[23] = 0x5a; // Z
  }
  const milli = ms - second * 1000;
  isoChars[20] = 0x30 + Math.floor(milli / 100);
  isoChars[21] = 0x30 + Math.floor(milli / 10) % 10;
  isoChars[22] = 0x30 + milli % 10;
  return String.fromCharCode.apply(null, isoChars);
}

function str(value: Json | undefined): string | null {
  if (typeof value === "string") return value === "" ? null : value;
  if (typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  return null;
}

function keepString(keep: JsonObject | null, key: string): string | null {
  return keep === null ? null : str(keep[key]);
}

function keepGroup(
  keep: JsonObject | null,
  key: string,
  options: OtelTracesOptions,
): Json {
  const group = keep?.[key];
  if (!isObject(group)) return null;
  const out = { ...group } as JsonObject;
  if (key === "http" && typeof out.url === "string") {
    out.url = urlPolicy(out.url, options);
  }
  if (key === "http" && typeof out.target === "string") {
    out.target = urlPolicy(out.target, options);
  }
  if (key === "db" && typeof out.statement === "string") {
    out.statement = statementPolicy(out.statement, options);
  }
  return out;
}

const SECRET_KEYS_CACHED_MAX = 4096;
const matchers = new WeakMap<OtelTracesOptions, (key: string) => boolean>();

// One matcher per options object, remembering its answer per key: spans of
// one service repeat the same few dozen attribute keys.
function secretMatcher(options: OtelTracesOptions): (key: string) => boolean {
  const found = matchers.get(options);
  if (found !== undefined) return found;
  const secrets = new Set([
    ...OTEL_SECRET_KEYS,
    ...options.redactKeys.map((k) => k.toLowerCase()),
  ]);
  const answers = new Map<string, boolean>();
  const matcher = (key: string): boolean => {
    const known = answers.get(key);
    if (known !== undefined) return known;
    const lower = key.toLowerCase();
    const dot = lower.lastIndexOf(".");
    const answer = secrets.has(lower) ||
      (dot >= 0 && secrets.has(lower.slice(dot + 1)));
    if (answers.size >= SECRET_KEYS_CACHED_MAX) answers.clear();
    answers.set(key, answer);
    return answer;
  };
  matchers.set(options, matcher);
  return matcher;
}

/**
 * One attribute map with the URL and statement policies applied and secret
 * keys redacted at any depth (their paths go to `redacted`), in one copy.
 */
function cleanMap(
  map: JsonObject,
  options: OtelTracesOptions,
  secret: (key: string) => boolean,
  path: string,
  redacted: string[],
): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(map)) {
    let value = map[key];
    if (typeof value === "string" && URL_KEYS.includes(key)) {
      value = urlPolicy(value, options);
    } else if (key === "url.query" && options.urlMode === "drop_query") {
      continue;
    } else if (STATEMENT_KEYS.includes(key) && typeof value === "string") {
      const statement = statementPolicy(value, options);
      if (statement === null) continue;
      value = statement;
    }
    if (secret(key)) {
      setField(out, key, REDACTED);
      redacted.push(`${path}.${key}`);
    } else if (typeof value === "object" && value !== null) {
      const inner = redact(value, secret, `${path}.${key}`, 1);
      if (inner === null) {
        throw new AnyValueBounds("attribute value nests too deeply");
      }
      redacted.push(...inner.paths);
      setField(out, key, inner.value);
    } else setField(out, key, value);
  }
  return out;
}

interface Cleaned {
  options: OtelTracesOptions;
  path: string;
  value: JsonObject;
  paths: string[];
}

const shared = new WeakMap<JsonObject, Cleaned>();

/**
 * `cleanMap()` of a map many spans share (their resource's or scope's
 * attributes), computed once per map object.
 */
function cleanShared(
  map: JsonObject,
  path: string,
  options: OtelTracesOptions,
  redacted: string[],
): JsonObject {
  let cleaned = shared.get(map);
  if (
    cleaned === undefined || cleaned.options !== options ||
    cleaned.path !== path
  ) {
    const paths: string[] = [];
    const value = cleanMap(map, options, secretMatcher(options), path, paths);
    cleaned = { options, path, value, paths };
    shared.set(map, cleaned);
  }
  for (const p of cleaned.paths) redacted.push(p);
  return cleaned.value;
}

const URL_KEYS = ["http.url", "url.full", "http.target"];
const STATEMENT_KEYS = ["db.statement", "db.query.text"];

function urlPolicy(url: string, options: OtelTracesOptions): string {
  if (options.urlMode === "raw") return url;
  const cut = url.search(/[?#]/);
  return cut < 0 ? url : flatPrefix(url, cut);
}

const FLAT_COPY_UNITS_MAX = 4096;
// A plain array: `fromCharCode.apply` over a typed array was measured
// slower, and the strings it made slower to stringify.
const flatUnits: number[] = [];

/**
 * `text.slice(0, end)` as a flat string. V8 answers a slice of 13 or more
 * characters with a view into the original (a "sliced string"), and such a
 * string in a record takes `JSON.stringify` off its fast path for the whole
 * record; a copy built from char codes is flat.
 */
function flatPrefix(text: string, end: number): string {
  if (end > FLAT_COPY_UNITS_MAX) return text.slice(0, end);
  flatUnits.length = end;
  for (let i = 0; i < end; i++) flatUnits[i] = text.charCodeAt(i);
  return String.fromCharCode.apply(null, flatUnits);
}

function statementPolicy(
  text: string,
  options: OtelTracesOptions,
): string | null {
  if (options.dbStatementMode === "drop") return null;
  return truncate(text, options.attributeLimits.maxStatementBytes);
}

function requestIdOf(
  attributes: JsonObject,
  resource: JsonObject,
  options: OtelTracesOptions,
): string | null {
  for (const key of options.requestIdAttributes) {
    const value = str(attributes[key]) ?? str(resource[key]);
    if (value !== null) return value;
  }
  return null;
}

function derivedGroups(
  a: (...keys: string[]) => Json,
  input: SpanInput,
  events: SpanInput["events"],
  options: OtelTracesOptions,
): { http: Json; db: Json; rpc: Json; messaging: Json; error: JsonObject } {
  const statusRaw = a("http.response.status_code", "http.status_code");
  const statusNumber = Number(statusRaw);
  const http = nonEmpty({
    method: a("http.request.method", "http.method"),
    route: a("http.route"),
    target: a("url.path", "http.target"),
    url: a("url.full", "http.url"),
    statusCode: statusRaw === null || !Number.isInteger(statusNumber)
      ? null
      : statusNumber,
  });
  const statement = a("db.query.text", "db.statement");
  const db = nonEmpty({
    system: a("db.system.name", "db.system"),
    name: a("db.namespace", "db.name"),
    operation: a("db.operation.name", "db.operation"),
    statement: typeof statement === "string"
      ? statementPolicy(statement, options)
      : null,
  });
  const rpc = nonEmpty({
    system: a("rpc.system"),
    service: a("rpc.service"),
    method: a("rpc.method"),
    grpcStatusCode: a("rpc.grpc.status_code"),
  });
  const messaging = nonEmpty({
    system: a("messaging.system"),
    destination: a("messaging.destination.name", "messaging.destination"),
    operation: a("messaging.operation.name", "messaging.operation"),
  });
  const exception = events.find((e) => e.name === "exception")?.attributes ??
    {};
  const isError = input.status.code === "error" ||
    events.some((e) => e.name === "exception");
  return {
    http,
    db,
    rpc,
    messaging,
    error: {
      isError,
      type: str(exception["exception.type"]) ?? str(a("error.type")),
      message: str(exception["exception.message"]) ??
        (isError ? input.status.message : null),
      stacktrace: str(exception["exception.stacktrace"]),
    },
  };
}

function nonEmpty(group: JsonObject): JsonObject | null {
  return Object.values(group).some((v) => v !== null) ? group : null;
}
