/**
 * Routing keys taken from each JSON message by the schema registry's
 * pointer, against a real server on port 0: the pointer's rules (a
 * `Stream-Key` beside it, a key that is missing, not a string, empty or too
 * long: 400, nothing written), keyed reads (`?key=`, `pk/{key}`) and
 * `_routing_keys` over pointer keys, a cleared pointer, forks, and a
 * restart (acceptance tests 8, 10, 11 and 18 of the keys-and-schemas spec).
 */

import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";

const JSON_TYPE = { "content-type": "application/json" };

async function send(
  url: string,
  method: string,
  body?: unknown,
  headers: Record<string, string> = {},
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; json: any; text: string }> {
  const response = await fetch(url, {
    method,
    headers: { ...JSON_TYPE, ...headers },
    body: body === undefined
      ? undefined
      : typeof body === "string"
      ? body
      : JSON.stringify(body),
  });
  const text = await response.text();
  // deno-lint-ignore no-explicit-any
  let json: any;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: response.status, json, text };
}

async function tail(url: string): Promise<string> {
  const response = await fetch(url, { method: "HEAD" });
  await response.body?.cancel();
  return response.headers.get("stream-next-offset")!;
}

async function keyed(url: string, key: string): Promise<unknown> {
  const response = await fetch(`${url}/pk/${encodeURIComponent(key)}`);
  assert.equal(response.status, 200);
  return await response.json();
}

/** A JSON stream at `url` whose schema keys records by `/id` (required). */
async function pointerStream(url: string): Promise<void> {
  assert.equal((await send(url, "PUT")).status, 201);
  const set = await send(`${url}/_schema`, "POST", {
    schema: { type: "object" },
    routingKey: { jsonPointer: "/id", required: true },
  });
  assert.equal(set.status, 200, set.text);
}

