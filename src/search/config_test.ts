// The cases edit untyped JSON in place, as clients send it.
// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import {
  intervalMs,
  isJsonPointer,
  nextSearchPlan,
  resolveFieldName,
  type SearchConfig,
  searchConfigHash,
  validateSearchConfig,
} from "./config.ts";
import { exampleSearch } from "./_fixtures.ts";

function valid(input: unknown): SearchConfig {
  const result = validateSearchConfig(input);
  if (!result.ok) throw result.error;
  return result.value;
}

/** Applies `edit` to a copy of the example and returns the failing path. */
function pathOf(edit: (c: Record<string, any>) => void): string {
  const config = exampleSearch() as Record<string, any>;
  edit(config);
  const result = validateSearchConfig(config);
  assert.equal(result.ok, false, "expected a validation failure");
  if (result.ok) return "";
  assert.equal(result.error.kind, "bad_request");
  assert.match(result.error.message, /^Invalid search config at /);
  return result.error.detail?.path as string;
}

Deno.test("validateSearchConfig() accepts the spec's example", () => {
  const config = valid(exampleSearch());
  assert.equal(config.primaryTimestampField, "ts");
  assert.deepEqual(config.defaultFields, [{ field: "message", boost: 2 }]);
  assert.equal(config.rollups?.requests.timestampField, "ts");
  assert.equal(resolveFieldName(config, "svc"), "service");
  assert.equal(resolveFieldName(config, "status"), "status");
  assert.equal(resolveFieldName(config, "constructor"), undefined);
  assert.equal(resolveFieldName(config, "nope"), undefined);
});

