import assert from "node:assert/strict";
import { searchBodyFromQuery } from "./search_route.ts";

const body = (query: string) => searchBodyFromQuery(new URLSearchParams(query));

Deno.test("searchBodyFromQuery() maps the GET form onto a _search body", () => {
  assert.deepEqual(
    body(
      "q=status:500&size=25&sort=ts:asc,%20offset&timeout_ms=100&coverage=published" +
        `&search_after=${encodeURIComponent('[1764583200000,"0000"]')}`,
    ),
    {
      ok: true,
      value: {
        q: "status:500",
        size: 25,
        sort: ["ts:asc", "offset"],
        timeout_ms: 100,
        coverage: "published",
        search_after: [1764583200000, "0000"],
      },
    },
  );
  // A size that is not digits stays a string, so the body check refuses it.
  const odd = body("q=x&size=ten");
  assert.ok(odd.ok && odd.value.size === "ten");
});

Deno.test("searchBodyFromQuery() refuses unknown, repeated and malformed parameters", () => {
  for (
    const [query, message] of [
      ["q=x&track_total_hits=true", /unknown parameter "track_total_hits"/],
      ["q=x&q=y", /"q" given twice/],
      ["q=x&search_after=%5B1", /search_after must be a JSON array/],
    ] as const
  ) {
    const r = body(query);
    assert.ok(!r.ok, query);
    assert.equal(r.error.kind, "bad_request");
    assert.match(r.error.message, message);
  }
});
