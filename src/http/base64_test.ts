import assert from "node:assert/strict";
import fc from "fast-check";
import { Buffer } from "node:buffer";
import { encodeBase64 } from "./base64.ts";

Deno.test("encodeBase64() matches RFC 4648 vectors", () => {
  const vectors: [string, string][] = [
    ["", ""],
    ["f", "Zg=="],
    ["fo", "Zm8="],
    ["foo", "Zm9v"],
    ["foobar", "Zm9vYmFy"],
  ];
  for (const [plain, encoded] of vectors) {
    assert.equal(encodeBase64(new TextEncoder().encode(plain)), encoded);
  }
});

Deno.test("encodeBase64() agrees with node:buffer (property)", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 70_000 }),
      (bytes) => encodeBase64(bytes) === Buffer.from(bytes).toString("base64"),
    ),
    { numRuns: 50 },
  );
});
