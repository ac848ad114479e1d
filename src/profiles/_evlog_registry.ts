/**
 * @module
 * The evlog canonical registry (profiles.md §4.3) as plain JSON: the
 * envelope schema (version 1), search fields and aliases, and the `requests`
 * rollup. The schema and search modules read this shape when they land.
 */

import type { CanonicalRegistry, JsonObject } from "./profile.ts";

/** The stored record's top-level keys, in order. */
export const EVLOG_FIELDS = [
  "timestamp",
  "level",
  "service",
  "environment",
  "version",
  "region",
  "requestId",
  "traceId",
  "spanId",
  "method",
  "path",
  "status",
  "duration",
  "message",
  "why",
  "fix",
  "link",
  "sampling",
  "redaction",
  "context",
] as const;

const nullableString = { type: ["string", "null"] };

const SCHEMA: JsonObject = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  additionalProperties: false,
  required: [...EVLOG_FIELDS],
  properties: {
    timestamp: { type: "string", format: "date-time" },
    level: { enum: ["debug", "info", "warn", "error"] },
    service: nullableString,
    environment: nullableString,
    version: nullableString,
    region: nullableString,
    requestId: nullableString,
    traceId: nullableString,
    spanId: nullableString,
    method: nullableString,
    path: nullableString,
    status: { type: ["integer", "null"] },
    duration: { type: ["number", "null"] },
    message: nullableString,
    why: nullableString,
    fix: nullableString,
    link: nullableString,
    sampling: { type: ["object", "null"] },
    redaction: {
      type: "object",
      additionalProperties: false,
      required: ["keys"],
      properties: { keys: { type: "array", items: { type: "string" } } },
    },
    context: { type: "object" },
  },
};

function keyword(pointer: string): JsonObject {
  return { kind: "keyword", bindings: [pointer], exact: true, prefix: true };
}

function column(kind: string, pointer: string): JsonObject {
  return { kind, bindings: [pointer], column: true };
}

function text(pointer: string): JsonObject {
  return { kind: "text", bindings: [pointer] };
}

/** The evlog registry; callers clone it before changing it. */
export const EVLOG_REGISTRY: CanonicalRegistry = {
  schema: SCHEMA,
  routingKey: null,
  search: {
    fields: {
      service: keyword("/service"),
      level: keyword("/level"),
      requestId: keyword("/requestId"),
      traceId: keyword("/traceId"),
      spanId: keyword("/spanId"),
      path: keyword("/path"),
      method: keyword("/method"),
      environment: keyword("/environment"),
      timestamp: column("date", "/timestamp"),
      status: column("integer", "/status"),
      duration: column("float", "/duration"),
      message: text("/message"),
      why: text("/why"),
      fix: text("/fix"),
      "error.message": text("/context/error/message"),
    },
    aliases: {
      req: "requestId",
      trace: "traceId",
      span: "spanId",
      time: "timestamp",
      ts: "timestamp",
      msg: "message",
      env: "environment",
    },
  },
  rollups: {
    requests: {
      timestampField: "timestamp",
      dimensions: ["service", "level"],
      intervals: ["1m", "1h"],
      measures: {
        count: { kind: "count" },
        errors: { kind: "count", include: "level:error" },
        duration: { kind: "summary", field: "duration", histogram: "log2" },
      },
    },
  },
};
