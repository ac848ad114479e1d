/**
 * What a web page can do to a server on 127.0.0.1 with the default flags
 * (`--auth none`): DNS rebinding (a foreign `Host`) is refused, a foreign
 * `Origin` cannot change anything, CORS lets only loopback pages read, and
 * preflights answer from the route table without credentials.
 */

import assert from "node:assert/strict";
import { rawRequest } from "./_raw_http.ts";
import { startTestServer } from "./_server.ts";
import type { ConfigOverrides } from "../src/config.ts";

async function withServer(
  overrides: ConfigOverrides,
  fn: (url: string) => Promise<void>,
): Promise<void> {
  const server = await startTestServer(overrides);
  try {
    await fn(server.url);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
}

/** The stream's bytes, read as a same-machine client would. */
async function contents(url: string, name: string): Promise<string> {
  const res = await fetch(`${url}/v1/stream/${name}`);
  return res.ok ? await res.text() : `status ${res.status}`;
}

Deno.test("a page from evil.example cannot delete or append, rebound or not", async () => {
  await withServer({}, async (url) => {
    const stream = `${url}/v1/stream/victim`;
    const put = await fetch(stream, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
      body: "safe",
    });
    assert.equal(put.status, 201);
    const port = new URL(url).port;
    for (const host of [`evil.example:${port}`, `127.0.0.1:${port}`]) {
      for (
        const [method, body] of [
          ["DELETE", ""],
          ["POST", "injected"],
          ["PUT", ""],
        ]
      ) {
        const res = await rawRequest(
          url,
          `${method} /v1/stream/victim HTTP/1.1\r\nHost: ${host}\r\n` +
            `Origin: https://evil.example\r\nContent-Type: text/plain\r\n` +
            `Content-Length: ${body.length}\r\nConnection: close`,
          body,
        );
        const rebound = host.startsWith("evil");
        assert.equal(res.status, rebound ? 421 : 403, `${method} ${host}`);
        assert.equal(
          JSON.parse(res.body).error.code,
          rebound ? "host_not_allowed" : "forbidden",
        );
        assert.equal(res.headers.get("access-control-allow-origin"), undefined);
      }
    }
    // A rebound page cannot read either.
    const read = await rawRequest(
      url,
      `GET /v1/stream/victim HTTP/1.1\r\nHost: evil.example:${port}\r\n` +
        "Connection: close",
    );
    assert.equal(read.status, 421);
    assert.equal(await contents(url, "victim"), "safe");
  });
});

Deno.test("CORS by default: loopback pages may read, other origins get no grant", async () => {
  await withServer({}, async (url) => {
    const stream = `${url}/v1/stream/cors`;
    await (await fetch(stream, { method: "PUT" })).body?.cancel();
    const read = async (origin: string) => {
      const res = await fetch(stream, { headers: { origin } });
      await res.body?.cancel();
      return res.headers.get("access-control-allow-origin");
    };
    assert.equal(await read("http://localhost:5173"), "http://localhost:5173");
    assert.equal(await read("https://evil.example"), null);
    const preflight = async (origin: string, method: string) => {
      // Raw: fetch drops Access-Control-Request-Method.
      const res = await rawRequest(
        url,
        `OPTIONS /v1/stream/cors HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
          `Origin: ${origin}\r\nAccess-Control-Request-Method: ${method}\r\n` +
          "Connection: close",
      );
      assert.equal(res.status, 204);
      assert.equal(
        res.headers.get("access-control-allow-methods"),
        "GET, HEAD, POST, PUT, DELETE, OPTIONS",
      );
      return res.headers.get("access-control-allow-origin") ?? null;
    };
    assert.equal(
      await preflight("http://localhost:5173", "GET"),
      "http://localhost:5173",
    );
    assert.equal(await preflight("http://localhost:5173", "DELETE"), null);
    assert.equal(await preflight("https://evil.example", "GET"), null);
    // A same-origin write (a page the server itself serves) is allowed.
    const own = await fetch(stream, {
      method: "POST",
      headers: { origin: url, "content-type": "application/octet-stream" },
      body: "x",
    });
    assert.equal(own.status, 204);
  });
});

Deno.test("--cors-origins grants the listed origins writes; --allowed-hosts admits a name", async () => {
  const overrides = {
    auth: {
      corsOrigins: "https://app.example.com",
      allowedHosts: "streams.internal",
    },
  };
  await withServer(overrides, async (url) => {
    const port = new URL(url).port;
    const put = await rawRequest(
      url,
      `PUT /v1/stream/listed HTTP/1.1\r\nHost: streams.internal:${port}\r\n` +
        "Origin: https://app.example.com\r\nContent-Length: 0\r\n" +
        "Connection: close",
    );
    assert.equal(put.status, 201);
    assert.equal(
      put.headers.get("access-control-allow-origin"),
      "https://app.example.com",
    );
    const foreign = await rawRequest(
      url,
      `DELETE /v1/stream/listed HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        "Origin: http://localhost:5173\r\nConnection: close",
    );
    assert.equal(foreign.status, 403);
    assert.equal(await contents(url, "listed"), "");
  });
});
