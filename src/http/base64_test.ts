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

Deno.test("encodeBase64() leaves V8's young generation at its size (4 MiB encoded in a fresh process)", async () => {
  // A rope of small strings per 3 bytes makes V8 grow its young generation
  // to the maximum (heapTotal +70 MiB here); one byte array decoded once
  // does not (+4 MiB).
  const module = new URL("./base64.ts", import.meta.url).href;
  const script = `
    const { encodeBase64 } = await import(${JSON.stringify(module)});
    const bytes = new Uint8Array(256 * 1024).map((_, i) => (i * 7919) & 255);
    const before = Deno.memoryUsage().heapTotal;
    let length = 0;
    for (let i = 0; i < 16; i++) length += encodeBase64(bytes).length;
    console.log(JSON.stringify({ grown: Deno.memoryUsage().heapTotal - before, length }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0);
  const { grown, length } = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(length, 16 * 349_528);
  assert.ok(
    grown < 24 * 1024 * 1024,
    `heapTotal grew by ${grown} bytes while encoding`,
  );
});
