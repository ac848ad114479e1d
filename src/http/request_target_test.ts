import assert from "node:assert/strict";
import fc from "fast-check";
import { requestTarget } from "./request_target.ts";

Deno.test("requestTarget() refuses malformed authorities", () => {
  for (const host of ["a b", "x:99999", "[::1", "a%zz", "h:1:2", "", "u@h"]) {
    assert.equal(requestTarget(`http://${host}/v1/stream/x`), undefined, host);
  }
  for (const host of ["ok", "ok:80", "[::1]:4437", "127.0.0.1:1", "a_b"]) {
    assert.deepEqual(requestTarget(`http://${host}/v1/stream/x?a=1`), {
      path: "/v1/stream/x",
      query: "a=1",
    });
  }
});

Deno.test("requestTarget() splits path, query and fragment", () => {
  assert.deepEqual(requestTarget("http://h/a%20b?x=1?y#f"), {
    path: "/a%20b",
    query: "x=1?y",
  });
  assert.deepEqual(requestTarget("http://h/a#f?x"), { path: "/a", query: "" });
  assert.deepEqual(requestTarget("http://h"), { path: "", query: "" });
  // Dot segments and backslashes are resolved as the URL parser does.
  assert.deepEqual(requestTarget("http://h/v1/stream/a/../b?q"), {
    path: "/v1/stream/b",
    query: "q",
  });
  assert.deepEqual(requestTarget("http://h/v1/stream/a\\b"), {
    path: "/v1/stream/a/b",
    query: "",
  });
});

// Characters the URL parser leaves as they are in a path and a query, plus
// the ones that make it rewrite a path (".", "\\") or cut it ("?", "#").
const TARGET_CHARS = [
  ..."abcXYZ019-_~!$&()*+,;=:@%/.?#\\",
];

Deno.test("requestTarget() agrees with the URL parser", () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(...TARGET_CHARS), { maxLength: 40 }),
      (chars) => {
        const url = `http://example.test:8080/${chars.join("")}`;
        const u = new URL(url);
        assert.deepEqual(requestTarget(url), {
          path: u.pathname,
          query: u.search.slice(1),
        });
      },
    ),
    { numRuns: 2000 },
  );
});
