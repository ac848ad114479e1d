import assert from "node:assert/strict";
import { defaultConfig } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import { createLogger } from "../log.ts";
import { MemoryStore, MemoryWal } from "../storage/memory_store.ts";
import { sseBody, type SseEngine, type SseOptions } from "./sse.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const tick = (ms = 5) => new Promise((resolve) => setTimeout(resolve, ms));
const READ_BYTES_MAX = 64 * 1024;

/** An engine with stream "s" holding `chunks` (text) and maybe closed. */
async function engineWith(chunks: string[], closed: boolean): Promise<Engine> {
  const engine = await Engine.open(new MemoryStore(new MemoryWal()), {
    limits: { ...defaultConfig().limits, readBytesMax: READ_BYTES_MAX },
    log: createLogger("error"),
    onFatal: () => {},
  });
  const created = await engine.create("s", {
    contentType: "text/plain",
    ttlSeconds: undefined,
    expiresAtMs: undefined,
    closed: false,
    body: new Uint8Array(),
    fork: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  });
  assert.ok(created.ok);
  for (const [i, chunk] of chunks.entries()) {
    const appended = await engine.append("s", {
      contentType: "text/plain",
      body: enc(chunk),
      close: closed && i === chunks.length - 1,
      streamSeq: undefined,
      producer: undefined,
      routingKey: undefined,
      timestampMs: undefined,
    });
    assert.ok(appended.ok);
  }
  return engine;
}

/** Wraps `engine`, counting the bytes its reads returned. */
function counting(engine: Engine): SseEngine & { bytesRead: number } {
  const counter = {
    bytesRead: 0,
    read: async (...args: Parameters<Engine["read"]>) => {
      const read = await engine.read(...args);
      if (read.ok) counter.bytesRead += read.value.data.length;
      return read;
    },
    waitForData: (...args: Parameters<Engine["waitForData"]>) =>
      engine.waitForData(...args),
  };
  return counter;
}

function options(engine: SseEngine, extra: Partial<SseOptions>): SseOptions {
  return {
    engine,
    name: "s",
    from: "start",
    clientCursor: null,
    connectionMs: 60_000,
    readBytesMax: READ_BYTES_MAX,
    stallMs: 60_000,
    ...extra,
  };
}

/** The payloads of the `data` events in an SSE text (single-line text). */
function dataPayloads(text: string): string[] {
  return text.split("\n\n")
    .filter((event) => event.startsWith("event: data\n"))
    .map((event) =>
      event.split("\n").slice(1).map((line) => line.slice(5)).join("\n")
    );
}

/** 32 chunks of 64 KiB, each of one letter: 2 MiB in order. */
function letterChunks(): string[] {
  return Array.from(
    { length: 32 },
    (_, i) => String.fromCharCode(97 + (i % 26)).repeat(64 * 1024),
  );
}

Deno.test("sseBody() reads no further than one read past its queue while nobody reads the body", async () => {
  const chunks = letterChunks();
  const engine = await engineWith(chunks, true);
  const counter = counting(engine);
  const body = sseBody(options(counter, {}));
  // Give a loop that ignores backpressure ample turns to run ahead.
  for (let i = 0; i < 40; i++) await tick();
  // One read (64 KiB) fills the 64 KiB queue; nothing more is read.
  assert.ok(
    counter.bytesRead <= 2 * READ_BYTES_MAX,
    `read ${counter.bytesRead} bytes ahead of a reader that took nothing`,
  );
  const text = await new Response(body).text();
  assert.equal(dataPayloads(text).join(""), chunks.join(""));
  assert.ok(text.includes('"streamClosed":true'));
  assert.equal(counter.bytesRead, 32 * 64 * 1024);
  await engine.close();
});

Deno.test("sseBody() errors the body of a reader that takes nothing for stallMs", async () => {
  const engine = await engineWith(letterChunks(), false);
  const counter = counting(engine);
  const reader = sseBody(options(counter, { stallMs: 20 })).getReader();
  const outcome = await Promise.race([
    reader.closed.then(() => "closed", (error) => error),
    tick(5_000).then(() => "still open"),
  ]);
  assert.equal(outcome?.kind, "unavailable", String(outcome));
  const bytesRead = counter.bytesRead;
  for (let i = 0; i < 10; i++) await tick();
  assert.equal(counter.bytesRead, bytesRead); // nothing read after the cut
  assert.equal(engine.waiting, 0);
  await engine.close();
});

Deno.test("sseBody() keeps a reader at the tail past stallMs: an empty queue is no stall", async () => {
  const engine = await engineWith([], false);
  const reader = sseBody(options(engine, { stallMs: 10 })).getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.ok(first.startsWith("event: control\n"));
  for (let i = 0; i < 10; i++) await tick(); // well past stallMs
  assert.equal(engine.waiting, 1);
  await engine.append("s", {
    contentType: "text/plain",
    body: enc("late"),
    close: false,
    streamSeq: undefined,
    producer: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  });
  const next = new TextDecoder().decode((await reader.read()).value);
  assert.deepEqual(dataPayloads(next), ["late"]);
  await reader.cancel();
  await engine.close();
});

Deno.test("sseBody() frees its waiter slot when the body is cancelled", async () => {
  const engine = await engineWith(["x"], false);
  const reader = sseBody(options(engine, {})).getReader();
  await reader.read(); // "x" and its control event
  while (engine.waiting === 0) await tick();
  await reader.cancel();
  for (let i = 0; i < 100 && engine.waiting > 0; i++) await tick();
  assert.equal(engine.waiting, 0);
  await engine.close();
});

Deno.test("sseBody() starts from a read the caller already did", async () => {
  const engine = await engineWith(["one", "two"], true);
  const first = await engine.read("s", "start", 3);
  assert.ok(first.ok && first.value.nextPos === 3);
  const counter = counting(engine);
  const body = sseBody(options(counter, { first: first.value }));
  const text = await new Response(body).text();
  assert.deepEqual(dataPayloads(text), ["one", "two"]);
  assert.equal(counter.bytesRead, 3); // "one" was not read again
  await engine.close();
});
