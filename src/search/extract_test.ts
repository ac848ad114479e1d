import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type SearchConfig,
  type SearchField,
  validateSearchConfig,
} from "./config.ts";
import {
  analyzeText,
  analyzeUnicode,
  bindingFor,
  canonicalize,
  extractFields,
  parseRfc3339,
  resolvePointer,
} from "./extract.ts";
import { exampleSearch } from "./_fixtures.ts";

function config(): SearchConfig {
  const result = validateSearchConfig(exampleSearch());
  if (!result.ok) throw result.error;
  return result.value;
}

const field = (
  kind: SearchField["kind"],
  extra: Partial<SearchField> = {},
): SearchField => ({
  kind,
  bindings: [{ version: 1, jsonPointer: "/x" }],
  ...extra,
});

Deno.test("bindingFor() picks the largest binding version ≤ the record's version", () => {
  const bindings = [{ version: 2, jsonPointer: "/b" }, {
    version: 5,
    jsonPointer: "/c",
  }];
  assert.equal(bindingFor(bindings, 1), undefined);
  assert.equal(bindingFor(bindings, 2)?.jsonPointer, "/b");
  assert.equal(bindingFor(bindings, 4)?.jsonPointer, "/b");
  assert.equal(bindingFor(bindings, 9)?.jsonPointer, "/c");
});

Deno.test("resolvePointer() follows RFC 6901", () => {
  const doc = { "a/b": { "m~n": [10, 20] }, "": 1, arr: [{ k: "v" }] };
  assert.equal(resolvePointer(doc, ""), doc);
  assert.equal(resolvePointer(doc, "/"), 1);
  assert.deepEqual(resolvePointer(doc, "/a~1b/m~0n"), [10, 20]);
  assert.equal(resolvePointer(doc, "/a~1b/m~0n/1"), 20);
  assert.equal(resolvePointer(doc, "/arr/0/k"), "v");
  assert.equal(resolvePointer(doc, "/arr/01/k"), undefined);
  assert.equal(resolvePointer(doc, "/arr/-"), undefined);
  assert.equal(resolvePointer(doc, "/toString"), undefined);
  assert.equal(resolvePointer(doc, "/a~1b/m~0n/0/deeper"), undefined);
});

Deno.test("analyzeText() keeps lower-cased runs of letters and digits", () => {
  assert.deepEqual(analyzeText("DB timeout: 504 (retry #3)"), [
    "db",
    "timeout",
    "504",
    "retry",
    "3",
  ]);
  assert.deepEqual(analyzeText("Grüße, 東京 café_42"), [
    "grüße",
    "東京",
    "café",
    "42",
  ]);
  assert.deepEqual(analyzeText("  ...  "), []);
});

Deno.test("canonicalize() follows the kind table (spec §1.1)", () => {
  const cases: [SearchField, unknown, unknown][] = [
    [field("keyword"), "Api", "Api"],
    [field("keyword", { normalizer: "lowercase_v1" }), "Api", "api"],
    [field("keyword"), 5, undefined],
    [field("text"), "Hello", "Hello"],
    [field("integer"), 500, 500n],
    [field("integer"), "-42", -42n],
    [field("integer"), "12345678901234567890", 12345678901234567890n],
    [field("integer"), 1.5, undefined],
    [field("integer"), "1.0", undefined],
    [field("float"), 1.5, 1.5],
    [field("float"), "-2.5e3", -2500],
    [field("float"), "abc", undefined],
    [field("float"), "Infinity", undefined],
    [field("date"), 1764583200000, 1764583200000],
    [field("date"), "1764583200000", 1764583200000],
    [field("date"), "2024", 2024],
    [field("date"), "2025-12-01T10:00:00Z", 1764583200000],
    [field("date"), "2025-12-01T11:00:00.5+01:00", 1764583200500],
    [field("date"), "2025-02-30T00:00:00Z", undefined],
    [field("date"), "2025-12-01", undefined],
    [field("date"), 1.5, undefined],
    [field("bool"), true, true],
    [field("bool"), "FALSE", false],
    [field("bool"), "yes", undefined],
    [field("bool"), 1, undefined],
  ];
  for (const [f, raw, want] of cases) {
    assert.deepEqual(
      canonicalize(f, raw),
      want,
      `${f.kind} ${JSON.stringify(String(raw))}`,
    );
  }
});

