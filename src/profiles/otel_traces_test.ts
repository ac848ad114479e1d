import assert from "node:assert/strict";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  JsonTraceSerializer,
  ProtobufTraceSerializer,
} from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { fail, ok, STATUS } from "../errors.ts";
import {
  decodeTraceRequestJson,
  decodeTraceRequestProtobuf,
  decodeTraceResponse,
  encodeTraceResponse,
} from "./otlp/decode.ts";
import { exportToSpans, otelTracesProfile } from "./otel_traces.ts";
import type { OtelTracesOptions } from "./_otel_options.ts";
import { addOverLimit, addSpan, type SpanBatch } from "./_otel_span.ts";
import { normalizeBatch } from "./profile.ts";

const TRACE = "5b8efff798038103d269b633813fc60c";

function options(raw: Record<string, unknown> = {}): OtelTracesOptions {
  const result = otelTracesProfile.validate({ kind: "otel-traces", ...raw });
  if (!result.ok) throw result.error;
  return result.value;
}

/** Real spans from the OpenTelemetry JS SDK: a server span with a client child. */
async function sdkSpans(): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      "service.name": "checkout",
      "service.version": "1.2.3",
      "deployment.environment.name": "prod",
      "cloud.region": "eu-west-1",
    }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer("test-scope", "0.1.0");
  await tracer.startActiveSpan(
    "GET /cart",
    { kind: SpanKind.SERVER },
    async (server) => {
      server.setAttributes({
        "http.request.method": "GET",
        "http.route": "/cart",
        "url.full": "https://shop.test/cart?session=secret#frag",
        "http.response.status_code": 500,
        "http.request.header.authorization": "Bearer abc",
        "request.id": "req-42",
        "retry.count": 3,
        "flags": [true, false],
      });
      const child = tracer.startSpan("SELECT carts", {
        kind: SpanKind.CLIENT,
        attributes: {
          "db.system.name": "postgresql",
          "db.query.text": "SELECT * FROM carts WHERE token = 'x'",
        },
        links: [{ context: server.spanContext(), attributes: { why: "test" } }],
      }, trace.setSpan(context.active(), server));
      child.end();
      server.recordException(new Error("cart exploded"));
      server.setStatus({ code: SpanStatusCode.ERROR, message: "boom" });
      server.end();
      await Promise.resolve();
    },
  );
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  await provider.shutdown();
  return spans;
}

function checkRecords(
  records: Record<string, unknown>[],
  spans: ReadableSpan[],
) {
  assert.equal(records.length, 2);
  const server = records.find((r) => r.name === "GET /cart")!;
  const client = records.find((r) => r.name === "SELECT carts")!;
  const serverSpan = spans.find((s) => s.name === "GET /cart")!;
  assert.equal(server.traceId, serverSpan.spanContext().traceId);
  assert.equal(server.spanId, serverSpan.spanContext().spanId);
  assert.equal(server.parentSpanId, null);
  assert.equal(client.parentSpanId, server.spanId);
  assert.equal(server.kind, "server");
  assert.equal(client.kind, "client");
  assert.deepEqual(server.status, { code: "error", message: "boom" });
  assert.equal(server.service, "checkout");
  assert.equal(server.version, "1.2.3");
  assert.equal(server.environment, "prod");
  assert.equal(server.region, "eu-west-1");
  assert.equal(server.requestId, "req-42");
  assert.deepEqual(server.http, {
    method: "GET",
    route: "/cart",
    target: null,
    url: "https://shop.test/cart",
    statusCode: 500,
  });
  const attrs = server.attributes as Record<string, unknown>;
  assert.equal(attrs["http.request.header.authorization"], "[REDACTED]");
  assert.equal(attrs["retry.count"], 3);
  assert.deepEqual(attrs["flags"], [true, false]);
  assert.deepEqual(server.redaction, {
    keys: ["attributes.http.request.header.authorization"],
  });
  assert.deepEqual(server.eventNames, ["exception"]);
  const error = server.error as Record<string, unknown>;
  assert.equal(error.isError, true);
  assert.equal(error.message, "cart exploded");
  assert.equal(error.type, "Error");
  assert.match(String(error.stacktrace), /cart exploded/);
  assert.deepEqual(server.instrumentationScope, {
    name: "test-scope",
    version: "0.1.0",
    attributes: {},
  });
  const start = BigInt(String(server.startUnixNano));
  const end = BigInt(String(server.endUnixNano));
  assert.ok(end >= start);
  assert.equal(server.duration, Number(end - start) / 1e6);
  assert.equal(
    server.timestamp,
    new Date(Number(start / 1_000_000n)).toISOString(),
  );
  // The default statement mode drops statements.
  assert.deepEqual(client.db, {
    system: "postgresql",
    name: null,
    operation: null,
    statement: null,
  });
  assert.equal(
    (client.attributes as Record<string, unknown>)["db.query.text"],
    undefined,
  );
  const links = client.links as { spanId: string; attributes: unknown }[];
  assert.equal(links[0].spanId, server.spanId);
  assert.deepEqual(links[0].attributes, { why: "test" });
}

