import assert from "node:assert/strict";
import { StreamError } from "../errors.ts";
import { streamName } from "./handler.ts";

Deno.test("streamName() decodes and accepts nested names", () => {
  assert.equal(streamName("a/b%20c", 100), "a/b c");
  assert.equal(streamName("%E2%9C%93", 100), "✓");
});

Deno.test("streamName() rejects empty, dot segments, control characters, bad escapes, long names and __ds", () => {
  for (
    const raw of [
      "",
      "a/../b",
      "./a",
      "a/.",
      "a%00b",
      "a%0Ab",
      "%E0%A4%A",
      "x".repeat(11),
      "__ds/subscriptions/x",
    ]
  ) {
    const result = streamName(raw, 10);
    assert.ok(result instanceof StreamError, raw);
  }
  assert.equal((streamName("__ds/x", 100) as StreamError).kind, "not_found");
  assert.equal((streamName("", 100) as StreamError).kind, "bad_request");
});