Deno.test("parseRfc3339() agrees with Date for valid UTC timestamps (property)", () => {
  fc.assert(
    fc.property(
      fc.date({
        min: new Date(0),
        max: new Date(253402300799000),
        noInvalidDate: true,
      }),
      (date) => parseRfc3339(date.toISOString()) === date.getTime(),
    ),
  );
});

Deno.test("parseRfc3339() reads toISOString's shape as the general rule does (property)", () => {
  // The same instant written with a "+00:00" zone takes the general path.
  const general = (text: string) => parseRfc3339(`${text.slice(0, 23)}+00:00`);
  const digits = (n: number, max: number) =>
    fc.integer({ min: 0, max }).map((v) => String(v).padStart(n, "0"));
  const text = fc.tuple(
    digits(4, 9999),
    digits(2, 19),
    digits(2, 39),
    digits(2, 29),
    digits(2, 69),
    digits(2, 69),
    digits(3, 999),
  ).map(([y, mo, d, h, mi, s, ms]) => `${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`);
  fc.assert(
    fc.property(text, (t) => parseRfc3339(t) === general(t)),
    { numRuns: 2000 },
  );
  for (
    const t of [
      "2026-02-29T00:00:00.000Z", // not a leap year
      "2024-02-29T00:00:00.000Z",
      "2026-12-01T24:00:00.000Z",
      "2026-12-31T23:59:60.500Z", // a leap second reads as :59
      "2026-13-01T00:00:00.000Z",
      "2026-1a-01T00:00:00.000Z",
    ]
  ) {
    assert.equal(parseRfc3339(t), general(t), t);
  }
  assert.equal(parseRfc3339("2026-02-29T00:00:00.000Z"), undefined);
  assert.equal(
    parseRfc3339("2026-12-31T23:59:60.500Z"),
    Date.UTC(2026, 11, 31, 23, 59, 59, 500),
  );
});

Deno.test("extractFields() uses the binding of the stored version", () => {
  const c = config();
  const v1 = extractFields(c, {
    ts: "2025-12-01T10:00:00Z",
    service: "API",
    status: 500,
    msg: "DB timeout",
  }, 1);
  assert.deepEqual(v1.values.get("ts"), [1764583200000]);
  assert.deepEqual(v1.values.get("service"), ["api"]);
  assert.deepEqual(v1.values.get("status"), [500n]);
  assert.deepEqual(v1.values.get("message"), ["DB timeout"]);
  assert.deepEqual(v1.tokens.get("message"), [["db", "timeout"]]);
  // Version 2 reads /message, so /msg is ignored.
  const v2 = extractFields(c, { msg: "old", message: "new text" }, 2);
  assert.deepEqual(v2.tokens.get("message"), [["new", "text"]]);
  assert.equal(v2.values.has("status"), false);
});

Deno.test("extractFields() flattens arrays and drops null and bad values", () => {
  const c = config();
  const doc = extractFields(c, {
    service: ["A", null, 3, "b"],
    status: null,
    msg: ["x y", "z"],
  }, 1);
  assert.deepEqual(doc.values.get("service"), ["a", "b"]);
  assert.equal(doc.values.has("status"), false);
  assert.deepEqual(doc.tokens.get("message"), [["x", "y"], ["z"]]);
  assert.equal(
    extractFields(c, { status: "abc" }, 1).values.has("status"),
    false,
  );
});

Deno.test("extractFields() gives non-object records no fields", () => {
  const c = config();
  for (const record of [null, 5, "text", [1, 2], true]) {
    assert.equal(extractFields(c, record, 1).values.size, 0);
  }
});

Deno.test("analyzeText() equals the Unicode regex rule on ASCII and mixed text", () => {
  const chars = fc.constantFrom(
    ..."aZ09 -_.,:;!?'\"\t\n/()[]{}é日ß".split(""),
  );
  fc.assert(
    fc.property(fc.array(chars, { maxLength: 60 }), (parts) => {
      const text = parts.join("");
      assert.deepEqual(analyzeText(text), analyzeUnicode(text));
    }),
    { numRuns: 500 },
  );
  assert.deepEqual(analyzeText("DB Timeout, at 12:30"), [
    "db",
    "timeout",
    "at",
    "12",
    "30",
  ]);
});
