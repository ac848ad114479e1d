import assert from "node:assert/strict";
import { STATUS } from "../../errors.ts";
import { OTLP_LIMITS } from "../_otel_options.ts";
import { decodeOtlpBody, gunzipBounded } from "./body.ts";

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const JSON_BODY = new TextEncoder().encode(JSON.stringify({
  resourceSpans: [{ scopeSpans: [{ spans: [] }] }],
}));

Deno.test("decodeOtlpBody() takes JSON and protobuf, plain or gzip, with charset parameters", async () => {
  for (const contentEncoding of [null, "identity", "GZIP"]) {
    const body = contentEncoding === "GZIP" ? await gzip(JSON_BODY) : JSON_BODY;
    const result = await decodeOtlpBody(
      { contentType: "application/json; charset=utf-8", contentEncoding },
      body,
      OTLP_LIMITS,
    );
    assert.ok(result.ok, String(contentEncoding));
    assert.equal(result.value.encoding, "json");
    assert.deepEqual(
      result.value.request,
      JSON.parse(new TextDecoder().decode(JSON_BODY)),
    );
  }
  const empty = await decodeOtlpBody(
    { contentType: "application/x-protobuf", contentEncoding: "gzip" },
    await gzip(new Uint8Array()),
    OTLP_LIMITS,
  );
  assert.ok(empty.ok);
  assert.equal(empty.value.encoding, "protobuf");
  assert.deepEqual(empty.value.request, {});
});

Deno.test("decodeOtlpBody() answers 415 for other media types and encodings", async () => {
  const cases = [
    { contentType: "text/plain", contentEncoding: null },
    { contentType: null, contentEncoding: null },
    { contentType: "application/json", contentEncoding: "br" },
  ];
  for (const headers of cases) {
    const result = await decodeOtlpBody(headers, JSON_BODY, OTLP_LIMITS);
    assert.ok(!result.ok);
    assert.equal(result.error.kind, "unsupported_media_type");
    assert.equal(STATUS[result.error.kind], 415);
  }
});

Deno.test("decodeOtlpBody() caps compressed and decoded sizes (413) and refuses corrupt gzip (400)", async () => {
  const limits = {
    ...OTLP_LIMITS,
    maxCompressedBytes: 1024,
    maxDecodedBytes: 64 * 1024,
  };
  const tooBig = await decodeOtlpBody(
    { contentType: "application/json", contentEncoding: "gzip" },
    new Uint8Array(2048),
    limits,
  );
  assert.ok(!tooBig.ok);
  assert.equal(STATUS[tooBig.error.kind], 413);
  const plainTooBig = await decodeOtlpBody(
    { contentType: "application/json", contentEncoding: null },
    new Uint8Array(64 * 1024 + 1),
    limits,
  );
  assert.ok(!plainTooBig.ok);
  assert.equal(plainTooBig.error.kind, "payload_too_large");
  // A bomb: 4 MiB of zeros compresses to a few KiB and inflates past the cap.
  const bomb = await gzip(new Uint8Array(4 * 1024 * 1024));
  assert.ok(bomb.length < 1024 * 8);
  const inflated = await gunzipBounded(bomb, 64 * 1024);
  assert.ok(!inflated.ok);
  assert.equal(inflated.error.kind, "payload_too_large");
  const corrupt = await decodeOtlpBody(
    { contentType: "application/json", contentEncoding: "gzip" },
    new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5]),
    limits,
  );
  assert.ok(!corrupt.ok);
  assert.equal(corrupt.error.kind, "bad_request");
  const badJson = await decodeOtlpBody(
    { contentType: "application/json", contentEncoding: null },
    new TextEncoder().encode("{"),
    limits,
  );
  assert.ok(!badJson.ok);
  assert.equal(badJson.error.kind, "bad_request");
});

Deno.test("encodeStatus() writes google.rpc.Status in protobuf and JSON", async () => {
  const { decodeStatus, encodeStatus, grpcCodeOf } = await import(
    "./decode.ts"
  );
  assert.equal(grpcCodeOf(STATUS.overloaded), 14);
  assert.equal(grpcCodeOf(STATUS.bad_request), 3);
  assert.equal(grpcCodeOf(500), 13);
  const bytes = encodeStatus(14, "queue full", "protobuf");
  // Field 1 varint 14, field 2 length-delimited "queue full".
  assert.deepEqual([...bytes.subarray(0, 4)], [0x08, 14, 0x12, 10]);
  assert.deepEqual(decodeStatus(bytes), { code: 14, message: "queue full" });
  assert.deepEqual(
    JSON.parse(new TextDecoder().decode(encodeStatus(3, "bad", "json"))),
    { code: 3, message: "bad" },
  );
});
