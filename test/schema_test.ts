/**
 * The schema registry and lenses through the HTTP API against a real server:
 * the keys-and-schemas spec's acceptance tests 7-18 where they concern
 * schemas (routing keys and keyed reads are tested with their feature).
 */

import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";
import { sendJson as call } from "./_json_http.ts";

type Server = Awaited<ReturnType<typeof startTestServer>>;

const ZERO = "0000000000000000_0000000000000000";

async function tail(url: string): Promise<string> {
  const response = await fetch(url, { method: "HEAD" });
  await response.body?.cancel();
  return response.headers.get("stream-next-offset")!;
}

const V2 = {
  type: "object",
  required: ["id", "n"],
  properties: { n: { type: "integer" } },
};
const LENS = {
  apiVersion: "durable.lens/v1",
  schema: "s1",
  from: 1,
  to: 2,
  ops: [{ op: "add", path: "/n", schema: { type: "integer" }, default: 0 }],
};

async function schemaScenario(server: Server): Promise<void> {
  const s1 = `${server.url}/v1/stream/s1`;
  assert.equal((await call(s1, "PUT")).status, 201);
  // 8: first schema with a routing-key pointer.
  const first = await call(`${s1}/_schema`, "POST", {
    schema: { type: "object", required: ["id"] },
    routingKey: { jsonPointer: "/id", required: true },
  });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.currentVersion, 1);
  assert.deepEqual(first.json.boundaries, [{ offset: ZERO, version: 1 }]);
  assert.equal(first.json.apiVersion, "durable.streams/schema-registry/v1");
  // 9: one bad element refuses the request; nothing written.
  const before = await tail(s1);
  const bad = await call(s1, "POST", [{ id: "a" }, { x: 1 }]);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, "validation_failed");
  assert.match(bad.json.error.message, /element 1/);
  assert.equal(await tail(s1), before);
  // 10: valid elements are appended.
  assert.equal(
    (await call(s1, "POST", [{ id: "a" }, { id: "b" }])).status,
    204,
  );
  // 12: evolution needs a lens between the right versions, for this schema.
  const noLens = await call(`${s1}/_schema`, "POST", { schema: V2 });
  assert.equal(noLens.status, 400);
  assert.match(noLens.json.error.message, /lens required/);
  const wrong = await call(`${s1}/_schema`, "POST", {
    schema: V2,
    lens: { ...LENS, from: 0, to: 2 },
  });
  assert.equal(wrong.status, 409);
  assert.equal(wrong.json.error.code, "lens_version_mismatch");
  const other = await call(`${s1}/_schema`, "POST", {
    schema: V2,
    lens: { ...LENS, schema: "other" },
  });
  assert.equal(other.status, 400);
  // 14: a lens whose output cannot fit the new schema fails the proof.
  const unsound = await call(`${s1}/_schema`, "POST", {
    schema: V2,
    lens: { ...LENS, ops: [{ op: "remove", path: "/id", schema: {} }] },
  });
  assert.equal(unsound.status, 400);
  assert.match(unsound.json.error.message, /Lens proof failed/);
  // 13: v2 with an add lens; old records read back with n: 0.
  const evolved = await call(`${s1}/_schema`, "POST", {
    schema: V2,
    lens: LENS,
  });
  assert.equal(evolved.status, 200, evolved.text);
  assert.equal(evolved.json.currentVersion, 2);
  assert.equal(evolved.json.boundaries.length, 2);
  assert.equal(evolved.json.boundaries[1].offset, await tail(s1));
  const old = await call(`${s1}?offset=-1`, "GET");
  assert.deepEqual(old.json, [{ id: "a", n: 0 }, { id: "b", n: 0 }]);
  const missingN = await call(s1, "POST", [{ id: "c" }]);
  assert.equal(missingN.status, 400);
  assert.equal((await call(s1, "POST", [{ id: "c", n: 7 }])).status, 204);
  const all = await call(`${s1}?offset=-1`, "GET");
  assert.deepEqual(all.json, [{ id: "a", n: 0 }, { id: "b", n: 0 }, {
    id: "c",
    n: 7,
  }]);
}

