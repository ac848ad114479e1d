/**
 * @module
 * Options of the `otel-traces` profile (profiles.md §6.1): redaction keys,
 * request id attributes, attribute and OTLP limits (positive integers, at
 * most four times the defaults), what raw data to keep, and the URL and
 * database statement policies.
 */

import { fail, ok, type Result } from "../errors.ts";
import { PROFILE_FIELD_PATHS_MAX, PROFILE_REDACT_KEYS_MAX } from "../limits.ts";
import {
  badOption,
  checkKeys,
  isObject,
  observabilityStream,
  stringList,
} from "./profile.ts";

/** Limits on one span's attribute data. */
export type AttributeLimits = {
  maxValueBytes: number;
  maxAttributes: number;
  maxEvents: number;
  maxLinks: number;
  maxStatementBytes: number;
};

/** Limits on one OTLP request. */
export type OtlpLimits = {
  maxCompressedBytes: number;
  maxDecodedBytes: number;
  maxResourceSpans: number;
  maxScopeSpans: number;
  maxSpansPerRequest: number;
  maxAnyValueDepth: number;
  maxArrayItems: number;
  maxKvEntries: number;
};

/** Options of the otel-traces profile, defaults filled in. */
export type OtelTracesOptions = {
  kind: "otel-traces";
  redactKeys: string[];
  requestIdAttributes: string[];
  attributeLimits: AttributeLimits;
  store: {
    rawResourceAttributes: boolean;
    rawSpanAttributes: boolean;
    rawEvents: boolean;
    rawLinks: boolean;
  };
  dbStatementMode: "drop" | "raw";
  urlMode: "drop_query" | "raw";
  otlpLimits: OtlpLimits;
  observability?: { request: { eventsStream: string } };
};

/** Key names always redacted (lower case). */
export const OTEL_SECRET_KEYS = [
  "password",
  "token",
  "secret",
  "authorization",
  "cookie",
  "apikey",
  "api_key",
  "set-cookie",
  "x-api-key",
];

/** Attributes a request id is read from, in order, by default. */
export const REQUEST_ID_ATTRIBUTES = [
  "request.id",
  "http.request_id",
  "http.request.header.x_request_id",
  "http.request.header.x-request-id",
  "http.request.header.x_correlation_id",
  "http.request.header.x-correlation-id",
  "correlation.id",
];

/** Default attribute limits. */
export const ATTRIBUTE_LIMITS: AttributeLimits = {
  maxValueBytes: 8192,
  maxAttributes: 256,
  maxEvents: 128,
  maxLinks: 128,
  maxStatementBytes: 4096,
};

/** Default OTLP request limits. */
export const OTLP_LIMITS: OtlpLimits = {
  maxCompressedBytes: 4 * 1024 * 1024,
  maxDecodedBytes: 16 * 1024 * 1024,
  maxResourceSpans: 1024,
  maxScopeSpans: 4096,
  maxSpansPerRequest: 50_000,
  maxAnyValueDepth: 16,
  maxArrayItems: 256,
  maxKvEntries: 256,
};

/** How far above its default a limit may be raised. */
const LIMIT_RAISE_FACTOR = 4;

/** Parses the `profile` object of kind `otel-traces`. */
export function validateOtelOptions(raw: unknown): Result<OtelTracesOptions> {
  if (!isObject(raw)) return fail("bad_request", '"profile" must be an object');
  const keys = checkKeys(raw, [
    "kind",
    "redactKeys",
    "requestIdAttributes",
    "attributeLimits",
    "store",
    "dbStatementMode",
    "urlMode",
    "otlpLimits",
    "observability",
  ], "profile");
  if (!keys.ok) return keys;
  const redactKeys = stringList(
    raw.redactKeys,
    "profile.redactKeys",
    PROFILE_REDACT_KEYS_MAX,
    [],
  );
  if (!redactKeys.ok) return redactKeys;
  const requestIds = stringList(
    raw.requestIdAttributes,
    "profile.requestIdAttributes",
    PROFILE_FIELD_PATHS_MAX,
    [...REQUEST_ID_ATTRIBUTES],
  );
  if (!requestIds.ok) return requestIds;
  const attributeLimits = limitsOf(
    raw.attributeLimits,
    "profile.attributeLimits",
    ATTRIBUTE_LIMITS,
  );
  if (!attributeLimits.ok) return attributeLimits;
  const otlpLimits = limitsOf(
    raw.otlpLimits,
    "profile.otlpLimits",
    OTLP_LIMITS,
  );
  if (!otlpLimits.ok) return otlpLimits;
  const store = storeOf(raw.store);
  if (!store.ok) return store;
  const dbMode = enumOf(
    raw.dbStatementMode,
    "profile.dbStatementMode",
    [
      "drop",
      "raw",
    ] as const,
  );
  if (!dbMode.ok) return dbMode;
  const urlMode = enumOf(
    raw.urlMode,
    "profile.urlMode",
    [
      "drop_query",
      "raw",
    ] as const,
  );
  if (!urlMode.ok) return urlMode;
  const options: OtelTracesOptions = {
    kind: "otel-traces",
    redactKeys: redactKeys.value,
    requestIdAttributes: requestIds.value,
    attributeLimits: attributeLimits.value,
    store: store.value,
    dbStatementMode: dbMode.value,
    urlMode: urlMode.value,
    otlpLimits: otlpLimits.value,
  };
  if (raw.observability !== undefined) {
    const events = observabilityStream(raw.observability, "eventsStream");
    if (!events.ok) return events;
    options.observability = { request: { eventsStream: events.value } };
  }
  return ok(options);
}

function limitsOf<T extends object>(
  raw: unknown,
  path: string,
  defaults: T,
): Result<T> {
  const out = { ...defaults } as Record<string, number>;
  if (raw === undefined) return ok(out as T);
  if (!isObject(raw)) return badOption(path, "must be an object");
  const keys = checkKeys(raw, Object.keys(defaults), path);
  if (!keys.ok) return keys;
  for (const [key, value] of Object.entries(raw)) {
    const cap = (defaults as Record<string, number>)[key] * LIMIT_RAISE_FACTOR;
    if (!Number.isSafeInteger(value) || (value as number) <= 0) {
      return badOption(`${path}.${key}`, "must be a positive integer");
    }
    if ((value as number) > cap) {
      return badOption(`${path}.${key}`, `must be at most ${cap}`);
    }
    out[key] = value as number;
  }
  return ok(out as T);
}

function storeOf(raw: unknown): Result<OtelTracesOptions["store"]> {
  const out = {
    rawResourceAttributes: true,
    rawSpanAttributes: true,
    rawEvents: true,
    rawLinks: true,
  };
  if (raw === undefined) return ok(out);
  const path = "profile.store";
  if (!isObject(raw)) return badOption(path, "must be an object");
  const keys = checkKeys(raw, Object.keys(out), path);
  if (!keys.ok) return keys;
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== "boolean") {
      return badOption(`${path}.${key}`, "must be a boolean");
    }
    out[key as keyof typeof out] = value;
  }
  return ok(out);
}

function enumOf<T extends string>(
  raw: unknown,
  path: string,
  values: readonly T[],
): Result<T> {
  if (raw === undefined) return ok(values[0]);
  if (typeof raw !== "string" || !values.includes(raw as T)) {
    return badOption(path, `must be one of ${values.join(", ")}`);
  }
  return ok(raw as T);
}