Deno.test("routing keys from a schema pointer: keyed reads, and every bad element refuses the whole request (spec 8, 10, 11)", async () => {
  const server = await startTestServer();
  try {
    const s1 = `${server.url}/v1/stream/s1`;
    await pointerStream(s1);
    assert.equal(
      (await send(s1, "POST", [{ id: "a" }, { id: "b" }, { id: "a", n: 2 }]))
        .status,
      204,
    );
    // 10: the key came from the pointer.
    const byQuery = await fetch(`${s1}?offset=-1&key=b`);
    assert.deepEqual(await byQuery.json(), [{ id: "b" }]);
    assert.equal(byQuery.headers.get("stream-next-offset"), await tail(s1));
    assert.deepEqual(await keyed(s1, "a"), [{ id: "a" }, { id: "a", n: 2 }]);
    assert.deepEqual(await keyed(s1, "zz"), []);

    const before = await tail(s1);
    const refused = async (body: unknown, headers = {}) => {
      const got = await send(s1, "POST", body, headers);
      assert.equal(got.status, 400, JSON.stringify(body));
      assert.equal(got.json.error.code, "bad_request");
      assert.equal(await tail(s1), before, "nothing written");
      return got.json.error.message as string;
    };
    // 11: Stream-Key beside the pointer; a key that is not a string.
    assert.match(await refused([{ id: "c" }], { "stream-key": "z" }), /\/id/);
    assert.match(await refused([{ id: 5 }]), /element 0.*must be a string/);
    // One bad element among good ones refuses them all.
    assert.match(
      await refused([{ id: "c" }, { id: "d" }, { id: null }]),
      /element 2/,
    );
    assert.match(await refused([{ id: "c" }, {}]), /element 1.*missing/);
    assert.match(await refused({ id: ["x"] }), /must be a string/);
    // Empty, and over 1,024 UTF-8 bytes (342 three-byte characters).
    assert.match(await refused([{ id: "" }]), /1 to 1024 bytes/);
    assert.match(await refused([{ id: "k".repeat(1025) }]), /1 to 1024 bytes/);
    assert.match(await refused([{ id: "€".repeat(342) }]), /1 to 1024 bytes/);
    assert.deepEqual(await keyed(s1, "c"), []);
    // At the limit is fine.
    const longest = "€".repeat(341) + "k";
    assert.equal((await send(s1, "POST", [{ id: longest }])).status, 204);
    assert.deepEqual(await keyed(s1, longest), [{ id: longest }]);

    const listed = await send(`${s1}/_routing_keys`, "GET");
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.json.keys, ["a", "b", longest]);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("an optional nested pointer keys what it finds; clearing it brings Stream-Key back; stored keys stay", async () => {
  const server = await startTestServer();
  try {
    const s = `${server.url}/v1/stream/orders`;
    assert.equal((await send(s, "PUT")).status, 201);
    // A key rule alone (no schema, so no validation).
    const rule = await send(`${s}/_schema`, "POST", {
      routingKey: { jsonPointer: "/customer/id", required: false },
    });
    assert.equal(rule.status, 200, rule.text);
    assert.equal(rule.json.currentVersion, 0);
    assert.equal(
      (await send(s, "POST", [
        { customer: { id: "c1" }, n: 1 },
        { n: 2 },
        { customer: { id: "c2" }, n: 3 },
      ])).status,
      204,
    );
    assert.deepEqual(await keyed(s, "c1"), [{ customer: { id: "c1" }, n: 1 }]);
    assert.deepEqual(await keyed(s, "c2"), [{ customer: { id: "c2" }, n: 3 }]);
    // Present but not a string is still a 400 when the key is optional.
    assert.equal(
      (await send(s, "POST", [{ customer: { id: 7 } }])).status,
      400,
    );
    const cleared = await send(`${s}/_schema`, "POST", { routingKey: null });
    assert.equal(cleared.status, 200, cleared.text);
    assert.equal(cleared.json.routingKey, undefined);
    assert.equal(
      (await send(s, "POST", [{ customer: { id: "c1" }, n: 4 }], {
        "stream-key": "h",
      })).status,
      204,
    );
    assert.deepEqual(await keyed(s, "h"), [{ customer: { id: "c1" }, n: 4 }]);
    assert.deepEqual(await keyed(s, "c1"), [{ customer: { id: "c1" }, n: 1 }]);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("a fork keys its own appends, and a PUT body, by the pointer it inherits", async () => {
  const server = await startTestServer();
  try {
    const base = `${server.url}/v1/stream`;
    await pointerStream(`${base}/src`);
    assert.equal(
      (await send(`${base}/src`, "POST", [{ id: "a" }, { id: "b" }])).status,
      204,
    );
    const fork = `${base}/fork`;
    const headers = { "stream-forked-from": "/v1/stream/src" };
    // The inherited pointer refuses a PUT body without the key.
    const bad = await send(fork, "PUT", [{ x: 1 }], headers);
    assert.equal(bad.status, 400, bad.text);
    assert.equal((await send(fork, "HEAD")).status, 404);
    const made = await send(fork, "PUT", [{ id: "a", f: 1 }], headers);
    assert.equal(made.status, 201, made.text);
    assert.equal((await send(fork, "POST", [{ id: "b", f: 2 }])).status, 204);
    assert.equal(
      (await send(fork, "POST", [{ id: "c" }], { "stream-key": "c" })).status,
      400,
    );
    assert.deepEqual(await keyed(fork, "a"), [{ id: "a" }, { id: "a", f: 1 }]);
    assert.deepEqual(await keyed(fork, "b"), [{ id: "b" }, { id: "b", f: 2 }]);
    assert.deepEqual(await keyed(`${base}/src`, "b"), [{ id: "b" }]);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("pointer keys and the pointer survive a restart (spec 18)", async () => {
  let server = await startTestServer();
  const dir = server.dataDir;
  try {
    let s1 = `${server.url}/v1/stream/s1`;
    await pointerStream(s1);
    assert.equal(
      (await send(s1, "POST", [{ id: "a" }, { id: "b" }])).status,
      204,
    );
    await server.close();
    server = await startTestServer({}, dir);
    s1 = `${server.url}/v1/stream/s1`;
    assert.deepEqual(await keyed(s1, "b"), [{ id: "b" }]);
    // The restored pointer still applies to new appends.
    assert.equal((await send(s1, "POST", [{ x: 1 }])).status, 400);
    assert.equal(
      (await send(s1, "POST", [{ id: "a" }], { "stream-key": "q" })).status,
      400,
    );
    assert.equal((await send(s1, "POST", [{ id: "b", n: 2 }])).status, 204);
    assert.deepEqual(await keyed(s1, "b"), [{ id: "b" }, { id: "b", n: 2 }]);
    assert.deepEqual(await keyed(s1, "a"), [{ id: "a" }]);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
