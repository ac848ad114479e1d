import assert from "node:assert/strict";
import { RawHttpConnection } from "./_load_raw_http.ts";

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("RawHttpConnection reads length, chunked and empty bodies over one socket, and recovers after an abort", async () => {
  const ports = new Set<number>();
  const hung: PromiseWithResolvers<void> = Promise.withResolvers();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req, info) => {
      ports.add(info.remoteAddr.port);
      const path = new URL(req.url).pathname;
      if (path === "/len") {
        return new Response("hello", { headers: { "X-Kind": "len" } });
      }
      if (path === "/chunked") {
        const parts = ["ab", "", "cdef", "g".repeat(100_000)];
        return new Response(
          new ReadableStream({
            start(controller) {
              for (const p of parts) {
                controller.enqueue(new TextEncoder().encode(p));
              }
              controller.close();
            },
          }),
        );
      }
      if (path === "/empty") return new Response(null, { status: 204 });
      if (path === "/echo") {
        return new Response(await req.arrayBuffer(), {
          status: 201,
          headers: { "x-type": req.headers.get("content-type") ?? "" },
        });
      }
      await hung.promise; // /hang: answers only at the end of the test
      return new Response("late");
    },
  );
  const conn = new RawHttpConnection(`http://127.0.0.1:${server.addr.port}`);
  try {
    const len = await conn.request("GET", "/len?x=1", {});
    assert.equal(len.status, 200);
    assert.equal(dec(len.body), "hello");
    assert.equal(len.headers.get("x-kind"), "len");

    const chunked = await conn.request("GET", "/chunked", {});
    assert.equal(chunked.status, 200);
    assert.equal(dec(chunked.body), "abcdef" + "g".repeat(100_000));

    const empty = await conn.request("GET", "/empty", {});
    assert.equal(empty.status, 204);
    assert.equal(empty.body.length, 0);

    const echo = await conn.request(
      "POST",
      "/echo",
      { "content-type": "application/json" },
      '{"a":1}',
    );
    assert.equal(echo.status, 201);
    assert.equal(dec(echo.body), '{"a":1}');
    assert.equal(echo.headers.get("x-type"), "application/json");
    assert.equal(ports.size, 1, "keep-alive: one socket for all four");

    await assert.rejects(
      conn.request("GET", "/hang", {}, undefined, AbortSignal.timeout(50)),
    );
    const after = await conn.request("GET", "/len", {});
    assert.equal(dec(after.body), "hello");
    assert.equal(ports.size, 2, "a new socket after the aborted one");
  } finally {
    conn.close();
    hung.resolve();
    await server.shutdown();
  }
});
