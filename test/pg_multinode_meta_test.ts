/**
 * Metadata across nodes (`--postgres-multi-node`): a listing, a schema
 * registry and a profile read through node B right after a change through
 * node A show the change, and an append through B is validated by a schema
 * just installed through A, also when B never receives an announcement
 * (lost NOTIFYs, no poll in the test's time), so these answers never
 * depend on an announcement arriving.
 */

import assert from "node:assert/strict";
import { call, deaf, type Node, withNodes } from "./_pg_nodes.ts";

const JSON_TYPE = { "content-type": "application/json" };

async function names(node: Node, prefix: string): Promise<string[]> {
  const got = await call(`${node.url}/v1/streams?prefix=${prefix}`, "GET");
  assert.equal(got.status, 200, got.text);
  return JSON.parse(got.text).streams.map((s: { name: string }) => s.name);
}

async function post(url: string, body: unknown) {
  return await call(url, "POST", JSON_TYPE, JSON.stringify(body));
}

/** The two ways B runs: hearing A's announcements, and deaf to them. */
const MODES = [
  { label: "", wrap: undefined },
  { label: ", B deaf to announcements", wrap: deaf },
];

for (const { label, wrap } of MODES) {
  const options = [
    { storage: { postgresWakePollMs: 60_000 } },
    (i: number) => i === 1 ? wrap : undefined,
  ] as const;

  Deno.test(`two nodes${label}: GET /v1/streams on B lists creates and deletes made through A at once`, async () => {
    await withNodes(2, async ([a, b]) => {
      assert.deepEqual(await names(b, "ls/"), []);
      for (const name of ["ls/one", "ls/two"]) {
        const created = await call(`${a.url}/v1/stream/${name}`, "PUT");
        assert.equal(created.status, 201, created.text);
      }
      assert.deepEqual(await names(b, "ls/"), ["ls/one", "ls/two"]);
      const deleted = await call(`${a.url}/v1/stream/ls/one`, "DELETE");
      assert.equal(deleted.status, 204);
      assert.deepEqual(await names(b, "ls/"), ["ls/two"]);
      // A close through A shows in B's listing too.
      const closed = await call(`${a.url}/v1/stream/ls/two`, "POST", {
        "stream-closed": "true",
      });
      assert.equal(closed.status, 204, closed.text);
      const listed = await call(`${b.url}/v1/streams?prefix=ls/`, "GET");
      assert.equal(JSON.parse(listed.text).streams[0].closed, true);
    }, ...options);
  });

  Deno.test(`two nodes${label}: a schema installed through A is read and enforced on B at once`, async () => {
    await withNodes(2, async ([a, b]) => {
      const path = "/v1/stream/typed";
      assert.equal((await call(a.url + path, "PUT", JSON_TYPE)).status, 201);
      // B loads the stream (version 0) before the change.
      const empty = await call(`${b.url}${path}/_schema`, "GET");
      assert.equal(JSON.parse(empty.text).currentVersion, 0, empty.text);
      const installed = await post(`${a.url}${path}/_schema`, {
        schema: { type: "object", required: ["id"] },
      });
      assert.equal(installed.status, 200, installed.text);
      const read = await call(`${b.url}${path}/_schema`, "GET");
      assert.equal(read.status, 200, read.text);
      assert.equal(JSON.parse(read.text).currentVersion, 1, read.text);
      // An append B would have taken before the change is refused now.
      const refused = await post(b.url + path, [{ x: 2 }]);
      assert.equal(refused.status, 400, refused.text);
      assert.equal(JSON.parse(refused.text).error.code, "validation_failed");
      assert.equal((await post(b.url + path, [{ id: "ok" }])).status, 204);
      // Evolved through A: B validates by version 2 at once.
      const evolved = await post(`${a.url}${path}/_schema`, {
        schema: {
          type: "object",
          required: ["id", "n"],
          properties: { n: { type: "integer" } },
        },
        lens: {
          apiVersion: "durable.lens/v1",
          schema: "typed",
          from: 1,
          to: 2,
          ops: [{
            op: "add",
            path: "/n",
            schema: { type: "integer" },
            default: 0,
          }],
        },
      });
      assert.equal(evolved.status, 200, evolved.text);
      assert.equal((await post(b.url + path, [{ id: "c" }])).status, 400);
      assert.equal((await post(b.url + path, [{ id: "d", n: 1 }])).status, 204);
      const all = await call(`${b.url}${path}?offset=-1`, "GET");
      assert.deepEqual(JSON.parse(all.text), [
        { id: "ok", n: 0 },
        { id: "d", n: 1 },
      ]);
    }, ...options);
  });

  Deno.test(`two nodes${label}: a profile installed through A is read on B at once, and B installs one on a stream A created`, async () => {
    await withNodes(2, async ([a, b]) => {
      const first = "/v1/stream/prof/one";
      assert.equal((await call(a.url + first, "PUT", JSON_TYPE)).status, 201);
      const generic = await call(`${b.url}${first}/_profile`, "GET");
      assert.equal(JSON.parse(generic.text).profile.kind, "generic");
      const installed = await post(`${a.url}${first}/_profile`, {
        profile: { kind: "evlog" },
      });
      assert.equal(installed.status, 200, installed.text);
      const read = await call(`${b.url}${first}/_profile`, "GET");
      assert.equal(read.status, 200, read.text);
      assert.equal(JSON.parse(read.text).profile.kind, "evlog");
      const listed = await call(`${b.url}/v1/streams?prefix=prof/`, "GET");
      assert.equal(JSON.parse(listed.text).streams[0].profile, "evlog");
      // A stream B has never seen: installing through B finds it.
      const second = "/v1/stream/prof/two";
      assert.equal((await call(a.url + second, "PUT", JSON_TYPE)).status, 201);
      const viaB = await post(`${b.url}${second}/_profile`, {
        profile: { kind: "evlog" },
      });
      assert.equal(viaB.status, 200, viaB.text);
      const onA = await call(`${a.url}${second}/_profile`, "GET");
      assert.equal(JSON.parse(onA.text).profile.kind, "evlog");
    }, ...options);
  });
}
