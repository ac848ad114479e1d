import assert from "node:assert/strict";
import fc from "fast-check";
import { validateSearchConfig } from "../search/config.ts";
import { addToStats, emptyStats } from "../search/evaluate.ts";
import { countTokens, extractFields } from "../search/extract.ts";
import { addRawQueryStats, textFieldsOf } from "./query_stats.ts";

const checked = validateSearchConfig({
  fields: {
    a: {
      kind: "text",
      bindings: [{ version: 1, jsonPointer: "/a" }],
      analyzer: "unicode_word_v1",
    },
    b: {
      kind: "text",
      bindings: [{ version: 1, jsonPointer: "/b" }],
      analyzer: "unicode_word_v1",
    },
    k: { kind: "keyword", bindings: [{ version: 1, jsonPointer: "/k" }] },
  },
});
if (!checked.ok) throw checked.error;
const config = checked.value;

Deno.test("addRawQueryStats() gives addToStats()'s figures for the wanted tokens", () => {
  const word = fc.constantFrom(
    "db",
    "DB",
    "Straße",
    "STRASSE",
    "x1",
    "é",
    "ok",
  );
  const text = fc.array(word, { maxLength: 6 }).chain((ws) =>
    fc.constantFrom(" ", "-", "..").map((sep) => ws.join(sep))
  );
  const value = fc.oneof(text, fc.array(text, { maxLength: 3 }));
  const record = fc.record({ a: value, b: value, k: text }, {
    requiredKeys: [],
  });
  fc.assert(
    fc.property(fc.array(record, { maxLength: 8 }), (records) => {
      const wanted = new Set(["db", "straße", "x1", "é", "nope"]);
      const full = emptyStats();
      const raw = emptyStats();
      for (const r of records) {
        addToStats(full, extractFields(config, r, 1));
        addRawQueryStats(
          raw,
          extractFields(config, r, 1, false),
          textFieldsOf(config),
          wanted,
        );
      }
      assert.equal(raw.docCount, full.docCount);
      for (const [field, entry] of full.fields) {
        const got = raw.fields.get(field)!;
        assert.equal(got.tokenCount, entry.tokenCount);
        for (const token of wanted) {
          assert.equal(
            got.docFreq.get(token) ?? 0,
            entry.docFreq.get(token) ?? 0,
            `${field} ${token}`,
          );
        }
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("countTokens() counts what analyzeText() returns", () => {
  for (const text of ["", "a", " db  timeout, 12:30 ", "é日 x", "-a-b-"]) {
    assert.equal(
      countTokens(text),
      text.match(/[\p{L}\p{N}]+/gu)?.length ?? 0,
      text,
    );
  }
});
