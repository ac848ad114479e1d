/**
 * @module
 * The `metrics` profile (profiles.md §5): interval summary records. Each
 * element is checked field by field, its attributes become sorted string
 * dimensions, and the series key `metricKind|temporality|metric|unit|stream|
 * instance|dimensionKey` is derived and used as the routing key. Missing
 * percentiles are estimated from the histogram buckets.
 */

import { fail, ok, type Result, type StreamError } from "../errors.ts";
import {
  type CanonicalRecord,
  type CanonicalRegistry,
  checkKeys,
  isObject,
  type JsonObject,
  type Profile,
  setField,
} from "./profile.ts";
import { METRICS_REGISTRY } from "./_metrics_registry.ts";

/** Options of the metrics profile: the kind only. */
export type MetricsOptions = { kind: "metrics" };

/** The `apiVersion` stamped on every canonical metrics record. */
export const METRICS_API_VERSION = "durable.streams/metrics/v1";

/** The metrics profile. */
export const metricsProfile: Profile<MetricsOptions> = {
  kind: "metrics",
  installsRegistry: true,
  validate(raw: unknown): Result<MetricsOptions> {
    if (!isObject(raw)) {
      return fail("bad_request", '"profile" must be an object');
    }
    const keys = checkKeys(raw, ["kind"], "profile");
    if (!keys.ok) return keys;
    return ok({ kind: "metrics" });
  },
  normalize(element: unknown): Result<CanonicalRecord[]> {
    const record = normalizeMetric(element);
    if (!record.ok) return record;
    return ok([{
      value: record.value,
      routingKey: record.value.seriesKey as string,
    }]);
  },
  routingKey(record: JsonObject): string | null {
    return typeof record.seriesKey === "string" ? record.seriesKey : null;
  },
  canonicalRegistry(): CanonicalRegistry {
    return structuredClone(METRICS_REGISTRY);
  },
};

function field(
  name: string,
  message: string,
): { ok: false; error: StreamError } {
  return fail("bad_request", `"${name}" ${message}`, { field: name });
}

/** A summary's numbers, as found at the top level or inside `summary`. */
interface Summary {
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
  /** `max` as given (percentile estimates are capped at it). */
  maxGiven: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  buckets: Record<string, number> | null;
}

/** Normalizes one interval summary record (exported for tests). */
export function normalizeMetric(element: unknown): Result<JsonObject> {
  if (!isObject(element)) {
    return fail("bad_request", "a metrics record must be a JSON object");
  }
  const metric = requiredString(element, "metric");
  if (!metric.ok) return metric;
  const unit = requiredString(element, "unit");
  if (!unit.ok) return unit;
  const window = windowOf(element);
  if (!window.ok) return window;
  if (element.kind !== undefined && element.kind !== "interval") {
    return field("kind", 'must be "interval"');
  }
  const metricKind = optionalString(element, "metricKind", "summary");
  if (!metricKind.ok) return metricKind;
  const temporality = optionalString(element, "temporality", "delta");
  if (!temporality.ok) return temporality;
  const stream = optionalString(element, "stream", null);
  if (!stream.ok) return stream;
  const instance = optionalString(element, "instance", null);
  if (!instance.ok) return instance;
  const summary = summaryOf(element);
  if (!summary.ok) return summary;
  const s = summary.value;
  const attributes = dimensionsOf(element.attributes ?? element.tags);
  const dimensionPairs = Object.entries(attributes).map(([k, v]) =>
    `${escapeDimension(k)}=${escapeDimension(v)}`
  );
  const dimensionKey = dimensionPairs.join(",");
  const seriesKey = [
    metricKind.value,
    temporality.value,
    metric.value,
    unit.value,
    stream.value ?? "",
    instance.value ?? "",
    dimensionKey,
  ].join("|");
  return ok({
    apiVersion: METRICS_API_VERSION,
    kind: "interval",
    metric: metric.value,
    unit: unit.value,
    metricKind: metricKind.value,
    temporality: temporality.value,
    windowStart: window.value.start,
    windowEnd: window.value.end,
    intervalMs: window.value.intervalMs,
    stream: stream.value,
    instance: instance.value,
    attributes,
    dimensionPairs,
    dimensionKey,
    seriesKey,
    count: s.count,
    sum: s.sum,
    min: s.min,
    max: s.max,
    avg: s.count > 0 ? s.sum / s.count : null,
    p50: s.p50 ?? percentile(s.buckets, s.count, 0.5, s.maxGiven),
    p95: s.p95 ?? percentile(s.buckets, s.count, 0.95, s.maxGiven),
    p99: s.p99 ?? percentile(s.buckets, s.count, 0.99, s.maxGiven),
    buckets: s.buckets,
  });
}

function requiredString(
  element: Record<string, unknown>,
  name: string,
): Result<string> {
  const value = element[name];
  if (typeof value !== "string" || value.trim() === "") {
    return field(name, "must be a non-empty string");
  }
  return ok(value.trim());
}

