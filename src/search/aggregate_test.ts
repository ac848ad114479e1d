import assert from "node:assert/strict";
import fc from "fast-check";
import { type SearchConfig, validateSearchConfig } from "./config.ts";
import {
  aggregate,
  type AggregateBucket,
  type AggregateRequest,
  log2Bucket,
  parseAggregateRequest,
} from "./aggregate.ts";
import { extractFields } from "./extract.ts";
import { exampleSearch } from "./_fixtures.ts";

function config(): SearchConfig {
  const raw = exampleSearch() as {
    fields: Record<string, Record<string, unknown>>;
    rollups: {
      requests: { measures: Record<string, unknown>; dimensions: string[] };
    };
  };
  raw.fields.latency = {
    kind: "float",
    bindings: [{ version: 1, jsonPointer: "/latency" }],
    aggregatable: true,
  };
  raw.rollups.requests.dimensions = ["service", "status"];
  raw.rollups.requests.measures.lat = {
    kind: "summary",
    field: "latency",
    histogram: "log2_v1",
  };
  raw.rollups.requests.measures.parts = {
    kind: "summary_parts",
    countJsonPointer: "/p/count",
    sumJsonPointer: "/p/sum",
    minJsonPointer: "/p/min",
    maxJsonPointer: "/p/max",
    histogramJsonPointer: "/p/hist",
  };
  const result = validateSearchConfig(raw);
  if (!result.ok) throw result.error;
  return result.value;
}
const CONFIG = config();
const T0 = Date.UTC(2026, 11, 1, 10); // 2026-12-01T10:00:00Z

function request(body: Record<string, unknown>): AggregateRequest {
  const result = parseAggregateRequest(CONFIG, body);
  if (!result.ok) throw result.error;
  return result.value;
}

function run(
  req: AggregateRequest,
  records: Record<string, unknown>[],
): AggregateBucket[] {
  const inputs = records.map((r) => ({
    doc: extractFields(CONFIG, r, 1),
    record: r,
  }));
  const result = aggregate(CONFIG, req, inputs);
  if (!result.ok) throw result.error;
  return result.value;
}

Deno.test("parseAggregateRequest() checks the spec's rules (table)", () => {
  const base = {
    rollup: "requests",
    from: "2026-12-01T10:00:00Z",
    to: "2026-12-01T11:00:00Z",
    interval: "1m",
  };
  const req = request({
    ...base,
    q: "service:api",
    group_by: ["service"],
    measures: ["n", "errors"],
  });
  assert.equal(req.fromMs, T0);
  assert.equal(req.toMs, T0 + 3_600_000);
  assert.equal(req.intervalMs, 60_000);
  assert.deepEqual(req.groupBy, ["service"]);
  assert.equal(request({ ...base, from: T0 }).fromMs, T0);
  assert.deepEqual(request(base).measures, ["n", "errors", "lat", "parts"]);
  assert.deepEqual(request(base).groupBy, []);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...base, from: "1764583200000" }, /from/],
    [{ ...base, to: base.from }, /after/],
    [{ ...base, interval: "7m" }, /interval/],
    [{ ...base, rollup: "nope" }, /unknown rollup/],
    [{ ...base, rollup: "constructor" }, /unknown rollup/],
    [{ ...base, group_by: ["message"] }, /group_by\[0\]/],
    [{ ...base, group_by: ["service", "service"] }, /group_by\[1\]/],
    [{ ...base, measures: [] }, /measures is empty/],
    [{ ...base, measures: ["x"] }, /measures\[0\]/],
    [{ ...base, q: "status:>=" }, /position/],
    [{ ...base, q: "nope:1" }, /not indexed/],
    [{ ...base, extra: 1 }, /unknown field/],
    [{ ...base, from: T0 - 30 * 86_400_000 }, /too many buckets/],
  ];
  for (const [body, message] of cases) {
    const result = parseAggregateRequest(CONFIG, body);
    assert.equal(result.ok, false, JSON.stringify(body));
    if (!result.ok) {
      assert.match(result.error.message, message, JSON.stringify(body));
    }
  }
  // 10,000 one-minute windows are allowed, one more is not.
  assert.equal(
    parseAggregateRequest(CONFIG, { ...base, from: T0, to: T0 + 600_000_000 })
      .ok,
    true,
  );
  assert.equal(
    parseAggregateRequest(CONFIG, { ...base, from: T0, to: T0 + 600_000_001 })
      .ok,
    false,
  );
});

