import assert from "node:assert/strict";
import fc from "fast-check";
import protobuf from "protobufjs";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { exportToSpans, otelTracesProfile } from "../otel_traces.ts";
import type { OtelTracesOptions } from "../_otel_options.ts";
import { decodeTraceRequestProtobuf } from "./decode.ts";
import { readTraceRequest } from "./span_reader.ts";
import { TRACE_PROTO_JSON } from "./trace_proto.generated.ts";

const REQUEST = protobuf.Root.fromJSON(TRACE_PROTO_JSON as protobuf.INamespace)
  .lookupType(
    "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
  );

function optionsOf(raw: Record<string, unknown>): OtelTracesOptions {
  const result = otelTracesProfile.validate({ kind: "otel-traces", ...raw });
  if (!result.ok) throw result.error;
  return result.value;
}

const DEFAULTS = optionsOf({});
const TIGHT = optionsOf({
  redactKeys: ["note", "k1"],
  urlMode: "raw",
  dbStatementMode: "drop",
  attributeLimits: {
    maxAttributes: 3,
    maxEvents: 1,
    maxLinks: 1,
    maxValueBytes: 6,
  },
  otlpLimits: {
    maxResourceSpans: 2,
    maxScopeSpans: 3,
    maxSpansPerRequest: 4,
    maxAnyValueDepth: 2,
    maxArrayItems: 3,
    maxKvEntries: 3,
  },
  store: { rawEvents: false },
});

/** What the message-object path gives: protobufjs decode, then the JSON mapping's conversion. */
function oracle(bytes: Uint8Array, options: OtelTracesOptions) {
  const decoded = decodeTraceRequestProtobuf(bytes);
  if (!decoded.ok) return decoded;
  return exportToSpans(decoded.value, options);
}

function assertSame(bytes: Uint8Array, options: OtelTracesOptions): void {
  const expected = oracle(bytes, options);
  const actual = readTraceRequest(bytes, options);
  assert.equal(actual.ok, expected.ok, JSON.stringify([actual, expected]));
  if (!actual.ok || !expected.ok) {
    assert.equal(actual.ok ? "" : actual.error.kind, "bad_request");
    return;
  }
  assert.deepEqual(
    JSON.parse(JSON.stringify(actual.value)),
    JSON.parse(JSON.stringify(expected.value)),
  );
  // Same key order too: the stored bytes are the same.
  assert.equal(
    JSON.stringify(actual.value.records),
    JSON.stringify(expected.value.records),
  );
}

// ---- arbitrary export requests, in protobufjs's object form --------------

const KEYS = [
  "http.request.method",
  "http.route",
  "http.response.status_code",
  "url.full",
  "url.query",
  "db.query.text",
  "db.statement",
  "request.id",
  "service.name",
  "user.token",
  "note",
  "k1",
  "k2",
  "__proto__",
  "ünï",
];

// 64-bit integers go to protobufjs's fromObject() as decimal strings.
const long = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);

const anyValue: fc.Memo<Record<string, unknown>> = fc.memo((
  n,
): fc.Arbitrary<Record<string, unknown>> =>
  n <= 1 ? scalar() : fc.oneof(
    { weight: 3, arbitrary: scalar() },
    {
      weight: 1,
      arbitrary: fc.array(anyValue(n - 1), { maxLength: 3 }).map((
        values,
      ) => ({ arrayValue: { values } })),
    },
    {
      weight: 1,
      arbitrary: fc.array(keyValue(n - 1), { maxLength: 3 }).map((
        values,
      ) => ({ kvlistValue: { values } })),
    },
  )
);

function scalar(): fc.Arbitrary<Record<string, unknown>> {
  return fc.oneof(
    fc.string({ maxLength: 12, unit: "binary" }).map((s) => ({
      stringValue: s,
    })),
    fc.boolean().map((b) => ({ boolValue: b })),
    fc.oneof(long, fc.integer().map(String))
      .map((l) => ({ intValue: l })),
    fc.double().map((d) => ({ doubleValue: d })),
    fc.uint8Array({ maxLength: 6 }).map((b) => ({ bytesValue: b })),
    fc.constant({}),
  );
}

