import assert from "node:assert/strict";
import { fail, ok } from "../errors.ts";
import { addOverLimit, addSpan, type SpanBatch } from "./_otel_span.ts";

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