Deno.test("aggregate() folds counts per aligned bucket and group (spec §4)", () => {
  const records = [
    { ts: T0 + 1_000, service: "api", status: 500, latency: 3 },
    { ts: T0 + 59_999, service: "API", status: 200, latency: 10 },
    { ts: T0 + 60_000, service: "web", status: 503 },
    { ts: T0 + 61_000, service: "api", status: 200, latency: [1, 2] },
    { ts: T0 - 1, service: "api", status: 500 }, // before from
    { ts: T0 + 3_600_000, service: "api", status: 500 }, // at to (excluded)
    { ts: [T0, T0 + 1], service: "api", status: 500 }, // two timestamps
    { ts: T0 + 2_000, service: ["api", "web"], status: 500 }, // two services
    { ts: T0 + 2_000, status: 500 }, // missing service → null key
  ];
  const req = request({
    rollup: "requests",
    from: T0,
    to: T0 + 3_600_000,
    interval: "1m",
    group_by: ["service"],
    measures: ["n", "errors", "lat"],
  });
  const buckets = run(req, records);
  assert.deepEqual(buckets.map((b) => [b.startMs - T0, b.endMs - T0]), [[
    0,
    60_000,
  ], [60_000, 120_000]]);
  const first = buckets[0].groups;
  assert.deepEqual(first.map((g) => g.key), [{ service: "api" }, {
    service: null,
  }]);
  assert.deepEqual(first[0].measures.n, { count: 2 });
  assert.deepEqual(first[0].measures.errors, { count: 1 });
  assert.deepEqual(first[0].measures.lat, {
    count: 2,
    sum: 13,
    min: 3,
    max: 10,
    avg: 6.5,
    p50: 2,
    p95: 8,
    p99: 8,
    histogram: { "2": 1, "8": 1 },
  });
  // A multi-valued summary field skips only that measure; the record still counts.
  const second = buckets[1].groups;
  assert.deepEqual(
    second.map((
      g,
    ) => [g.key.service, g.measures.n.count, g.measures.lat.count]),
    [
      ["api", 1, 0],
      ["web", 1, 0],
    ],
  );
  assert.equal(second[0].measures.lat.min, null);
  assert.equal(second[0].measures.lat.p50, null);
});

Deno.test("aggregate() applies q and merges summary_parts", () => {
  const records = [
    {
      ts: T0,
      service: "api",
      p: { count: 3, sum: 30, min: 5, max: 15, hist: { "4": 1, "8": 2 } },
    },
    {
      ts: T0 + 5,
      service: "api",
      p: { count: 1, sum: 100, min: 100, max: 100, hist: { "64": 1 } },
    },
    { ts: T0 + 9, service: "web", p: { count: 1, sum: 1, min: 1, max: 1 } },
    { ts: T0 + 9, service: "api", p: { count: "x", sum: 1, min: 1, max: 1 } },
  ];
  const req = request({
    rollup: "requests",
    from: T0,
    to: T0 + 60_000,
    interval: "1m",
    q: "service:api",
    measures: ["n", "parts"],
  });
  const [bucket] = run(req, records);
  assert.equal(bucket.groups.length, 1);
  assert.deepEqual(bucket.groups[0].key, {});
  assert.deepEqual(bucket.groups[0].measures.n, { count: 3 });
  assert.deepEqual(bucket.groups[0].measures.parts, {
    count: 4,
    sum: 130,
    min: 5,
    max: 100,
    avg: 32.5,
    p50: 8,
    p95: 64,
    p99: 64,
    histogram: { "4": 1, "8": 2, "64": 1 },
  });
});

