/**
 * @module
 * The metrics canonical registry (profiles.md §5) as plain JSON: the
 * interval record schema (version 1), exact keyword and column fields, and
 * the `metrics` rollup of summary parts.
 */

import type { CanonicalRegistry, JsonObject } from "./profile.ts";

const nullableNumber = { type: ["number", "null"] };
const nullableString = { type: ["string", "null"] };

const SCHEMA: JsonObject = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  additionalProperties: false,
  required: [
    "apiVersion",
    "kind",
    "metric",
    "unit",
    "metricKind",
    "temporality",
    "windowStart",
    "windowEnd",
    "intervalMs",
    "stream",
    "instance",
    "attributes",
    "dimensionPairs",
    "dimensionKey",
    "seriesKey",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "p50",
    "p95",
    "p99",
    "buckets",
  ],
  properties: {
    apiVersion: { const: "durable.streams/metrics/v1" },
    kind: { const: "interval" },
    metric: { type: "string", minLength: 1 },
    unit: { type: "string", minLength: 1 },
    metricKind: { type: "string", minLength: 1 },
    temporality: { type: "string", minLength: 1 },
    windowStart: { type: "integer" },
    windowEnd: { type: "integer" },
    intervalMs: { type: "integer", minimum: 0 },
    stream: nullableString,
    instance: nullableString,
    attributes: { type: "object", additionalProperties: { type: "string" } },
    dimensionPairs: { type: "array", items: { type: "string" } },
    dimensionKey: { type: "string" },
    seriesKey: { type: "string" },
    count: { type: "integer", minimum: 0 },
    sum: { type: "number" },
    min: nullableNumber,
    max: nullableNumber,
    avg: nullableNumber,
    p50: nullableNumber,
    p95: nullableNumber,
    p99: nullableNumber,
    buckets: {
      type: ["object", "null"],
      additionalProperties: { type: "number", minimum: 0 },
    },
  },
};

function exact(pointer: string): JsonObject {
  return { kind: "keyword", bindings: [pointer], exact: true };
}

function column(kind: string, pointer: string): JsonObject {
  return { kind, bindings: [pointer], column: true };
}

/** The metrics registry; callers clone it before changing it. */
export const METRICS_REGISTRY: CanonicalRegistry = {
  schema: SCHEMA,
  routingKey: { jsonPointer: "/seriesKey", required: true },
  search: {
    fields: {
      metric: exact("/metric"),
      unit: exact("/unit"),
      stream: exact("/stream"),
      instance: exact("/instance"),
      metricKind: exact("/metricKind"),
      temporality: exact("/temporality"),
      seriesKey: exact("/seriesKey"),
      dimensionKey: exact("/dimensionKey"),
      dimensionPairs: exact("/dimensionPairs"),
      windowStart: column("date", "/windowStart"),
      count: column("integer", "/count"),
      sum: column("float", "/sum"),
      min: column("float", "/min"),
      max: column("float", "/max"),
      avg: column("float", "/avg"),
      p50: column("float", "/p50"),
      p95: column("float", "/p95"),
      p99: column("float", "/p99"),
    },
    aliases: {},
  },
  rollups: {
    metrics: {
      timestampField: "windowStart",
      dimensions: [
        "metric",
        "unit",
        "stream",
        "instance",
        "dimensionKey",
        "metricKind",
        "temporality",
      ],
      intervals: ["10s", "1m", "5m", "1h"],
      measures: { summary: { kind: "summary_parts" } },
    },
  },
  indexFamilies: ["mblk"],
};
