/**
 * @module
 * A profile's canonical registry as the body of a schema update
 * (keys-schemas.md, search.md): version 1's schema, the routing-key rule,
 * and a `search` section in the search module's format (bindings to
 * version 1, analyzers on text fields, the capabilities rollups need,
 * rollups inside `search`). Installing a profile runs this body through the
 * same path as `POST .../_schema`, so the registry it stores is checked by
 * the same rules.
 */

import {
  type CanonicalRegistry,
  isObject,
  type Json,
  type JsonObject,
} from "./profile.ts";

/** The `POST .../_schema` body that installs `registry` as version 1. */
export function canonicalSchemaBody(registry: CanonicalRegistry): JsonObject {
  const body: JsonObject = {
    schema: structuredClone(registry.schema),
    routingKey: registry.routingKey === null ? null : {
      jsonPointer: registry.routingKey.jsonPointer,
      required: registry.routingKey.required,
    },
  };
  if (registry.search !== null) body.search = searchSection(registry);
  return body;
}

function searchSection(registry: CanonicalRegistry): JsonObject {
  const fields: JsonObject = {};
  for (const [name, raw] of Object.entries(registry.search!.fields)) {
    fields[name] = field(raw as JsonObject);
  }
  const rollups: JsonObject = {};
  let primary: string | undefined;
  for (const [name, raw] of Object.entries(registry.rollups)) {
    const rollup = raw as JsonObject;
    const timestampField = rollup.timestampField as string;
    primary ??= timestampField;
    for (const dim of (rollup.dimensions ?? []) as string[]) {
      (fields[dim] as JsonObject).exact = true;
    }
    rollups[name] = {
      timestampField,
      dimensions: rollup.dimensions ?? [],
      intervals: rollup.intervals,
      measures: measures(
        rollup.measures as JsonObject,
        rollup.include as string | undefined,
        fields,
      ),
    };
  }
  const search: JsonObject = { fields };
  if (primary !== undefined) search.primaryTimestampField = primary;
  const aliases = registry.search!.aliases;
  if (Object.keys(aliases).length > 0) search.aliases = { ...aliases };
  if (Object.keys(rollups).length > 0) search.rollups = rollups;
  return search;
}

function field(raw: JsonObject): JsonObject {
  const out: JsonObject = { ...raw };
  out.bindings = (raw.bindings as Json[]).map((b) =>
    isObject(b) ? b : { version: 1, jsonPointer: b }
  );
  if (raw.kind === "text" && raw.analyzer === undefined) {
    out.analyzer = "unicode_word_v1";
  }
  return out;
}

/**
 * A rollup's measures: histograms named in the search module's terms, a
 * rollup-wide `include` folded into each count (summaries take every record
 * of the rollup), summary fields marked aggregatable, and `summary_parts`
 * pointing at the metrics record's summary members.
 */
function measures(
  raw: JsonObject,
  include: string | undefined,
  fields: JsonObject,
): JsonObject {
  const out: JsonObject = {};
  for (const [name, value] of Object.entries(raw)) {
    const m = value as JsonObject;
    if (m.kind === "count") {
      const own = m.include as string | undefined;
      const query = include === undefined
        ? own
        : own === undefined
        ? include
        : `(${include}) AND (${own})`;
      out[name] = query === undefined
        ? { kind: "count" }
        : { kind: "count", include: query };
    } else if (m.kind === "summary") {
      const target = fields[m.field as string] as JsonObject;
      target.aggregatable = true;
      out[name] = m.histogram === undefined
        ? { kind: "summary", field: m.field }
        : { kind: "summary", field: m.field, histogram: "log2_v1" };
    } else if (m.kind === "summary_parts") {
      out[name] = {
        kind: "summary_parts",
        countJsonPointer: m.countJsonPointer ?? "/count",
        sumJsonPointer: m.sumJsonPointer ?? "/sum",
        minJsonPointer: m.minJsonPointer ?? "/min",
        maxJsonPointer: m.maxJsonPointer ?? "/max",
        histogramJsonPointer: m.histogramJsonPointer ?? "/buckets",
      };
    } else out[name] = m;
  }
  return out;
}
