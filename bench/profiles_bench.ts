/**
 * @module
 * Cost of profile normalization per record: evlog and metrics elements, and
 * OTLP trace requests of 512 spans decoded from protobuf and JSON into
 * canonical spans. Run with `deno bench -A bench/profiles_bench.ts`.
 */

import { evlogProfile } from "../src/profiles/evlog.ts";
import { metricsProfile } from "../src/profiles/metrics.ts";
import {
  exportToSpans,
  otelTracesProfile,
} from "../src/profiles/otel_traces.ts";
import {
  decodeTraceRequestJson,
  decodeTraceRequestProtobuf,
} from "../src/profiles/otlp/decode.ts";
import { readTraceRequest } from "../src/profiles/otlp/span_reader.ts";
import protobuf from "protobufjs";
import { TRACE_PROTO_JSON } from "../src/profiles/otlp/trace_proto.generated.ts";

function must<T>(
  result: { ok: true; value: T } | { ok: false; error: Error },
): T {
  if (!result.ok) throw result.error;
  return result.value;
}

const EVLOG = must(evlogProfile.validate({ kind: "evlog" }));
const OTEL = must(otelTracesProfile.validate({ kind: "otel-traces" }));
const EVENT = {
  timestamp: "2026-01-01T00:00:00Z",
  service: "api",
  requestId: "r-1",
  method: "POST",
  path: "/checkout",
  status: 200,
  duration: 12.5,
  message: "ok",
  user: { id: 7, token: "t" },
  headers: {
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  },
};
const METRIC = {
  metric: "http.server.duration",
  unit: "ms",
  windowStart: 0,
  windowEnd: 10_000,
  count: 100,
  sum: 1234,
  attributes: { route: "/a", code: 200 },
  buckets: { "1": 10, "10": 60, "100": 30 },
};

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

const SPANS = Array.from({ length: 512 }, (_, i) => ({
  traceId: hex(i + 1, 32),
  spanId: hex(i + 1, 16),
  name: "GET /items",
  kind: 2,
  startTimeUnixNano: "1700000000000000000",
  endTimeUnixNano: "1700000000012000000",
  attributes: [
    { key: "http.request.method", value: { stringValue: "GET" } },
    { key: "http.route", value: { stringValue: "/items" } },
    { key: "http.response.status_code", value: { intValue: "200" } },
    { key: "url.full", value: { stringValue: "https://x.test/items?q=1" } },
  ],
  status: { code: 1 },
}));
const REQUEST = {
  resourceSpans: [{
    resource: {
      attributes: [{ key: "service.name", value: { stringValue: "api" } }],
    },
    scopeSpans: [{ scope: { name: "bench" }, spans: SPANS }],
  }],
};
const JSON_TEXT = JSON.stringify(REQUEST);
const TYPE = protobuf.Root.fromJSON(TRACE_PROTO_JSON as protobuf.INamespace)
  .lookupType(
    "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
  );
const PROTO_BYTES = TYPE.encode(TYPE.fromObject({
  resourceSpans: [{
    resource: REQUEST.resourceSpans[0].resource,
    scopeSpans: [{
      scope: { name: "bench" },
      spans: SPANS.map((s) => ({
        ...s,
        traceId: Uint8Array.from(
          s.traceId.match(/../g)!.map((h) => parseInt(h, 16)),
        ),
        spanId: Uint8Array.from(
          s.spanId.match(/../g)!.map((h) => parseInt(h, 16)),
        ),
      })),
    }],
  }],
})).finish();

Deno.bench("evlog: normalize one event", { group: "record" }, () => {
  must(evlogProfile.normalize(EVENT, EVLOG, { nowMs: 0 }));
});

Deno.bench(
  "metrics: normalize one interval record",
  { group: "record" },
  () => {
    must(metricsProfile.normalize(METRIC, { kind: "metrics" }, { nowMs: 0 }));
  },
);

Deno.bench("otel: 512 spans from protobuf", { group: "otlp" }, () => {
  must(exportToSpans(must(decodeTraceRequestProtobuf(PROTO_BYTES)), OTEL));
});

Deno.bench("otel: 512 spans read from protobuf", { group: "otlp" }, () => {
  must(readTraceRequest(PROTO_BYTES, OTEL));
});

Deno.bench("otel: 512 spans from JSON", { group: "otlp" }, () => {
  must(exportToSpans(must(decodeTraceRequestJson(JSON_TEXT)), OTEL));
});
