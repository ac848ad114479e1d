import assert from "node:assert/strict";
import fc from "fast-check";
import { otelTracesProfile } from "../src/profiles/otel_traces.ts";
import { readTraceRequest } from "../src/profiles/otlp/span_reader.ts";
import type { JsonObject } from "../src/profiles/profile.ts";
import { canonicalSpan, type SpanInput } from "../src/profiles/_otel_span.ts";
import {
  CANONICAL_SPAN_KEYS,
  frameCanonicalSpans,
  JsonWriter,
} from "./_span_json_writer.ts";
import { BATCH, protobufBody, spanJson } from "./otlp_bench.ts";

const decoder = new TextDecoder();
const options = (() => {
  const result = otelTracesProfile.validate({ kind: "otel-traces" });
  if (!result.ok) throw result.error;
  return result.value;
})();

function written(value: unknown): string {
  const w = new JsonWriter(8);
  w.value(value);
  return decoder.decode(w.take());
}

// Strings with everything JSON escapes or encodes in several bytes: quotes,
// backslashes, control characters, DEL, U+2028, lone and paired surrogates.
const text = fc.oneof(
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.array(
    fc.constantFrom(
      '"',
      "\\",
      "\n",
      "\u0000",
      "\u001f",
      "\u007f",
      "\u2028",
      "\ud800",
      "\udfff",
      "\ud83d\ude00",
      "é",
      "a",
    ),
    { maxLength: 12 },
  ).map((parts) => parts.join("")),
);

const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.double(),
    fc.integer(),
    fc.constantFrom(2 ** 53 + 2, -0, 1e21, 1e-7, Number.MAX_VALUE),
    text,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(text, tie("value"), { maxKeys: 4 }),
    fc.dictionary(
      fc.constantFrom("0", "10", "__proto__", "b", "a"),
      tie("value"),
      {
        maxKeys: 4,
      },
    ),
  ),
})).value;

Deno.test("JsonWriter writes what JSON.stringify() writes, as UTF-8 (property)", () => {
  fc.assert(
    fc.property(json, (value) => {
      assert.equal(written(value), JSON.stringify(value));
    }),
    { numRuns: 3000 },
  );
});

Deno.test("JsonWriter leaves out and nulls what JSON.stringify() does, and hands other objects to it", () => {
  const value = {
    a: undefined,
    f: () => 1,
    list: [undefined, () => 1, Symbol("s")],
    date: new Date(0),
    custom: { toJSON: () => "custom" },
    map: new Map([[1, 2]]),
    nested: Object.assign(Object.create(null), { x: 1 }),
  };
  assert.equal(written(value), JSON.stringify(value));
  assert.throws(() => written({ n: 1n }), TypeError);
});

const id = (length: number) =>
  fc.uint8Array({ minLength: length / 2, maxLength: length / 2 }).map((b) =>
    Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")
  );
const attributes = fc.dictionary(text, json, { maxKeys: 4 }) as fc.Arbitrary<
  JsonObject
>;

const spanInput: fc.Arbitrary<SpanInput> = fc.record({
  traceId: id(32),
  spanId: id(16),
  parentSpanId: fc.option(id(16)),
  traceState: fc.option(text),
  name: text,
  kind: fc.constantFrom("server", "client", "internal"),
  startUnixNano: fc.bigInt({ min: 0n, max: 2n ** 62n }),
  endUnixNano: fc.bigInt({ min: 2n ** 62n, max: 2n ** 63n }),
  status: fc.record({
    code: fc.constantFrom("unset", "ok", "error"),
    message: fc.option(text),
  }),
  attributes,
  resourceAttributes: attributes,
  scope: fc.record({
    name: fc.option(text),
    version: fc.option(text),
    attributes,
  }),
  events: fc.array(
    fc.record({
      name: text,
      timeUnixNano: fc.option(fc.bigInt({ min: 0n }).map(String)),
      attributes,
    }),
    { maxLength: 3 },
  ),
  links: fc.array(
    fc.record({
      traceId: id(32),
      spanId: id(16),
      traceState: fc.option(text),
      attributes,
    }),
    { maxLength: 2 },
  ),
  dropped: fc.record({
    attributes: fc.nat(),
    events: fc.nat(),
    links: fc.nat(),
  }),
});

Deno.test("frameCanonicalSpans() equals JSON.stringify() of each span plus a comma (property)", () => {
  fc.assert(
    fc.property(fc.array(spanInput, { maxLength: 6 }), (inputs) => {
      const records: JsonObject[] = [];
      for (const input of inputs) {
        const record = canonicalSpan(input, options, null);
        if (record.ok) records.push(record.value);
      }
      // Spans of one resource share its attribute map, as the reader gives them.
      if (records.length > 1) {
        for (const r of records) {
          (r.resource as JsonObject).attributes =
            (records[0].resource as JsonObject).attributes;
        }
      }
      const framed = frameCanonicalSpans(records);
      const texts = records.map((r) => JSON.stringify(r) + ",");
      assert.equal(decoder.decode(framed.bytes), texts.join(""));
      assert.deepEqual(
        framed.lengths,
        texts.map((t) => new TextEncoder().encode(t).length),
      );
    }),
    { numRuns: 500 },
  );
});

Deno.test("frameCanonicalSpans() knows canonicalSpan()'s keys, and frames other shapes generically", () => {
  const proto = protobufBody(
    Array.from({ length: BATCH }, (_, i) => spanJson(i)),
  );
  const batch = readTraceRequest(proto, options);
  assert.ok(batch.ok);
  const records = batch.value.records.map((r) => r.value as JsonObject);
  assert.deepEqual(Object.keys(records[0]), CANONICAL_SPAN_KEYS);
  const odd = [{ ...records[1], extra: "x" }, { traceId: "x" }, records[2]];
  assert.equal(
    decoder.decode(frameCanonicalSpans([...records, ...odd]).bytes),
    [...records, ...odd].map((r) => JSON.stringify(r) + ",").join(""),
  );
});
