/**
 * The console's pages and assets over HTTP: one shell for every console
 * URL, hashed assets with a year of caching, ETags answering 304, the CSP,
 * no key needed under `--auth api-key`, and `--console false` answering 404.
 */

import assert from "node:assert/strict";
import { CONSOLE_CSP } from "../src/console/assets.ts";
import { startTestServer } from "./_server.ts";
import { withKeyedServer } from "./_auth.ts";

/** The script and style paths the shell names. */
function assetPaths(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)]
    .map((m) => m[1]);
}

Deno.test("console pages share one shell with the CSP; assets are hashed, cached for a year, and answer 304 to their ETag", async () => {
  const server = await startTestServer();
  try {
    const shells: string[] = [];
    for (const path of ["/console", "/console/server", "/console/stream/a/b"]) {
      const res = await fetch(server.url + path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get("content-type")!, /^text\/html/);
      assert.equal(res.headers.get("content-security-policy"), CONSOLE_CSP);
      assert.equal(res.headers.get("cache-control"), "no-cache");
      shells.push(await res.text());
    }
    assert.equal(new Set(shells).size, 1, "one shell for every page");
    const assets = assetPaths(shells[0]);
    assert.equal(assets.length, 2, "a script and a style sheet");
    for (const path of ["/console", ...assets]) {
      const first = await fetch(server.url + path);
      await first.arrayBuffer();
      const etag = first.headers.get("etag");
      assert.ok(etag !== null && /^"[0-9a-f]+"$/.test(etag), path);
      if (path !== "/console") {
        assert.equal(
          first.headers.get("cache-control"),
          "public, max-age=31536000, immutable",
        );
        assert.ok(path.includes(etag.slice(1, 13)), "named by its hash");
      }
      const again = await fetch(server.url + path, {
        headers: { "if-none-match": `"other", ${etag}` },
      });
      assert.equal(again.status, 304, path);
      assert.equal(again.headers.get("etag"), etag);
      assert.equal(await again.text(), "");
      const stale = await fetch(server.url + path, {
        headers: { "if-none-match": '"stale"' },
      });
      assert.equal(stale.status, 200);
      await stale.arrayBuffer();
    }
    const js = await fetch(server.url + assets.find((a) => a.endsWith(".js"))!);
    assert.match(js.headers.get("content-type")!, /^text\/javascript/);
    assert.ok((await js.text()).length > 10_000);
    const head = await fetch(server.url + "/console", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    const missing = await fetch(server.url + "/console/assets/console.0.js");
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, "not_found");
    const post = await fetch(server.url + "/console", { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("--console false: the console's pages and assets answer 404", async () => {
  const on = await startTestServer();
  const shell = await (await fetch(on.url + "/console")).text();
  await on.close();
  const server = await startTestServer({ http: { console: false } });
  try {
    for (const path of ["/console", "/console/server", ...assetPaths(shell)]) {
      const res = await fetch(server.url + path);
      assert.equal(res.status, 404, path);
      await res.body?.cancel();
    }
  } finally {
    await server.close();
  }
});

Deno.test("under --auth api-key the console's files need no key; its API calls do", async () => {
  await withKeyedServer(
    [{ id: "reader", secret: "reader-secret-0123456789", scopes: ["read"] }],
    {},
    async (server) => {
      const page = await server.call("GET", "/console");
      assert.equal(page.status, 200);
      for (const path of assetPaths(await page.text())) {
        const res = await server.call("GET", path);
        assert.equal(res.status, 200, path);
        await res.body?.cancel();
      }
      const list = await server.call("GET", "/v1/streams");
      assert.equal(list.status, 401);
      await list.body?.cancel();
    },
  );
});

Deno.test("GET /v1/server/_access under --auth none answers {auth: false}", async () => {
  const server = await startTestServer();
  try {
    const res = await fetch(`${server.url}/v1/server/_access`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { auth: false });
  } finally {
    await server.close();
  }
});
