import assert from "node:assert/strict";
import { type EvlogOptions, evlogProfile } from "./evlog.ts";
import { normalizeBatch } from "./profile.ts";
import { parseProfileRequest, planProfileInstall } from "./resource.ts";
import { isRfc3339, parseTraceparent } from "./_json.ts";
import { STATUS } from "../errors.ts";

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

function options(raw: Record<string, unknown> = {}): EvlogOptions {
  const result = evlogProfile.validate({ kind: "evlog", ...raw });
  if (!result.ok) throw result.error;
  return result.value;
}

function normalize(element: unknown, opts = options()) {
  const result = evlogProfile.normalize(element, opts, { nowMs: NOW });
  if (!result.ok) throw result.error;
  assert.equal(result.value.length, 1);
  return result.value[0];
}

Deno.test("evlog validate() fills defaults and rejects unknown or bad options", () => {
  assert.deepEqual(options(), {
    kind: "evlog",
    redactKeys: [],
    correlation: {
      requestIdFields: ["requestId", "context.requestId"],
      traceContextFields: {
        traceId: ["traceId", "traceContext.traceId"],
        spanId: ["spanId", "traceContext.spanId"],
      },
      parseTraceparent: true,
    },
  });
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ extra: 1 }, /"profile\.extra"/],
    [{ redactKeys: "x" }, /profile\.redactKeys/],
    [{ redactKeys: [""] }, /profile\.redactKeys/],
    [{ redactKeys: Array(65).fill("k") }, /at most 64/],
    [{ correlation: { nope: 1 } }, /"profile\.correlation\.nope"/],
    [{ correlation: { parseTraceparent: "yes" } }, /parseTraceparent/],
    [
      { correlation: { traceContextFields: { traceId: [1] } } },
      /traceContextFields\.traceId/,
    ],
    [{ observability: { request: { tracesStream: "" } } }, /tracesStream/],
  ];
  for (const [raw, message] of bad) {
    const result = evlogProfile.validate({ kind: "evlog", ...raw });
    assert.ok(!result.ok, JSON.stringify(raw));
    assert.equal(result.error.kind, "bad_request");
    assert.match(result.error.message, message);
  }
  assert.deepEqual(
    options({ observability: { request: { tracesStream: "t" } } })
      .observability,
    { request: { tracesStream: "t" } },
  );
});

Deno.test("evlog normalizes the spec's example: level, redaction, routing key", () => {
  const record = normalize({
    message: "hi",
    status: 503,
    requestId: "r1",
    password: "p",
    user: { token: "t" },
  });
  const value = record.value as Record<string, unknown>;
  assert.deepEqual(Object.keys(value), [
    "timestamp",
    "level",
    "service",
    "environment",
    "version",
    "region",
    "requestId",
    "traceId",
    "spanId",
    "method",
    "path",
    "status",
    "duration",
    "message",
    "why",
    "fix",
    "link",
    "sampling",
    "redaction",
    "context",
  ]);
  assert.equal(value.level, "error");
  assert.equal(value.timestamp, "2026-01-02T03:04:05.000Z");
  assert.deepEqual(value.context, {
    password: "[REDACTED]",
    user: { token: "[REDACTED]" },
  });
  assert.deepEqual(value.redaction, {
    keys: ["context.password", "context.user.token"],
  });
  assert.equal(record.routingKey, "r1");
});

Deno.test("evlog derives the level from status and guidance fields", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{}, "info"],
    [{ status: 404 }, "warn"],
    [{ status: "500" }, "error"],
    [{ why: "disk full" }, "error"],
    [{ level: "DEBUG", status: 500 }, "debug"],
    [{ level: "loud", status: 200 }, "info"],
  ];
  for (const [input, level] of cases) {
    assert.equal(
      (normalize(input).value as Record<string, unknown>).level,
      level,
      JSON.stringify(input),
    );
  }
});

