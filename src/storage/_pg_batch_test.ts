import assert from "node:assert/strict";
import { literal, packMessages } from "./_pg_batch.ts";

Deno.test("literal() inlines values so no text can end the literal", () => {
  assert.equal(literal(null), "NULL");
  assert.equal(literal(true), "true");
  assert.equal(literal(42), "42");
  assert.equal(literal("it's"), "'it''s'");
  assert.equal(literal("a\\b'"), " E'a\\\\b'''");
  assert.equal(literal(Uint8Array.of(0, 255, 16)), "'\\x00ff10'::bytea");
  assert.throws(() => literal(1.5), /not safe/);
  assert.throws(() => literal(2 ** 60), /not safe/);
});

Deno.test("packMessages() joins statements up to the size, in order, a long one alone", () => {
  assert.deepEqual(packMessages(["a", "b", "c"], 100), ["a;\nb;\nc"]);
  assert.deepEqual(packMessages(["aaaa", "bbbb", "cc"], 9), [
    "aaaa;\nbbbb",
    "cc",
  ]);
  assert.deepEqual(packMessages(["aaaa", "x".repeat(20), "b"], 10), [
    "aaaa",
    "x".repeat(20),
    "b",
  ]);
  assert.deepEqual(packMessages([], 10), []);
});