Deno.test("otel-traces decodes protobuf from the official OTLP serializer", async () => {
  const spans = await sdkSpans();
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  assert.ok(bytes !== undefined);
  const decoded = decodeTraceRequestProtobuf(bytes);
  assert.ok(decoded.ok);
  const batch = exportToSpans(decoded.value, options());
  assert.ok(batch.ok);
  assert.equal(batch.value.rejectedSpans, 0);
  checkRecords(
    batch.value.records.map((r) => r.value as Record<string, unknown>),
    spans,
  );
  for (const record of batch.value.records) {
    assert.equal(
      record.routingKey,
      (record.value as Record<string, unknown>).traceId,
    );
  }
});

Deno.test("otel-traces decodes JSON from the official OTLP serializer the same way", async () => {
  const spans = await sdkSpans();
  const bytes = JsonTraceSerializer.serializeRequest(spans);
  assert.ok(bytes !== undefined);
  const decoded = decodeTraceRequestJson(new TextDecoder().decode(bytes));
  assert.ok(decoded.ok);
  const batch = exportToSpans(decoded.value, options());
  assert.ok(batch.ok);
  checkRecords(
    batch.value.records.map((r) => r.value as Record<string, unknown>),
    spans,
  );
  const proto = decodeTraceRequestProtobuf(
    ProtobufTraceSerializer.serializeRequest(spans)!,
  );
  assert.ok(proto.ok);
  const fromProto = exportToSpans(proto.value, options());
  assert.ok(fromProto.ok);
  assert.deepEqual(batch.value.records, fromProto.value.records);
});

function jsonSpan(spanId: string, extra: Record<string, unknown> = {}) {
  return {
    traceId: TRACE.toUpperCase(),
    spanId,
    name: "op",
    kind: "SPAN_KIND_INTERNAL",
    startTimeUnixNano: "1700000000000000000",
    endTimeUnixNano: "1700000000250000000",
    ...extra,
  };
}

function exportOf(spans: unknown[], resource: unknown[] = []) {
  return {
    resourceSpans: [{
      resource: { attributes: resource },
      scopeSpans: [{ scope: { name: "s" }, spans }],
    }],
  };
}

Deno.test("otel-traces rejects bad spans one by one (spec example: all-zero span id)", () => {
  const request = exportOf([
    jsonSpan("00f067aa0ba902b7"),
    jsonSpan("0000000000000000"),
    jsonSpan("00f067aa0ba902b8", {
      parentSpanId: "00f067aa0ba902b7",
      startTimeUnixNano: 1_000_000_000,
      endTimeUnixNano: 3_000_000_000,
    }),
  ]);
  const batch = exportToSpans(request, options());
  assert.ok(batch.ok);
  assert.equal(batch.value.records.length, 2);
  assert.equal(batch.value.rejectedSpans, 1);
  assert.match(batch.value.errorMessage, /invalid spanId/);
  const first = batch.value.records[0].value as Record<string, unknown>;
  assert.equal(first.traceId, TRACE);
  assert.equal(first.kind, "internal");
  assert.equal(first.duration, 250);
  assert.equal(first.endUnixNano, "1700000000250000000");
  assert.equal(batch.value.records[0].routingKey, TRACE);
  const second = batch.value.records[1].value as Record<string, unknown>;
  assert.equal(second.parentSpanId, "00f067aa0ba902b7");
  assert.equal(second.duration, 2000, "times may be JSON numbers");
  assert.equal(second.timestamp, "1970-01-01T00:00:01.000Z");

  const json = new TextDecoder().decode(
    encodeTraceResponse(1, batch.value.errorMessage, "json"),
  );
  assert.deepEqual(JSON.parse(json), {
    partialSuccess: {
      rejectedSpans: 1,
      errorMessage: batch.value.errorMessage,
    },
  });
  assert.deepEqual(
    decodeTraceResponse(encodeTraceResponse(1, "x", "protobuf")),
    {
      rejectedSpans: 1,
      errorMessage: "x",
    },
  );
  assert.equal(encodeTraceResponse(0, "", "protobuf").length, 0);
  assert.equal(
    new TextDecoder().decode(encodeTraceResponse(0, "", "json")),
    "{}",
  );
});

