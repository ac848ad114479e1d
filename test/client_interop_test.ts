/**
 * Interop with the published TypeScript client (@durable-streams/client):
 * the idempotent producer, catch-up reads, live SSE and long-poll
 * subscriptions, resuming from a returned offset, and closing. Each test
 * runs three times: with `--auth none`, with `--auth api-key` and a client
 * configured with `Authorization: Bearer <key>`, and against three nodes
 * on one PostgreSQL (`--postgres-multi-node`) behind a front sending each
 * request to the next node in turn, so a read never goes to the node that
 * took the write before it.
 */

import assert from "node:assert/strict";
import {
  DurableStream,
  IdempotentProducer,
  stream,
} from "@durable-streams/client";
import { startTestServer } from "./_server.ts";
import { randomFront } from "./_front.ts";
import { type Node, startNode } from "./_pg_nodes.ts";
import { freshSchema } from "../src/storage/_pg_testing.ts";

const KEY = "interop-key-0123456789";

/** The ways each test runs: no auth, a keyed client, three nodes. */
const MODES = [
  { label: "", headers: {} as Record<string, string>, cluster: false },
  {
    label: " (auth on)",
    headers: { authorization: `Bearer ${KEY}` },
    cluster: false,
  },
  {
    label: " (three nodes, each request to the next one)",
    headers: {} as Record<string, string>,
    cluster: true,
  },
];

async function withServer(
  headers: Record<string, string>,
  fn: (url: string) => Promise<void>,
  cluster = false,
): Promise<void> {
  if (cluster) return await withCluster(fn);
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

/** Three nodes on a fresh schema behind a front taking them in turn. */
async function withCluster(fn: (url: string) => Promise<void>): Promise<void> {
  const schema = freshSchema("interop");
  const nodes: Node[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await startNode(schema, { http: { longPollTimeoutMs: 1000 } }),
      );
    }
    const front = randomFront(nodes.map((n) => n.url), true);
    try {
      await fn(front.url);
      for (const count of front.counts) {
        assert.ok(count > 0, `requests per node: ${front.counts}`);
      }
    } finally {
      await front.close();
    }
  } finally {
    for (const node of nodes) {
      await node.close();
      await Deno.remove(node.dataDir, { recursive: true });
    }
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

for (const { label, headers, cluster } of MODES) {
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
    }, cluster);
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
    }, cluster);
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
      }, cluster);
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
    }, cluster);
  });
}
