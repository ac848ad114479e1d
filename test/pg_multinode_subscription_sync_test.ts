/**
 * Subscription copies across two nodes when announcements go missing: the
 * periodic version check finds a change another node made whose
 * notification never arrived, and a signing-key rotation on one node is
 * taken up by the other (by its announcement, or by that check).
 */

import assert from "node:assert/strict";
import {
  call as send,
  callJson,
  Earplugs,
  type Json,
  type Node,
  waitFor,
  withNodes,
} from "./_pg_nodes.ts";

const DS = (node: Node) => `${node.url}/v1/stream/__ds`;

const json = (url: string, method = "GET", body?: unknown) =>
  callJson(url, method, body);

/**
 * Waits until B's LISTEN connection is up (it connects after start-up): a
 * subscription change through A reaches B's announcement switches.
 */
async function listening(a: Node, plugs: Earplugs): Promise<void> {
  const config = { type: "pull-wake", streams: ["t"], wake_stream: "w" };
  assert.equal((await json(`${a.url}/v1/stream/w`, "PUT")).status, 201);
  for (let i = 0;; i++) {
    assert.ok(i < 100, "B's LISTEN connection never came up");
    const put = await json(`${DS(a)}/subscriptions/warm${i}`, "PUT", config);
    assert.equal(put.status, 201, JSON.stringify(put.json));
    const heard = await waitFor(
      () =>
        plugs.heardSubscriptions + plugs.droppedSubscriptions > 0 || undefined,
      "B hearing",
      20,
    ).catch(() => false);
    if (heard) break;
  }
  plugs.heardSubscriptions = 0;
  plugs.droppedSubscriptions = 0;
}

/** Ids in a node's subscription listing (which reloads nothing). */
async function listed(node: Node): Promise<string[]> {
  const got = await json(`${DS(node)}/subscriptions`);
  assert.equal(got.status, 200, JSON.stringify(got.json));
  return (got.json.subscriptions as Json[]).map((s) => s.id as string);
}

async function kids(node: Node): Promise<string[]> {
  const got = await json(`${DS(node)}/jwks.json`);
  return (got.json.keys as Json[]).map((k) => k.kid as string);
}

// A check interval well inside the tests' waits.
const OPTIONS = {
  storage: { postgresWakePollMs: 200 },
  subscriptions: { webhookAllowLocalhost: true },
};

Deno.test("two nodes: a subscription change whose announcement B lost reaches B's copy by the version check", async () => {
  const plugs = new Earplugs();
  await withNodes(
    2,
    async ([a, b]) => {
      await listening(a, plugs);
      plugs.subscriptions = true;
      const config = { type: "pull-wake", streams: ["t"], wake_stream: "w" };
      const created = await json(`${DS(a)}/subscriptions/s1`, "PUT", config);
      assert.equal(created.status, 201, JSON.stringify(created.json));
      assert.ok((await listed(a)).includes("s1"));
      await waitFor(
        async () => (await listed(b)).includes("s1") || undefined,
        "B listing s1",
      );
      // (It may reach B's plug after the check did its work, under load.)
      await waitFor(
        () => plugs.droppedSubscriptions > 0 || undefined,
        "B dropping the announcement",
      );
      // And a delete it also never hears of.
      assert.equal(
        (await json(`${DS(a)}/subscriptions/s1`, "DELETE")).status,
        204,
      );
      await waitFor(
        async () => !(await listed(b)).includes("s1") || undefined,
        "B forgetting s1",
      );
    },
    OPTIONS,
    (i) => i === 1 ? plugs.wrap : undefined,
  );
});

for (const deafToSubscriptions of [false, true]) {
  const how = deafToSubscriptions
    ? "although B misses the announcement"
    : "from its announcement";
  Deno.test(`two nodes: a signing key rotated on A signs B's deliveries, ${how}`, async () => {
    const plugs = new Earplugs();
    const signatures: string[] = [];
    const hook = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        signatures.push(req.headers.get("webhook-signature") ?? "");
        await req.body?.cancel();
        return Response.json({ done: true });
      },
    );
    try {
      await withNodes(
        2,
        async ([a, b]) => {
          await listening(a, plugs);
          const before = await kids(b);
          assert.deepEqual(await kids(a), before);
          plugs.subscriptions = deafToSubscriptions;
          const kid = await a.rotateSigningKey!();
          assert.ok(!before.includes(kid));
          assert.ok((await kids(a)).includes(kid));
          await waitFor(
            async () => (await kids(b)).includes(kid) || undefined,
            "B publishing the new key",
          );
          // The old key stays published for receivers verifying late.
          const published = await kids(b);
          assert.ok(before.every((k) => published.includes(k)), `${published}`);
          // A wake B issues and delivers is signed with the new key.
          const created = await json(`${DS(b)}/subscriptions/h`, "PUT", {
            type: "webhook",
            streams: ["orders"],
            webhook: { url: `http://127.0.0.1:${hook.addr.port}/hook` },
          });
          assert.equal(created.status, 201, JSON.stringify(created.json));
          assert.equal(
            (created.json.webhook as { signing: Json }).signing.kid,
            kid,
          );
          const put = await send(
            `${b.url}/v1/stream/orders`,
            "PUT",
            { "content-type": "application/json" },
            JSON.stringify([{ n: 1 }]),
          );
          assert.equal(put.status, 201, put.text);
          const signature = await waitFor(() => signatures[0], "a delivery");
          assert.match(signature, new RegExp(`,kid=${kid},`));
          if (deafToSubscriptions) {
            await waitFor(
              () => plugs.droppedSubscriptions > 0 || undefined,
              "B dropping the announcement",
            );
          }
        },
        OPTIONS,
        (i) => i === 1 ? plugs.wrap : undefined,
      );
    } finally {
      await hook.shutdown();
    }
  });
}
