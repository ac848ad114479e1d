/**
 * Interop with the published TypeScript client (@durable-streams/client):
 * the idempotent producer, catch-up reads, live SSE and long-poll
 * subscriptions, resuming from a returned offset, and closing.
 */

import assert from "node:assert/strict";
import {
  DurableStream,
  IdempotentProducer,
  stream,
} from "@durable-streams/client";
import { startTestServer } from "./_server.ts";

async function withServer(fn: (url: string) => Promise<void>): Promise<void> {
  const server = await startTestServer({ http: { longPollTimeoutMs: 1000 } });
  try {
    await fn(server.url);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
}

/** Resolves when `check` holds, polling; rejects after `timeoutMs`. */
async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("IdempotentProducer writes exactly once and stream() reads it back", async () => {
  await withServer(async (base) => {
    const url = `${base}/v1/stream/interop/producer`;
    const handle = await DurableStream.create({
      url,
      contentType: "application/json",
    });
    const errors: unknown[] = [];
    const producer = new IdempotentProducer(handle, "writer-1", {
      autoClaim: true,
      onError: (e) => errors.push(e),
    });
    for (let i = 0; i < 300; i++) {
      producer.append(JSON.stringify({ i, text: `event ${i}` }));
    }
    await producer.flush();
    await producer.close();
    assert.deepEqual(errors, []);
    const res = await stream<{ i: number; text: string }>({ url, live: false });
    const items = await res.json();
    assert.deepEqual(
      items.map((item) => item.i),
      Array.from({ length: 300 }, (_, i) => i),
    );
  });
});

Deno.test("stream() resumes from a returned offset", async () => {
  await withServer(async (base) => {
    const url = `${base}/v1/stream/interop/resume`;
    const handle = await DurableStream.create({
      url,
      contentType: "application/json",
    });
    await handle.append(JSON.stringify({ n: 1 }));
    await handle.append(JSON.stringify({ n: 2 }));
    const head = await handle.head();
    assert.ok(head.exists && head.offset !== undefined);
    const offset = head.offset;
    await handle.append(JSON.stringify({ n: 3 }));
    const rest =
      await (await stream<{ n: number }>({ url, offset, live: false })).json();
    assert.deepEqual(rest, [{ n: 3 }]);
  });
});

for (const live of ["sse", "long-poll"] as const) {
  Deno.test(`live ${live} subscription delivers new appends, then the closure`, async () => {
    await withServer(async (base) => {
      const url = `${base}/v1/stream/interop/live-${live}`;
      const handle = await DurableStream.create({
        url,
        contentType: "application/json",
      });
      await handle.append(JSON.stringify({ n: 0 }));
      const seen: number[] = [];
      const controller = new AbortController();
      const res = await stream<{ n: number }>({
        url,
        live,
        signal: controller.signal,
      });
      res.subscribeJson((batch) => {
        for (const item of batch.items) seen.push(item.n);
      });
      await until(() => seen.length === 1);
      for (let n = 1; n <= 5; n++) await handle.append(JSON.stringify({ n }));
      await until(() => seen.length === 6);
      assert.deepEqual(seen, [0, 1, 2, 3, 4, 5]);
      await handle.close();
      // The live session sees the closure signal (EOF) without a new append.
      await until(() => res.streamClosed);
      const head = await handle.head();
      assert.ok(head.exists && head.streamClosed === true);
      assert.deepEqual(seen, [0, 1, 2, 3, 4, 5]);
      controller.abort();
    });
  });
}

Deno.test("binary streams round-trip bytes through the client", async () => {
  await withServer(async (base) => {
    const url = `${base}/v1/stream/interop/binary`;
    const handle = await DurableStream.create({
      url,
      contentType: "application/octet-stream",
    });
    const payload = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
    await handle.append(payload);
    await handle.append(payload.subarray(0, 10));
    const body = await (await stream({ url, live: false })).body();
    assert.equal(body.length, 1010);
    assert.deepEqual(body.subarray(0, 1000), payload);
  });
});
