import assert from "node:assert/strict";
import { STATUS } from "../errors.ts";
import {
  GENERIC_OPTIONS,
  isJsonContentType,
  parseProfileRequest,
  planProfileInstall,
  PROFILE_API_VERSION,
  profileResource,
} from "./resource.ts";
import { normalizeBatch } from "./profile.ts";
import { genericProfile } from "./generic.ts";

Deno.test("parseProfileRequest() refuses malformed bodies with 400", () => {
  const cases: [unknown, RegExp][] = [
    [{ foo: 1 }, /Unknown key "foo"/],
    [{ profile: { kind: "nope" } }, /Unsupported profile kind "nope".*generic/],
    [{ profile: {} }, /Unsupported profile kind null/],
    [{ profile: { kind: "generic", a: 1 } }, /Unknown key "profile\.a"/],
    [{ apiVersion: "v0", profile: { kind: "generic" } }, /apiVersion/],
    [{}, /needs a "profile"/],
    [{ profile: [] }, /"profile" must be an object/],
    [[], /must be a JSON object/],
    [null, /must be a JSON object/],
  ];
  for (const [body, message] of cases) {
    const result = parseProfileRequest(body);
    assert.equal(result.ok, false, JSON.stringify(body));
    if (result.ok) continue;
    assert.equal(result.error.kind, "bad_request");
    assert.equal(STATUS[result.error.kind], 400);
    assert.match(result.error.message, message);
  }
});

Deno.test("an unknown kind lists every supported kind", () => {
  const result = parseProfileRequest({ profile: { kind: "nope" } });
  assert.ok(!result.ok);
  assert.match(
    result.error.message,
    /supported kinds: evlog, generic, metrics, otel-traces, state-protocol$/,
  );
  assert.deepEqual(result.error.detail?.supported, [
    "evlog",
    "generic",
    "metrics",
    "otel-traces",
    "state-protocol",
  ]);
});

Deno.test("parseProfileRequest() accepts generic with or without apiVersion", () => {
  for (
    const body of [
      { profile: { kind: "generic" } },
      { apiVersion: PROFILE_API_VERSION, profile: { kind: "generic" } },
    ]
  ) {
    const result = parseProfileRequest(body);
    assert.ok(result.ok);
    assert.deepEqual(result.value, { kind: "generic" });
  }
  assert.deepEqual(profileResource(GENERIC_OPTIONS), {
    apiVersion: "durable.streams/profile/v1",
    profile: { kind: "generic" },
  });
});

Deno.test("planProfileInstall() answers 404 for a missing stream", () => {
  const result = planProfileInstall(null, GENERIC_OPTIONS);
  assert.ok(!result.ok);
  assert.equal(STATUS[result.error.kind], 404);
});

Deno.test("planProfileInstall() lets generic onto any content type, keeping the registry", () => {
  const result = planProfileInstall(
    {
      contentType: "application/octet-stream",
      empty: false,
      current: GENERIC_OPTIONS,
    },
    GENERIC_OPTIONS,
  );
  assert.ok(result.ok);
  assert.equal(result.value.registry, null);
  assert.equal(result.value.deleteTouchState, false);
});

Deno.test("isJsonContentType() ignores parameters and case", () => {
  assert.ok(isJsonContentType("application/json"));
  assert.ok(isJsonContentType("Application/JSON; charset=utf-8"));
  assert.ok(!isJsonContentType("application/jsonl"));
  assert.ok(!isJsonContentType("text/plain"));
});

Deno.test("normalizeBatch() stores generic elements unchanged", () => {
  const result = normalizeBatch(genericProfile, { kind: "generic" }, [1, {
    a: 2,
  }], {
    nowMs: 0,
  });
  assert.ok(result.ok);
  assert.deepEqual(result.value, [
    { value: 1, routingKey: null },
    { value: { a: 2 }, routingKey: null },
  ]);
});