Deno.test("evlog trims strings, coerces status and duration, keeps a given timestamp", () => {
  const value = normalize({
    timestamp: "2025-06-01T10:00:00+02:00",
    service: "  api ",
    environment: "",
    status: "201",
    duration: "12",
    method: "GET",
    context: { requestId: "r9", cart: 3 },
    sampling: { rate: 0.5 },
  }).value as Record<string, unknown>;
  assert.equal(value.timestamp, "2025-06-01T10:00:00+02:00");
  assert.equal(value.service, "api");
  assert.equal(value.environment, null);
  assert.equal(value.status, 201);
  assert.equal(value.duration, null);
  assert.equal(value.requestId, "r9");
  assert.deepEqual(value.sampling, { rate: 0.5 });
  assert.deepEqual(value.context, { requestId: "r9", cart: 3 });
});

Deno.test("evlog takes trace ids from fields, then from a traceparent", () => {
  const parent = `00-${TRACE}-${SPAN}-01`;
  const fromHeader = normalize({ headers: { traceparent: parent } });
  const value = fromHeader.value as Record<string, unknown>;
  assert.equal(value.traceId, TRACE);
  assert.equal(value.spanId, SPAN);
  assert.equal(fromHeader.routingKey, TRACE);

  const fields = normalize({
    traceContext: { traceId: "t-1", traceparent: parent },
  }).value as Record<string, unknown>;
  assert.equal(fields.traceId, "t-1");
  assert.equal(fields.spanId, SPAN);

  const off = normalize(
    { traceparent: parent },
    options({ correlation: { parseTraceparent: false } }),
  );
  assert.equal((off.value as Record<string, unknown>).traceId, null);
  assert.equal(off.routingKey, null);

  const zero = normalize({ traceparent: `00-${"0".repeat(32)}-${SPAN}-01` });
  assert.equal((zero.value as Record<string, unknown>).traceId, null);
});

Deno.test("parseTraceparent() accepts W3C headers only", () => {
  assert.deepEqual(parseTraceparent(`00-${TRACE.toUpperCase()}-${SPAN}-01`), {
    traceId: TRACE,
    spanId: SPAN,
  });
  for (
    const bad of [
      `ff-${TRACE}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-01-extra`,
      `00-${TRACE}-${"0".repeat(16)}-01`,
      `00-${TRACE.slice(1)}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-1`,
      "garbage",
      42,
    ]
  ) {
    assert.equal(parseTraceparent(bad), null, String(bad));
  }
  assert.deepEqual(parseTraceparent(`01-${TRACE}-${SPAN}-01-future`), {
    traceId: TRACE,
    spanId: SPAN,
  });
});

Deno.test("evlog redacts built-in and configured keys at any depth, arrays included", () => {
  const opts = options({ redactKeys: ["SSN"] });
  const value = normalize({
    requestId: "r",
    items: [{ Authorization: "b" }, { ok: 1 }],
    ssn: "123",
    context: { deep: { cookie: "c", apiKey: "k" } },
    password: "top",
  }, opts).value as Record<string, unknown>;
  assert.deepEqual(value.context, {
    deep: { cookie: "[REDACTED]", apiKey: "[REDACTED]" },
    items: [{ Authorization: "[REDACTED]" }, { ok: 1 }],
    ssn: "[REDACTED]",
    password: "[REDACTED]",
  });
  assert.deepEqual((value.redaction as { keys: string[] }).keys, [
    "context.deep.cookie",
    "context.deep.apiKey",
    "context.items.0.Authorization",
    "context.ssn",
    "context.password",
  ]);
  // Reserved envelope fields are never redacted.
  const reserved = normalize({ message: "token" }).value as Record<
    string,
    unknown
  >;
  assert.equal(reserved.message, "token");
});