function keyValue(depth: number): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(
    { key: fc.constantFrom(...KEYS), value: anyValue(depth) },
    { requiredKeys: [] },
  );
}

const attributes = fc.array(keyValue(3), { maxLength: 4 });
const id = (length: number) =>
  fc.oneof(
    {
      weight: 8,
      arbitrary: fc.uint8Array({ minLength: length, maxLength: length }),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: length + 1 }) },
  );
const nanos = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);
const start = fc.bigInt({ min: 0n, max: 2n ** 62n }).chain((s) =>
  fc.tuple(
    fc.constant(s),
    fc.oneof(
      { weight: 6, arbitrary: fc.bigInt({ min: s, max: s + 10n ** 12n }) },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
    ),
  )
).map(([s, e]) => ({
  startTimeUnixNano: String(s),
  endTimeUnixNano: String(e),
}));

const span = fc.tuple(
  fc.record({
    traceId: id(16),
    spanId: id(8),
    parentSpanId: id(8),
    traceState: fc.string({ maxLength: 5 }),
    name: fc.string({ maxLength: 8 }),
    kind: fc.integer({ min: 0, max: 7 }),
    attributes,
    droppedAttributesCount: fc.nat(5),
    events: fc.array(
      fc.record({ timeUnixNano: nanos, name: fc.string(), attributes }, {
        requiredKeys: [],
      }),
      { maxLength: 2 },
    ),
    droppedEventsCount: fc.nat(5),
    links: fc.array(
      fc.record({
        traceId: id(16),
        spanId: id(8),
        traceState: fc.string({ maxLength: 3 }),
        attributes,
      }, { requiredKeys: [] }),
      { maxLength: 3 },
    ),
    droppedLinksCount: fc.nat(5),
    status: fc.record({
      code: fc.integer({ min: 0, max: 3 }),
      message: fc.string({ maxLength: 6 }),
    }, { requiredKeys: [] }),
  }, { requiredKeys: ["traceId", "spanId"] }),
  fc.option(start, { nil: undefined }),
).map(([s, times]) => ({ ...s, ...times }));

const request = fc.record({
  resourceSpans: fc.array(
    fc.record({
      resource: fc.record({ attributes }, { requiredKeys: [] }),
      scopeSpans: fc.array(
        fc.record({
          scope: fc.record({
            name: fc.string({ maxLength: 4 }),
            version: fc.string({ maxLength: 3 }),
            attributes,
          }, { requiredKeys: [] }),
          spans: fc.array(span, { maxLength: 3 }),
        }, { requiredKeys: [] }),
        { maxLength: 2 },
      ),
    }, { requiredKeys: [] }),
    { maxLength: 2 },
  ),
});

function encode(object: Record<string, unknown>): Uint8Array {
  return REQUEST.encode(REQUEST.fromObject(object)).finish();
}

Deno.test("readTraceRequest() equals protobufjs decoding then exportToSpans() (property)", () => {
  fc.assert(
    fc.property(request, fc.boolean(), (object, tight) => {
      assertSame(encode(object), tight ? TIGHT : DEFAULTS);
    }),
    { numRuns: 200 },
  );
});

Deno.test("readTraceRequest() reads the official OTLP serializer's output like the message path", () => {
  assert.deepEqual(readTraceRequest(new Uint8Array(), DEFAULTS), {
    ok: true,
    value: { records: [], rejectedSpans: 0, errorMessage: "" },
  });
  const empty = ProtobufTraceSerializer.serializeRequest([]);
  assert.ok(empty !== undefined);
  assertSame(empty, DEFAULTS);
  const spans = Array.from({ length: 20 }, (_, i) => ({
    traceId: new Uint8Array(16).fill(i + 1),
    spanId: new Uint8Array(8).fill(i + 2),
    name: `op ${i}`,
    kind: 2,
    startTimeUnixNano: "1700000000000000000",
    endTimeUnixNano: "1700000000250000000",
    attributes: [
      { key: "url.full", value: { stringValue: "https://x.test/a?token=1" } },
      { key: "user.token", value: { stringValue: "hunter2" } },
      { key: "http.response.status_code", value: { intValue: 500 } },
    ],
    status: { code: 2, message: "boom" },
  }));
  assertSame(
    encode({ resourceSpans: [{ scopeSpans: [{ spans }] }] }),
    DEFAULTS,
  );
  assertSame(encode({ resourceSpans: [{ scopeSpans: [{ spans }] }] }), TIGHT);
});

