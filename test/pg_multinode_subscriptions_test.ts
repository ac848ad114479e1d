/**
 * Subscriptions across nodes (`--postgres-multi-node`): a subscription
 * created, changed or deleted through one node is seen through the others
 * at once, a pattern links streams created through any node, and a webhook
 * wake is delivered once cluster-wide however many nodes see the append.
 */

import assert from "node:assert/strict";
import {
  call as send,
  callJson,
  type Json,
  streamUrl,
  subscriptionUrl,
  waitFor,
  withNodes,
} from "./_pg_nodes.ts";

const call = callJson;
const sub = subscriptionUrl;
const stream = streamUrl;

Deno.test("two nodes: a subscription created, changed and deleted through A is seen through B at once", async () => {
  await withNodes(2, async ([a, b]) => {
    assert.equal((await call(stream(a, "wake/q"), "PUT")).status, 201);
    assert.equal((await call(stream(a, "tasks/one"), "PUT")).status, 201);
    assert.equal((await call(sub(b, "s1"), "GET")).status, 404);
    const config = {
      type: "pull-wake",
      streams: ["tasks/one"],
      wake_stream: "wake/q",
    };
    const created = await call(sub(a, "s1"), "PUT", config);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const seen = await call(sub(b, "s1"), "GET");
    assert.equal(seen.status, 200, JSON.stringify(seen.json));
    // The same config through B confirms it; another one conflicts.
    assert.equal((await call(sub(b, "s1"), "PUT", config)).status, 200);
    const other = await call(sub(b, "s1"), "PUT", {
      ...config,
      streams: ["tasks/two"],
    });
    assert.equal(other.status, 409, JSON.stringify(other.json));
    // A link added through A shows through B.
    const linked = await call(`${sub(a, "s1")}/streams`, "POST", {
      streams: ["tasks/two"],
    });
    assert.ok(linked.status < 300, JSON.stringify(linked.json));
    const links = await call(sub(b, "s1"), "GET");
    const paths = (links.json.streams as Json[]).map((s) => s.path);
    assert.deepEqual(paths.sort(), ["tasks/one", "tasks/two"]);
    assert.equal((await call(sub(a, "s1"), "DELETE")).status, 204);
    assert.equal((await call(sub(b, "s1"), "GET")).status, 404);
    // Created again through B, with another config: A sees that one.
    const again = await call(sub(b, "s1"), "PUT", {
      ...config,
      streams: ["tasks/two"],
    });
    assert.equal(again.status, 201, JSON.stringify(again.json));
    const onA = await call(sub(a, "s1"), "GET");
    assert.deepEqual(
      (onA.json.streams as Json[]).map((s) => s.path),
      ["tasks/two"],
    );
  });
});