Deno.test("validateSearchConfig() names the offending path (table)", () => {
  const cases: [string, (c: Record<string, any>) => void][] = [
    ["search.extra", (c) => (c.extra = 1)],
    ["search.fields", (c) => delete c.fields],
    ["search.fields.bad name", (c) => (c.fields["bad name"] = c.fields.ts)],
    ["search.fields._x", (c) => (c.fields["_x"] = c.fields.ts)],
    [
      "search.fields." + "a".repeat(65),
      (c) => (c.fields["a".repeat(65)] = c.fields.ts),
    ],
    ["search.fields.ts.kind", (c) => (c.fields.ts.kind = "time")],
    ["search.fields.ts.colour", (c) => (c.fields.ts.colour = true)],
    ["search.fields.ts.bindings", (c) => (c.fields.ts.bindings = [])],
    [
      "search.fields.ts.bindings[0].version",
      (c) => (c.fields.ts.bindings[0].version = 0),
    ],
    [
      "search.fields.ts.bindings[0].version",
      (c) => (c.fields.ts.bindings[0].version = 1.5),
    ],
    [
      "search.fields.ts.bindings[0].jsonPointer",
      (c) => (c.fields.ts.bindings[0].jsonPointer = "ts"),
    ],
    [
      "search.fields.ts.bindings[0].jsonPointer",
      (c) => (c.fields.ts.bindings[0].jsonPointer = "/a~2"),
    ],
    [
      "search.fields.message.bindings[1].version",
      (c) => (c.fields.message.bindings[1].version = 1),
    ],
    ["search.fields.ts.exact", (c) => (c.fields.ts.exact = "yes")],
    ["search.fields.message.analyzer", (c) => delete c.fields.message.analyzer],
    [
      "search.fields.message.analyzer",
      (c) => (c.fields.message.analyzer = "english"),
    ],
    ["search.fields.message.column", (c) => (c.fields.message.column = true)],
    [
      "search.fields.message.sortable",
      (c) => (c.fields.message.sortable = false),
    ],
    [
      "search.fields.message.aggregatable",
      (c) => (c.fields.message.aggregatable = true),
    ],
    [
      "search.fields.status.positions",
      (c) => (c.fields.status.positions = true),
    ],
    [
      "search.fields.service.analyzer",
      (c) => (c.fields.service.analyzer = "unicode_word_v1"),
    ],
    ["search.fields.status.prefix", (c) => (c.fields.status.prefix = true)],
    ["search.fields.status.contains", (c) => (c.fields.status.contains = true)],
    [
      "search.fields.status.normalizer",
      (c) => (c.fields.status.normalizer = "lowercase_v1"),
    ],
    [
      "search.fields.service.normalizer",
      (c) => (c.fields.service.normalizer = "upper"),
    ],
    [
      "search.primaryTimestampField",
      (c) => (c.primaryTimestampField = "status"),
    ],
    ["search.primaryTimestampField", (c) => (c.primaryTimestampField = "nope")],
    [
      "search.primaryTimestampField",
      (c) => (c.primaryTimestampField = "constructor"),
    ],
    ["search.aliases.svc", (c) => (c.aliases.svc = "nope")],
    ["search.aliases.status", (c) => (c.aliases.status = "service")],
    ["search.aliases.-x", (c) => (c.aliases["-x"] = "service")],
    [
      "search.defaultFields[0].field",
      (c) => (c.defaultFields[0].field = "nope"),
    ],
    ["search.defaultFields[0].boost", (c) => (c.defaultFields[0].boost = 0)],
    ["search.defaultFields[0].boost", (c) => (c.defaultFields[0].boost = "2")],
    [
      "search.defaultFields[1].field",
      (c) => c.defaultFields.push({ field: "message" }),
    ],
    [
      "search.rollups.requests.timestampField",
      (c) => (c.rollups.requests.timestampField = "status"),
    ],
    [
      "search.rollups.requests.timestampField",
      (c) => delete c.primaryTimestampField,
    ],
    [
      "search.rollups.requests.dimensions[0]",
      (c) => (c.rollups.requests.dimensions = ["message"]),
    ],
    [
      "search.rollups.requests.dimensions[1]",
      (c) => c.rollups.requests.dimensions.push("service"),
    ],
    [
      "search.rollups.requests.intervals",
      (c) => (c.rollups.requests.intervals = []),
    ],
    [
      "search.rollups.requests.intervals[0]",
      (c) => (c.rollups.requests.intervals = ["0m"]),
    ],
    [
      "search.rollups.requests.intervals[0]",
      (c) => (c.rollups.requests.intervals = ["1w"]),
    ],
    [
      "search.rollups.requests.intervals[1]",
      (c) => (c.rollups.requests.intervals = ["1m", "1m"]),
    ],
    [
      "search.rollups.requests.measures",
      (c) => (c.rollups.requests.measures = {}),
    ],
    [
      "search.rollups.requests.measures.n.kind",
      (c) => (c.rollups.requests.measures.n.kind = "sum"),
    ],
    [
      "search.rollups.requests.measures.errors.include",
      (c) => (c.rollups.requests.measures.errors.include = " "),
    ],
    [
      "search.rollups.requests.measures.errors.include",
      (c) => (c.rollups.requests.measures.errors.include = "status:>="),
    ],
    [
      "search.rollups.requests.measures.errors.include",
      (c) => (c.rollups.requests.measures.errors.include = "message:x"),
    ],
    [
      "search.rollups.requests.measures.lat.field",
      (
        c,
      ) => (c.rollups.requests.measures.lat = {
        kind: "summary",
        field: "status",
      }),
    ],
    ["search.rollups.requests.measures.lat.histogram", (c) => {
      c.fields.status.aggregatable = true;
      c.rollups.requests.measures.lat = {
        kind: "summary",
        field: "status",
        histogram: "log10",
      };
    }],
    [
      "search.rollups.requests.measures.p.sumJsonPointer",
      (c) => (c.rollups.requests.measures.p = {
        kind: "summary_parts",
        countJsonPointer: "/c",
        sumJsonPointer: "s",
        minJsonPointer: "/m",
        maxJsonPointer: "/x",
      }),
    ],
  ];
  for (const [path, edit] of cases) assert.equal(pathOf(edit), path, path);
});