/** A request with one span whose attribute AnyValue nests `depth` arrays. */
function nestedRequest(depth: number): Uint8Array {
  let value: Record<string, unknown> = { stringValue: "leaf" };
  for (let i = 0; i < depth; i++) value = { arrayValue: { values: [value] } };
  const writer = protobuf.Writer.create();
  // Built by hand past protobufjs's own recursion limit.
  const field = (n: number, bytes: Uint8Array) =>
    new Uint8Array([
      ...protobuf.Writer.create().uint32(n << 3 | 2).uint32(bytes.length)
        .finish(),
      ...bytes,
    ]);
  let anyValue = field(1, new TextEncoder().encode("leaf"));
  for (let i = 0; i < depth; i++) anyValue = field(5, field(1, anyValue));
  void writer;
  const spanBytes = encode({
    resourceSpans: [{
      scopeSpans: [{
        spans: [{
          traceId: new Uint8Array(16).fill(0xab),
          spanId: new Uint8Array(8).fill(0xcd),
          startTimeUnixNano: 1000,
          endTimeUnixNano: 2000,
        }],
      }],
    }],
  });
  const attribute = new Uint8Array([
    ...field(1, new TextEncoder().encode("d")),
    ...field(2, anyValue),
  ]);
  // The span is the innermost message: append its attribute field (9) and
  // rebuild the three enclosing length prefixes.
  const decoded = REQUEST.decode(spanBytes) as unknown as {
    resourceSpans: { scopeSpans: { spans: unknown[] }[] }[];
  };
  const SpanType = REQUEST.root.lookupType("opentelemetry.proto.trace.v1.Span");
  const spanOnly = SpanType.encode(
    decoded.resourceSpans[0].scopeSpans[0].spans[0] as protobuf.Message,
  ).finish();
  const withAttribute = new Uint8Array([
    ...spanOnly,
    ...field(9, attribute),
  ]);
  return field(1, field(2, field(2, withAttribute)));
}

Deno.test("readTraceRequest() bounds AnyValue nesting by the profile's depth limit", () => {
  const shallow = readTraceRequest(nestedRequest(3), DEFAULTS);
  assert.ok(shallow.ok);
  assert.deepEqual(
    (shallow.value.records[0].value as { attributes: unknown }).attributes,
    { d: [[["leaf"]]] },
  );
  assertSame(nestedRequest(3), DEFAULTS);
  for (const depth of [17, 30, 2_000]) {
    const refused = readTraceRequest(nestedRequest(depth), DEFAULTS);
    assert.ok(!refused.ok);
    assert.equal(refused.error.kind, "bad_request");
    assert.match(refused.error.message, /deeper than 16/);
  }
});

Deno.test("readTraceRequest() refuses more resource or scope spans than the limits (400)", () => {
  const three = encode({ resourceSpans: [{}, {}, {}] });
  const refused = readTraceRequest(three, TIGHT);
  assert.ok(!refused.ok);
  assert.match(refused.error.message, /More than 2 resource spans/);
  const scopes = encode({
    resourceSpans: [{ scopeSpans: [{}, {}] }, { scopeSpans: [{}, {}] }],
  });
  const tooMany = readTraceRequest(scopes, TIGHT);
  assert.ok(!tooMany.ok);
  assert.match(tooMany.error.message, /More than 3 scope spans/);
});