function optionalString<T extends string | null>(
  element: Record<string, unknown>,
  name: string,
  fallback: T,
): Result<string | T> {
  const value = element[name];
  if (value === undefined || value === null) return ok(fallback);
  if (typeof value !== "string" || value.trim() === "") {
    return field(name, "must be a non-empty string");
  }
  return ok(value.trim());
}

function windowOf(
  element: Record<string, unknown>,
): Result<{ start: number; end: number; intervalMs: number }> {
  const { windowStart: start, windowEnd: end } = element;
  if (!Number.isSafeInteger(start)) {
    return field("windowStart", "must be an integer (ms)");
  }
  if (!Number.isSafeInteger(end)) {
    return field("windowEnd", "must be an integer (ms)");
  }
  if ((end as number) < (start as number)) {
    return field("windowEnd", 'must not be before "windowStart"');
  }
  const interval = element.intervalMs ?? (end as number) - (start as number);
  if (!Number.isSafeInteger(interval) || (interval as number) < 0) {
    return field("intervalMs", "must be a non-negative integer (ms)");
  }
  return ok({
    start: start as number,
    end: end as number,
    intervalMs: interval as number,
  });
}

function summaryOf(element: Record<string, unknown>): Result<Summary> {
  const nested = element.summary;
  if (nested !== undefined && !isObject(nested)) {
    return field("summary", "must be an object");
  }
  const pick = (name: string): unknown => element[name] ?? nested?.[name];
  const count = pick("count");
  if (!Number.isSafeInteger(count) || (count as number) < 0) {
    return field("count", "must be a non-negative integer");
  }
  const numbers: Partial<Record<string, number | null>> = {};
  for (const name of ["sum", "min", "max", "p50", "p95", "p99"]) {
    const value = pick(name);
    if (value === undefined || value === null) {
      if (name === "sum") return field("sum", "must be a finite number");
      numbers[name] = null;
    } else if (typeof value !== "number" || !Number.isFinite(value)) {
      return field(name, "must be a finite number");
    } else numbers[name] = value;
  }
  const buckets = bucketsOf(element.buckets ?? nested?.histogram);
  if (!buckets.ok) return buckets;
  const fallback = (count as number) > 0 ? 0 : null;
  return ok({
    count: count as number,
    sum: numbers.sum as number,
    min: numbers.min ?? fallback,
    max: numbers.max ?? fallback,
    maxGiven: numbers.max ?? null,
    p50: numbers.p50 ?? null,
    p95: numbers.p95 ?? null,
    p99: numbers.p99 ?? null,
    buckets: buckets.value,
  });
}

function bucketsOf(raw: unknown): Result<Record<string, number> | null> {
  if (raw === undefined || raw === null) return ok(null);
  if (!isObject(raw)) return field("buckets", "must be an object of counts");
  const out: Record<string, number> = {};
  const bounds = Object.keys(raw).sort((a, b) => Number(a) - Number(b));
  for (const bound of bounds) {
    const count = raw[bound];
    if (!Number.isFinite(Number(bound)) || bound.trim() === "") {
      return field("buckets", `has a bound that is not a number: "${bound}"`);
    }
    if (typeof count !== "number" || !Number.isFinite(count) || count < 0) {
      return field(`buckets.${bound}`, "must be a non-negative number");
    }
    out[bound] = count;
  }
  return ok(out);
}

/**
 * Estimates a percentile from buckets keyed by upper bound: the bound of the
 * bucket where the cumulative count reaches `q` of the total, capped at the
 * record's `max`. Null without buckets or observations.
 */
export function percentile(
  buckets: Record<string, number> | null,
  count: number,
  q: number,
  max: number | null,
): number | null {
  if (buckets === null || count === 0) return null;
  const entries = Object.entries(buckets)
    .map(([bound, n]) => [Number(bound), n] as const)
    .sort((a, b) => a[0] - b[0]);
  let total = 0;
  for (const [, n] of entries) total += n;
  if (total === 0) return null;
  const target = q * total;
  let seen = 0;
  for (const [bound, n] of entries) {
    seen += n;
    if (seen >= target) return max === null ? bound : Math.min(bound, max);
  }
  return entries[entries.length - 1][0];
}

/** Attribute values as strings (numbers, booleans spelled), keys sorted. */
function dimensionsOf(raw: unknown): Record<string, string> {
  if (!isObject(raw)) return {};
  const out: Record<string, string> = {};
  for (const key of Object.keys(raw).sort()) {
    const value = raw[key];
    if (typeof value === "string") setField(out, key, value);
    else if (typeof value === "number" && Number.isFinite(value)) {
      setField(out, key, String(value));
    } else if (typeof value === "boolean") setField(out, key, String(value));
  }
  return out;
}

/** Percent-escapes `%`, `,`, `=` and `|` so pairs and keys split cleanly. */
function escapeDimension(text: string): string {
  return text.replace(
    /[%,=|]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
