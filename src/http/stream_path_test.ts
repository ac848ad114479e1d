import assert from "node:assert/strict";
import { StreamError } from "../errors.ts";
import {
  parseStreamPath,
  reservedNameProblem,
  streamUrlPath,
} from "./stream_path.ts";

/** The name of a plain stream path, or its error. */
function streamName(raw: string, bytesMax: number): string | StreamError {
  const target = parseStreamPath(raw, bytesMax);
  if (target instanceof StreamError) return target;
  assert.equal(target.sub, undefined, raw);
  return target.name;
}

Deno.test("parseStreamPath() decodes and accepts nested names", () => {
  assert.equal(streamName("a/b%20c", 100), "a/b c");
  assert.equal(streamName("%E2%9C%93", 100), "✓");
});

Deno.test("parseStreamPath() rejects empty, dot segments, control characters, bad escapes, long names and __ds", () => {
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

Deno.test("parseStreamPath() counts the name's UTF-8 bytes", () => {
  assert.equal(streamName("é".repeat(5), 10), "é".repeat(5));
  assert.ok(streamName("é".repeat(6), 10) instanceof StreamError);
  assert.equal(streamName("😀😀", 8), "😀😀");
  assert.ok(streamName("😀😀a", 8) instanceof StreamError);
  assert.ok(streamName("%F0%9F%98%80".repeat(3), 11) instanceof StreamError);
});

Deno.test("parseStreamPath() recognises subresources from the end", () => {
  const cases: [string, string, string | undefined, string][] = [
    ["a/_details", "a", "_details", ""],
    ["a/b/_schema", "a/b", "_schema", ""],
    ["a/pk/k1", "a", "pk", "k1"],
    ["a/touch/meta", "a", "touch/meta", ""],
    ["a/touch/wait", "a", "touch/wait", ""],
    ["a/touch/templates/activate", "a", "touch/templates/activate", ""],
    ["a/_otlp/v1/traces", "a", "_otlp/v1/traces", ""],
    // A `_` last segment wins over pk/{key}: the name's own subresources stay reachable.
    ["a/pk/_details", "a/pk", "_details", ""],
    ["a/pk/pk/k", "a/pk", "pk", "k"],
    ["a/_x/b", "a/_x/b", undefined, ""],
    ["a/touch", "a/touch", undefined, ""],
    ["a/templates/activate", "a/templates/activate", undefined, ""],
    ["a/pk", "a/pk", undefined, ""],
    ["_details", "", "_details", ""],
  ];
  for (const [raw, name, sub, key] of cases) {
    assert.deepEqual(parseStreamPath(raw, 100), { name, sub, key }, raw);
  }
});

Deno.test("parseStreamPath() decodes the name and the key separately", () => {
  assert.deepEqual(parseStreamPath("a%2Fb/pk/x%2Fy%20z", 100), {
    name: "a/b",
    sub: "pk",
    key: "x/y z",
  });
  assert.deepEqual(parseStreamPath("a/%5Fdetails", 100), {
    name: "a",
    sub: "_details",
    key: "",
  });
  // An encoded slash never forms a subresource: it stays inside its segment.
  assert.deepEqual(parseStreamPath("a/touch%2Fmeta", 100), {
    name: "a/touch/meta",
    sub: undefined,
    key: "",
  });
  assert.ok(parseStreamPath("a/pk/%E0%A4%A", 100) instanceof StreamError);
});

Deno.test("reservedNameProblem() reserves every name that parses as a subresource", () => {
  for (
    const name of [
      "_x",
      "a/_details",
      "a/_schema",
      "a/pk/b",
      "pk/b",
      "a/touch/meta",
      "touch/wait",
      "a/touch/templates/activate",
      "a/_otlp/v1/traces",
    ]
  ) {
    const problem = reservedNameProblem(name);
    assert.equal(problem?.kind, "bad_request", name);
  }
  for (const name of ["a", "a/_b/c", "a/pk", "a/touch", "x_", "a/v1/traces"]) {
    assert.equal(reservedNameProblem(name), undefined, name);
  }
});

Deno.test("streamUrlPath() encodes each segment", () => {
  assert.equal(streamUrlPath("a b/c?d"), "/v1/stream/a%20b/c%3Fd");
});
