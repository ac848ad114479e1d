/**
 * @module
 * The `evlog` profile (profiles.md §4): wide request events normalized to
 * one envelope, correlated by request id, trace and span ids (configured
 * fields, then a W3C `traceparent`), with secrets under `context` redacted by
 * key name. Reserved top-level fields are never redacted. Routing key:
 * `requestId`, else `traceId`.
 */

import { fail, ok, type Result } from "../errors.ts";
import { PROFILE_FIELD_PATHS_MAX, PROFILE_REDACT_KEYS_MAX } from "../limits.ts";
import {
  atPath,
  cleanString,
  isRfc3339,
  parseTraceparent,
  redact,
} from "./_json.ts";
import { EVLOG_FIELDS, EVLOG_REGISTRY } from "./_evlog_registry.ts";

export { EVLOG_FIELDS };
import {
  badOption,
  type CanonicalRecord,
  type CanonicalRegistry,
  checkKeys,
  isObject,
  type JsonObject,
  type NormalizeContext,
  observabilityStream,
  type Profile,
  setField,
  stringList,
} from "./profile.ts";

/** Options of the evlog profile, defaults filled in. */
export type EvlogOptions = {
  kind: "evlog";
  redactKeys: string[];
  correlation: {
    requestIdFields: string[];
    traceContextFields: { traceId: string[]; spanId: string[] };
    parseTraceparent: boolean;
  };
  observability?: { request: { tracesStream: string } };
};

/** Key names always redacted (lower case). */
export const EVLOG_SECRET_KEYS = [
  "password",
  "token",
  "secret",
  "authorization",
  "cookie",
  "apikey",
];

const RESERVED = new Set<string>(EVLOG_FIELDS);
const LEVELS = ["debug", "info", "warn", "error"];
const TRACEPARENT_PATHS = [
  "traceparent",
  "traceContext.traceparent",
  "context.traceparent",
  "headers.traceparent",
];

/** The default correlation settings. */
function defaultCorrelation(): EvlogOptions["correlation"] {
  return {
    requestIdFields: ["requestId", "context.requestId"],
    traceContextFields: {
      traceId: ["traceId", "traceContext.traceId"],
      spanId: ["spanId", "traceContext.spanId"],
    },
    parseTraceparent: true,
  };
}

/** The evlog profile. */
export const evlogProfile: Profile<EvlogOptions> = {
  kind: "evlog",
  installsRegistry: true,
  validate: validateEvlog,
  normalize: normalizeEvlog,
  routingKey(record: JsonObject): string | null {
    return evlogRoutingKey(record);
  },
  canonicalRegistry(): CanonicalRegistry {
    return structuredClone(EVLOG_REGISTRY);
  },
};

function validateEvlog(raw: unknown): Result<EvlogOptions> {
  if (!isObject(raw)) return fail("bad_request", '"profile" must be an object');
  const keys = checkKeys(
    raw,
    ["kind", "redactKeys", "correlation", "observability"],
    "profile",
  );
  if (!keys.ok) return keys;
  const redactKeys = stringList(
    raw.redactKeys,
    "profile.redactKeys",
    PROFILE_REDACT_KEYS_MAX,
    [],
  );
  if (!redactKeys.ok) return redactKeys;
  const correlation = validateCorrelation(raw.correlation);
  if (!correlation.ok) return correlation;
  const options: EvlogOptions = {
    kind: "evlog",
    redactKeys: redactKeys.value,
    correlation: correlation.value,
  };
  if (raw.observability !== undefined) {
    const traces = observabilityStream(raw.observability, "tracesStream");
    if (!traces.ok) return traces;
    options.observability = { request: { tracesStream: traces.value } };
  }
  return ok(options);
}

function validateCorrelation(
  raw: unknown,
): Result<EvlogOptions["correlation"]> {
  const out = defaultCorrelation();
  if (raw === undefined) return ok(out);
  const path = "profile.correlation";
  if (!isObject(raw)) return badOption(path, "must be an object");
  const keys = checkKeys(
    raw,
    ["requestIdFields", "traceContextFields", "parseTraceparent"],
    path,
  );
  if (!keys.ok) return keys;
  const max = PROFILE_FIELD_PATHS_MAX;
  const ids = stringList(
    raw.requestIdFields,
    `${path}.requestIdFields`,
    max,
    out.requestIdFields,
  );
  if (!ids.ok) return ids;
  out.requestIdFields = ids.value;
  const trace = raw.traceContextFields;
  if (trace !== undefined) {
    const tpath = `${path}.traceContextFields`;
    if (!isObject(trace)) return badOption(tpath, "must be an object");
    const tkeys = checkKeys(trace, ["traceId", "spanId"], tpath);
    if (!tkeys.ok) return tkeys;
    const fields = out.traceContextFields;
    const traceId = stringList(
      trace.traceId,
      `${tpath}.traceId`,
      max,
      fields.traceId,
    );
    if (!traceId.ok) return traceId;
    const spanId = stringList(
      trace.spanId,
      `${tpath}.spanId`,
      max,
      fields.spanId,
    );
    if (!spanId.ok) return spanId;
    out.traceContextFields = { traceId: traceId.value, spanId: spanId.value };
  }
  if (raw.parseTraceparent !== undefined) {
    if (typeof raw.parseTraceparent !== "boolean") {
      return badOption(`${path}.parseTraceparent`, "must be a boolean");
    }
    out.parseTraceparent = raw.parseTraceparent;
  }
  return ok(out);
}

