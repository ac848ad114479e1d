import assert from "node:assert/strict";
import { type SearchConfig, validateSearchConfig } from "./config.ts";
import { extractFields } from "./extract.ts";
import {
  fieldsToJson,
  parseSearchRequest,
  SEARCH_SIZE_DEFAULT,
} from "./search_request.ts";
import { exampleSearch } from "./_fixtures.ts";

function config(): SearchConfig {
  const result = validateSearchConfig(exampleSearch());
  if (!result.ok) throw result.error;
  return result.value;
}
const CONFIG = config();

Deno.test("parseSearchRequest() applies the defaults of spec §3", () => {
  const result = parseSearchRequest(CONFIG, { q: "db timeout" });
  assert.equal(result.ok, true);
  if (!result.ok) return;
  assert.equal(result.value.size, SEARCH_SIZE_DEFAULT);
  assert.equal(result.value.timeoutMs, 3000);
  assert.equal(result.value.coverage, "complete");
  assert.equal(result.value.after, undefined);
  assert.deepEqual(result.value.keys.map((k) => `${k.key}:${k.order}`), [
    "_score:desc",
    "ts:desc",
    "offset:desc",
  ]);
  const paged = parseSearchRequest(CONFIG, {
    q: "status:500",
    size: 10,
    sort: ["ts:asc"],
    search_after: ["2025-12-01T10:00:00Z", "0000000000000000_0000000000000007"],
    timeout_ms: 99_999,
    coverage: "published",
  });
  assert.equal(paged.ok, true);
  if (!paged.ok) return;
  assert.deepEqual(paged.value.after, [
    1764583200000,
    "0000000000000000_0000000000000007",
  ]);
  assert.equal(paged.value.timeoutMs, 3000);
  assert.equal(paged.value.coverage, "published");
});

Deno.test("parseSearchRequest() refuses the spec's bad requests (table)", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ q: "x", size: 0 }, /size/],
    [{ q: "x", size: 501 }, /size/],
    [{ q: "x", size: 1.5 }, /size/],
    [{ q: "x", track_total_hits: true }, /track_total_hits/],
    [{ q: "x", sort: ["message"] }, /not sortable/],
    [{ q: "x", sort: "ts" }, /sort must be an array/],
    [{ q: "" }, /non-empty/],
    [{}, /non-empty/],
    [{ q: "status:5*" }, /prefix/],
    [{ q: "(x" }, /position 2/],
    [{ q: "x", timeout_ms: -1 }, /timeout_ms/],
    [{ q: "x", coverage: "all" }, /coverage/],
    [{ q: "x", search_after: [1] }, /search_after/],
    [{ q: "x", from: 0 }, /unknown field "from"/],
  ];
  for (const [body, message] of cases) {
    const result = parseSearchRequest(CONFIG, body);
    assert.equal(result.ok, false, JSON.stringify(body));
    if (!result.ok) {
      assert.equal(result.error.kind, "bad_request");
      assert.match(result.error.message, message, JSON.stringify(body));
    }
  }
});

Deno.test("fieldsToJson() gives scalars for one value, arrays for several", () => {
  const doc = extractFields(CONFIG, {
    ts: 5,
    service: ["A", "b"],
    status: "12345678901234567890",
    message: "Hi",
  }, 2);
  assert.deepEqual(fieldsToJson(doc), {
    ts: 5,
    service: ["a", "b"],
    status: "12345678901234567890",
    message: "Hi",
  });
  assert.deepEqual(fieldsToJson(extractFields(CONFIG, { status: 500 }, 1)), {
    status: 500,
  });
});