Deno.test("otel-traces rejects spans with bad ids or times", () => {
  const bad = [
    jsonSpan("00f067aa0ba902b"),
    jsonSpan("zzf067aa0ba902b7"),
    { ...jsonSpan("00f067aa0ba902b7"), traceId: "0".repeat(32) },
    jsonSpan("00f067aa0ba902b7", { parentSpanId: "0000000000000000" }),
    jsonSpan("00f067aa0ba902b7", { startTimeUnixNano: "soon" }),
    jsonSpan("00f067aa0ba902b7", { endTimeUnixNano: "1" }),
    7,
  ];
  const batch = exportToSpans(exportOf(bad), options());
  assert.ok(batch.ok);
  assert.equal(batch.value.records.length, 0);
  assert.equal(batch.value.rejectedSpans, bad.length);
});

Deno.test("otel-traces counts spans past maxSpansPerRequest as rejected", () => {
  const spans = Array.from(
    { length: 7 },
    (_, i) => jsonSpan((0x1000000000000000n + BigInt(i)).toString(16)),
  );
  const batch = exportToSpans(
    exportOf(spans),
    options({ otlpLimits: { maxSpansPerRequest: 5 } }),
  );
  assert.ok(batch.ok);
  assert.equal(batch.value.records.length, 5);
  assert.equal(batch.value.rejectedSpans, 2);
  assert.match(batch.value.errorMessage, /2 spans past the limit of 5/);
});

Deno.test("otel-traces refuses requests past the structural limits with 400", () => {
  let deep: unknown = { stringValue: "leaf" };
  for (let i = 0; i < 20; i++) deep = { arrayValue: { values: [deep] } };
  const wide = { arrayValue: { values: Array(300).fill({ intValue: 1 }) } };
  const cases: [unknown, Record<string, unknown>, RegExp][] = [
    [
      exportOf([
        jsonSpan("00f067aa0ba902b7", {
          attributes: [{ key: "d", value: deep }],
        }),
      ]),
      {},
      /deeper than 16/,
    ],
    [
      exportOf([
        jsonSpan("00f067aa0ba902b7", {
          attributes: [{ key: "w", value: wide }],
        }),
      ]),
      {},
      /more than 256 items/,
    ],
    [
      { resourceSpans: [{}, {}, {}] },
      { otlpLimits: { maxResourceSpans: 2 } },
      /More than 2 resource spans/,
    ],
    [{ resourceSpans: [{ scopeSpans: [{}, {}] }, { scopeSpans: [{}] }] }, {
      otlpLimits: { maxScopeSpans: 2 },
    }, /More than 2 scope spans/],
    [{ resourceSpans: 5 }, {}, /must be an array/],
  ];
  for (const [request, opts, message] of cases) {
    const result = exportToSpans(
      request as Record<string, unknown>,
      options(opts),
    );
    assert.ok(!result.ok, String(message));
    assert.equal(STATUS[result.error.kind], 400);
    assert.match(result.error.message, message);
  }
});

Deno.test("decodeTraceRequestProtobuf() and Json() refuse malformed bodies with 400", () => {
  for (
    const bytes of [new Uint8Array([0x0a, 0xff, 0xff]), new Uint8Array([0xff])]
  ) {
    const result = decodeTraceRequestProtobuf(bytes);
    assert.ok(!result.ok);
    assert.equal(result.error.kind, "bad_request");
  }
  for (const text of ["{", "[]", "null"]) {
    const result = decodeTraceRequestJson(text);
    assert.ok(!result.ok);
    assert.equal(result.error.kind, "bad_request");
  }
});

Deno.test("otel-traces options: defaults, unknown keys, caps", () => {
  const o = options();
  assert.equal(o.urlMode, "drop_query");
  assert.equal(o.dbStatementMode, "drop");
  assert.equal(o.otlpLimits.maxSpansPerRequest, 50_000);
  assert.equal(o.attributeLimits.maxValueBytes, 8192);
  assert.equal(o.requestIdAttributes[0], "request.id");
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ nope: 1 }, /"profile\.nope"/],
    [{ otlpLimits: { maxSpansPerRequest: 0 } }, /positive integer/],
    [{ otlpLimits: { maxSpansPerRequest: 200_001 } }, /at most 200000/],
    [{ otlpLimits: { other: 1 } }, /"profile\.otlpLimits\.other"/],
    [{ attributeLimits: { maxValueBytes: 1.5 } }, /maxValueBytes/],
    [{ store: { rawEvents: "no" } }, /profile\.store\.rawEvents/],
    [{ urlMode: "keep" }, /urlMode/],
    [{ dbStatementMode: "mask" }, /dbStatementMode/],
    [{ redactKeys: [3] }, /redactKeys/],
    [{ observability: { request: {} } }, /eventsStream/],
  ];
  for (const [raw, message] of bad) {
    const result = otelTracesProfile.validate({ kind: "otel-traces", ...raw });
    assert.ok(!result.ok, JSON.stringify(raw));
    assert.match(result.error.message, message);
  }
});

