import assert from "node:assert/strict";
import { StreamError } from "../errors.ts";
import { errorResponse, respond, respondJson } from "./respond.ts";

Deno.test("errorResponse() spells stream errors with the kind as the code", async () => {
  const response = errorResponse(
    new StreamError("stream_closed", "closed", { nextPos: 5 }),
  );
  assert.equal(response.status, 409);
  assert.equal(response.headers.get("stream-closed"), "true");
  assert.deepEqual(await response.json(), {
    error: { code: "stream_closed", message: "closed" },
  });
});

Deno.test("errorResponse() spells subscription errors upper-case with their detail", async () => {
  const fenced = errorResponse(
    new StreamError("fenced", "stale", { generation: 3 }),
    "POST",
    "subscriptions",
  );
  assert.equal(fenced.status, 409);
  assert.deepEqual(await fenced.json(), {
    error: { generation: 3, code: "FENCED", message: "stale" },
  });
  const bad = errorResponse(
    new StreamError("bad_request", "no"),
    "PUT",
    "subscriptions",
  );
  assert.equal((await bad.json()).error.code, "INVALID_REQUEST");
});

Deno.test("errorResponse() sets Retry-After by kind unless the detail names one", async () => {
  const cases: [StreamError, string | null][] = [
    [new StreamError("overloaded", "busy"), "1"],
    [new StreamError("unavailable", "full disk"), "1"],
    [new StreamError("overloaded", "backlog", { retryAfterSeconds: 5 }), "5"],
    [new StreamError("subscription_limit", "full"), "1"],
    [new StreamError("bad_request", "no"), null],
  ];
  for (const [error, retryAfter] of cases) {
    for (const dialect of ["streams", "subscriptions"] as const) {
      const response = errorResponse(error, "GET", dialect);
      await response.body?.cancel();
      assert.equal(
        response.headers.get("retry-after"),
        retryAfter,
        `${error.kind} ${dialect}`,
      );
    }
  }
});

Deno.test("errorResponse() sends Allow with a 405 and no body to HEAD", async () => {
  const response = errorResponse(
    new StreamError("method_not_allowed", "no", { allow: "GET, OPTIONS" }),
    "HEAD",
  );
  assert.equal(response.status, 405);
  assert.equal(response.headers.get("allow"), "GET, OPTIONS");
  assert.equal(await response.text(), "");
});

const COMMON = [
  ["x-content-type-options", "nosniff"],
  ["cross-origin-resource-policy", "cross-origin"],
];

Deno.test("respond() gives bodiless responses of one status their own headers", () => {
  const first = respond(null, 204, { "stream-next-offset": "1" });
  const second = respond(null, 204, { "stream-closed": "true" });
  const bare = respond(null, 204);
  assert.equal(first.status, 204);
  assert.equal(first.headers.get("stream-next-offset"), "1");
  assert.equal(first.headers.get("stream-closed"), null);
  assert.equal(second.headers.get("stream-next-offset"), null);
  assert.equal(second.headers.get("stream-closed"), "true");
  assert.equal(bare.headers.get("stream-closed"), null);
  first.headers.set("x-late", "1");
  assert.equal(respond(null, 204).headers.get("x-late"), null);
  for (const response of [first, second, bare]) {
    for (const [name, value] of COMMON) {
      assert.equal(response.headers.get(name), value);
    }
  }
});

Deno.test("respond() puts the common and given headers on responses with a body", async () => {
  const bytes = respond(new Uint8Array([1, 2]), 200, {
    "content-type": "application/octet-stream",
    "etag": '"1:0:2"',
  });
  assert.equal(bytes.headers.get("content-type"), "application/octet-stream");
  assert.equal(bytes.headers.get("etag"), '"1:0:2"');
  assert.deepEqual(
    new Uint8Array(await bytes.arrayBuffer()),
    new Uint8Array([1, 2]),
  );
  const json = respondJson({ a: 1 }, 201, { "stream-next-offset": "7" });
  assert.equal(json.status, 201);
  assert.equal(json.headers.get("content-type"), "application/json");
  assert.equal(json.headers.get("cache-control"), "no-store");
  assert.equal(json.headers.get("stream-next-offset"), "7");
  const fromHeaders = respond(
    "x",
    200,
    new Headers({ "content-type": "text/x" }),
  );
  assert.equal(fromHeaders.headers.get("content-type"), "text/x");
  for (const response of [bytes, json, fromHeaders]) {
    for (const [name, value] of COMMON) {
      assert.equal(response.headers.get(name), value);
    }
  }
  assert.deepEqual(await json.json(), { a: 1 });
  await fromHeaders.body?.cancel();
});
