import assert from "node:assert/strict";
import { StreamError } from "../errors.ts";
import { errorResponse } from "./respond.ts";

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
