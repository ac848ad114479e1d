import assert from "node:assert/strict";
import fc from "fast-check";
import {
  QUERY_CHARS_MAX,
  QUERY_CLAUSES_MAX,
  QUERY_DEPTH_MAX,
} from "../limits.ts";
import {
  isQueryWord,
  parseQuery,
  printQuery,
  type QueryNode,
} from "./query.ts";

function parse(text: string): QueryNode {
  const result = parseQuery(text);
  if (!result.ok) throw result.error;
  return result.value;
}

function errorOf(text: string): { message: string; position: number } {
  const result = parseQuery(text);
  assert.equal(result.ok, false, `expected ${JSON.stringify(text)} to fail`);
  if (result.ok) throw new Error("unreachable");
  assert.equal(result.error.kind, "bad_request");
  return {
    message: result.error.message,
    position: result.error.detail?.position as number,
  };
}

const f = (
  field: string,
  value: string,
  op: "=" | ">" | ">=" | "<" | "<=" = "=",
  more = {},
) => ({
  type: "field" as const,
  field,
  op,
  value,
  quoted: false,
  prefix: false,
  ...more,
});
const term = (value: string, more = {}) => ({
  type: "term" as const,
  value,
  quoted: false,
  prefix: false,
  ...more,
});

Deno.test("parseQuery() reads the spec's examples (table)", () => {
  const cases: [string, QueryNode][] = [
    ["status:500", f("status", "500")],
    ["status:=500", f("status", "500")],
    ["status:>=500 AND -service:api", {
      type: "and",
      children: [f("status", "500", ">="), {
        type: "not",
        child: f("service", "api"),
      }],
    }],
    ["(service:api OR service:web) has:status", {
      type: "and",
      children: [
        { type: "or", children: [f("service", "api"), f("service", "web")] },
        { type: "has", field: "status" },
      ],
    }],
    [
      'ts:>="2026-12-01T00:00:00Z"',
      f("ts", "2026-12-01T00:00:00Z", ">=", { quoted: true }),
    ],
    ['n:"-5"', f("n", "-5", "=", { quoted: true })],
    ["service:ap*", f("service", "ap", "=", { prefix: true })],
    ["db timeout", { type: "and", children: [term("db"), term("timeout")] }],
    ['"db timeout"', term("db timeout", { quoted: true })],
    ["time*", term("time", { prefix: true })],
    ["a or b and not c", {
      type: "or",
      children: [term("a"), {
        type: "and",
        children: [term("b"), { type: "not", child: term("c") }],
      }],
    }],
    ["x:<3 y:<=4 z:>5", {
      type: "and",
      children: [f("x", "3", "<"), f("y", "4", "<="), f("z", "5", ">")],
    }],
    [
      'm:"say \\"hi\\" \\\\ ok"',
      f("m", 'say "hi" \\ ok', "=", { quoted: true }),
    ],
    ["HAS:status", { type: "has", field: "status" }],
    ["and:1", f("and", "1")],
    ["--a", { type: "not", child: { type: "not", child: term("a") } }],
    ["a-b", term("a-b")],
  ];
  for (const [text, want] of cases) assert.deepEqual(parse(text), want, text);
});

Deno.test("parseQuery() reports the position of each error (table)", () => {
  const cases: [string, number, RegExp][] = [
    ["", 0, /empty query/],
    ["   ", 0, /empty query/],
    ["(status:500", 11, /expected \)/],
    ["status:500)", 10, /unexpected "\)"/],
    ["status:", 7, /expected a value/],
    ["status:>", 8, /expected a value/],
    ['msg:"open', 4, /unterminated/],
    ["a AND", 5, /end of query/],
    ["a OR OR b", 5, /unexpected "OR"/],
    ["and x", 0, /unexpected "and"/],
    ["x AND OR", 6, /unexpected "OR"/],
    ["has:", 4, /field name/],
    ["has:(", 4, /field name/],
    [":x", 0, /unexpected ":"/],
    ["a > b", 2, /unexpected ">"/],
    ["f:*", 2, /bad prefix/],
    ["f:>a*", 3, /cannot be compared/],
    ['"a\\', 2, /backslash/],
    ["-", 1, /end of query/],
  ];
  for (const [text, position, message] of cases) {
    const error = errorOf(text);
    assert.equal(error.position, position, text);
    assert.match(error.message, message, text);
    assert.match(error.message, new RegExp(`position ${position}|empty`), text);
  }
});

