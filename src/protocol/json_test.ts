import assert from "node:assert/strict";
import fc from "fast-check";
import {
  frameJsonMessages,
  frameJsonValues,
  jsonArrayBody,
  storedMessageEnds,
} from "./json.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("frameJsonMessages() flattens exactly one level", () => {
  const framed = frameJsonMessages(enc('[{"a":1}, [1, 2], "x"]'), false);
  assert.ok(framed.ok);
  assert.equal(dec(framed.value.bytes), '{"a":1},[1,2],"x",');
  assert.deepEqual(framed.value.lengths, [8, 6, 4]);
  assert.equal(dec(jsonArrayBody(framed.value.bytes)), '[{"a":1},[1,2],"x"]');
});

Deno.test("frameJsonMessages() rejects empty arrays on append and bad JSON", () => {
  assert.equal(frameJsonMessages(enc("[]"), false).ok, false);
  const empty = frameJsonMessages(enc("[]"), true);
  assert.ok(empty.ok && empty.value.lengths.length === 0);
  for (const bad of ["", "{", "[1,]", "nul", "{'a':1}"]) {
    const result = frameJsonMessages(enc(bad), false);
    assert.ok(!result.ok && result.error.kind === "bad_request", bad);
  }
  assert.equal(
    frameJsonMessages(new Uint8Array([0x22, 0xff, 0x22]), false).ok,
    false,
  );
});

Deno.test("jsonArrayBody() of any framed values parses back to them (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.jsonValue(), { minLength: 1, maxLength: 20 }),
      (values) => {
        const framed = frameJsonMessages(enc(JSON.stringify(values)), false);
        if (!framed.ok) return false;
        const back = JSON.parse(dec(jsonArrayBody(framed.value.bytes)));
        return JSON.stringify(back) === JSON.stringify(values);
      },
    ),
  );
  assert.equal(dec(jsonArrayBody(new Uint8Array())), "[]");
});

// One-, two-, three- and four-byte characters, a control character and a
// lone surrogate (which JSON.stringify escapes).
const UNITS = fc.constantFrom("a", "é", "€", "😀", "\u0001", "\ud800");

Deno.test("frameJsonMessages() gives each message's UTF-8 length, for any text (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: UNITS }), { minLength: 1, maxLength: 8 }),
      (texts) => {
        const framed = frameJsonMessages(enc(JSON.stringify(texts)), false);
        assert.ok(framed.ok);
        let at = 0;
        framed.value.lengths.forEach((length, i) => {
          const message = framed.value.bytes.subarray(at, at + length);
          assert.equal(dec(message), JSON.stringify(texts[i]) + ",");
          at += length;
        });
        assert.equal(at, framed.value.bytes.length);
      },
    ),
  );
});

Deno.test("storedMessageEnds() finds each stored message's end (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.jsonValue(), { minLength: 1, maxLength: 8 }),
      (values) => {
        const framed = frameJsonMessages(enc(JSON.stringify(values)), false);
        assert.ok(framed.ok);
        const ends = storedMessageEnds(framed.value.bytes);
        let at = 0;
        assert.deepEqual(ends, framed.value.lengths.map((n) => at += n));
      },
    ),
  );
  assert.deepEqual(storedMessageEnds(enc('"a,\\\\",{"b":[1,2]},')), [7, 19]);
});

Deno.test("frameJsonValues() frames ASCII and non-ASCII values in any mix (property)", () => {
  const text = fc.oneof(
    fc.string({ unit: "grapheme-ascii" }),
    fc.string({ unit: "binary" }),
  );
  fc.assert(
    fc.property(fc.array(text, { maxLength: 12 }), (values) => {
      const framed = frameJsonValues(values);
      const expected = values.map((v) => enc(JSON.stringify(v) + ","));
      assert.deepEqual(framed.lengths, expected.map((b) => b.length));
      assert.deepEqual(
        framed.bytes,
        new Uint8Array(expected.flatMap((b) => [...b])),
      );
    }),
    { numRuns: 500 },
  );
});
