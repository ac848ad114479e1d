import assert from "node:assert/strict";
import { readBody } from "./body.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function streamOf(...parts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const part of parts) controller.enqueue(enc(part));
      controller.close();
    },
  });
}

Deno.test("readBody takes a body of declared length whole, and one without a length from its stream", async () => {
  const declared = new Request("http://x/", {
    method: "POST",
    headers: { "content-length": "5" },
    body: "hello",
  });
  const one = await readBody(declared, 10);
  assert.ok(one.ok && new TextDecoder().decode(one.value) === "hello");
  const streamed = new Request("http://x/", {
    method: "POST",
    body: streamOf("he", "llo"),
  });
  const two = await readBody(streamed, 10);
  assert.ok(two.ok && new TextDecoder().decode(two.value) === "hello");
  const none = await readBody(new Request("http://x/", { method: "POST" }), 10);
  assert.ok(none.ok && none.value.length === 0);
});

Deno.test("readBody refuses bodies over the limit, declared or streamed, with 413", async () => {
  const declared = new Request("http://x/", {
    method: "POST",
    headers: { "content-length": "11" },
    body: "hello world",
  });
  const one = await readBody(declared, 10);
  assert.ok(!one.ok && one.error.kind === "payload_too_large");
  assert.equal(declared.bodyUsed, false, "refused before reading");
  const streamed = new Request("http://x/", {
    method: "POST",
    body: streamOf("hello", " ", "world"),
  });
  const two = await readBody(streamed, 10);
  assert.ok(!two.ok && two.error.kind === "payload_too_large");
});

Deno.test("readBody answers 400 when the body cannot be read", async () => {
  const broken = new Request("http://x/", {
    method: "POST",
    headers: { "content-length": "5" },
    body: new ReadableStream({
      pull(controller) {
        controller.error(new Error("connection reset"));
      },
    }),
  });
  const got = await readBody(broken, 10);
  assert.ok(!got.ok && got.error.kind === "bad_request");
  assert.match(got.error.message, /connection reset/);
});