Deno.test("otel-traces policies: raw URLs and truncated statements, store flags, extra redact keys", () => {
  const opts = options({
    urlMode: "raw",
    dbStatementMode: "raw",
    attributeLimits: { maxStatementBytes: 10, maxAttributes: 3 },
    redactKeys: ["Tenant"],
    store: { rawResourceAttributes: false, rawEvents: false },
  });
  const request = exportOf([jsonSpan("00f067aa0ba902b7", {
    attributes: [
      { key: "http.url", value: { stringValue: "http://a/b?q=secret" } },
      {
        key: "db.statement",
        value: { stringValue: "SELECT 1234567890 FROM t" },
      },
      { key: "app.tenant", value: { stringValue: "acme" } },
      { key: "dropped.one", value: { stringValue: "x" } },
    ],
    events: [{ name: "e", timeUnixNano: "1700000000100000000" }],
    droppedEventsCount: 2,
  })], [{ key: "service.name", value: { stringValue: "svc" } }]);
  const batch = exportToSpans(request, opts);
  assert.ok(batch.ok);
  const record = batch.value.records[0].value as Record<string, unknown>;
  const attrs = record.attributes as Record<string, unknown>;
  assert.equal(attrs["http.url"], "http://a/b?q=secret");
  assert.equal(attrs["db.statement"], "SELECT 123");
  assert.equal(attrs["app.tenant"], "[REDACTED]");
  assert.equal(attrs["dropped.one"], undefined);
  assert.deepEqual(record.dropped, { attributes: 1, events: 2, links: 0 });
  assert.equal(record.events, null);
  assert.deepEqual(record.resource, { attributes: null });
  assert.equal(record.service, "svc");
  assert.deepEqual(record.eventNames, ["e"]);
});

Deno.test("otel-traces JSON appends: export objects and canonical spans, errors name the element", () => {
  const opts = options();
  const request = exportOf([jsonSpan("00f067aa0ba902b7", {
    attributes: [
      { key: "http.url", value: { stringValue: "http://a/b?q=1" } },
      { key: "x-api-key", value: { stringValue: "k" } },
    ],
  })]);
  const first = normalizeBatch(otelTracesProfile, opts, [request], {
    nowMs: 0,
  });
  assert.ok(first.ok);
  assert.equal(first.value.length, 1);
  const canonical = first.value[0].value;
  const again = normalizeBatch(otelTracesProfile, opts, [canonical], {
    nowMs: 0,
  });
  assert.ok(again.ok);
  assert.deepEqual(
    again.value,
    first.value,
    "re-appending a canonical span is stable",
  );

  const bad = normalizeBatch(otelTracesProfile, opts, [
    canonical,
    exportOf([jsonSpan("0000000000000000")]),
  ], { nowMs: 0 });
  assert.ok(!bad.ok);
  assert.match(bad.error.message, /^Element 1: Rejected span: invalid spanId/);
  for (const element of [3, { hello: 1 }]) {
    const result = normalizeBatch(otelTracesProfile, opts, [element], {
      nowMs: 0,
    });
    assert.ok(!result.ok);
    assert.match(result.error.message, /^Element 0: /);
  }
});

/** A length-delimited protobuf field. */
function field(number: number, body: Uint8Array): Uint8Array {
  const out = [(number << 3) | 2];
  let n = body.length;
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return new Uint8Array([...out, ...body]);
}

/** A fixed64 protobuf field. */
function fixed64(number: number, value: bigint): Uint8Array {
  const bytes = new Uint8Array(9);
  bytes[0] = (number << 3) | 1;
  new DataView(bytes.buffer).setBigUint64(1, value, true);
  return bytes;
}

