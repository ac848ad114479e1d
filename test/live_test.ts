/**
 * Live reads against a real server: a client that hangs up frees its waiter
 * slot at once, and an SSE client that stops reading is disconnected instead
 * of being buffered for.
 */

import assert from "node:assert/strict";
import { testConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { startServer } from "../src/server.ts";
import { startTestServer } from "./_server.ts";

type Server = Awaited<ReturnType<typeof startTestServer>>;

async function withServer(
  overrides: Parameters<typeof startTestServer>[0],
  fn: (server: Server) => Promise<void>,
): Promise<void> {
  const server = await startTestServer(overrides);
  try {
    await fn(server);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
}

async function waiting(url: string): Promise<number> {
  return (await (await fetch(`${url}/health`)).json()).waiting;
}

/** Polls `/health` until `waiting` is `want`; returns the last value seen. */
async function waitingBecomes(
  url: string,
  want: number,
  deadlineMs: number,
): Promise<number> {
  const deadline = Date.now() + deadlineMs;
  let seen = await waiting(url);
  while (seen !== want && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    seen = await waiting(url);
  }
  return seen;
}

async function createStream(stream: string): Promise<void> {
  const created = await fetch(stream, {
    method: "PUT",
    headers: { "content-type": "text/plain" },
  });
  await created.body?.cancel();
  assert.equal(created.status, 201);
}

async function append(stream: string, body: string): Promise<void> {
  const appended = await fetch(stream, {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body,
  });
  await appended.body?.cancel();
  assert.equal(appended.status, 204);
}

Deno.test("aborted long-polls free their waiter slots at once", async () => {
  const polls = 20;
  await withServer({
    http: { longPollTimeoutMs: 60_000 },
    limits: { waitersMax: polls },
  }, async ({ url }) => {
    const stream = `${url}/v1/stream/lp`;
    await createStream(stream);
    const live = `${stream}?offset=now&live=long-poll`;
    const aborts = Array.from({ length: polls }, () => new AbortController());
    const pending = aborts.map((abort) =>
      fetch(live, { signal: abort.signal }).then(
        (response) => response.body?.cancel(),
        () => {}, // aborted
      )
    );
    assert.equal(await waitingBecomes(url, polls, 10_000), polls);
    for (const abort of aborts) abort.abort();
    await Promise.all(pending);
    // Bounded by the 60 s long-poll timeout if hang-ups kept their slots.
    assert.equal(await waitingBecomes(url, 0, 5_000), 0);
    // The freed slots take new long-polls (not 503), which get the data.
    const next = fetch(live);
    assert.equal(await waitingBecomes(url, 1, 10_000), 1);
    await append(stream, "after");
    const response = await next;
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "after");
  });
});

Deno.test("an aborted SSE reader frees its waiter slot at once", async () => {
  await withServer({ http: { sseConnectionMs: 60_000 } }, async ({ url }) => {
    const stream = `${url}/v1/stream/sse`;
    await createStream(stream);
    const abort = new AbortController();
    const response = await fetch(`${stream}?offset=-1&live=sse`, {
      signal: abort.signal,
    });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    await reader.read(); // the first control event
    assert.equal(await waitingBecomes(url, 1, 10_000), 1);
    abort.abort();
    await reader.cancel().catch(() => {});
    assert.equal(await waitingBecomes(url, 0, 5_000), 0);
  });
});

Deno.test("an SSE reader that stops reading is disconnected after liveStallMs", async () => {
  // More than the kernel buffers of a loopback socket hold (~7 MB here), so
  // the server's queue fills while the client reads nothing.
  const chunkBytes = 1024 * 1024;
  const chunks = 32;
  const warnings: string[] = [];
  const log = {
    ...createLogger("error"),
    warn: (m: string) => warnings.push(m),
  };
  const dir = await Deno.makeTempDir({ prefix: "streambed-test-" });
  const config = testConfig(dir, {
    http: { sseConnectionMs: 60_000, liveStallMs: 100 },
    limits: { bodyBytesMax: chunkBytes },
  });
  const { url, port, close } = await startServer(config, { log });
  try {
    const stream = `${url}/v1/stream/big`;
    await createStream(stream);
    for (let i = 0; i < chunks; i++) {
      await append(stream, "x".repeat(chunkBytes));
    }
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode(
      "GET /v1/stream/big?offset=-1&live=sse HTTP/1.1\r\n" +
        `host: 127.0.0.1:${port}\r\n\r\n`,
    ));
    // The queue fills once the kernel buffers do (well under a second), and
    // is cut liveStallMs later; only the cut is seen by the server's log, and
    // only once the client reads again, so wait generously, then drain.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const received = await drain(conn, 20_000);
    const deadline = Date.now() + 5_000; // the log line follows the close
    while (warnings.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.match(warnings[0] ?? "", /stream "big" took nothing for 100 ms/);
    assert.equal(received.end, "closed");
    assert.ok(
      received.bytes < chunks * chunkBytes,
      `received ${received.bytes} bytes: the whole stream was sent`,
    );
  } finally {
    await close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Reads until EOF or reset ("closed"); if the connection is still open after
 * `deadlineMs`, closes it and answers "open".
 */
async function drain(
  conn: Deno.Conn,
  deadlineMs: number,
): Promise<{ bytes: number; end: "closed" | "open" }> {
  const buffer = new Uint8Array(256 * 1024);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, deadlineMs);
  let bytes = 0;
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) return { bytes, end: "closed" };
      bytes += n;
    }
  } catch {
    return { bytes, end: timedOut ? "open" : "closed" }; // reset, or closed by us
  } finally {
    clearTimeout(timer);
    if (!timedOut) conn.close();
  }
}
