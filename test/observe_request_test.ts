/**
 * `/v1/observe/request` through a real server (ops-security.md §6.2, §7
 * item 16): an evlog stream and an otel-traces stream seeded with one
 * request (3 events, 5 spans, one span sent twice), looked up by request
 * id, trace id and span id, in the POST and GET forms; the refusals (400,
 * 404, 403) and the limits.
 */

import assert from "node:assert/strict";
import type { TestKey } from "../src/auth/_testing.ts";
import { withKeyedServer } from "./_auth.ts";
import { startTestServer } from "./_server.ts";

const JSON_HEADERS = { "content-type": "application/json" };
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const OTHER_TRACE = "0af7651916cd43dd8448eb211c80319c";
const ROOT = "00f067aa0ba902b7";
const NS = 1_764_633_600_000_000_000n; // 2025-12-02T00:00:00Z

type Server = Awaited<ReturnType<typeof startTestServer>>;

function span(
  spanId: string,
  parent: string | null,
  name: string,
  startMs: number,
  endMs: number,
  extra: Record<string, unknown> = {},
) {
  return {
    traceId: TRACE,
    spanId,
    parentSpanId: parent ?? "",
    name,
    kind: parent === null ? 2 : 3,
    startTimeUnixNano: String(NS + BigInt(startMs) * 1_000_000n),
    endTimeUnixNano: String(NS + BigInt(endMs) * 1_000_000n),
    ...extra,
  };
}

const SPANS = [
  span(ROOT, null, "GET /orders/:id", 0, 120, {
    attributes: [
      { key: "http.request.method", value: { stringValue: "GET" } },
      { key: "http.route", value: { stringValue: "/orders/:id" } },
      { key: "http.response.status_code", value: { intValue: "500" } },
      {
        key: "url.full",
        value: { stringValue: "https://shop.test/orders/7?x=1" },
      },
      { key: "request.id", value: { stringValue: "req_123" } },
    ],
    status: { code: 2, message: "failed" },
  }),
  span("1111111111111111", ROOT, "db.query", 10, 40, {
    attributes: [{ key: "db.query.text", value: { stringValue: "select 1" } }],
  }),
  span("2222222222222222", ROOT, "call payments", 45, 110, {
    events: [{
      timeUnixNano: String(NS + 100_000_000n),
      name: "exception",
      attributes: [
        { key: "exception.type", value: { stringValue: "Timeout" } },
        { key: "exception.message", value: { stringValue: "payments slow" } },
      ],
    }],
  }),
  span("3333333333333333", "2222222222222222", "payments.charge", 50, 105),
  span("4444444444444444", "3333333333333333", "cache.get", 60, 61),
];

function exportOf(spans: unknown[], service: string) {
  return {
    resourceSpans: [{
      resource: {
        attributes: [{ key: "service.name", value: { stringValue: service } }],
      },
      scopeSpans: [{ scope: { name: "test" }, spans }],
    }],
  };
}

