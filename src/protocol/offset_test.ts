import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeOffset,
  encodeOffset,
  parseOffsetParam,
  POSITION_MAX,
} from "./offset.ts";

Deno.test("encodeOffset() round-trips the largest position", () => {
  const offset = encodeOffset(POSITION_MAX);
  assert.equal(offset, "0000000000000000_9007199254740991");
  assert.equal(decodeOffset(offset), POSITION_MAX);
  assert.equal(decodeOffset("0000000000000000_9007199254740992"), undefined);
});

Deno.test("encodeOffset() has fixed width and no reserved characters", () => {
  const offset = encodeOffset(42);
  assert.equal(offset, "0000000000000000_0000000000000042");
  assert.doesNotMatch(offset, /[,&=?/]/);
  assert.notEqual(offset, "-1");
  assert.notEqual(offset, "now");
});

Deno.test("encodeOffset() order matches position order (property)", () => {
  const positions = fc.integer({ min: 0, max: POSITION_MAX });
  fc.assert(
    fc.property(positions, positions, (a, b) => {
      const ea = encodeOffset(a);
      const eb = encodeOffset(b);
      if (ea.length !== 33) return false;
      const byPosition = Math.sign(a - b);
      const byString = ea < eb ? -1 : ea > eb ? 1 : 0;
      return byPosition === byString;
    }),
  );
});

Deno.test("decodeOffset() inverts encodeOffset() for 16-digit positions (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: POSITION_MAX }),
      (p) => decodeOffset(encodeOffset(p)) === p,
    ),
  );
});

Deno.test("decodeOffset() rejects malformed offsets", () => {
  for (
    const bad of [
      "",
      "abc",
      "0",
      "0000000000000000_000000000000004",
      "0000000000000000-0000000000000042",
      "0000000000000001_0000000000000042",
      " 0000000000000000_0000000000000042",
      "0000000000000000_00000000000000-1",
      "0000000000000000_0000000000000042x",
    ]
  ) assert.equal(decodeOffset(bad), undefined, bad);
});

Deno.test("parseOffsetParam() maps sentinels", () => {
  assert.deepEqual(parseOffsetParam(null), { kind: "start" });
  assert.deepEqual(parseOffsetParam("-1"), { kind: "start" });
  assert.deepEqual(parseOffsetParam("now"), { kind: "now" });
  assert.deepEqual(parseOffsetParam(encodeOffset(7)), {
    kind: "position",
    position: 7,
  });
  assert.equal(parseOffsetParam("-2"), undefined);
  assert.equal(parseOffsetParam("NOW"), undefined);
});
