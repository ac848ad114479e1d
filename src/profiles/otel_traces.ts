/**
 * @module
 * The `otel-traces` profile (profiles.md §6): one canonical record per span,
 * keyed by trace id. `exportToSpans()` turns a decoded OTLP export request
 * (see `otlp/decode.ts`) into records plus a count of rejected spans, for
 * OTLP/HTTP partial success; JSON appends take an OTLP export object or an
 * already canonical span.
 */

import { fail, ok, type Result } from "../errors.ts";
import {
  type OtelTracesOptions,
  validateOtelOptions,
} from "./_otel_options.ts";
import {
  addOverLimit,
  addSpan,
  AnyValueBounds,
  attributeMap,
  canonicalSpan,
  type SpanBatch,
  type SpanInput,
  spanInputOf,
} from "./_otel_span.ts";
import { OTEL_REGISTRY } from "./_otel_registry.ts";
import {
  type CanonicalRecord,
  type CanonicalRegistry,
  isObject,
  type JsonObject,
  type Profile,
} from "./profile.ts";

export type { OtelTracesOptions } from "./_otel_options.ts";
export type { SpanBatch } from "./_otel_span.ts";

/** The otel-traces profile. */
export const otelTracesProfile: Profile<OtelTracesOptions> = {
  kind: "otel-traces",
  installsRegistry: true,
  validate: validateOtelOptions,
  normalize: normalizeElement,
  routingKey(record: JsonObject): string | null {
    return typeof record.traceId === "string" ? record.traceId : null;
  },
  canonicalRegistry(): CanonicalRegistry {
    return structuredClone(OTEL_REGISTRY);
  },
};

/**
 * Converts a decoded export request. Structure past the OTLP limits is a 400
 * for the whole request; a bad span is counted and skipped.
 */
export function exportToSpans(
  request: Record<string, unknown>,
  options: OtelTracesOptions,
): Result<SpanBatch> {
  const limits = options.otlpLimits;
  const resourceSpans = arrayOf(request.resourceSpans);
  if (resourceSpans === null) {
    return fail("bad_request", '"resourceSpans" must be an array');
  }
  if (resourceSpans.length > limits.maxResourceSpans) {
    return fail(
      "bad_request",
      `More than ${limits.maxResourceSpans} resource spans in one request`,
    );
  }
  let scopeCount = 0;
  for (const rs of resourceSpans) {
    scopeCount += isObject(rs) ? arrayOf(rs.scopeSpans)?.length ?? 0 : 0;
  }
  if (scopeCount > limits.maxScopeSpans) {
    return fail(
      "bad_request",
      `More than ${limits.maxScopeSpans} scope spans in one request`,
    );
  }
  try {
    return ok(convertAll(resourceSpans, options));
  } catch (error) {
    if (error instanceof AnyValueBounds) {
      return fail("bad_request", error.message);
    }
    throw error;
  }
}

function convertAll(
  resourceSpans: unknown[],
  options: OtelTracesOptions,
): SpanBatch {
  const batch: SpanBatch = { records: [], rejectedSpans: 0, errorMessage: "" };
  const max = options.otlpLimits.maxSpansPerRequest;
  let overLimit = 0;
  for (const rs of resourceSpans.filter(isObject)) {
    const resource = attributeMap(
      isObject(rs.resource) ? rs.resource.attributes : undefined,
      options,
    );
    for (const ss of (arrayOf(rs.scopeSpans) ?? []).filter(isObject)) {
      const scope = scopeOf(ss.scope, options);
      for (const span of arrayOf(ss.spans) ?? []) {
        if (batch.records.length >= max) {
          overLimit++;
          continue;
        }
        const record = isObject(span)
          ? canonicalSpan(
            spanInputOf(span, resource, scope, options),
            options,
            null,
          )
          : fail("bad_request", "a span must be an object");
        addSpan(batch, record);
      }
    }
  }
  addOverLimit(batch, overLimit, max);
  return batch;
}

function scopeOf(raw: unknown, options: OtelTracesOptions): SpanInput["scope"] {
  if (!isObject(raw)) return { name: null, version: null, attributes: {} };
  return {
    name: typeof raw.name === "string" && raw.name !== "" ? raw.name : null,
    version: typeof raw.version === "string" && raw.version !== ""
      ? raw.version
      : null,
    attributes: attributeMap(raw.attributes, options).map,
  };
}

function arrayOf(value: unknown): unknown[] | null {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : null;
}

/**
 * A JSON append: an OTLP export object (every span must be valid) or an
 * already canonical span (re-derived under the current policies).
 */
function normalizeElement(
  element: unknown,
  options: OtelTracesOptions,
): Result<CanonicalRecord[]> {
  if (!isObject(element)) {
    return fail("bad_request", "a span record must be a JSON object");
  }
  if ("resourceSpans" in element) {
    const batch = exportToSpans(element, options);
    if (!batch.ok) return batch;
    if (batch.value.rejectedSpans > 0) {
      return fail("bad_request", batch.value.errorMessage);
    }
    return ok(batch.value.records);
  }
  if (typeof element.startUnixNano !== "string") {
    return fail(
      "bad_request",
      'expected an OTLP export object ("resourceSpans") or a canonical span',
    );
  }
  try {
    const record = canonicalSpan(
      fromCanonical(element),
      options,
      element as JsonObject,
    );
    if (!record.ok) return record;
    return ok([{
      value: record.value,
      routingKey: record.value.traceId as string,
    }]);
  } catch (error) {
    if (error instanceof AnyValueBounds) {
      return fail("bad_request", error.message);
    }
    throw error;
  }
}

/** A canonical span read back as input. */
function fromCanonical(record: Record<string, unknown>): SpanInput {
  const obj = (v: unknown): JsonObject => (isObject(v) ? v as JsonObject : {});
  const status = obj(record.status);
  const scope = obj(record.instrumentationScope);
  const list = <T>(v: unknown): T[] => (Array.isArray(v) ? v as T[] : []);
  return {
    traceId: record.traceId,
    spanId: record.spanId,
    parentSpanId: record.parentSpanId,
    traceState: typeof record.traceState === "string"
      ? record.traceState
      : null,
    name: typeof record.name === "string" ? record.name : "",
    kind: typeof record.kind === "string" ? record.kind : "unspecified",
    startUnixNano: record.startUnixNano,
    endUnixNano: record.endUnixNano,
    status: {
      code: typeof status.code === "string" ? status.code : "unset",
      message: typeof status.message === "string" ? status.message : null,
    },
    attributes: obj(record.attributes),
    resourceAttributes: obj(obj(record.resource).attributes),
    scope: {
      name: typeof scope.name === "string" ? scope.name : null,
      version: typeof scope.version === "string" ? scope.version : null,
      attributes: obj(scope.attributes),
    },
    events: list<SpanInput["events"][number]>(record.events).filter(isObject)
      .map((e) => ({ ...e, attributes: obj(e.attributes) })),
    links: list<SpanInput["links"][number]>(record.links).filter(isObject)
      .map((l) => ({ ...l, attributes: obj(l.attributes) })),
    dropped: {
      attributes: Number(obj(record.dropped).attributes ?? 0) || 0,
      events: Number(obj(record.dropped).events ?? 0) || 0,
      links: Number(obj(record.dropped).links ?? 0) || 0,
    },
  };
}
