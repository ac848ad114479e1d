import assert from "node:assert/strict";
import fc from "fast-check";
import { compileQuery } from "../search/compile.ts";
import { validateSearchConfig } from "../search/config.ts";
import { matches } from "../search/evaluate.ts";
import { extractFields } from "../search/extract.ts";
import { parseQuery } from "../search/query.ts";
import { mayContain, requiredTokens } from "./text_prefilter.ts";

const checked = validateSearchConfig({
  defaultFields: [{ field: "message" }, { field: "tag" }],
  fields: {
    message: {
      kind: "text",
      bindings: [{ version: 1, jsonPointer: "/message" }],
      analyzer: "unicode_word_v1",
      positions: true,
    },
    tag: {
      kind: "keyword",
      bindings: [{ version: 1, jsonPointer: "/tag" }],
      normalizer: "lowercase_v1",
      exact: true,
      prefix: true,
    },
  },
});
if (!checked.ok) throw checked.error;
const config = checked.value;

function plan(q: string) {
  const parsed = parseQuery(q);
  if (!parsed.ok) throw parsed.error;
  const compiled = compileQuery(config, parsed.value, "search");
  if (!compiled.ok) throw compiled.error;
  return compiled.value;
}

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("requiredTokens(): AND collects text tokens, OR and NOT require none", () => {
  assert.deepEqual(requiredTokens(plan("db timeout")), ["db", "timeout"]);
  assert.deepEqual(requiredTokens(plan('"DB timeout"')), ["db", "timeout"]);
  assert.deepEqual(requiredTokens(plan("db OR timeout")), []);
  assert.deepEqual(requiredTokens(plan("db -timeout")), ["db"]);
  assert.deepEqual(requiredTokens(plan("tag:ap*")), []);
  assert.deepEqual(requiredTokens(plan("time*")), ["time"]);
});

Deno.test("mayContain() never rules out a record that matches", () => {
  const word = fc.constantFrom("db", "DB", "Timeout", "time", "é", "x-y", "ok");
  const text = fc.array(word, { maxLength: 5 }).chain((ws) =>
    fc.constantFrom(" ", "\n", '"', ",").map((sep) => ws.join(sep))
  );
  const escaped = fc.boolean();
  const query = fc.constantFrom(
    "db timeout",
    '"db timeout"',
    "timeout",
    "time*",
    "tag:db",
    "tag:x*",
    "ok db",
    "é",
  );
  fc.assert(
    fc.property(text, text, escaped, query, (message, tag, esc, q) => {
      const record = { message, tag };
      let json = JSON.stringify(record);
      // A client may escape any character; the check must let those pass.
      if (esc) json = json.replace("o", "\\u006f");
      const value = JSON.parse(json);
      const p = plan(q);
      if (matches(config, p, extractFields(config, value, 1))) {
        assert.ok(mayContain(enc(json + ","), requiredTokens(p)), json);
      }
    }),
    { numRuns: 2000 },
  );
  assert.equal(
    mayContain(enc('{"message":"all fine"},'), requiredTokens(plan("db"))),
    false,
  );
});
