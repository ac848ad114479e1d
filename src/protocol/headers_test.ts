import assert from "node:assert/strict";
import fc from "fast-check";
import {
  compareStreamSeq,
  isJsonContentType,
  isTextContentType,
  isValidContentType,
  mediaType,
  parseExpiresAt,
  parseProducerHeaders,
  parseStreamClosed,
  parseTtl,
} from "./headers.ts";

Deno.test("mediaType() drops parameters and case", () => {
  assert.equal(
    mediaType("Application/JSON; charset=utf-8"),
    "application/json",
  );
  assert.ok(isJsonContentType("application/json;charset=UTF-8"));
  assert.ok(!isJsonContentType("application/jsonl"));
  assert.ok(isTextContentType("text/plain"));
  assert.ok(!isTextContentType("application/octet-stream"));
  assert.ok(isValidContentType("application/x-ndjson"));
  assert.ok(!isValidContentType("not a type"));
  assert.ok(!isValidContentType(""));
});

Deno.test("parseStreamClosed() accepts only true in any case", () => {
  assert.ok(parseStreamClosed("true"));
  assert.ok(parseStreamClosed("TRUE"));
  assert.ok(!parseStreamClosed("false"));
  assert.ok(!parseStreamClosed("yes"));
  assert.ok(!parseStreamClosed(null));
});

Deno.test("parseTtl() accepts only canonical integers", () => {
  assert.deepEqual(parseTtl("0"), { ok: true, value: 0 });
  assert.deepEqual(parseTtl("3600"), { ok: true, value: 3600 });
  for (const bad of ["", "+1", "01", "1.0", "1e3", "-1", " 1", "abc"]) {
    assert.equal(parseTtl(bad).ok, false, bad);
  }
});

Deno.test("parseExpiresAt() accepts RFC 3339 only", () => {
  const parsed = parseExpiresAt("2030-01-02T03:04:05Z");
  assert.ok(parsed.ok && parsed.value === Date.UTC(2030, 0, 2, 3, 4, 5));
  assert.ok(parseExpiresAt("2030-01-02T03:04:05.123+02:00").ok);
  for (const bad of ["tomorrow", "2030-01-02", "1700000000"]) {
    assert.equal(parseExpiresAt(bad).ok, false, bad);
  }
});

Deno.test("parseProducerHeaders() requires all three or none", () => {
  assert.deepEqual(parseProducerHeaders(null, null, null), {
    ok: true,
    value: undefined,
  });
  assert.deepEqual(parseProducerHeaders("p", "1", "2"), {
    ok: true,
    value: { id: "p", epoch: 1, seq: 2 },
  });
  assert.equal(parseProducerHeaders("p", "1", null).ok, false);
  assert.equal(parseProducerHeaders("", "1", "2").ok, false);
  assert.equal(parseProducerHeaders("p", "-1", "2").ok, false);
  assert.equal(parseProducerHeaders("p", "1", "9007199254740992").ok, false);
  assert.equal(parseProducerHeaders("p", "1.5", "2").ok, false);
});

Deno.test("compareStreamSeq() matches UTF-8 byte order (property)", () => {
  const encoder = new TextEncoder();
  const byteCompare = (a: string, b: string): number => {
    const x = encoder.encode(a);
    const y = encoder.encode(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] !== y[i]) return x[i] - y[i];
    }
    return x.length - y.length;
  };
  fc.assert(
    fc.property(
      fc.string({ unit: "grapheme" }),
      fc.string({ unit: "grapheme" }),
      (a, b) =>
        Math.sign(compareStreamSeq(a, b)) === Math.sign(byteCompare(a, b)),
    ),
  );
  assert.ok(compareStreamSeq("\u{ffff}", "\u{10000}") < 0, "BMP before astral");
});