Deno.test("schema registry: validation, evolution, lenses and proofs (spec 8-10, 12-14), kept across a restart (18)", async () => {
  let server = await startTestServer();
  const dir = server.dataDir;
  try {
    await schemaScenario(server);
    const registry =
      (await call(`${server.url}/v1/stream/s1/_schema`, "GET")).json;
    await server.close();
    server = await startTestServer({}, dir);
    const s1 = `${server.url}/v1/stream/s1`;
    const again = await call(`${s1}/_schema`, "GET");
    assert.equal(again.status, 200);
    assert.deepEqual(again.json, registry);
    const all = await call(`${s1}?offset=-1`, "GET");
    assert.deepEqual(all.json, [{ id: "a", n: 0 }, { id: "b", n: 0 }, {
      id: "c",
      n: 7,
    }]);
    assert.equal((await call(s1, "POST", [{ id: "d" }])).status, 400);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("schema registry: update shapes refused (spec 15), refs (16), date-time (17), 7, limits", async () => {
  const server = await startTestServer({ limits: { schemaBytesMax: 2048 } });
  try {
    const base = `${server.url}/v1/stream`;
    assert.equal((await call(`${base}/full`, "PUT")).status, 201);
    assert.equal((await call(`${base}/full`, "POST", [1])).status, 204);
    const late = await call(`${base}/full/_schema`, "POST", {
      schema: { type: "object" },
    });
    assert.equal(late.status, 400);
    assert.match(late.json.error.message, /first schema requires empty stream/);
    assert.equal((await call(`${base}/e`, "PUT")).status, 201);
    for (
      const body of [{ search: { fields: {} } }, { schemas: {} }, {
        indexes: [],
      }, "{oops"]
    ) {
      const refused = await call(`${base}/e/_schema`, "POST", body);
      assert.equal(refused.status, 400, JSON.stringify(body));
      assert.equal(refused.json.error.code, "schema_invalid");
    }
    const empty = await call(`${base}/e/_schema`, "GET");
    assert.equal(empty.status, 200);
    assert.equal(empty.json.currentVersion, 0);
    assert.deepEqual(empty.json.boundaries, []);
    // 16: fragment refs only.
    assert.equal(
      (await call(`${base}/e/_schema`, "POST", {
        schema: {
          type: "object",
          properties: { x: { $ref: "http://example.com/x.json" } },
        },
      })).status,
      400,
    );
    const refs = await call(`${base}/e/_schema`, "POST", {
      schema: {
        $defs: { t: { type: "string", format: "date-time" } },
        type: "object",
        required: ["t"],
        properties: { t: { $ref: "#/$defs/t" } },
      },
    });
    assert.equal(refs.status, 200, refs.text);
    // 17: strict date-time.
    assert.equal(
      (await call(`${base}/e`, "POST", { t: "2026-12-01 10:00:00" })).status,
      400,
    );
    assert.equal(
      (await call(`${base}/e`, "POST", { t: "2026-12-01T10:00:00.5+01:00" }))
        .status,
      204,
    );
    // 7: _schema takes GET/POST only, and PUT creates nothing.
    const put = await call(`${base}/x/_schema`, "PUT");
    assert.equal(put.status, 405);
    assert.match(put.headers.get("allow") ?? "", /POST/);
    assert.equal((await call(`${base}/x/_schema`, "GET")).status, 404);
    assert.equal((await call(`${base}/x`, "HEAD")).status, 404);
    // Limits and stream kinds.
    const huge = await call(`${base}/e/_schema`, "POST", {
      schema: { description: "x".repeat(4096) },
    });
    assert.equal(huge.status, 413);
    assert.equal(
      (await call(`${base}/b`, "PUT", undefined, {
        "content-type": "text/plain",
      })).status,
      201,
    );
    const bytes = await call(`${base}/b/_schema`, "POST", {
      schema: { type: "object" },
    });
    assert.equal(bytes.status, 400);
    assert.equal((await call(`${base}/nope/_schema`, "GET")).status, 404);
    assert.equal(
      (await call(`${base}/nope/_schema`, "POST", { schema: {} })).status,
      404,
    );
    // _details embeds the schema summary.
    const details = await call(`${base}/e/_details`, "GET");
    assert.equal(details.status, 200);
    assert.equal(details.json.schema.currentVersion, 1);
    assert.deepEqual(details.json.schema.boundaries, [{
      offset: ZERO,
      version: 1,
    }]);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("schema registry: long-poll and SSE reads promote old records", async () => {
  const server = await startTestServer();
  try {
    const s = `${server.url}/v1/stream/live`;
    assert.equal((await call(s, "PUT")).status, 201);
    assert.equal(
      (await call(`${s}/_schema`, "POST", {
        schema: { type: "object", required: ["id"] },
      })).status,
      200,
    );
    assert.equal((await call(s, "POST", [{ id: "a" }])).status, 204);
    const lens = { ...LENS, schema: "live" };
    assert.equal(
      (await call(`${s}/_schema`, "POST", { schema: V2, lens })).status,
      200,
    );
    // Long-poll from the start answers at once with the promoted record.
    const poll = await call(`${s}?offset=-1&live=long-poll`, "GET");
    assert.equal(poll.status, 200);
    assert.deepEqual(poll.json, [{ id: "a", n: 0 }]);
    // SSE from the start delivers it promoted too.
    const controller = new AbortController();
    const response = await fetch(`${s}?offset=-1&live=sse`, {
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    const reader = response.body!.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    while (!text.includes('"n":0')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    controller.abort();
    await reader.cancel().catch(() => {});
    assert.match(text, /\{"id":"a","n":0\}/);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});
