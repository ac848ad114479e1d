/**
 * Interop with the published TypeScript client (@durable-streams/client):
 * the idempotent producer, catch-up reads, live SSE and long-poll
 * subscriptions, resuming from a returned offset, and closing. Each test
 * runs twice: with `--auth none`, and with `--auth api-key` and a client
 * configured with `Authorization: Bearer <key>`.
 */

import assert from "node:assert/strict";
import {
  DurableStream,
  IdempotentProducer,
  stream,
} from "@durable-streams/client";
import { startTestServer } from "./_server.ts";

const KEY = "interop-key-0123456789";

/** The two ways each test runs: no auth, and a keyed client. */
const MODES = [
  { label: "", headers: {} as Record<string, string> },
  { label: " (auth on)", headers: { authorization: `Bearer ${KEY}` } },
];

async function withServer(
  headers: Record<string, string>,
  fn: (url: string) => Promise<void>,
): Promise<void> {
  const keyed = "authorization" in headers;
  const server = await startTestServer({
    http: { longPollTimeoutMs: 1000 },
    auth: keyed ? { mode: "api-key", apiKey: KEY } : {},
  });
  try {
    if (keyed) {
      // The server does refuse a client without the key.
      const res = await fetch(`${server.url}/v1/stream/interop/x`);
      assert.equal(res.status, 401);
      await res.body?.cancel();
    }
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

for (const { label, headers } of MODES) {
  Deno.test(`IdempotentProducer writes exactly once and stream() reads it back${label}`, async () => {
    await withServer(headers, async (base) => {
      const url = `${base}/v1/stream/interop/producer`;
      const handle = await DurableStream.create({
        headers,
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
      const res = await stream<{ i: number; text: string }>({
        url,
        headers,
        live: false,
      });
      const items = await res.json();
      assert.deepEqual(
        items.map((item) => item.i),
        Array.from({ length: 300 }, (_, i) => i),
      );
    });
  });

  Deno.test(`stream() resumes from a returned offset${label}`, async () => {
    await withServer(headers, async (base) => {
      const url = `${base}/v1/stream/interop/resume`;
      const handle = await DurableStream.create({
        headers,
        url,
        contentType: "application/json",
      });
      await handle.append(JSON.stringify({ n: 1 }));
      await handle.append(JSON.stringify({ n: 2 }));
      const head = await handle.head();
      assert.ok(head.exists && head.offset !== undefined);
      const offset = head.offset;
      await handle.append(JSON.stringify({ n: 3 }));
      const rest = await (await stream<{ n: number }>({
        url,
        headers,
        offset,
        live: false,
      })).json();
      assert.deepEqual(rest, [{ n: 3 }]);
    });
  });

  for (const live of ["sse", "long-poll"] as const) {
    Deno.test(`live ${live} subscription delivers new appends, then the closure${label}`, async () => {
      await withServer(headers, async (base) => {
        const url = `${base}/v1/stream/interop/live-${live}`;
        const handle = await DurableStream.create({
          headers,
          url,
          contentType: "application/json",
        });
        await handle.append(JSON.stringify({ n: 0 }));
        const seen: number[] = [];
        const controller = new AbortController();
        const res = await stream<{ n: number }>({
          url,
          headers,
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

  Deno.test(`binary streams round-trip bytes through the client${label}`, async () => {
    await withServer(headers, async (base) => {
      const url = `${base}/v1/stream/interop/binary`;
      const handle = await DurableStream.create({
        headers,
        url,
        contentType: "application/octet-stream",
      });
      const payload = Uint8Array.from(
        { length: 1000 },
        (_, i) => (i * 7) & 0xff,
      );
      await handle.append(payload);
      await handle.append(payload.subarray(0, 10));
      const body = await (await stream({ url, headers, live: false })).body();
      assert.equal(body.length, 1010);
      assert.deepEqual(body.subarray(0, 1000), payload);
    });
  });
}