Deno.test("readTraceRequest() never throws on random or mutated bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      const result = readTraceRequest(bytes, DEFAULTS);
      if (!result.ok) assert.equal(result.error.kind, "bad_request");
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(
      request,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 6,
      }),
      (object, edits) => {
        const bytes = encode(object);
        if (bytes.length === 0) return;
        for (const [at, value] of edits) bytes[at % bytes.length] = value;
        const result = readTraceRequest(bytes, TIGHT);
        if (!result.ok) assert.equal(result.error.kind, "bad_request");
      },
    ),
    { numRuns: 500 },
  );
});

/** One span whose name and `url.full` attribute are the given raw bytes. */
function spanWithStrings(name: Uint8Array, url: Uint8Array): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(1 << 3 | 2).fork(); // resource_spans
  w.uint32(2 << 3 | 2).fork(); // scope_spans
  w.uint32(2 << 3 | 2).fork(); // spans
  w.uint32(1 << 3 | 2).bytes(new Uint8Array(16).fill(0xab));
  w.uint32(2 << 3 | 2).bytes(new Uint8Array(8).fill(0xcd));
  w.uint32(5 << 3 | 2).bytes(name);
  w.uint32(7 << 3 | 1).fixed64(1_700_000_000_000_000_000n.toString());
  w.uint32(8 << 3 | 1).fixed64(1_700_000_000_123_456_789n.toString());
  w.uint32(9 << 3 | 2).fork(); // attributes
  w.uint32(1 << 3 | 2).string("url.full");
  w.uint32(2 << 3 | 2).fork().uint32(1 << 3 | 2).bytes(url).ldelim();
  w.ldelim();
  w.ldelim().ldelim().ldelim();
  return w.finish();
}

Deno.test("readTraceRequest() reads strings of any length and bytes like protobufjs decoding (invalid UTF-8 refused)", () => {
  const ascii = fc.string({ maxLength: 600 }).map((s) =>
    new TextEncoder().encode(s)
  );
  const text = fc.string({ maxLength: 300, unit: "grapheme" }).map((s) =>
    new TextEncoder().encode(s)
  );
  const anyBytes = fc.uint8Array({ maxLength: 600 });
  const bytes = fc.oneof(ascii, text, anyBytes);
  const url = fc.tuple(
    fc.string({ maxLength: 300 }),
    fc.constantFrom("", "?", "#", "?q=1#f"),
    fc.string({ maxLength: 20 }),
  ).map(([a, cut, b]) => new TextEncoder().encode(a + cut + b));
  fc.assert(
    fc.property(bytes, fc.oneof(url, anyBytes), (name, href) => {
      const body = spanWithStrings(name, href);
      assertSame(body, DEFAULTS);
      assertSame(body, optionsOf({ urlMode: "raw" }));
    }),
    { numRuns: 300 },
  );
});

Deno.test("readTraceRequest() refuses a string field that is not UTF-8 (400), as protobufjs decoding does", () => {
  const body = spanWithStrings(
    new Uint8Array([0x47, 0x45, 0x54, 0xff]),
    new TextEncoder().encode("https://shop.test/a/long/path?q=1"),
  );
  const result = readTraceRequest(body, DEFAULTS);
  assert.ok(!result.ok && result.error.kind === "bad_request");
  assert.match(result.error.message, /UTF-8/);
  assert.equal(decodeTraceRequestProtobuf(body).ok, false);
  const fine = readTraceRequest(
    spanWithStrings(
      new TextEncoder().encode("GET /ünï/ok"),
      new TextEncoder().encode("https://shop.test/a/long/path?q=1"),
    ),
    DEFAULTS,
  );
  assert.ok(fine.ok);
  const record = fine.value.records[0].value as Record<string, unknown>;
  assert.equal(record.name, "GET /ünï/ok");
  assert.deepEqual(record.http, {
    method: null,
    route: null,
    target: null,
    url: "https://shop.test/a/long/path",
    statusCode: null,
  });
});
