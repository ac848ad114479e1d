/**
 * Webhook wakes across two nodes when one of them hears of a stream late:
 * a callback through a node that has not applied the stream's creation yet
 * is accepted, and a node that links a stream it learns of by a reload,
 * from a copy of the subscription older than the other node's ack, neither
 * puts the cursor back nor causes the acked data to be delivered again.
 */

import assert from "node:assert/strict";
import {
  call as send,
  callJson,
  Earplugs,
  type Json,
  streamUrl,
  subscriptionUrl,
  waitFor,
  withNodes,
} from "./_pg_nodes.ts";

const call = callJson;
const sub = subscriptionUrl;
const stream = streamUrl;

/** A webhook receiver keeping every delivery's body; answers `answer`. */
function receiver(answer: Json) {
  const bodies: Json[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      bodies.push(JSON.parse(await req.text()));
      return Response.json(answer);
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    bodies,
    close: () => server.shutdown(),
  };
}

/** The link of `path` in a delivery or subscription body. */
function linkOf(body: Json, path: string): Json | undefined {
  return (body.streams as Json[]).find((s) => s.path === path);
}

// No version check within the tests' time: B's copies stay as they are.
const OPTIONS = {
  storage: { postgresWakePollMs: 600_000 },
  subscriptions: { webhookAllowLocalhost: true },
};

Deno.test("two nodes: a webhook callback through the node that has not heard of the new stream yet is accepted", async () => {
  const hook = receiver({});
  const plugs = new Earplugs();
  try {
    await withNodes(
      2,
      async ([a, b]) => {
        const created = await call(sub(a, "cb"), "PUT", {
          type: "webhook",
          pattern: "events/*",
          webhook: { url: hook.url },
          lease_ttl_ms: 60_000,
        });
        assert.equal(created.status, 201, JSON.stringify(created.json));
        assert.equal((await call(sub(b, "cb"), "GET")).status, 200);
        plugs.streams = true; // B misses the create below
        assert.equal(
          (await call(stream(a, "events/x"), "PUT", { n: 1 })).status,
          201,
        );
        const wake = await waitFor(() => hook.bodies[0], "the wake");
        const tail = linkOf(wake, "events/x")!.tail_offset;
        const ack = {
          wake_id: wake.wake_id,
          generation: wake.generation,
          acks: [{ stream: "events/x", offset: tail }],
          done: true,
        };
        const path = new URL(wake.callback_url as string).pathname;
        const headers = {
          "content-type": "application/json",
          authorization: `Bearer ${wake.callback_token}`,
        };
        const first = await send(
          `${b.url}${path}`,
          "POST",
          headers,
          JSON.stringify(ack),
        );
        assert.equal(first.status, 200, first.text);
        assert.deepEqual(JSON.parse(first.text), {
          ok: true,
          next_wake: false,
        });
        // The same callback again, through A: the wake is over.
        const again = await send(
          `${a.url}${path}`,
          "POST",
          headers,
          JSON.stringify(ack),
        );
        assert.equal(again.status, 409, again.text);
        assert.equal(JSON.parse(again.text).error.code, "FENCED");
        assert.equal(hook.bodies.length, 1, "one delivery");
      },
      OPTIONS,
      (i) => i === 1 ? plugs.wrap : undefined,
    );
  } finally {
    await hook.close();
  }
});

Deno.test("two nodes: a node linking a new stream it learns of late keeps the cursor the other node acked and wakes no one", async () => {
  const hook = receiver({ done: true });
  const plugs = new Earplugs();
  try {
    await withNodes(
      2,
      async ([a, b]) => {
        const created = await call(sub(a, "late"), "PUT", {
          type: "webhook",
          pattern: "orders/*",
          webhook: { url: hook.url },
        });
        assert.equal(created.status, 201, JSON.stringify(created.json));
        assert.equal((await call(sub(b, "late"), "GET")).status, 200);
        // B keeps its copy of the subscription from before the stream.
        plugs.streams = true;
        plugs.subscriptions = true;
        assert.equal(
          (await call(stream(a, "orders/1"), "PUT", [{ n: 1 }])).status,
          201,
        );
        const tail = (await send(stream(a, "orders/1"), "HEAD")).headers.get(
          "stream-next-offset",
        );
        await waitFor(async () => {
          const got = await call(sub(a, "late"), "GET");
          return linkOf(got.json, "orders/1")?.acked_offset === tail
            ? true
            : undefined;
        }, "the wake acked through A");
        await waitFor(
          () => plugs.droppedSubscriptions > 0 || undefined,
          "B dropping the announcements",
        );
        // B learns of the stream by a reload, and links it from its old copy.
        assert.equal((await send(stream(b, "orders/1"), "HEAD")).status, 200);
        const stored = await call(sub(a, "late"), "GET");
        assert.equal(
          linkOf(stored.json, "orders/1")?.acked_offset,
          tail,
          "the acked cursor stays",
        );
        // The next wake (for another stream) finds nothing left in orders/1.
        plugs.subscriptions = false;
        assert.equal(
          (await call(stream(a, "orders/2"), "PUT", [{ n: 2 }])).status,
          201,
        );
        const next = await waitFor(() => hook.bodies[1], "the second wake");
        assert.equal(linkOf(next, "orders/1")?.has_pending, false);
        assert.equal(linkOf(next, "orders/2")?.has_pending, true);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(hook.bodies.length, 2, "one wake per stream");
      },
      OPTIONS,
      (i) => i === 1 ? plugs.wrap : undefined,
    );
  } finally {
    await hook.close();
  }
});