/** A request with one span whose attribute AnyValue nests `depth` arrays. */
function nestedRequest(depth: number): Uint8Array {
  let value = field(1, new TextEncoder().encode("leaf")); // string_value
  for (let i = 0; i < depth; i++) value = field(5, field(1, value)); // array_value.values
  const attribute = new Uint8Array([
    ...field(1, new TextEncoder().encode("d")),
    ...field(2, value),
  ]);
  const span = new Uint8Array([
    ...field(1, new Uint8Array(16).fill(0xab)),
    ...field(2, new Uint8Array(8).fill(0xcd)),
    ...fixed64(7, 1_000n),
    ...fixed64(8, 2_000n),
    ...field(9, attribute),
  ]);
  return field(1, field(2, field(2, span)));
}

Deno.test("protobuf AnyValue nesting is bounded: by our depth limit, then by the decoder", () => {
  const shallow = decodeTraceRequestProtobuf(nestedRequest(3));
  assert.ok(shallow.ok);
  const ok3 = exportToSpans(shallow.value, options());
  assert.ok(ok3.ok);
  assert.deepEqual(
    (ok3.value.records[0].value as { attributes: unknown }).attributes,
    { d: [[["leaf"]]] },
  );
  assert.equal(
    (ok3.value.records[0].value as { traceId: string }).traceId,
    "ab".repeat(16),
  );
  const deep = decodeTraceRequestProtobuf(nestedRequest(30));
  assert.ok(deep.ok);
  const refused = exportToSpans(deep.value, options());
  assert.ok(!refused.ok);
  assert.match(refused.error.message, /deeper than 16/);
  const bomb = decodeTraceRequestProtobuf(nestedRequest(5_000));
  assert.ok(!bomb.ok);
  assert.equal(bomb.error.kind, "bad_request");
});

Deno.test("otel-traces keeps a __proto__ attribute key as data", () => {
  const batch = exportToSpans(
    exportOf([jsonSpan("00f067aa0ba902b7", {
      attributes: [{ key: "__proto__", value: { stringValue: "v" } }],
    })]),
    options(),
  );
  assert.ok(batch.ok);
  const attrs =
    (batch.value.records[0].value as { attributes: object }).attributes;
  assert.equal(JSON.stringify(attrs), '{"__proto__":"v"}');
  assert.equal(Object.getPrototypeOf(attrs), Object.prototype);
});

Deno.test("isoTime() matches Date.toISOString() across seconds, years and signs", async () => {
  const { isoTime } = await import("./_otel_span.ts");
  const samples = [
    0,
    1,
    999,
    1000,
    1_700_000_000_003,
    1_700_000_000_999,
    1_700_000_001_000,
    -1,
    -1001,
    253_402_300_799_999,
    253_402_300_800_000,
    8.64e15,
  ];
  for (let i = 0; i < 2000; i++) {
    samples.push(Math.floor(Math.random() * 4e12) - 1e12);
  }
  for (const ms of samples) {
    assert.equal(isoTime(ms), new Date(ms).toISOString(), `at ${ms}`);
  }
});

Deno.test("addSpan() keeps accepted spans keyed by trace id and the first rejection's reason", () => {
  const batch: SpanBatch = { records: [], rejectedSpans: 0, errorMessage: "" };
  addSpan(batch, ok({ traceId: "a".repeat(32), spanId: "1" }));
  addSpan(batch, fail("bad_request", "invalid traceId"));
  addSpan(batch, fail("bad_request", "invalid spanId"));
  addSpan(batch, ok({ traceId: "b".repeat(32), spanId: "2" }));
  assert.deepEqual(batch.records.map((r) => r.routingKey), [
    "a".repeat(32),
    "b".repeat(32),
  ]);
  assert.equal(batch.rejectedSpans, 2);
  assert.equal(batch.errorMessage, "Rejected span: invalid traceId");
});

Deno.test("addOverLimit() counts spans past the limit and adds its note", () => {
  const batch: SpanBatch = { records: [], rejectedSpans: 0, errorMessage: "" };
  addOverLimit(batch, 0, 10);
  assert.deepEqual(batch, { records: [], rejectedSpans: 0, errorMessage: "" });
  addOverLimit(batch, 3, 10);
  assert.equal(batch.rejectedSpans, 3);
  assert.equal(batch.errorMessage, "3 spans past the limit of 10 per request");
  const mixed: SpanBatch = { records: [], rejectedSpans: 0, errorMessage: "" };
  addSpan(mixed, fail("bad_request", "invalid spanId"));
  addOverLimit(mixed, 2, 5);
  assert.equal(mixed.rejectedSpans, 3);
  assert.equal(
    mixed.errorMessage,
    "Rejected span: invalid spanId; 2 spans past the limit of 5 per request",
  );
});
