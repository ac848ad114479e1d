/**
 * OTLP/HTTP trace ingest through a real server (profiles.md §6.3, §10 items
 * 8-11): JSON and protobuf bodies, gzip, partial success, the refusals
 * (415, 413 while inflating, 400, 404), `/v1/traces` with and without
 * `--otlp-traces-stream` and `--otlp-auto-create`, and the official
 * OpenTelemetry JS exporters (protobuf and JSON) sending real spans.
 */

import assert from "node:assert/strict";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  type SpanExporter,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import {
  decodeStatus,
  decodeTraceResponse,
} from "../src/profiles/otlp/decode.ts";
import type { ConfigOverrides } from "../src/config.ts";
import { testConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import type { TestKey } from "../src/auth/_testing.ts";
import { withKeyedServer } from "./_auth.ts";
import { FaultyWal } from "./_faulty_wal.ts";
import { startTestServer } from "./_server.ts";

const JSON_HEADERS = { "content-type": "application/json" };
const TRACE = "5b8efff798038103d269b633813fc60c";

type Server = Awaited<ReturnType<typeof startTestServer>>;

async function withServer(
  overrides: ConfigOverrides,
  fn: (server: Server) => Promise<void>,
): Promise<void> {
  const server = await startTestServer(overrides);
  try {
    await fn(server);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
}

async function createTraces(base: string, name: string, profile = {}) {
  const put = await fetch(`${base}/v1/stream/${name}`, {
    method: "PUT",
    headers: JSON_HEADERS,
  });
  assert.equal(put.status, 201);
  const installed = await fetch(`${base}/v1/stream/${name}/_profile`, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify({ profile: { kind: "otel-traces", ...profile } }),
  });
  assert.equal(installed.status, 200, await installed.text());
}

async function records(base: string, name: string, query = "") {
  const response = await fetch(`${base}/v1/stream/${name}?offset=-1${query}`);
  assert.equal(response.status, 200);
  return await response.json() as Record<string, unknown>[];
}

/** Every record of `name`, page by page. */
async function countRecords(base: string, name: string): Promise<number> {
  let count = 0;
  let offset = "-1";
  for (;;) {
    const response = await fetch(`${base}/v1/stream/${name}?offset=${offset}`);
    count += (await response.json()).length;
    if (response.headers.get("stream-up-to-date") === "true") return count;
    offset = response.headers.get("stream-next-offset")!;
  }
}

function span(spanId: string, name: string, extra = {}) {
  return {
    traceId: TRACE,
    spanId,
    name,
    kind: 2,
    startTimeUnixNano: "1700000000000000000",
    endTimeUnixNano: "1700000000250000000",
    ...extra,
  };
}

/** The OTLP JSON example: three spans, one with an all-zero span id. */
function exportBody(spans: unknown[] = [
  span("eee19b7ec3c1b174", "GET /a", {
    attributes: [
      {
        key: "http.request.header.authorization",
        value: { stringValue: "Bearer x" },
      },
      { key: "http.url", value: { stringValue: "https://h/a?q=secret" } },
    ],
  }),
  span("0000000000000000", "zero"),
  span("eee19b7ec3c1b173", "child", { parentSpanId: "eee19b7ec3c1b174" }),
]) {
  return {
    resourceSpans: [{
      resource: {
        attributes: [{ key: "service.name", value: { stringValue: "api" } }],
      },
      scopeSpans: [{ scope: { name: "s" }, spans }],
    }],
  };
}

async function post(
  url: string,
  body: BodyInit,
  headers: Record<string, string>,
) {
  const response = await fetch(url, { method: "POST", headers, body });
  return {
    status: response.status,
    headers: response.headers,
    bytes: new Uint8Array(await response.arrayBuffer()),
  };
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("OTLP JSON: partial success counts the bad span, the rest are stored keyed by trace id, redacted, URL query dropped", async () => {
  await withServer({}, async (server) => {
    const base = server.url;
    await createTraces(base, "tr");
    const url = `${base}/v1/stream/tr/_otlp/v1/traces`;
    const got = await post(url, JSON.stringify(exportBody()), JSON_HEADERS);
    assert.equal(got.status, 200);
    assert.equal(got.headers.get("content-type"), "application/json");
    assert.ok(got.headers.get("stream-next-offset"));
    const answer = JSON.parse(text(got.bytes));
    assert.equal(answer.partialSuccess.rejectedSpans, 1);
    assert.match(answer.partialSuccess.errorMessage, /span/i);
    const stored = await records(base, "tr");
    assert.deepEqual(stored.map((r) => r.name), ["GET /a", "child"]);
    const keyed = await records(base, "tr", `&key=${TRACE}`);
    assert.equal(keyed.length, 2);
    const first = stored[0] as {
      attributes: Record<string, unknown>;
      http: { url: string };
      service: string;
    };
    assert.equal(first.service, "api");
    assert.equal(
      first.attributes["http.request.header.authorization"],
      "[REDACTED]",
    );
    assert.equal(first.http.url, "https://h/a");
  });
});

Deno.test("OTLP protobuf and gzip: empty protobuf answer; 415s, 413 bomb, 400s, span cap", async () => {
  await withServer({}, async (server) => {
    const base = server.url;
    await createTraces(base, "tr");
    const url = `${base}/v1/stream/tr/_otlp/v1/traces`;
    // A protobuf body built from the JSON example by the official
    // definitions (the decoder's own root), valid spans only.
    const protobuf = (await import("protobufjs")).default;
    const { TRACE_PROTO_JSON } = await import(
      "../src/profiles/otlp/trace_proto.generated.ts"
    );
    const root = protobuf.Root.fromJSON(
      TRACE_PROTO_JSON as protobuf.INamespace,
    );
    const type = root.lookupType(
      "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
    );
    const hex = (h: string) =>
      Uint8Array.from(h.match(/../g)!.map((b) => parseInt(b, 16)));
    const message = type.fromObject({
      resourceSpans: [{
        scopeSpans: [{
          spans: [{
            traceId: hex(TRACE),
            spanId: hex("1111111111111111"),
            name: "proto",
            kind: 2,
            startTimeUnixNano: "1700000000000000000",
            endTimeUnixNano: "1700000000100000000",
          }],
        }],
      }],
    });
    const bytes = type.encode(message).finish();
    const proto = { "content-type": "application/x-protobuf" };
    let got = await post(url, bytes as BodyInit, proto);
    assert.equal(got.status, 200);
    assert.equal(got.headers.get("content-type"), "application/x-protobuf");
    assert.equal(got.bytes.length, 0); // empty ExportTraceServiceResponse
    got = await post(url, await gzip(bytes) as BodyInit, {
      ...proto,
      "content-encoding": "gzip",
    });
    assert.equal(got.status, 200);
    assert.deepEqual(decodeTraceResponse(got.bytes), {
      rejectedSpans: 0,
      errorMessage: "",
    });
    assert.deepEqual((await records(base, "tr")).map((r) => r.name), [
      "proto",
      "proto",
    ]);

    // Refusals: protobuf requests get a protobuf google.rpc.Status.
    got = await post(url, "x", { "content-type": "text/plain" });
    assert.equal(got.status, 415);
    assert.equal(JSON.parse(text(got.bytes)).code, 3);
    got = await post(url, bytes as BodyInit, {
      ...proto,
      "content-encoding": "br",
    });
    assert.equal(got.status, 415);
    assert.equal(decodeStatus(got.bytes).code, 3);
    got = await post(url, new Uint8Array([0x1f, 0x8b, 1, 2, 3]), {
      ...proto,
      "content-encoding": "gzip",
    });
    assert.equal(got.status, 400);
    got = await post(url, new Uint8Array([0xff, 0xff, 0xff]), proto);
    assert.equal(got.status, 400);
    assert.match(decodeStatus(got.bytes).message, /protobuf/i);
    // A gzip bomb: 17 MiB of zeros inflates past the 16 MiB cap.
    const bomb = await gzip(new Uint8Array(17 * 1024 * 1024));
    assert.ok(bomb.length < 4 * 1024 * 1024);
    got = await post(url, bomb as BodyInit, {
      ...proto,
      "content-encoding": "gzip",
    });
    assert.equal(got.status, 413);
    assert.equal(decodeStatus(got.bytes).code, 8);
    assert.equal((await records(base, "tr")).length, 2);

    // 60,000 spans: 50,000 stored in one commit, 10,000 rejected.
    const many = Array.from(
      { length: 60_000 },
      (_, i) => span((i + 1).toString(16).padStart(16, "0"), "s"),
    );
    got = await post(
      url,
      await gzip(
        new TextEncoder().encode(JSON.stringify(exportBody(many))),
      ) as BodyInit,
      { ...JSON_HEADERS, "content-encoding": "gzip" },
    );
    assert.equal(got.status, 200);
    assert.equal(
      JSON.parse(text(got.bytes)).partialSuccess.rejectedSpans,
      10_000,
    );
    // (Counting 50,000 stored spans would read one 70 MB chunk per page;
    // the cap's exact count is checked on a small cap below.)
    assert.ok(got.headers.get("stream-next-offset"));
  });
});

Deno.test("OTLP span cap from the stream's options: spans past it are rejected and counted, the rest stored in one commit", async () => {
  await withServer({}, async (server) => {
    const base = server.url;
    await createTraces(base, "capped", {
      otlpLimits: { maxSpansPerRequest: 100 },
    });
    const many = Array.from(
      { length: 130 },
      (_, i) => span((i + 1).toString(16).padStart(16, "0"), `s${i}`),
    );
    const got = await post(
      `${base}/v1/stream/capped/_otlp/v1/traces`,
      JSON.stringify(exportBody(many)),
      JSON_HEADERS,
    );
    assert.equal(got.status, 200);
    assert.equal(JSON.parse(text(got.bytes)).partialSuccess.rejectedSpans, 30);
    assert.equal(await countRecords(base, "capped"), 100);
    const stored = await records(base, "capped");
    assert.equal(stored[0].name, "s0");
  });
});

Deno.test("OTLP route: 404 for a missing stream, 400 for a stream without the profile", async () => {
  await withServer({}, async (server) => {
    const base = server.url;
    const body = JSON.stringify(exportBody());
    let got = await post(
      `${base}/v1/stream/none/_otlp/v1/traces`,
      body,
      JSON_HEADERS,
    );
    assert.equal(got.status, 404);
    assert.equal(JSON.parse(text(got.bytes)).code, 5);
    await fetch(`${base}/v1/stream/plain`, {
      method: "PUT",
      headers: JSON_HEADERS,
    });
    got = await post(
      `${base}/v1/stream/plain/_otlp/v1/traces`,
      body,
      JSON_HEADERS,
    );
    assert.equal(got.status, 400);
    assert.match(JSON.parse(text(got.bytes)).message, /otel-traces/);
    // Nothing was appended to it.
    assert.deepEqual(await records(base, "plain"), []);
  });
});

Deno.test("/v1/traces: 404 unconfigured, 404 for a missing configured stream, created with the profile under --otlp-auto-create", async () => {
  const body = JSON.stringify(exportBody());
  await withServer({}, async (server) => {
    const got = await post(`${server.url}/v1/traces`, body, JSON_HEADERS);
    assert.equal(got.status, 404);
  });
  await withServer({ http: { otlpTracesStream: "otel" } }, async (server) => {
    const got = await post(`${server.url}/v1/traces`, body, JSON_HEADERS);
    assert.equal(got.status, 404);
    await createTraces(server.url, "otel");
    const again = await post(`${server.url}/v1/traces`, body, JSON_HEADERS);
    assert.equal(again.status, 200);
    assert.equal((await records(server.url, "otel")).length, 2);
  });
  await withServer(
    { http: { otlpTracesStream: "auto/traces", otlpAutoCreate: true } },
    async (server) => {
      const got = await post(`${server.url}/v1/traces`, body, JSON_HEADERS);
      assert.equal(got.status, 200);
      const profile = await (await fetch(
        `${server.url}/v1/stream/auto/traces/_profile`,
      )).json();
      assert.equal(profile.profile.kind, "otel-traces");
      const schema = await (await fetch(
        `${server.url}/v1/stream/auto/traces/_schema`,
      )).json();
      assert.equal(schema.currentVersion, 1);
      assert.equal((await records(server.url, "auto/traces")).length, 2);
    },
  );
});

/** Spans from the SDK: a server span with a client child, events, a link, an error. */
async function emitSpans(exporter: SpanExporter): Promise<void> {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      "service.name": "checkout",
      "service.version": "1.2.3",
      "deployment.environment.name": "prod",
    }),
    spanProcessors: [new BatchSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer("sdk-test", "0.1.0");
  tracer.startActiveSpan("GET /cart", { kind: SpanKind.SERVER }, (server) => {
    server.setAttributes({
      "http.request.method": "GET",
      "http.route": "/cart",
      "http.response.status_code": 500,
      "url.full": "https://shop.test/cart?session=secret",
      "http.request.header.authorization": "Bearer abc",
      "request.id": "req-42",
      "retry.count": 3,
    });
    server.addEvent("cache.miss", { key: "cart:1" });
    const child = tracer.startSpan("SELECT carts", {
      kind: SpanKind.CLIENT,
      attributes: { "db.system.name": "postgresql" },
      links: [{ context: server.spanContext(), attributes: { why: "t" } }],
    }, trace.setSpan(context.active(), server));
    child.end();
    server.recordException(new Error("cart exploded"));
    server.setStatus({ code: SpanStatusCode.ERROR, message: "boom" });
    server.end();
  });
  await provider.forceFlush();
  await provider.shutdown();
}

for (
  const [label, make] of [
    ["protobuf", (url: string) => new ProtoExporter({ url })],
    ["JSON", (url: string) => new JsonExporter({ url })],
  ] as const
) {
  Deno.test(`OpenTelemetry JS SDK exporter (${label}) round trip: every field survives normalization`, async () => {
    await withServer({}, async (server) => {
      await createTraces(server.url, "sdk");
      await emitSpans(
        make(`${server.url}/v1/stream/sdk/_otlp/v1/traces`) as SpanExporter,
      );
      const stored = await records(server.url, "sdk");
      assert.equal(stored.length, 2);
      // deno-lint-ignore no-explicit-any
      const s = stored.find((r) => r.name === "GET /cart") as any;
      // deno-lint-ignore no-explicit-any
      const c = stored.find((r) => r.name === "SELECT carts") as any;
      assert.match(s.traceId, /^[0-9a-f]{32}$/);
      assert.equal(c.traceId, s.traceId);
      assert.equal(c.parentSpanId, s.spanId);
      assert.equal(s.parentSpanId, null);
      assert.equal(s.kind, "server");
      assert.equal(c.kind, "client");
      assert.deepEqual(s.status, { code: "error", message: "boom" });
      assert.equal(s.service, "checkout");
      assert.equal(s.version, "1.2.3");
      assert.equal(s.environment, "prod");
      assert.equal(s.requestId, "req-42");
      assert.equal(s.http.method, "GET");
      assert.equal(s.http.route, "/cart");
      assert.equal(s.http.statusCode, 500);
      assert.equal(s.http.url, "https://shop.test/cart");
      assert.equal(
        s.attributes["http.request.header.authorization"],
        "[REDACTED]",
      );
      assert.equal(s.attributes["retry.count"], 3);
      assert.deepEqual(s.eventNames, ["cache.miss", "exception"]);
      assert.equal(s.error.isError, true);
      assert.equal(s.error.message, "cart exploded");
      assert.equal(c.links.length, 1);
      assert.equal(c.links[0].spanId, s.spanId);
      assert.equal(c.db.system, "postgresql");
      assert.deepEqual(s.instrumentationScope.name, "sdk-test");
      assert.ok(Number(s.endUnixNano) >= Number(s.startUnixNano));
      const keyed = await records(server.url, "sdk", `&key=${s.traceId}`);
      assert.equal(keyed.length, 2);
    });
  });
}

Deno.test("overload: 503 with Retry-After and a Status body while the WAL refuses writes; the SDK exporter retries and its spans land", async () => {
  let wal!: FaultyWal;
  const dir = await Deno.makeTempDir({ prefix: "streambed-otlp-503-" });
  const server = await startServer(testConfig(dir), {
    wrapWal: (store) => (wal = new FaultyWal(store)),
  });
  try {
    await createTraces(server.url, "busy");
    const url = `${server.url}/v1/stream/busy/_otlp/v1/traces`;
    wal.fault = "full";
    const refused = await post(url, JSON.stringify(exportBody()), JSON_HEADERS);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.equal(JSON.parse(text(refused.bytes)).code, 14);
    // The exporter's first attempt is refused too; then the disk has room.
    const failedBefore = wal.failedCommits;
    const exported = emitSpans(new ProtoExporter({ url }) as SpanExporter);
    for (let i = 0; wal.failedCommits === failedBefore; i++) {
      assert.ok(i < 400, "the exporter never tried");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    wal.fault = "none";
    await exported;
    const stored = await records(server.url, "busy");
    assert.deepEqual(stored.map((r) => r.name).sort(), [
      "GET /cart",
      "SELECT carts",
    ]);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("/v1/traces under --auth api-key: the key needs write on --otlp-traces-stream (403 as a Status), and then writes", async () => {
  const keys = [
    { id: "w", secret: "writer-secret-0123456789", scopes: ["write"] },
    {
      id: "other",
      secret: "other-secret-01234567890",
      scopes: ["write"],
      streams: ["elsewhere/**"],
    },
    { id: "admin", secret: "admin-secret-0123456789", scopes: ["admin"] },
  ] as TestKey[];
  await withKeyedServer(
    keys,
    { http: { otlpTracesStream: "otel", otlpAutoCreate: true } },
    async (server) => {
      const body = JSON.stringify(exportBody());
      const init = { body, headers: JSON_HEADERS };
      const denied = await server.call(
        "POST",
        "/v1/traces",
        "other-secret-01234567890",
        init,
      );
      assert.equal(denied.status, 403);
      assert.equal((await denied.json()).code, 7);
      const none = await server.call("POST", "/v1/traces", undefined, init);
      assert.equal(none.status, 401);
      await none.body?.cancel();
      const ok = await server.call(
        "POST",
        "/v1/traces",
        "writer-secret-0123456789",
        init,
      );
      assert.equal(ok.status, 200, await ok.text());
      const read = await server.call(
        "GET",
        "/v1/stream/otel?offset=-1",
        "admin-secret-0123456789",
      );
      assert.equal((await read.json()).length, 2);
    },
  );
});
