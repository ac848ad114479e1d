import assert from "node:assert/strict";
import { defaultConfig } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import { createLogger } from "../log.ts";
import { MemoryStore, MemoryWal } from "../storage/memory_store.ts";
import { streamDetails } from "../tier/details.ts";
import { createHandler } from "./handler.ts";

async function handler(
  seen: string[] = [],
  store = new MemoryStore(new MemoryWal()),
) {
  const config = defaultConfig();
  const engine = await Engine.open(store, {
    limits: config.limits,
    log: createLogger("error"),
    onFatal: () => {},
  });
  const handle = createHandler({
    engine,
    http: config.http,
    limits: config.limits,
    log: createLogger("error"),
    details: (name) => streamDetails(engine, undefined, name),
    around: async (req, operation, next) => {
      seen.push(`${operation.name} ${req.name}`);
      return await next();
    },
  });
  const call = async (method: string, path: string, body?: string) => {
    const response = await handle(
      new Request(`http://h${path}`, { method, body }),
    );
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      code: text.startsWith("{") ? JSON.parse(text).error?.code : undefined,
    };
  };
  return { call, close: () => engine.close() };
}

Deno.test("middleware sees each routed operation's name", async () => {
  const seen: string[] = [];
  const h = await handler(seen);
  try {
    await h.call("PUT", "/v1/stream/a%2Fb");
    await h.call("POST", "/v1/stream/a/b", "x");
    await h.call("GET", "/v1/stream/a/b?offset=-1");
    await h.call("HEAD", "/v1/stream/a/b");
    await h.call("GET", "/v1/stream/a/b/_details");
    await h.call("GET", "/v1/streams");
    await h.call("GET", "/health");
    await h.call("DELETE", "/v1/stream/a/b");
    await h.call("PATCH", "/v1/stream/a/b"); // refused by the router
    assert.deepEqual(seen, [
      "stream_create a/b",
      "stream_append a/b",
      "stream_get a/b",
      "stream_head a/b",
      "details_get a/b",
      "streams_list ",
      "health_get ",
      "stream_delete a/b",
    ]);
  } finally {
    await h.close();
  }
});

Deno.test("Allow and the preflight's methods come from the route table", async () => {
  const h = await handler();
  try {
    const stream = await h.call("PATCH", "/v1/stream/x");
    assert.equal(stream.status, 405);
    assert.equal(
      stream.headers.get("allow"),
      "GET, HEAD, POST, PUT, DELETE, OPTIONS",
    );
    const health = await h.call("POST", "/health");
    assert.equal(health.status, 405);
    assert.equal(health.headers.get("allow"), "GET, HEAD, OPTIONS");
    const preflight = await h.call("OPTIONS", "/v1/stream/x/_details");
    assert.equal(preflight.status, 204);
    assert.equal(
      preflight.headers.get("access-control-allow-methods"),
      "GET, HEAD, OPTIONS",
    );
    const anywhere = await h.call("OPTIONS", "/nope");
    assert.equal(
      anywhere.headers.get("access-control-allow-methods"),
      "GET, HEAD, POST, PUT, DELETE, OPTIONS",
    );
  } finally {
    await h.close();
  }
});

Deno.test("subresource names are reserved: writes are 400, unserved reads 404", async () => {
  const h = await handler();
  try {
    for (
      const path of [
        "a/pk/b",
        "a/_details",
        "_x",
        "a/touch/meta",
        "a/touch/templates/activate",
        "a%2F_details", // the decoded name is reserved too
      ]
    ) {
      const put = await h.call("PUT", `/v1/stream/${path}`);
      assert.deepEqual([put.status, put.code], [400, "bad_request"], path);
    }
    const post = await h.call("POST", "/v1/stream/a/_details", "x");
    assert.equal(post.status, 400);
    // `_schema` takes writes (POST), so PUT there is a wrong method.
    const schemaPut = await h.call("PUT", "/v1/stream/a/_schema");
    assert.deepEqual([schemaPut.status, schemaPut.code], [
      405,
      "method_not_allowed",
    ]);
    // So does `_otlp/v1/traces` (POST only): a PUT there is a wrong method
    // too, never the creation of a stream of that name.
    const otlpPut = await h.call("PUT", "/v1/stream/a/_otlp/v1/traces");
    assert.deepEqual([otlpPut.status, otlpPut.code], [
      405,
      "method_not_allowed",
    ]);
    const schemaGet = await h.call("GET", "/v1/stream/a/_schema");
    assert.deepEqual([schemaGet.status, schemaGet.code], [
      404,
      "stream_not_found",
    ]);
    for (const path of ["a/touch/meta"]) {
      const get = await h.call("GET", `/v1/stream/${path}`);
      assert.deepEqual([get.status, get.code], [404, "not_found"], path);
    }
    // pk/{key} is served: a keyed read of a missing stream.
    const keyed = await h.call("GET", "/v1/stream/a/pk/b");
    assert.equal(keyed.status, 404);
    const list = await h.call("GET", "/v1/streams");
    assert.equal(list.status, 200);
    assert.equal((await h.call("HEAD", "/v1/stream/a")).status, 404);
    // A name merely containing such segments is fine.
    assert.equal((await h.call("PUT", "/v1/stream/a/_b/c")).status, 201);
    assert.equal((await h.call("PUT", "/v1/stream/a/pk")).status, 201);
  } finally {
    await h.close();
  }
});

Deno.test("reads, HEAD and _details racing a create with a body answer 404 until it commits", async () => {
  const store = new MemoryStore(new MemoryWal());
  const h = await handler([], store);
  try {
    let release!: () => void;
    store.commitGate = new Promise((r) => (release = r));
    const put = h.call("PUT", "/v1/stream/s", "hello");
    const sameTurn = h.call("GET", "/v1/stream/s?offset=-1");
    await new Promise((resolve) => setTimeout(resolve, 10)); // commit held
    const paths = [
      "/v1/stream/s?offset=-1",
      "/v1/stream/s?offset=now",
      "/v1/stream/s?offset=-1&live=long-poll",
      "/v1/stream/s?offset=now&live=long-poll",
      "/v1/stream/s?offset=-1&live=sse",
      "/v1/stream/s/pk/k?offset=-1",
      "/v1/stream/s?offset=-1&since=2020-01-01T00:00:00Z",
      "/v1/stream/s/_details",
      "/v1/stream/s/_schema",
    ];
    const answers = [await sameTurn];
    for (const path of paths) answers.push(await h.call("GET", path));
    assert.deepEqual(
      answers.map((a) => `${a.status} ${a.code}`),
      answers.map(() => "404 stream_not_found"),
    );
    assert.equal((await h.call("HEAD", "/v1/stream/s")).status, 404);
    assert.equal((await h.call("HEAD", "/v1/stream/s/_details")).status, 404);
    release();
    store.commitGate = undefined;
    assert.equal((await put).status, 201);
    const read = await h.call("GET", "/v1/stream/s?offset=-1");
    assert.equal(read.status, 200);
    assert.equal((await h.call("GET", "/v1/stream/s/_details")).status, 200);
  } finally {
    await h.close();
  }
});
