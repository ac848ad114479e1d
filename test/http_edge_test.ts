/**
 * Requests at the HTTP edge that `fetch` cannot or will not send: malformed
 * `Host` headers, and bodies refused from their `Content-Length` before the
 * server reads them (checked by sending only part of the body).
 */

import assert from "node:assert/strict";
import { type ConfigOverrides, testConfig } from "../src/config.ts";
import type { Logger } from "../src/log.ts";
import { type ServerHandle, startServer } from "../src/server.ts";
import { RawConnection, rawRequest, type RawResponse } from "./_raw_http.ts";

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
    for (
      const host of [
        "a b",
        "x:99999",
        "[::1",
        "a%zz",
        "h:1:2",
        "h/v1/stream/other?",
        "h?x",
        "h#x",
        "h\\x",
        "u@h",
      ]
    ) {
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

const BINARY = "application/octet-stream";

async function createStream(url: string, name: string): Promise<string> {
  const stream = `${url}/v1/stream/${name}`;
  const created = await fetch(stream, {
    method: "PUT",
    headers: { "content-type": BINARY },
  });
  assert.equal(created.status, 201);
  await created.body?.cancel();
  return stream;
}

async function bodyBytesInFlight(url: string): Promise<number> {
  const health = await (await fetch(`${url}/health`)).json();
  return health.bodyBytesInFlight;
}

/** Polls /health until `bytes` of bodies are held (the server saw the headers). */
async function untilInFlight(url: string, bytes: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await bodyBytesInFlight(url) === bytes) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`body bytes in flight never reached ${bytes}`);
}

/**
 * The response on `conn`, or a failure if none comes: a server that waits
 * for the rest of the body never answers, and the test must fail, not hang.
 */
async function responseBeforeBody(conn: RawConnection): Promise<RawResponse> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("no response while the body was incomplete")),
      20_000,
    );
  });
  try {
    return await Promise.race([conn.readResponse(), stuck]);
  } finally {
    clearTimeout(timer);
  }
}

function postHead(name: string, length: number): string {
  return `POST /v1/stream/${name} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    `Content-Type: ${BINARY}\r\nContent-Length: ${length}\r\n\r\n`;
}

Deno.test("a body whose Content-Length does not fit the in-flight budget gets 503 before it is read", async () => {
  const limits = { bodyBytesMax: 1000, bodyInflightBytesMax: 1000 };
  await withServer({ limits }, async ({ url }) => {
    const stream = await createStream(url, "budget");
    const first = await RawConnection.open(url);
    const second = await RawConnection.open(url);
    try {
      await first.write(postHead("budget", 800) + "a".repeat(100));
      await untilInFlight(url, 800);
      await second.write(postHead("budget", 800) + "b".repeat(10));
      const refused = await responseBeforeBody(second);
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get("retry-after"), "1");
      assert.equal(JSON.parse(refused.body).error.code, "overloaded");
      await first.write("a".repeat(700));
      assert.equal((await first.readResponse()).status, 204);
    } finally {
      first.close();
      second.close();
    }
    assert.equal(await bodyBytesInFlight(url), 0);
    const retried = await fetch(stream, {
      method: "POST",
      headers: { "content-type": BINARY },
      body: "b".repeat(800),
    });
    assert.equal(retried.status, 204);
    const read = await fetch(stream);
    assert.equal((await read.bytes()).length, 1600);
  });
});

Deno.test("a chunked body is refused with 503 once it outgrows the in-flight budget", async () => {
  const limits = { bodyBytesMax: 1000, bodyInflightBytesMax: 1000 };
  await withServer({ limits }, async ({ url }) => {
    await createStream(url, "chunked");
    const head = `POST /v1/stream/chunked HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
      `Content-Type: ${BINARY}\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const chunk = (text: string) =>
      `${text.length.toString(16)}\r\n${text}\r\n`;
    const first = await RawConnection.open(url);
    const second = await RawConnection.open(url);
    try {
      await first.write(head + chunk("a".repeat(600)));
      await untilInFlight(url, 600);
      await second.write(head + chunk("b".repeat(600)));
      const refused = await responseBeforeBody(second);
      assert.equal(refused.status, 503);
      assert.equal(JSON.parse(refused.body).error.code, "overloaded");
      await first.write("0\r\n\r\n");
      assert.equal((await first.readResponse()).status, 204);
    } finally {
      first.close();
      second.close();
    }
    assert.equal(await bodyBytesInFlight(url), 0);
  });
});

Deno.test("an append larger than the whole append queue gets 413, not a 503 to retry forever", async () => {
  const limits = { bodyBytesMax: 1000, appendQueueBytesMax: 500 };
  await withServer({ limits }, async ({ url }) => {
    const stream = await createStream(url, "queue");
    const conn = await RawConnection.open(url);
    try {
      await conn.write(postHead("queue", 800) + "a".repeat(10));
      const refused = await responseBeforeBody(conn);
      assert.equal(refused.status, 413);
      assert.equal(JSON.parse(refused.body).error.code, "payload_too_large");
    } finally {
      conn.close();
    }
    const chunked = await fetch(stream, {
      method: "POST",
      headers: { "content-type": BINARY },
      body: ReadableStream.from([new TextEncoder().encode("c".repeat(800))]),
    });
    assert.equal(chunked.status, 413);
    await chunked.body?.cancel();
    const fits = await fetch(stream, {
      method: "POST",
      headers: { "content-type": BINARY },
      body: "d".repeat(500),
    });
    assert.equal(fits.status, 204);
    assert.equal(await bodyBytesInFlight(url), 0);
  });
});