function normalizeEvlog(
  element: unknown,
  options: EvlogOptions,
  context: NormalizeContext,
): Result<CanonicalRecord[]> {
  if (!isObject(element)) {
    return fail("bad_request", "an evlog event must be a JSON object");
  }
  const timestamp = eventTimestamp(element.timestamp, context.nowMs);
  if (!timestamp.ok) return timestamp;
  const status = integerOrNull(element.status);
  const duration = typeof element.duration === "number" &&
      Number.isFinite(element.duration)
    ? element.duration
    : null;
  const ids = correlate(element, options);
  const contextValue = gatherContext(element);
  const secrets = new Set([
    ...EVLOG_SECRET_KEYS,
    ...options.redactKeys.map((k) => k.toLowerCase()),
  ]);
  const redacted = redact(
    contextValue,
    (key) => secrets.has(key.toLowerCase()),
    "context",
  );
  if (redacted === null) {
    return fail("bad_request", "the event nests too deeply");
  }
  const why = cleanString(element.why);
  const fix = cleanString(element.fix);
  const link = cleanString(element.link);
  const record: JsonObject = {
    timestamp: timestamp.value,
    level: eventLevel(element.level, status, why ?? fix ?? link),
    service: cleanString(element.service),
    environment: cleanString(element.environment),
    version: cleanString(element.version),
    region: cleanString(element.region),
    requestId: ids.requestId,
    traceId: ids.traceId,
    spanId: ids.spanId,
    method: cleanString(element.method),
    path: cleanString(element.path),
    status,
    duration,
    message: cleanString(element.message),
    why,
    fix,
    link,
    sampling: isObject(element.sampling)
      ? element.sampling as JsonObject
      : null,
    redaction: { keys: redacted.paths },
    context: redacted.value,
  };
  return ok([{ value: record, routingKey: evlogRoutingKey(record) }]);
}

function evlogRoutingKey(record: JsonObject): string | null {
  const key = record.requestId ?? record.traceId;
  return typeof key === "string" ? key : null;
}

function eventTimestamp(raw: unknown, nowMs: number): Result<string> {
  if (raw === undefined || raw === null) {
    return ok(new Date(nowMs).toISOString());
  }
  const text = typeof raw === "string" ? raw.trim() : null;
  if (text === "") return ok(new Date(nowMs).toISOString());
  if (text === null || !isRfc3339(text)) {
    return fail(
      "bad_request",
      `"timestamp" must be an RFC 3339 date-time, got ${JSON.stringify(raw)}`,
      { field: "timestamp" },
    );
  }
  return ok(text);
}

function integerOrNull(raw: unknown): number | null {
  if (typeof raw === "number") return Number.isInteger(raw) ? raw : null;
  if (typeof raw === "string" && /^\s*-?\d+\s*$/.test(raw)) {
    const n = Number(raw);
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

function eventLevel(
  raw: unknown,
  status: number | null,
  guidance: string | null,
): string {
  if (typeof raw === "string") {
    const level = raw.trim().toLowerCase();
    if (LEVELS.includes(level)) return level;
  }
  if (guidance !== null || (status !== null && status >= 500)) return "error";
  if (status !== null && status >= 400) return "warn";
  return "info";
}

function correlate(
  element: Record<string, unknown>,
  options: EvlogOptions,
): { requestId: string | null; traceId: string | null; spanId: string | null } {
  const { requestIdFields, traceContextFields, parseTraceparent: parse } =
    options.correlation;
  const requestId = firstAt(element, requestIdFields);
  let traceId = firstAt(element, traceContextFields.traceId);
  let spanId = firstAt(element, traceContextFields.spanId);
  if (parse && (traceId === null || spanId === null)) {
    for (const path of TRACEPARENT_PATHS) {
      const parent = parseTraceparent(atPath(element, path));
      if (parent === null) continue;
      traceId ??= parent.traceId;
      spanId ??= parent.spanId;
      break;
    }
  }
  return { requestId, traceId, spanId };
}

function firstAt(element: unknown, paths: readonly string[]): string | null {
  for (const path of paths) {
    const value = cleanString(atPath(element, path));
    if (value !== null) return value;
  }
  return null;
}

/** The input's `context` object plus every non-reserved top-level key. */
function gatherContext(element: Record<string, unknown>): JsonObject {
  const out: JsonObject = isObject(element.context)
    ? { ...(element.context as JsonObject) }
    : {};
  for (const [key, value] of Object.entries(element)) {
    if (!RESERVED.has(key)) setField(out, key, value);
  }
  return out;
}