Deno.test("parseQuery() bounds length, depth and clauses", () => {
  assert.match(errorOf("a".repeat(QUERY_CHARS_MAX + 1)).message, /longer than/);
  assert.equal(parseQuery("a".repeat(QUERY_CHARS_MAX)).ok, true);
  const nested = (n: number) => "(".repeat(n) + "a" + ")".repeat(n);
  assert.equal(parseQuery(nested(QUERY_DEPTH_MAX)).ok, true);
  assert.match(errorOf(nested(QUERY_DEPTH_MAX + 1)).message, /nested deeper/);
  assert.match(
    errorOf("-".repeat(QUERY_DEPTH_MAX + 1) + "a").message,
    /nested deeper/,
  );
  const clauses = (n: number) =>
    Array.from({ length: n }, (_, i) => `f:${i}`).join(" ");
  assert.equal(parseQuery(clauses(QUERY_CLAUSES_MAX)).ok, true);
  assert.match(errorOf(clauses(QUERY_CLAUSES_MAX + 1)).message, /more than/);
});

const wordChars = fc.constantFrom(..."abcXYZ019_.-*é".split(""));
const word = fc.string({ unit: wordChars, minLength: 1, maxLength: 6 }).filter(
  isQueryWord,
);
const anyValue = fc.string({
  unit: fc.constantFrom(...'ab -:()"\\*<>= é'.split("")),
  maxLength: 6,
});
const fieldName = fc.string({
  unit: fc.constantFrom(..."abc_.1".split("")),
  minLength: 1,
  maxLength: 4,
})
  .filter((s) => !["and", "or", "not", "has"].includes(s.toLowerCase()));

const valueParts = fc.oneof(
  fc.record({
    value: anyValue,
    quoted: fc.constant(true),
    prefix: fc.constant(false),
  }),
  fc.record({ value: word, quoted: fc.constant(false), prefix: fc.boolean() }),
);

const { node: queryNode } = fc.letrec<{ node: QueryNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({ type: fc.constant("has" as const), field: fieldName }),
    fc.tuple(
      fieldName,
      fc.constantFrom("=", ">", ">=", "<", "<=" as const),
      valueParts,
    ).map((
      [field, op, v],
    ): QueryNode => ({
      type: "field",
      field,
      op,
      ...v,
      prefix: op === "=" && v.prefix,
    })),
    valueParts.map((v): QueryNode => ({ type: "term", ...v })),
    tie("node").map((child): QueryNode => ({ type: "not", child })),
    fc.tuple(
      fc.constantFrom("and" as const, "or" as const),
      fc.array(tie("node"), { minLength: 2, maxLength: 3 }),
    )
      .map(([type, children]): QueryNode => ({ type, children })),
  ),
}));

Deno.test("printQuery() output parses back to the same AST (property)", () => {
  fc.assert(
    fc.property(queryNode, (node) => {
      const text = printQuery(node);
      const again = parseQuery(text);
      if (!again.ok) return false; // may exceed a limit only when huge
      assert.deepEqual(again.value, JSON.parse(JSON.stringify(node)), text);
      return true;
    }),
    { numRuns: 300 },
  );
});

Deno.test("parse(print(parse(q))) equals parse(q) for random query text (property)", () => {
  const text = fc.string({
    unit: fc.constantFrom(...'ab:fs()"\\- *<>=ANDORNOThas '.split("")),
    maxLength: 24,
  });
  let parsed = 0;
  fc.assert(
    fc.property(text, (q) => {
      const first = parseQuery(q);
      if (!first.ok) return true;
      parsed++;
      const second = parseQuery(printQuery(first.value));
      assert.equal(second.ok, true, printQuery(first.value));
      if (second.ok) assert.deepEqual(second.value, first.value, q);
      return true;
    }),
    { numRuns: 1000 },
  );
  assert.ok(parsed > 100, `only ${parsed} random queries parsed`);
});
