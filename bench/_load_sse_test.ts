/**
 * @module
 * Tests for the load benchmark's SSE parser: framing, CRLF split across
 * chunks, multi-line data, comments, and the single leading space rule.
 */

import { parseSse, type SseEvent } from "./_load_sse.ts";

function streamOf(chunks: readonly string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(chunks.map((chunk) => encoder.encode(chunk)));
}

async function collect(chunks: readonly string[]): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for await (const event of parseSse(streamOf(chunks))) events.push(event);
  return events;
}

function assertEquals(actual: unknown, expected: unknown): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`expected ${e}, got ${a}`);
}

Deno.test("parseSse() yields data and control events", async () => {
  const events = await collect([
    'event: data\ndata: [{"i":1}]\n\nevent: control\ndata: {"streamNextOffset":"a"}\n\n',
  ]);
  assertEquals(events, [
    { type: "data", data: '[{"i":1}]' },
    { type: "control", data: '{"streamNextOffset":"a"}' },
  ]);
});

Deno.test("parseSse() joins data lines and handles CRLF split across chunks", async () => {
  const events = await collect([
    "event: data\r",
    "\ndata: [1,\r\ndata:2]\r\n",
    "\r\n",
  ]);
  assertEquals(events, [{ type: "data", data: "[1,\n2]" }]);
});

Deno.test("parseSse() ignores comments and strips exactly one leading space", async () => {
  const events = await collect([": keep-alive\n\ndata:  two spaces\n\n"]);
  assertEquals(events, [{ type: "message", data: " two spaces" }]);
});