Deno.test("two nodes: a pull-wake subscription made through A is woken by a stream created and appended through B", async () => {
  await withNodes(2, async ([a, b]) => {
    assert.equal((await call(stream(a, "wake/pool"), "PUT")).status, 201);
    const created = await call(sub(a, "pool"), "PUT", {
      type: "pull-wake",
      pattern: "jobs/*",
      wake_stream: "wake/pool",
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    // B has not been asked about the subscription: it learns of it from
    // A's announcement (or A links the stream once it learns of it).
    assert.equal(
      (await call(stream(b, "jobs/x"), "PUT", { n: 1 })).status,
      201,
    );
    const events = await waitFor(async () => {
      const got = await send(`${stream(a, "wake/pool")}?offset=-1`, "GET");
      const list = JSON.parse(got.text) as Json[];
      return list.length > 0 ? list : undefined;
    }, "a wake event");
    assert.equal(events[0].subscription_id, "pool");
    assert.equal(events[0].stream, "jobs/x");
    // Claimed through B, acked through A.
    const claim = await call(`${sub(b, "pool")}/claim`, "POST", {
      worker: "w1",
    });
    assert.equal(claim.status, 200, JSON.stringify(claim.json));
    const tail = (claim.json.streams as Json[])[0].tail_offset;
    const acked = await send(
      `${sub(a, "pool")}/ack`,
      "POST",
      {
        "content-type": "application/json",
        authorization: `Bearer ${claim.json.token}`,
      },
      JSON.stringify({
        wake_id: claim.json.wake_id,
        generation: claim.json.generation,
        acks: [{ stream: "jobs/x", offset: tail }],
        done: true,
      }),
    );
    assert.equal(acked.status, 200, acked.text);
    const after = await call(sub(b, "pool"), "GET");
    assert.equal((after.json.streams as Json[])[0].acked_offset, tail);
  });
});

/** A webhook receiver counting deliveries by wake id. */
function receiver() {
  const wakes: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const body = JSON.parse(await req.text());
      wakes.push(body.wake_id);
      return Response.json({ done: true });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    wakes,
    close: () => server.shutdown(),
  };
}

Deno.test("three nodes: a webhook wake is delivered once cluster-wide while appends go through every node", async () => {
  const hook = receiver();
  try {
    await withNodes(3, async (nodes) => {
      const [a] = nodes;
      const created = await call(sub(a, "hook"), "PUT", {
        type: "webhook",
        pattern: "orders/*",
        webhook: { url: hook.url },
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      for (const node of nodes) {
        assert.equal((await call(sub(node, "hook"), "GET")).status, 200);
      }
      assert.equal(
        (await call(stream(a, "orders/1"), "PUT", [])).status,
        201,
      );
      let last = "";
      for (let i = 0; i < 30; i++) {
        const node = nodes[i % nodes.length];
        const res = await send(
          stream(node, "orders/1"),
          "POST",
          { "content-type": "application/json" },
          JSON.stringify({ i }),
        );
        assert.equal(res.status, 204, res.text);
        last = res.headers.get("stream-next-offset")!;
      }
      // Every append acked in the end, through whichever node delivered.
      await waitFor(async () => {
        const got = await call(sub(nodes[1], "hook"), "GET");
        const link = (got.json.streams as Json[])[0];
        return link?.acked_offset === last ? true : undefined;
      }, "the last append acked");
      assert.ok(hook.wakes.length > 0);
      assert.equal(
        new Set(hook.wakes).size,
        hook.wakes.length,
        `a wake was delivered twice: ${hook.wakes}`,
      );
    }, { subscriptions: { webhookAllowLocalhost: true } });
  } finally {
    await hook.close();
  }
});

Deno.test("two nodes: when the node that issued a webhook wake stops, the other delivers it", async () => {
  let healthy = false;
  const wakes: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      wakes.push(JSON.parse(await req.text()).wake_id);
      return healthy
        ? Response.json({ done: true })
        : Response.json({}, { status: 500 });
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}/hook`;
  try {
    await withNodes(2, async ([a, b]) => {
      const created = await call(sub(a, "takeover"), "PUT", {
        type: "webhook",
        streams: ["orders/9"],
        webhook: { url },
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      assert.equal((await call(sub(b, "takeover"), "GET")).status, 200);
      // Created and appended through A: A issues the wake and keeps
      // failing to deliver it; B only follows.
      assert.equal(
        (await call(stream(a, "orders/9"), "PUT", [{ n: 1 }])).status,
        201,
      );
      await waitFor(() => wakes.length >= 2 || undefined, "two attempts");
      await a.close();
      healthy = true;
      const tail = (await send(stream(b, "orders/9"), "HEAD")).headers.get(
        "stream-next-offset",
      );
      await waitFor(async () => {
        const got = await call(sub(b, "takeover"), "GET");
        const link = (got.json.streams as Json[])[0];
        return link?.acked_offset === tail ? true : undefined;
      }, "B delivered the wake");
      assert.equal(new Set(wakes).size, 1, "retries resend the same wake");
    }, {
      subscriptions: {
        webhookAllowLocalhost: true,
        retryDelayMinMs: 50,
        retryDelayMaxMs: 200,
        deliveryTimeoutMs: 1000,
      },
    });
  } finally {
    await server.shutdown();
  }
});
