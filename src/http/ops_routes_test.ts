import assert from "node:assert/strict";
import { defaultConfig } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import { createLogger } from "../log.ts";
import { largest } from "../metrics/largest_streams.ts";
import { MemoryStore, MemoryWal } from "../storage/memory_store.ts";
import type { OpsContext } from "./context.ts";
import { createHandler } from "./handler.ts";
import { STREAM_ROUTES } from "./routes.ts";

async function handlerWith(ops?: OpsContext) {
  const config = defaultConfig();
  const engine = await Engine.open(new MemoryStore(new MemoryWal()), {
    limits: config.limits,
    log: createLogger("error"),
    onFatal: () => {},
  });
  const handle = createHandler({
    engine,
    http: config.http,
    limits: config.limits,
    log: createLogger("error"),
    ops,
  });
  return { handle, close: () => engine.close() };
}

Deno.test("GET /metrics and /v1/server/_details answer what the server provides", async () => {
  const { handle, close } = await handlerWith({
    metrics: () =>
      Promise.resolve({ contentType: "text/plain; x=1", body: "m 1\n" }),
    details: () => ({ streams: 7 }),
  });
  try {
    const metrics = await handle(new Request("http://h/metrics"));
    assert.equal(metrics.status, 200);
    assert.equal(metrics.headers.get("content-type"), "text/plain; x=1");
    assert.equal(await metrics.text(), "m 1\n");
    const head = await handle(
      new Request("http://h/metrics", { method: "HEAD" }),
    );
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    const details = await handle(new Request("http://h/v1/server/_details"));
    assert.deepEqual(await details.json(), { streams: 7 });
    const post = await handle(
      new Request("http://h/metrics", { method: "POST" }),
    );
    assert.equal(post.status, 405);
    await post.body?.cancel();
  } finally {
    await close();
  }
});

Deno.test("without ops the operator pages answer 404", async () => {
  const { handle, close } = await handlerWith();
  try {
    for (const path of ["/metrics", "/v1/server/_details"]) {
      const response = await handle(new Request(`http://h${path}`));
      assert.equal(response.status, 404);
      await response.body?.cancel();
    }
  } finally {
    await close();
  }
});

Deno.test("the operator pages need the admin scope in the route table", () => {
  const access = new Map(
    STREAM_ROUTES.flatMap((r) =>
      Object.values(r.methods).map((o) => [o!.name, o!.access] as const)
    ),
  );
  for (
    const name of [
      "metrics_get",
      "metrics_head",
      "server_details_get",
      "server_details_head",
    ]
  ) {
    assert.equal(access.get(name), "admin", name);
  }
});

Deno.test("largest() keeps the longest streams, longest first, at most max", () => {
  const streams = [3, 9, 1, 9, 7, 2, 8].map((tailPos, i) => ({
    name: `s${i}`,
    tailPos,
  }));
  assert.deepEqual(largest(streams, 3).map((s) => s.name), ["s1", "s3", "s6"]);
  assert.deepEqual(largest(streams, 0), []);
  assert.equal(largest(streams, 100).length, streams.length);
  assert.deepEqual(
    largest(streams, 100).map((s) => s.tailPos),
    [9, 9, 8, 7, 3, 2, 1],
  );
});