Deno.test("evlog normalization is idempotent", () => {
  const first = normalize({
    requestId: "r1",
    status: 500,
    token: "x",
    headers: { traceparent: `00-${TRACE}-${SPAN}-01` },
  });
  const second = normalize(first.value);
  assert.deepEqual(second, first);
});

Deno.test("evlog rejects bad elements, naming the element index", () => {
  const bad: [unknown, RegExp][] = [
    [[1], /must be a JSON object/],
    ["text", /must be a JSON object/],
    [{ timestamp: "yesterday" }, /"timestamp" must be an RFC 3339/],
    [{ timestamp: 17 }, /"timestamp"/],
    [{ timestamp: "2025-02-30T00:00:00Z" }, /"timestamp"/],
  ];
  for (const [element, message] of bad) {
    const result = normalizeBatch(evlogProfile, options(), [{}, element], {
      nowMs: NOW,
    });
    assert.ok(!result.ok);
    assert.equal(STATUS[result.error.kind], 400);
    assert.match(result.error.message, /^Element 1: /);
    assert.match(result.error.message, message);
    assert.equal(result.error.detail?.index, 1);
  }
  let nested: unknown = { leaf: 1 };
  for (let i = 0; i < 100; i++) nested = { n: nested };
  const deep = evlogProfile.normalize({ n: nested }, options(), { nowMs: NOW });
  assert.ok(!deep.ok);
  assert.match(deep.error.message, /nests too deeply/);
});

Deno.test("isRfc3339() checks shape and calendar", () => {
  assert.ok(isRfc3339("2024-02-29T23:59:59.123Z"));
  assert.ok(isRfc3339("2024-02-29 23:59:59-05:00"));
  assert.ok(!isRfc3339("2023-02-29T00:00:00Z"));
  assert.ok(!isRfc3339("2024-13-01T00:00:00Z"));
  assert.ok(!isRfc3339("2024-01-01T00:00:00"));
});

Deno.test("installing evlog: JSON only, empty stream or evlog already, registry v1", () => {
  const parsed = parseProfileRequest({ profile: { kind: "evlog" } });
  assert.ok(parsed.ok);
  const generic = { kind: "generic" as const };
  const octet = planProfileInstall(
    { contentType: "application/octet-stream", empty: true, current: generic },
    parsed.value,
  );
  assert.ok(!octet.ok);
  assert.equal(STATUS[octet.error.kind], 400);
  const busy = planProfileInstall(
    { contentType: "application/json", empty: false, current: generic },
    parsed.value,
  );
  assert.ok(!busy.ok);
  assert.equal(busy.error.kind, "profile_conflict");
  assert.equal(STATUS[busy.error.kind], 409);
  const again = planProfileInstall(
    { contentType: "application/json", empty: false, current: parsed.value },
    parsed.value,
  );
  assert.ok(again.ok);
  const fresh = planProfileInstall(
    {
      contentType: "application/json; charset=utf-8",
      empty: true,
      current: generic,
    },
    parsed.value,
  );
  assert.ok(fresh.ok);
  const registry = fresh.value.registry;
  assert.ok(registry !== null);
  assert.equal(
    (registry.schema.required as string[]).length,
    20,
  );
  assert.deepEqual(Object.keys(registry.rollups), ["requests"]);
  assert.equal(registry.search?.aliases.req, "requestId");
});

Deno.test("evlog keeps a __proto__ key as data, redacted like any other", () => {
  const element = JSON.parse(
    '{"requestId":"r","__proto__":{"token":"x","n":1}}',
  );
  const value = normalize(element).value as Record<string, unknown>;
  const context = value.context as Record<string, unknown>;
  assert.ok(Object.hasOwn(context, "__proto__"));
  assert.equal(Object.getPrototypeOf(context), Object.prototype);
  assert.equal(
    JSON.stringify(context),
    '{"__proto__":{"token":"[REDACTED]","n":1}}',
  );
  assert.deepEqual((value.redaction as { keys: string[] }).keys, [
    "context.__proto__.token",
  ]);
});
