import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { exportToSpans, otelTracesProfile } from "../otel_traces.ts";
import type { OtelTracesOptions } from "../_otel_options.ts";
import {
  decodeTraceRequestJson,
  decodeTraceRequestProtobuf,
} from "./decode.ts";
import { gunzipBounded } from "./body.ts";

const OPTIONS = (() => {
  const result = otelTracesProfile.validate({ kind: "otel-traces" });
  if (!result.ok) throw result.error;
  return result.value as OtelTracesOptions;
})();

/** Decoding then converting either answers a Result or refuses; it never throws. */
function survives(bytes: Uint8Array): void {
  const decoded = decodeTraceRequestProtobuf(bytes);
  if (!decoded.ok) {
    assert.equal(decoded.error.kind, "bad_request");
    return;
  }
  const batch = exportToSpans(decoded.value, OPTIONS);
  if (!batch.ok) assert.equal(batch.error.kind, "bad_request");
}

Deno.test("OTLP protobuf decoding never throws on random bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => survives(bytes)),
    { numRuns: 500 },
  );
});

Deno.test("OTLP protobuf decoding never throws on mutated real requests", () => {
  const seed = ProtobufTraceSerializer.serializeRequest([]) ?? new Uint8Array();
  // A hand-built request with one span gives mutations something to break.
  const span = new Uint8Array([
    0x0a,
    0x10,
    ...new Uint8Array(16).fill(0xab),
    0x12,
    0x08,
    ...new Uint8Array(8).fill(0xcd),
    0x2a,
    0x02,
    0x6f,
    0x70,
    0x39,
    0xe8,
    0x03,
    0,
    0,
    0,
    0,
    0,
    0,
    0x41,
    0xd0,
    0x07,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  const request = new Uint8Array([
    0x0a,
    span.length + 4,
    0x12,
    span.length + 2,
    0x12,
    span.length,
    ...span,
  ]);
  const good = decodeTraceRequestProtobuf(request);
  assert.ok(good.ok);
  const batch = exportToSpans(good.value, OPTIONS);
  assert.ok(batch.ok);
  assert.equal(batch.value.records.length, 1);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 8,
      }),
      (edits) => {
        const bytes = new Uint8Array([...seed, ...request]);
        for (const [at, value] of edits) bytes[at % bytes.length] = value;
        survives(bytes);
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("OTLP JSON decoding never throws on arbitrary JSON values", () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
      const decoded = decodeTraceRequestJson(JSON.stringify(value));
      if (!decoded.ok) return;
      const batch = exportToSpans(decoded.value, OPTIONS);
      if (!batch.ok) assert.equal(batch.error.kind, "bad_request");
    }),
    { numRuns: 300 },
  );
});

Deno.test("gunzipBounded() never throws on random bytes", async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (bytes) => {
      const header = new Uint8Array([0x1f, 0x8b, 8, 0, ...bytes]);
      const result = await gunzipBounded(header, 4096);
      if (!result.ok) {
        assert.ok(
          ["bad_request", "payload_too_large"].includes(result.error.kind),
        );
      }
    }),
    { numRuns: 200 },
  );
});
