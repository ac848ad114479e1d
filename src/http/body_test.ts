import assert from "node:assert/strict";
import { StreamError } from "../errors.ts";
import { BodyBudget, readBody, readHeldBody, withBody } from "./body.ts";

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

function post(body: string | ReadableStream<Uint8Array>, length?: number) {
  const headers = length === undefined
    ? undefined
    : { "content-length": String(length) };
  return new Request("http://x/", { method: "POST", headers, body });
}

Deno.test("readHeldBody() reserves a declared length before reading, and refuses what does not fit unread", async () => {
  const budget = new BodyBudget(10);
  const first = await readHeldBody(post("12345678", 8), {
    bytesMax: 100,
    budget,
  });
  assert.ok(first.ok && first.value.reservedBytes === 8);
  assert.equal(budget.reservedBytes, 8);
  const second = post("12345", 5);
  const refused = await readHeldBody(second, { bytesMax: 100, budget });
  assert.ok(!refused.ok && refused.error.kind === "overloaded");
  assert.equal(refused.error.detail?.retryAfterSeconds, 1);
  assert.equal(second.bodyUsed, false, "refused before reading");
  assert.equal(budget.reservedBytes, 8);
  budget.release(8);
  assert.equal(budget.reservedBytes, 0);
});

Deno.test("readHeldBody() asks admit() about a declared length before reading", async () => {
  const asked: number[] = [];
  const request = post("12345", 5);
  const refused = await readHeldBody(request, {
    bytesMax: 100,
    budget: new BodyBudget(100),
    admit: (bytes) => {
      asked.push(bytes);
      return new StreamError("payload_too_large", "never fits");
    },
  });
  assert.ok(!refused.ok && refused.error.kind === "payload_too_large");
  assert.deepEqual(asked, [5]);
  assert.equal(request.bodyUsed, false);
});

Deno.test("readHeldBody() reserves a streamed body as it arrives and returns it all on refusal", async () => {
  const budget = new BodyBudget(8);
  const fits = await readHeldBody(post(streamOf("he", "llo")), {
    bytesMax: 100,
    budget,
  });
  assert.ok(fits.ok && fits.value.reservedBytes === 5);
  assert.equal(budget.reservedBytes, 5);
  const over = await readHeldBody(post(streamOf("abc", "def")), {
    bytesMax: 100,
    budget,
  });
  assert.ok(!over.ok && over.error.kind === "overloaded");
  const tooLarge = await readHeldBody(post(streamOf("ab", "cd")), {
    bytesMax: 3,
    budget,
  });
  assert.ok(!tooLarge.ok && tooLarge.error.kind === "payload_too_large");
  assert.equal(budget.reservedBytes, 5, "refused bodies hold nothing");
});

Deno.test("withBody() keeps the reservation while the body is used and releases it after, even on a throw", async () => {
  const budget = new BodyBudget(100);
  const limits = { bytesMax: 100, budget };
  const response = await withBody(post("hello", 5), limits, (body) => {
    assert.equal(body.length, 5);
    assert.equal(budget.reservedBytes, 5);
    return Promise.resolve(new Response(null, { status: 204 }));
  });
  assert.equal(response.status, 204);
  assert.equal(budget.reservedBytes, 0);
  await assert.rejects(
    withBody(post("hello", 5), limits, () => Promise.reject(new Error("x"))),
  );
  assert.equal(budget.reservedBytes, 0);
  const refused = await withBody(
    post("hello", 5),
    { bytesMax: 100, budget: new BodyBudget(4) },
    () => Promise.reject(new Error("never called")),
  );
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("retry-after"), "1");
  await refused.body?.cancel();
});