Deno.test("log2Bucket() maps to the power of two below |x|, at least 1", () => {
  const cases: [number, number][] = [
    [0, 1],
    [0.5, 1],
    [-3, 2],
    [1, 1],
    [7, 4],
    [8, 8],
    [1023, 512],
    [2 ** 40, 2 ** 40],
  ];
  for (const [x, want] of cases) assert.equal(log2Bucket(x), want, String(x));
  fc.assert(fc.property(fc.double({ min: 1, max: 1e15, noNaN: true }), (x) => {
    const b = log2Bucket(x);
    return b <= x && x < 2 * b && Number.isInteger(Math.log2(b));
  }));
});

// ---- a brute-force fold to compare with ------------------------------------

interface Row {
  ts: number;
  service?: string;
  status: number;
  latency?: number;
}

function bruteForce(rows: Row[], from: number, to: number, width: number) {
  const out = new Map<string, { n: number; errors: number; lat: number[] }>();
  for (const row of rows) {
    if (row.ts < from || row.ts >= to) continue;
    if (row.status === 404) continue; // q: -status:404
    const start = row.ts - (((row.ts % width) + width) % width);
    const key = `${start}|${row.service?.toLowerCase() ?? "~null"}`;
    const entry = out.get(key) ?? { n: 0, errors: 0, lat: [] };
    entry.n++;
    if (row.status >= 500) entry.errors++;
    if (row.latency !== undefined) entry.lat.push(row.latency);
    out.set(key, entry);
  }
  return [...out.entries()].sort(([a], [b]) => {
    const [sa, ka] = a.split("|");
    const [sb, kb] = b.split("|");
    return Number(sa) - Number(sb) || (ka < kb ? -1 : ka > kb ? 1 : 0);
  });
}

/** The value at rank `ceil(p * n)` (at least 1) of ascending `sorted`. */
function rankOf(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.max(1, Math.ceil(sorted.length * p)) - 1];
}

Deno.test("aggregate() equals a brute-force fold (property)", () => {
  const row = fc.record({
    ts: fc.integer({ min: T0 - 100_000, max: T0 + 400_000 }),
    service: fc.option(fc.constantFrom("api", "Web", "db"), { nil: undefined }),
    status: fc.constantFrom(200, 404, 500, 503),
    latency: fc.option(fc.integer({ min: -5, max: 5000 }), { nil: undefined }),
  }, { requiredKeys: ["ts", "status"] });
  fc.assert(
    fc.property(
      fc.array(row, { maxLength: 40 }),
      fc.constantFrom("1m", "1h"),
      (rows, interval) => {
        const req = request({
          rollup: "requests",
          from: T0,
          to: T0 + 300_000,
          interval,
          q: "-status:404",
          group_by: ["service"],
          measures: ["n", "errors", "lat"],
        });
        const buckets = run(req, rows as unknown as Record<string, unknown>[]);
        const got = buckets.flatMap((b) =>
          b.groups.map((g) => ({
            start: b.startMs,
            service: g.key.service,
            n: g.measures.n.count,
            errors: g.measures.errors.count,
            latCount: g.measures.lat.count,
            latSum: g.measures.lat.sum,
            latMax: g.measures.lat.max,
            p50: g.measures.lat.p50,
            p95: g.measures.lat.p95,
            p99: g.measures.lat.p99,
            // Keys in output (JSON) order, with their counts.
            histogram: Object.entries(g.measures.lat.histogram!),
          }))
        );
        const want = bruteForce(rows, T0, T0 + 300_000, req.intervalMs).map(
          ([key, e]) => {
            const [start, service] = key.split("|");
            const sorted = [...e.lat].sort((a, b) => a - b).map(log2Bucket)
              .sort((a, b) => a - b);
            return {
              start: Number(start),
              service: service === "~null" ? null : service,
              n: e.n,
              errors: e.errors,
              latCount: e.lat.length,
              latSum: e.lat.reduce((s, x) => s + x, 0),
              latMax: e.lat.length === 0 ? null : Math.max(...e.lat),
              p50: rankOf(sorted, 0.5),
              p95: rankOf(sorted, 0.95),
              p99: rankOf(sorted, 0.99),
              histogram: [...new Set(sorted)].map((
                bound,
              ) => [String(bound), sorted.filter((x) => x === bound).length]),
            };
          },
        );
        assert.deepEqual(got, want);
      },
    ),
    { numRuns: 200 },
  );
});
