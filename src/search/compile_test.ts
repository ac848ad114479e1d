import assert from "node:assert/strict";
import { type SearchConfig, validateSearchConfig } from "./config.ts";
import {
  compileQuery,
  hasTextClause,
  type Plan,
  type QueryMode,
} from "./compile.ts";
import { parseQuery } from "./query.ts";
import { exampleSearch } from "./_fixtures.ts";

function config(edit?: (c: Record<string, unknown>) => void): SearchConfig {
  const raw = exampleSearch();
  edit?.(raw);
  const result = validateSearchConfig(raw);
  if (!result.ok) throw result.error;
  return result.value;
}

function compile(q: string, mode: QueryMode, c = config()) {
  const parsed = parseQuery(q);
  if (!parsed.ok) throw parsed.error;
  return compileQuery(c, parsed.value, mode);
}

function plan(q: string, mode: QueryMode, c = config()): Plan {
  const result = compile(q, mode, c);
  if (!result.ok) throw result.error;
  return result.value;
}

Deno.test("compileQuery() accepts the spec's filters with canonical values", () => {
  assert.deepEqual(plan("status:500", "filter"), {
    type: "compare",
    field: "status",
    kind: "integer",
    op: "=",
    value: 500n,
  });
  assert.deepEqual(plan("svc:API", "filter"), {
    type: "compare",
    field: "service",
    kind: "keyword",
    op: "=",
    value: "api",
  });
  assert.deepEqual(plan('ts:>="2025-12-01T10:00:00Z"', "filter"), {
    type: "compare",
    field: "ts",
    kind: "date",
    op: ">=",
    value: 1764583200000,
  });
  assert.equal(compile("status:>=500 AND -service:api", "filter").ok, true);
  assert.equal(
    compile("(service:api OR service:web) has:status", "filter").ok,
    true,
  );
});

Deno.test("compileQuery() refuses what the spec refuses (table)", () => {
  const cases: [string, QueryMode, RegExp][] = [
    ["message:timeout", "filter", /text field/],
    ["status:>abc", "filter", /not a valid integer/],
    ["nope:1", "filter", /"nope" is not indexed/],
    ["timeout", "filter", /bare term/],
    ["service:>a", "filter", /cannot be compared/],
    ["service:ap*", "filter", /prefix/],
    ["status:5*", "search", /prefix/],
    ["has:message", "filter", /has:message needs/],
    ["contains:x", "search", /contains: is not supported/],
    ['"db timeout"', "search", /needs positions/],
    ["message:>a", "search", /cannot be compared/],
    ["!!!", "search", /no searchable tokens/],
    ["has:constructor", "filter", /not indexed/],
  ];
  const noPositions = config((c) => {
    (c.fields as Record<string, Record<string, unknown>>).message.positions =
      undefined;
  });
  for (const [q, mode, message] of cases) {
    const c = q.startsWith('"db') ? noPositions : config();
    const result = compile(q, mode, c);
    assert.equal(result.ok, false, q);
    if (!result.ok) {
      assert.equal(result.error.kind, "bad_request", q);
      assert.match(result.error.message, message, q);
    }
  }
});

Deno.test("compileQuery() in search mode builds text, prefix and phrase plans", () => {
  assert.deepEqual(plan("service:ap*", "search"), {
    type: "keyword_prefix",
    field: "service",
    prefix: "ap",
  });
  const phrase = plan('"DB timeout"', "search");
  assert.deepEqual(phrase, {
    type: "text",
    targets: [{ field: "message", kind: "text", boost: 2 }],
    tokens: ["db", "timeout"],
    raw: "DB timeout",
    phrase: true,
    prefix: false,
  });
  assert.equal(hasTextClause(phrase), true);
  assert.equal(hasTextClause(plan("status:500 -has:ts", "search")), false);
  assert.equal(hasTextClause(plan("status:500 -message:x", "search")), true);
  assert.equal(compile("has:message", "search").ok, true);
  // Without defaultFields, bare terms search every text field.
  const noDefaults = config((c) => delete c.defaultFields);
  const bare = plan("time*", "search", noDefaults);
  assert.equal(bare.type, "text");
  if (bare.type === "text") {
    assert.deepEqual(bare.targets, [{
      field: "message",
      kind: "text",
      boost: 1,
    }]);
    assert.equal(bare.prefix, true);
  }
});
