/**
 * @module
 * The otel-traces canonical registry (profiles.md §6.2) as plain JSON: the
 * span schema (version 1), keyword, column and text fields, aliases, and
 * the `spans` and `http_server` rollups.
 */

import type { CanonicalRegistry, JsonObject } from "./profile.ts";

const SCHEMA: JsonObject = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  required: [
    "traceId",
    "spanId",
    "parentSpanId",
    "name",
    "kind",
    "startUnixNano",
    "endUnixNano",
    "timestamp",
    "endTimestamp",
    "duration",
    "status",
    "error",
    "redaction",
  ],
  properties: {
    traceId: { type: "string", pattern: "^[0-9a-f]{32}$" },
    spanId: { type: "string", pattern: "^[0-9a-f]{16}$" },
    parentSpanId: { type: ["string", "null"], pattern: "^[0-9a-f]{16}$" },
    name: { type: "string" },
    kind: {
      enum: [
        "unspecified",
        "internal",
        "server",
        "client",
        "producer",
        "consumer",
      ],
    },
    startUnixNano: { type: "string", pattern: "^[0-9]+$" },
    endUnixNano: { type: "string", pattern: "^[0-9]+$" },
    timestamp: { type: "string", format: "date-time" },
    endTimestamp: { type: "string", format: "date-time" },
    duration: { type: "number", minimum: 0 },
    status: {
      type: "object",
      required: ["code"],
      properties: {
        code: { enum: ["unset", "ok", "error"] },
        message: { type: ["string", "null"] },
      },
    },
    error: { type: "object", required: ["isError"] },
    redaction: { type: "object", required: ["keys"] },
  },
};

function keyword(pointer: string, prefix = true): JsonObject {
  return { kind: "keyword", bindings: [pointer], exact: true, prefix };
}

function column(kind: string, pointer: string): JsonObject {
  return { kind, bindings: [pointer], column: true };
}

function text(pointer: string): JsonObject {
  return { kind: "text", bindings: [pointer] };
}

function measures(): JsonObject {
  return {
    count: { kind: "count" },
    errors: { kind: "count", include: "error:true" },
    duration: { kind: "summary", field: "duration", histogram: "log2" },
  };
}

/** The otel-traces registry; callers clone it before changing it. */
export const OTEL_REGISTRY: CanonicalRegistry = {
  schema: SCHEMA,
  routingKey: { jsonPointer: "/traceId", required: true },
  search: {
    fields: {
      traceId: keyword("/traceId"),
      spanId: keyword("/spanId"),
      parentSpanId: keyword("/parentSpanId"),
      requestId: keyword("/requestId"),
      service: keyword("/service"),
      environment: keyword("/environment"),
      name: keyword("/name"),
      kind: keyword("/kind"),
      "status.code": keyword("/status/code"),
      "http.method": keyword("/http/method"),
      "http.route": keyword("/http/route"),
      "db.system": keyword("/db/system"),
      "db.name": keyword("/db/name"),
      "rpc.system": keyword("/rpc/system"),
      "rpc.service": keyword("/rpc/service"),
      "rpc.method": keyword("/rpc/method"),
      "messaging.system": keyword("/messaging/system"),
      "messaging.destination": keyword("/messaging/destination"),
      timestamp: column("date", "/timestamp"),
      endTimestamp: column("date", "/endTimestamp"),
      duration: column("float", "/duration"),
      "http.statusCode": column("integer", "/http/statusCode"),
      "error.isError": column("bool", "/error/isError"),
      "status.message": text("/status/message"),
      "error.message": text("/error/message"),
      "error.stacktrace": text("/error/stacktrace"),
      "db.statement": text("/db/statement"),
      "events.name": text("/eventNames"),
    },
    aliases: {
      trace: "traceId",
      span: "spanId",
      parent: "parentSpanId",
      req: "requestId",
      svc: "service",
      op: "name",
      route: "http.route",
      method: "http.method",
      status: "http.statusCode",
      error: "error.isError",
      db: "db.system",
      duration_ms: "duration",
      time: "timestamp",
      ts: "timestamp",
    },
  },
  rollups: {
    spans: {
      timestampField: "timestamp",
      dimensions: ["service", "kind", "status.code"],
      intervals: ["1m", "1h"],
      measures: measures(),
    },
    http_server: {
      timestampField: "timestamp",
      dimensions: ["service", "http.method", "http.route", "http.statusCode"],
      intervals: ["1m", "1h"],
      include: "kind:server",
      measures: measures(),
    },
  },
};