Deno.test("validateSearchConfig() enforces the limits", () => {
  const many = (n: number) =>
    Object.fromEntries(
      Array.from({ length: n }, (_, i) => [`f${i}`, {
        kind: "keyword",
        bindings: [{ version: 1, jsonPointer: `/f${i}` }],
        exact: true,
      }]),
    );
  assert.equal(validateSearchConfig({ fields: many(128) }).ok, true);
  assert.equal(
    pathOf((c) => (c.fields = { ...c.fields, ...many(125) })),
    "search.fields",
  );
  const bindings = (n: number) =>
    Array.from(
      { length: n },
      (_, i) => ({ version: i + 1, jsonPointer: "/ts" }),
    );
  assert.equal(
    pathOf((c) => (c.fields.ts.bindings = bindings(1025))),
    "search.fields.ts.bindings",
  );
  assert.equal(
    validateSearchConfig({ ...exampleSearch(), rollups: undefined }).ok,
    true,
  );
  const rollup = {
    dimensions: [],
    intervals: ["1m"],
    measures: { n: { kind: "count" } },
  };
  const rollups = (n: number) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`r${i}`, rollup]));
  assert.equal(pathOf((c) => (c.rollups = rollups(17))), "search.rollups");
  assert.equal(
    validateSearchConfig({ ...exampleSearch(), rollups: rollups(16) }).ok,
    true,
  );
  assert.equal(
    pathOf((
      c,
    ) => (c.rollups.requests.intervals = [
      "1m",
      "2m",
      "3m",
      "4m",
      "5m",
      "6m",
      "7m",
      "8m",
      "9m",
    ])),
    "search.rollups.requests.intervals",
  );
  assert.equal(
    pathOf((c) => (c.rollups.requests.measures = Object.fromEntries(
      Array.from({ length: 17 }, (_, i) => [`m${i}`, { kind: "count" }]),
    ))),
    "search.rollups.requests.measures",
  );
  assert.equal(
    pathOf((
      c,
    ) => (c.rollups.requests.dimensions = Array.from(
      { length: 9 },
      (_, i) => `d${i}`,
    ))),
    "search.rollups.requests.dimensions",
  );
});

Deno.test("validateSearchConfig() accepts summary measures and contains", () => {
  const c = exampleSearch() as Record<string, any>;
  c.fields.status.aggregatable = true;
  c.fields.service.contains = true;
  c.rollups.requests.measures.lat = {
    kind: "summary",
    field: "status",
    histogram: "log2_v1",
  };
  c.rollups.requests.measures.p = {
    kind: "summary_parts",
    countJsonPointer: "/c",
    sumJsonPointer: "/s",
    minJsonPointer: "/m",
    maxJsonPointer: "/x",
    histogramJsonPointer: "/h",
  };
  const config = valid(c);
  assert.equal(config.rollups?.requests.measures.lat.kind, "summary");
});

Deno.test("intervalMs() and isJsonPointer()", () => {
  assert.equal(intervalMs("1m"), 60_000);
  assert.equal(intervalMs("250ms"), 250);
  assert.equal(intervalMs("2d"), 172_800_000);
  assert.equal(intervalMs("0s"), undefined);
  assert.equal(intervalMs("1.5m"), undefined);
  assert.equal(intervalMs("m"), undefined);
  assert.equal(isJsonPointer(""), true);
  assert.equal(isJsonPointer("/a~0b~1c"), true);
  assert.equal(isJsonPointer("/a~"), false);
  assert.equal(isJsonPointer("a"), false);
});

Deno.test("nextSearchPlan() bumps the generation only when the config changes", () => {
  const config = valid(exampleSearch());
  const first = nextSearchPlan(undefined, config);
  assert.equal(first.generation, 1);
  assert.match(first.hash, /^[0-9a-f]{16}$/);
  // Key order does not matter; content does.
  const reverse = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(reverse)
      : typeof v === "object" && v !== null
      ? Object.fromEntries(
        Object.entries(v).reverse().map(([k, x]) => [k, reverse(x)]),
      )
      : v;
  const reordered = valid(reverse(exampleSearch()));
  assert.equal(searchConfigHash(reordered), searchConfigHash(config));
  assert.deepEqual(nextSearchPlan(first, config), first);
  const changed = exampleSearch() as Record<string, any>;
  changed.fields.status.exists = true;
  const second = nextSearchPlan(first, valid(changed));
  assert.equal(second.generation, 2);
  assert.notEqual(second.hash, first.hash);
});
