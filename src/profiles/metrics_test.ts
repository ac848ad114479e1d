import assert from "node:assert/strict";
import { STATUS } from "../errors.ts";
import { metricsProfile, normalizeMetric, percentile } from "./metrics.ts";
import { normalizeBatch } from "./profile.ts";
import { planProfileInstall } from "./resource.ts";

const OPTIONS = { kind: "metrics" as const };
const BASE = {
  metric: "http.server.duration",
  unit: "ms",
  windowStart: 1_000,
  windowEnd: 11_000,
  count: 10,
  sum: 250,
};

function normalize(element: unknown): Record<string, unknown> {
  const result = normalizeMetric(element);
  if (!result.ok) throw result.error;
  return result.value;
}

Deno.test("metrics validate() takes the kind only", () => {
  assert.deepEqual(metricsProfile.validate({ kind: "metrics" }), {
    ok: true,
    value: { kind: "metrics" },
  });
  const bad = metricsProfile.validate({ kind: "metrics", x: 1 });
  assert.ok(!bad.ok);
  assert.match(bad.error.message, /"profile\.x"/);
});

Deno.test("metrics derives dimensions, series key and defaults", () => {
  const value = normalize({
    ...BASE,
    stream: "api",
    instance: "i-1",
    attributes: {
      route: "/a",
      code: 200,
      ok: true,
      nested: { x: 1 },
      gone: null,
    },
  });
  assert.deepEqual(value.attributes, { code: "200", ok: "true", route: "/a" });
  assert.deepEqual(value.dimensionPairs, ["code=200", "ok=true", "route=/a"]);
  assert.equal(value.dimensionKey, "code=200,ok=true,route=/a");
  assert.equal(
    value.seriesKey,
    "summary|delta|http.server.duration|ms|api|i-1|code=200,ok=true,route=/a",
  );
  assert.equal(value.apiVersion, "durable.streams/metrics/v1");
  assert.equal(value.kind, "interval");
  assert.equal(value.intervalMs, 10_000);
  assert.equal(value.avg, 25);
  assert.equal(value.min, 0);
  assert.equal(value.max, 0);
  assert.equal(value.p50, null);
  const result = metricsProfile.normalize(BASE, OPTIONS, { nowMs: 0 });
  assert.ok(result.ok);
  assert.equal(
    result.value[0].routingKey,
    "summary|delta|http.server.duration|ms|||",
  );
  assert.equal(
    metricsProfile.routingKey(result.value[0].value as never, OPTIONS),
    result.value[0].routingKey,
  );
});

Deno.test("metrics reads the summary from `summary`, tags as attributes, escapes separators", () => {
  const value = normalize({
    metric: "q",
    unit: "1",
    windowStart: 0,
    windowEnd: 0,
    metricKind: "gauge",
    temporality: "cumulative",
    summary: { count: 0, sum: 0 },
    tags: { "a,b": "x=y", pct: "50%" },
  });
  assert.equal(value.min, null);
  assert.equal(value.max, null);
  assert.equal(value.avg, null);
  assert.deepEqual(value.dimensionPairs, ["a%2Cb=x%3Dy", "pct=50%25"]);
  assert.equal(value.seriesKey, "gauge|cumulative|q|1|||a%2Cb=x%3Dy,pct=50%25");
});

Deno.test("metrics estimates percentiles from histogram buckets", () => {
  const value = normalize({
    ...BASE,
    count: 100,
    max: 300,
    p99: 7,
    buckets: { "10": 50, "100": 45, "1000": 5 },
  });
  assert.equal(value.p50, 10);
  assert.equal(value.p95, 100);
  assert.equal(value.p99, 7, "a given percentile wins");
  const nested = normalize({
    ...BASE,
    summary: { histogram: { "2": 1, "4": 1, "8": 2 } },
  });
  assert.equal(nested.p50, 4);
  assert.equal(nested.p99, 8);
  assert.equal(percentile({ "1000": 1 }, 1, 0.5, 300), 300, "capped at max");
  assert.equal(percentile({ "1": 0 }, 1, 0.5, null), null);
  assert.equal(percentile(null, 5, 0.5, null), null);
});

Deno.test("metrics normalization is idempotent", () => {
  const first = normalize({ ...BASE, tags: { a: 1 }, buckets: { "5": 10 } });
  assert.deepEqual(normalize(first), first);
});

Deno.test("metrics rejects bad records, naming the field and element", () => {
  const { unit: _unit, ...noUnit } = BASE;
  const { sum: _sum, ...noSum } = BASE;
  const cases: [unknown, string][] = [
    [noUnit, "unit"],
    [{ ...BASE, metric: " " }, "metric"],
    [noSum, "sum"],
    [{ ...BASE, count: -1 }, "count"],
    [{ ...BASE, count: 1.5 }, "count"],
    [{ ...BASE, windowStart: "1" }, "windowStart"],
    [{ ...BASE, windowEnd: 10 }, "windowEnd"],
    [{ ...BASE, intervalMs: -5 }, "intervalMs"],
    [{ ...BASE, kind: "gauge" }, "kind"],
    [{ ...BASE, min: "x" }, "min"],
    [{ ...BASE, buckets: { abc: 1 } }, "buckets"],
    [{ ...BASE, buckets: { "1": -1 } }, "buckets.1"],
    [{ ...BASE, summary: 3 }, "summary"],
    [{ ...BASE, stream: 3 }, "stream"],
  ];
  for (const [element, name] of cases) {
    const result = normalizeBatch(metricsProfile, OPTIONS, [
      BASE,
      BASE,
      element,
    ], {
      nowMs: 0,
    });
    assert.ok(!result.ok, name);
    assert.equal(STATUS[result.error.kind], 400);
    assert.match(
      result.error.message,
      new RegExp(`^Element 2: "${name.replace(".", "\\.")}"`),
    );
    assert.equal(result.error.detail?.field, name);
    assert.equal(result.error.detail?.index, 2);
  }
  const notObject = normalizeBatch(metricsProfile, OPTIONS, [7], { nowMs: 0 });
  assert.ok(!notObject.ok);
  assert.match(notObject.error.message, /^Element 0: .*JSON object/);
});

Deno.test("installing metrics needs an empty stream and declares the mblk family", () => {
  const generic = { kind: "generic" as const };
  const busy = planProfileInstall(
    { contentType: "application/json", empty: false, current: generic },
    OPTIONS,
  );
  assert.ok(!busy.ok);
  assert.equal(busy.error.kind, "profile_conflict");
  const fresh = planProfileInstall(
    { contentType: "application/json", empty: true, current: generic },
    OPTIONS,
  );
  assert.ok(fresh.ok);
  assert.deepEqual(fresh.value.registry?.indexFamilies, ["mblk"]);
  assert.deepEqual(fresh.value.registry?.routingKey, {
    jsonPointer: "/seriesKey",
    required: true,
  });
});