const EVENTS = [
  {
    timestamp: "2025-12-02T00:00:00.005Z",
    level: "info",
    service: "shop",
    requestId: "req_123",
    traceId: TRACE,
    spanId: ROOT,
    method: "GET",
    path: "/orders/7",
    message: "request started",
    context: { user: { id: 7 } },
  },
  {
    timestamp: "2025-12-02T00:00:00.100Z",
    level: "error",
    service: "shop",
    requestId: "req_123",
    traceId: TRACE,
    message: "payment timed out",
  },
  {
    timestamp: "2025-12-02T00:00:00.119Z",
    level: "info",
    service: "shop",
    requestId: "req_123",
    traceId: TRACE,
    status: 500,
    duration: 120,
    message: "request finished",
  },
  {
    timestamp: "2025-12-02T00:00:01.000Z",
    level: "info",
    service: "shop",
    requestId: "req_999",
    traceId: OTHER_TRACE,
    message: "someone else",
  },
];

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Response> {
  return await fetch(`${base}${path}`, {
    method,
    headers: JSON_HEADERS,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function stream(base: string, name: string, profile: unknown) {
  const put = await call(base, "PUT", `/v1/stream/${name}`);
  assert.equal(put.status, 201, await put.text());
  if (profile === null) return;
  const installed = await call(base, "POST", `/v1/stream/${name}/_profile`, {
    profile,
  });
  assert.equal(installed.status, 200, await installed.text());
}

/** The two streams, seeded: the spans in two requests, one span sent twice. */
async function seed(base: string): Promise<void> {
  await stream(base, "app-events", {
    kind: "evlog",
    observability: { request: { tracesStream: "app-traces" } },
  });
  await stream(base, "app-traces", { kind: "otel-traces" });
  await stream(base, "plain", null);
  const appended = await call(base, "POST", "/v1/stream/app-events", EVENTS);
  assert.equal(appended.status, 204, await appended.text());
  for (const part of [SPANS.slice(0, 3), [SPANS[2], ...SPANS.slice(3)]]) {
    const sent = await call(
      base,
      "POST",
      "/v1/stream/app-traces/_otlp/v1/traces",
      exportOf(part, "shop"),
    );
    assert.equal(sent.status, 200, await sent.text());
  }
}

async function withSeeded(fn: (server: Server) => Promise<void>) {
  const server = await startTestServer({});
  try {
    await seed(server.url);
    await fn(server);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
}

// deno-lint-ignore no-explicit-any
type Body = Record<string, any>;

function checkTrace(body: Body): void {
  const trace = body.trace;
  assert.equal(trace.stream, "app-traces");
  assert.equal(trace.traceId, TRACE);
  assert.equal(trace.rootSpanId, ROOT);
  assert.equal(trace.spans.length, 5);
  assert.ok(trace.duplicateSpans >= 1);
  assert.deepEqual(trace.missingParents, []);
  assert.equal(trace.partial, false);
  assert.deepEqual(
    trace.tree.map((n: Body) => [n.spanId, n.depth]),
    [
      [ROOT, 0],
      ["1111111111111111", 1],
      ["2222222222222222", 1],
      ["3333333333333333", 2],
      ["4444444444444444", 3],
    ],
  );
  assert.deepEqual(
    trace.criticalPath.map((s: Body) => s.spanId),
    [ROOT, "2222222222222222", "3333333333333333", "4444444444444444"],
  );
  assert.deepEqual(
    trace.errors.map((e: Body) => e.spanId).sort(),
    [ROOT, "2222222222222222"].sort(),
  );
  // Compacted: no attributes, URLs or statements.
  const root = trace.spans.find((s: Body) => s.spanId === ROOT);
  assert.equal(root.attributes, undefined);
  assert.equal(root.http.url, null);
  assert.equal(root.http.route, "/orders/:id");
  assert.deepEqual(trace.serviceMap.services, [
    { service: "shop", spans: 5, errors: 2 },
  ]);
}

function checkTimeline(body: Body, events: number): void {
  const timeline = body.timeline as Body[];
  const times = timeline.map((i) => i.time);
  assert.deepEqual(times, [...times].sort());
  const count = (type: string) =>
    timeline.filter((i) => i.type === type).length;
  assert.equal(count("evlog.event"), events);
  assert.equal(count("otel.span.start"), 5);
  assert.equal(count("otel.span.end"), 5);
  assert.equal(count("otel.exception"), 1);
  assert.equal(timeline[0].type, "otel.span.start");
  assert.equal(timeline[0].spanId, ROOT);
  assert.equal(timeline.at(-1)!.type, "otel.span.end");
}

Deno.test("/v1/observe/request by request id: both sections, 5 unique spans, one root, sorted timeline", async () => {
  await withSeeded(async (server) => {
    const response = await call(server.url, "POST", "/v1/observe/request", {
      streams: { events: "app-events", traces: "app-traces" },
      lookup: { requestId: "req_123" },
    });
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.deepEqual(body.lookup, { requestId: "req_123" });
    assert.equal(body.evlog.stream, "app-events");
    assert.equal(body.evlog.matches.length, 3);
    assert.equal(body.evlog.primary.message, "request finished");
    assert.equal(body.evlog.matches[0].context, undefined);
    checkTrace(body);
    checkTimeline(body, 3);
    assert.equal(body.summary.requestId, "req_123");
    assert.equal(body.summary.traceId, TRACE);
    assert.equal(body.summary.status, 500);
    assert.equal(body.summary.spans, 5);
    assert.equal(body.summary.events, 3);
    const events = body.coverage.events;
    assert.equal(events.complete, true);
    assert.equal(events.unique_hits, 3);
    assert.deepEqual(events.total, { value: 3, relation: "eq" });
    const traces = body.coverage.traces;
    assert.equal(traces.complete, true);
    assert.equal(traces.unique_hits, 5);
    assert.ok(traces.hits >= 6);
    assert.ok(traces.query_count >= 1 && traces.batch_count >= 1);
  });
});

Deno.test("/v1/observe/request by trace id and by span id; the traces stream from the evlog profile's link; GET form; raw", async () => {
  await withSeeded(async (server) => {
    const byTrace = await call(server.url, "POST", "/v1/observe/request", {
      streams: { events: "app-events" },
      lookup: { traceId: TRACE.toUpperCase() },
      include: { raw: true },
    });
    assert.equal(byTrace.status, 200);
    const trace = await byTrace.json();
    checkTimeline(trace, 3);
    assert.equal(trace.trace.stream, "app-traces");
    assert.equal(trace.trace.spans.length, 5);
    const root = trace.trace.spans.find((s: Body) => s.spanId === ROOT);
    assert.equal(root.attributes["request.id"], "req_123");
    const started = trace.evlog.matches.find((e: Body) =>
      e.message === "request started"
    );
    assert.deepEqual(started.context.user, { id: 7 });

    const bySpan = await fetch(
      `${server.url}/v1/observe/request?spanId=3333333333333333&events=app-events&traces=app-traces`,
    );
    assert.equal(bySpan.status, 200);
    const span = await bySpan.json();
    checkTrace(span);
    assert.equal(span.evlog.matches.length, 3);

    const windowed = await call(server.url, "POST", "/v1/observe/request", {
      streams: { events: "app-events", traces: "app-traces" },
      lookup: { traceId: TRACE },
      time: {
        from: "2025-12-02T00:00:00.050Z",
        to: "2025-12-02T00:00:00.060Z",
      },
      include: { trace: false },
    });
    assert.equal(windowed.status, 200);
    const few = await windowed.json();
    assert.equal(few.trace, null);
    assert.equal(few.evlog.matches.length, 0);
    const padded = await call(server.url, "POST", "/v1/observe/request", {
      streams: { events: "app-events", traces: "app-traces" },
      lookup: { traceId: TRACE },
      time: {
        from: "2025-12-02T00:00:00.050Z",
        to: "2025-12-02T00:00:00.060Z",
        paddingMs: 50,
      },
      include: { trace: false },
    });
    assert.equal((await padded.json()).evlog.matches.length, 2);
  });
});

Deno.test("/v1/observe/request limits: limits.events and limits.spans cut the answer and say so", async () => {
  await withSeeded(async (server) => {
    const response = await call(server.url, "POST", "/v1/observe/request", {
      streams: { events: "app-events", traces: "app-traces" },
      lookup: { traceId: TRACE },
      limits: { events: 2, spans: 3 },
    });
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.equal(body.evlog.matches.length, 2);
    assert.equal(body.trace.spans.length, 3);
    assert.equal(body.trace.partial, true);
    assert.equal(body.coverage.events.limit_reached, true);
    assert.equal(body.coverage.events.complete, false);
    assert.equal(body.coverage.events.total.relation, "gte");
    assert.equal(body.coverage.traces.limit_reached, true);
  });
});

Deno.test("/v1/observe/request refusals: 400 for bad bodies and wrong profiles, 404 for missing streams; nothing else runs", async () => {
  await withSeeded(async (server) => {
    const streams = { events: "app-events", traces: "app-traces" };
    const bad: unknown[] = [
      { streams, lookup: { requestId: "a", traceId: TRACE } },
      { streams, lookup: {} },
      { streams, lookup: { requestId: "" } },
      { streams, lookup: { requestId: "a" }, limits: { events: 501 } },
      { streams, lookup: { requestId: "a" }, limits: { spans: 0 } },
      { streams, lookup: { requestId: "a" }, time: { paddingMs: 86_400_001 } },
      { streams, lookup: { requestId: "a" }, time: { from: "yesterday" } },
      { streams, lookup: { requestId: "a" }, include: { raw: "yes" } },
      { streams, lookup: { requestId: "a" }, extra: 1 },
      { streams: { traces: "app-traces" }, lookup: { requestId: "a" } },
      {
        streams: { events: "plain", traces: "app-traces" },
        lookup: { requestId: "a" },
      },
      {
        streams: { events: "app-events", traces: "app-events" },
        lookup: { requestId: "a" },
      },
      [],
    ];
    for (const body of bad) {
      const response = await call(
        server.url,
        "POST",
        "/v1/observe/request",
        body,
      );
      assert.equal(response.status, 400, JSON.stringify(body));
      const error = await response.json();
      assert.equal(typeof error.error.message, "string");
    }
    const notJson = await fetch(`${server.url}/v1/observe/request`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: "{",
    });
    assert.equal(notJson.status, 400);
    await notJson.body?.cancel();
    const missing = await call(server.url, "POST", "/v1/observe/request", {
      streams: { events: "nope", traces: "app-traces" },
      lookup: { requestId: "a" },
    });
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const unknownParam = await fetch(
      `${server.url}/v1/observe/request?requestId=a&events=app-events&zap=1`,
    );
    assert.equal(unknownParam.status, 400);
    await unknownParam.body?.cancel();
  });
});

Deno.test("/v1/observe/request under --auth api-key: read is needed on both streams", async () => {
  const keys = [
    { id: "admin", secret: "admin-secret-0123456789", scopes: ["admin"] },
    {
      id: "events-only",
      secret: "events-secret-012345678",
      scopes: ["read"],
      streams: ["app-events"],
    },
    { id: "reader", secret: "reader-secret-012345678", scopes: ["read"] },
  ] as TestKey[];
  await withKeyedServer(keys, {}, async (server) => {
    const admin = "admin-secret-0123456789";
    for (
      const [name, profile] of [["app-events", { kind: "evlog" }], [
        "app-traces",
        { kind: "otel-traces" },
      ]] as const
    ) {
      const put = await server.call("PUT", `/v1/stream/${name}`, admin, {
        headers: JSON_HEADERS,
      });
      assert.equal(put.status, 201);
      await put.body?.cancel();
      const installed = await server.call(
        "POST",
        `/v1/stream/${name}/_profile`,
        admin,
        {
          headers: JSON_HEADERS,
          body: JSON.stringify({ profile }),
        },
      );
      assert.equal(installed.status, 200);
      await installed.body?.cancel();
    }
    const init = {
      headers: JSON_HEADERS,
      body: JSON.stringify({
        streams: { events: "app-events", traces: "app-traces" },
        lookup: { requestId: "r" },
      }),
    };
    const none = await server.call(
      "POST",
      "/v1/observe/request",
      undefined,
      init,
    );
    assert.equal(none.status, 401);
    await none.body?.cancel();
    const partial = await server.call(
      "POST",
      "/v1/observe/request",
      "events-secret-012345678",
      init,
    );
    assert.equal(partial.status, 403);
    await partial.body?.cancel();
    const reader = await server.call(
      "POST",
      "/v1/observe/request",
      "reader-secret-012345678",
      init,
    );
    assert.equal(reader.status, 200, await reader.clone().text());
    const body = await reader.json();
    assert.equal(body.evlog.matches.length, 0);
    assert.equal(body.trace.spans.length, 0);
  });
});
