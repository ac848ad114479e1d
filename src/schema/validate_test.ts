import assert from "node:assert/strict";
import fc from "fast-check";
import {
  cachedValidatorCount,
  compileSchema,
  isStrictDateTime,
  textHash,
  validateElements,
  VALIDATOR_CACHE_ENTRIES_MAX,
} from "./validate.ts";

Deno.test("isStrictDateTime() takes RFC 3339 with T and seconds only", () => {
  for (
    const good of [
      "2026-12-01T10:00:00Z",
      "2026-12-01T10:00:00.5+01:00",
      "2026-12-01T10:00:00.123456789-23:59",
      "2024-02-29T23:59:60Z",
    ]
  ) assert.equal(isStrictDateTime(good), true, good);
  for (
    const bad of [
      "2026-12-01 10:00:00",
      "2026-12-01T10:00Z",
      "2026-12-01T10:00:00",
      "2026-12-01t10:00:00Z",
      "2026-12-01T10:00:00.1234567890Z",
      "2025-02-29T10:00:00Z",
      "2026-13-01T10:00:00Z",
      "2026-12-01T24:00:00Z",
      "2026-12-01T10:00:00+24:00",
    ]
  ) assert.equal(isStrictDateTime(bad), false, bad);
});

Deno.test("isStrictDateTime() takes a day exactly when the calendar has it (property)", () => {
  const pad = (n: number, width: number) => String(n).padStart(width, "0");
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 31 }),
      (year, month, day) => {
        const date = new Date(0);
        date.setUTCFullYear(year, month - 1, day);
        const exists = date.getUTCDate() === day;
        const text = `${pad(year, 4)}-${pad(month, 2)}-${
          pad(day, 2)
        }T00:00:00Z`;
        assert.equal(isStrictDateTime(text), exists, text);
      },
    ),
    { numRuns: 3000 },
  );
});

Deno.test("compileSchema() applies the strict date-time format", () => {
  const schema = compileSchema({ type: "string", format: "date-time" });
  assert.ok(schema.ok);
  assert.equal(schema.value.check("2026-12-01T10:00:00.5+01:00"), undefined);
  assert.match(schema.value.check("2026-12-01 10:00:00")!, /date-time/);
});

Deno.test("compileSchema() accepts fragment $ref and refuses any other", () => {
  const local = compileSchema({
    $defs: { x: { type: "string" } },
    type: "object",
    properties: { a: { $ref: "#/$defs/x" } },
  });
  assert.ok(local.ok);
  assert.notEqual(local.value.check({ a: 1 }), undefined);
  assert.equal(local.value.check({ a: "s" }), undefined);
  for (const ref of ["http://example.com/s.json", "other.json#/x", "/abs"]) {
    const remote = compileSchema({ properties: { a: { $ref: ref } } });
    assert.equal(remote.ok, false);
    if (!remote.ok) assert.equal(remote.error.kind, "schema_invalid");
  }
});

Deno.test("compileSchema() reports what Ajv cannot compile", () => {
  const bad = compileSchema({ type: "object", required: "id" });
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.match(bad.error.message, /^Invalid schema: /);
  assert.equal(compileSchema([1]).ok, false);
});

Deno.test("validateElements() names the first invalid element", () => {
  const schema = compileSchema({ type: "object", required: ["id"] });
  assert.ok(schema.ok);
  assert.ok(validateElements(schema.value, [{ id: 1 }, { id: 2 }]).ok);
  const result = validateElements(schema.value, [{ id: "a" }, { x: 1 }]);
  assert.equal(result.ok, false);
  if (!result.ok) {
    assert.equal(result.error.kind, "validation_failed");
    assert.equal(
      result.error.message,
      "Schema validation failed: element 1: must have required property 'id'",
    );
  }
});

Deno.test("compileSchema() caches by content and stays bounded", () => {
  const a = compileSchema({ type: "object", title: "cache-a" });
  const b = compileSchema({ title: "cache-a", type: "object" });
  const c = compileSchema({ type: "object", title: "cache-a" });
  assert.ok(a.ok && b.ok && c.ok);
  assert.equal(a.value, c.value);
  assert.notEqual(a.value.hash, b.value.hash);
  for (let i = 0; i < VALIDATOR_CACHE_ENTRIES_MAX + 10; i++) {
    assert.ok(compileSchema({ type: "integer", minimum: i }).ok);
  }
  assert.equal(cachedValidatorCount(), VALIDATOR_CACHE_ENTRIES_MAX);
  assert.notEqual(textHash("ab"), textHash("ba"));
});

Deno.test("compileSchema() keeps schemas that share an $id apart", () => {
  const a = compileSchema({
    $id: "https://example.com/s.json",
    type: "object",
  });
  const b = compileSchema({
    $id: "https://example.com/s.json",
    type: "string",
  });
  assert.ok(a.ok && b.ok);
  assert.equal(a.value.check({}), undefined);
  assert.notEqual(a.value.check("x"), undefined);
  assert.equal(b.value.check("x"), undefined);
});

Deno.test("compileSchema() ignores $schema", () => {
  for (
    const uri of [
      "https://json-schema.org/draft/2020-12/schema",
      "http://json-schema.org/draft-04/schema#",
    ]
  ) {
    const schema = compileSchema({ $schema: uri, type: "object" });
    assert.ok(schema.ok, uri);
    assert.notEqual(schema.value.check(1), undefined);
  }
});
