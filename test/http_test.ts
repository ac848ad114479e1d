/**
 * Cross-layer HTTP tests for what the conformance suite leaves open: JSON
 * error bodies for bad input (and nothing written), body and name limits,
 * routing, listing, health, CORS, SSE framing details.
 */

import assert from "node:assert/strict";
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

async function expectError(
  response: Response,
  status: number,
  code: string,
): Promise<void> {
  assert.equal(response.status, status);
  assert.equal(response.headers.get("content-type"), "application/json");
  const body = await response.json();
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, "string");
}

Deno.test("bad input gets a 4xx JSON error and writes nothing", async () => {
  await withServer({}, async ({ url }) => {
    const stream = `${url}/v1/stream/bad-input`;
    await (await fetch(stream, {
      method: "PUT",
      headers: { "content-type": "application/json" },
    })).body?.cancel();
    const cases: [RequestInit, number, string][] = [
      [
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{not json",
        },
        400,
        "bad_request",
      ],
      [
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "[]",
        },
        400,
        "bad_request",
      ],
      [
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "",
        },
        400,
        "bad_request",
      ],
      [
        {
          method: "POST",
          headers: { "content-type": "text/plain" },
          body: "x",
        },
        409,
        "content_type_mismatch",
      ],
      [
        {
          method: "POST",
          headers: { "content-type": "application/json", "producer-id": "p" },
          body: "1",
        },
        400,
        "bad_request",
      ],
      [
        {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "producer-id": "p",
            "producer-epoch": "x",
            "producer-seq": "0",
          },
          body: "1",
        },
        400,
        "bad_request",
      ],
      [
        {
          method: "POST",
          headers: { "content-type": "not a type" },
          body: "1",
        },
        400,
        "bad_request",
      ],
    ];
    for (const [init, status, code] of cases) {
      await expectError(await fetch(stream, init), status, code);
    }
    const read = await fetch(stream);
    assert.equal(await read.text(), "[]");
    assert.equal(
      read.headers.get("stream-next-offset"),
      "0000000000000000_0000000000000000",
    );
    await expectError(
      await fetch(`${stream}?offset=banana`),
      400,
      "bad_request",
    );
    await expectError(
      await fetch(`${stream}?offset=-1&live=carrier-pigeon`),
      400,
      "bad_request",
    );
    // An offset past the tail is not bad input: it reads as the tail.
    const past = await fetch(
      `${stream}?offset=0000000000000000_0000000000000099`,
    );
    assert.equal(await past.text(), "[]");
    assert.equal(
      past.headers.get("stream-next-offset"),
      "0000000000000000_0000000000000000",
    );
    await expectError(
      await fetch(`${url}/v1/stream/ttl-bad`, {
        method: "PUT",
        headers: { "stream-ttl": "01" },
      }),
      400,
      "bad_request",
    );
    const missing = await fetch(`${url}/v1/stream/ttl-bad`, { method: "HEAD" });
    assert.equal(missing.status, 404);
  });
});

Deno.test("a stream that would be born expired, or expire at an impossible time, is refused with 400", async () => {
  await withServer({}, async ({ url }) => {
    const past = new Date(Date.now() - 60_000).toISOString();
    const cases: Record<string, string>[] = [
      { "stream-ttl": "0" },
      { "stream-expires-at": past },
      { "stream-expires-at": "2027-02-30T00:00:00Z" },
      { "stream-expires-at": "2099-01-01T24:00:00Z" },
      { "stream-expires-at": "2099-01-01T12:00:00+24:00" },
    ];
    for (const headers of cases) {
      await expectError(
        await fetch(`${url}/v1/stream/born-expired`, {
          method: "PUT",
          headers,
        }),
        400,
        "bad_request",
      );
      const head = await fetch(`${url}/v1/stream/born-expired`, {
        method: "HEAD",
      });
      assert.equal(head.status, 404, JSON.stringify(headers));
    }
  });
});

Deno.test("bodies over body-bytes-max get 413 and names over the limit 400", async () => {
  await withServer(
    { limits: { bodyBytesMax: 1024, streamNameBytesMax: 32 } },
    async ({ url }) => {
      const stream = `${url}/v1/stream/limits`;
      await (await fetch(stream, { method: "PUT" })).body?.cancel();
      await expectError(
        await fetch(stream, {
          method: "POST",
          headers: { "content-type": "application/octet-stream" },
          body: new Uint8Array(1025),
        }),
        413,
        "payload_too_large",
      );
      // A chunked body (no Content-Length) is cut off as it crosses the limit.
      const chunked = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 4; i++) controller.enqueue(new Uint8Array(400));
          controller.close();
        },
      });
      await expectError(
        await fetch(stream, {
          method: "POST",
          headers: { "content-type": "application/octet-stream" },
          body: chunked,
        }),
        413,
        "payload_too_large",
      );
      const ok = await fetch(stream, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: new Uint8Array(1024),
      });
      assert.equal(ok.status, 204);
      assert.equal(
        ok.headers.get("stream-next-offset"),
        "0000000000000000_0000000000001024",
      );
      await expectError(
        await fetch(`${url}/v1/stream/${"n".repeat(33)}`, { method: "PUT" }),
        400,
        "bad_request",
      );
      await expectError(
        await fetch(`${url}/v1/stream/%E0%A4%A`, { method: "PUT" }),
        400,
        "bad_request",
      );
    },
  );
});

Deno.test("routing: unknown paths 404, wrong methods 405", async () => {
  await withServer({}, async ({ url }) => {
    await expectError(await fetch(`${url}/nope`), 404, "not_found");
    const wrong = await fetch(`${url}/v1/stream/x`, { method: "PATCH" });
    assert.equal(
      wrong.headers.get("allow"),
      "GET, HEAD, POST, PUT, DELETE, OPTIONS",
    );
    await expectError(wrong, 405, "method_not_allowed");
    await expectError(
      await fetch(`${url}/health`, { method: "POST" }),
      405,
      "method_not_allowed",
    );
    const health = await fetch(`${url}/health`);
    const body = await health.json();
    assert.equal(body.status, "ok");
    assert.equal(body.streams, 0);
    assert.equal(typeof body.writer.commits, "number");
  });
});

Deno.test("GET /v1/streams lists by prefix with pagination", async () => {
  await withServer({ limits: { listPageMax: 2 } }, async ({ url }) => {
    for (const name of ["a/1", "a/2", "a/3", "b/1"]) {
      await (await fetch(`${url}/v1/stream/${name}`, { method: "PUT" })).body
        ?.cancel();
    }
    const first = await (await fetch(`${url}/v1/streams?prefix=a/&limit=50`))
      .json();
    assert.deepEqual(first.streams.map((s: { name: string }) => s.name), [
      "a/1",
      "a/2",
    ], "capped at listPageMax");
    assert.equal(first.next, "a/2");
    const second =
      await (await fetch(`${url}/v1/streams?prefix=a/&after=${first.next}`))
        .json();
    assert.deepEqual(second.streams.map((s: { name: string }) => s.name), [
      "a/3",
    ]);
    assert.equal(second.next, null);
    assert.equal(
      second.streams[0].nextOffset,
      "0000000000000000_0000000000000000",
    );
    assert.equal(second.streams[0].sizeBytes, 0);
    const append = await fetch(`${url}/v1/stream/a/3`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(1234),
    });
    assert.equal(append.status, 204);
    const grown =
      await (await fetch(`${url}/v1/streams?prefix=a/&after=${first.next}`))
        .json();
    assert.equal(grown.streams[0].sizeBytes, 1234, "bytes appended");
    await expectError(
      await fetch(`${url}/v1/streams?limit=0`),
      400,
      "bad_request",
    );
  });
});

Deno.test("GET /v1/streams treats empty parameters as their defaults", async () => {
  await withServer({}, async ({ url }) => {
    for (const name of ["a/1", "b/1"]) {
      await (await fetch(`${url}/v1/stream/${name}`, { method: "PUT" })).body
        ?.cancel();
    }
    const response = await fetch(`${url}/v1/streams?prefix=&after=&limit=`);
    assert.equal(response.status, 200);
    const page = await response.json();
    assert.deepEqual(page.streams.map((s: { name: string }) => s.name), [
      "a/1",
      "b/1",
    ]);
    assert.equal(page.next, null);
  });
});

Deno.test("CORS preflight allows protocol headers and responses carry nosniff", async () => {
  await withServer({}, async ({ url }) => {
    const preflight = await fetch(`${url}/v1/stream/x`, { method: "OPTIONS" });
    assert.equal(preflight.status, 204);
    const allowed = preflight.headers.get("access-control-allow-headers")!
      .toLowerCase();
    for (
      const h of [
        "if-none-match",
        "producer-id",
        "stream-closed",
        "stream-forked-from",
      ]
    ) assert.ok(allowed.includes(h), h);
    const created = await fetch(`${url}/v1/stream/x`, { method: "PUT" });
    assert.equal(created.headers.get("x-content-type-options"), "nosniff");
    assert.equal(created.headers.get("access-control-allow-origin"), null);
    assert.equal(created.headers.get("location"), `${url}/v1/stream/x`);
    // A page served from loopback may read (the default under --auth none).
    const origin = "http://localhost:5173";
    const read = await fetch(`${url}/v1/stream/x`, { headers: { origin } });
    await read.body?.cancel();
    assert.equal(read.headers.get("access-control-allow-origin"), origin);
    assert.equal(read.headers.get("vary"), "Origin");
    assert.ok(
      read.headers.get("access-control-expose-headers")!.includes(
        "Stream-Next-Offset",
      ),
    );
  });
});

Deno.test("SSE keeps leading spaces and never lets payload text forge an event", async () => {
  await withServer({}, async ({ url }) => {
    const stream = `${url}/v1/stream/sse-text`;
    await (await fetch(stream, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
      body: '  indented\nevent: control\ndata: {"streamClosed":true}',
    })).body?.cancel();
    await (await fetch(stream, {
      method: "POST",
      headers: { "stream-closed": "true" },
    })).body?.cancel();
    const text = await (await fetch(`${stream}?offset=-1&live=sse`)).text();
    const events = text.split("\n\n").filter((e) => e.length > 0);
    assert.equal(events.length, 2, text);
    assert.ok(
      events[0].startsWith(
        "event: data\ndata:   indented\ndata:event: control\n",
      ),
      events[0],
    );
    const control = JSON.parse(events[1].split("\n")[1].slice("data:".length));
    assert.equal(control.streamClosed, true);
    assert.equal(control.streamNextOffset, "0000000000000000_0000000000000053");
  });
});

Deno.test("a long-poll waiting at the tail gets the final message of an append-with-close", async () => {
  await withServer({ http: { longPollTimeoutMs: 5000 } }, async ({ url }) => {
    const stream = `${url}/v1/stream/lp-close`;
    await (await fetch(stream, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
    })).body?.cancel();
    const waiting = fetch(`${stream}?offset=now&live=long-poll`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await (await fetch(stream, {
      method: "POST",
      headers: { "content-type": "text/plain", "stream-closed": "true" },
      body: "last words",
    })).body?.cancel();
    const response = await waiting;
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "last words");
    assert.equal(response.headers.get("stream-closed"), "true");
  });
});

/** The offset of byte position `pos` (epoch 0). */
const offsetAt = (pos: number) =>
  `0000000000000000_${String(pos).padStart(16, "0")}`;

Deno.test("an offset inside a record reads from that record's start (catch-up, ETag, long-poll, SSE)", async () => {
  await withServer({}, async ({ url }) => {
    const stream = `${url}/v1/stream/inside-offsets`;
    const post = async (body: string, headers: Record<string, string> = {}) =>
      await (await fetch(stream, {
        method: "POST",
        headers: { "content-type": "text/plain", ...headers },
        body,
      })).body?.cancel();
    await (await fetch(stream, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
    })).body?.cancel();
    await post("0123456789"); // [0, 10)
    await post("abc"); // [10, 13)
    // One byte into the second record (a client adding 1 to a position):
    // the second record whole, then the next offset as usual.
    const read = await fetch(`${stream}?offset=${offsetAt(11)}`);
    assert.equal(await read.text(), "abc");
    assert.equal(read.headers.get("stream-next-offset"), offsetAt(13));
    assert.equal(read.headers.get("stream-up-to-date"), "true");
    const first = await fetch(`${stream}?offset=${offsetAt(1)}`);
    assert.equal(await first.text(), "0123456789abc");
    // Exactly at the boundary: the same bytes, so the same ETag.
    const exact = await fetch(`${stream}?offset=${offsetAt(10)}`);
    assert.equal(await exact.text(), "abc");
    assert.equal(exact.headers.get("etag"), read.headers.get("etag"));
    const cached = await fetch(`${stream}?offset=${offsetAt(12)}`, {
      headers: { "if-none-match": read.headers.get("etag")! },
    });
    await cached.body?.cancel();
    assert.equal(cached.status, 304);
    // A long-poll inside the last record returns it at once.
    const poll = await fetch(
      `${stream}?offset=${offsetAt(12)}&live=long-poll`,
    );
    assert.equal(poll.status, 200);
    assert.equal(await poll.text(), "abc");
    assert.equal(poll.headers.get("stream-next-offset"), offsetAt(13));
    // SSE (closed stream, so the connection ends after the tail).
    await post("", { "stream-closed": "true" });
    const text =
      await (await fetch(`${stream}?offset=${offsetAt(11)}&live=sse`))
        .text();
    const events = text.split("\n\n").filter((e) => e.length > 0);
    assert.equal(events[0], "event: data\ndata:abc", text);
    const control = JSON.parse(events[1].split("\n")[1].slice("data:".length));
    assert.equal(control.streamNextOffset, offsetAt(13));
  });
});

Deno.test("an offset inside a JSON message reads from that message", async () => {
  await withServer({}, async ({ url }) => {
    const stream = `${url}/v1/stream/inside-json`;
    await (await fetch(stream, {
      method: "PUT",
      headers: { "content-type": "application/json" },
    })).body?.cancel();
    await (await fetch(stream, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '[{"a":1},{"b":2}]', // stored as {"a":1}, [0, 8) and {"b":2}, [8, 16)
    })).body?.cancel();
    const inSecond = await fetch(`${stream}?offset=${offsetAt(9)}`);
    assert.deepEqual(await inSecond.json(), [{ b: 2 }]);
    assert.equal(inSecond.headers.get("stream-next-offset"), offsetAt(16));
    const inFirst = await fetch(`${stream}?offset=${offsetAt(7)}`);
    assert.deepEqual(await inFirst.json(), [{ a: 1 }, { b: 2 }]);
  });
});

Deno.test("an offset past the tail reads as the tail (catch-up, long-poll, SSE)", async () => {
  await withServer({}, async ({ url }) => {
    const stream = `${url}/v1/stream/past-tail`;
    await (await fetch(stream, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
      body: "0123456789", // [0, 10)
    })).body?.cancel();
    const past = `${stream}?offset=${offsetAt(11)}`;
    const read = await fetch(past);
    assert.equal(read.status, 200);
    assert.equal(await read.text(), "");
    assert.equal(read.headers.get("stream-next-offset"), offsetAt(10));
    assert.equal(read.headers.get("stream-up-to-date"), "true");
    // A long-poll one byte past the tail waits there and gets the next
    // record, the one that then holds that position.
    const poll = fetch(`${past}&live=long-poll&timeout=30`);
    await (await fetch(stream, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "abc", // [10, 13)
    })).body?.cancel();
    const polled = await poll;
    assert.equal(polled.status, 200);
    assert.equal(await polled.text(), "abc");
    assert.equal(polled.headers.get("stream-next-offset"), offsetAt(13));
    await (await fetch(stream, {
      method: "POST",
      headers: { "stream-closed": "true" },
    })).body?.cancel();
    const text =
      await (await fetch(`${stream}?offset=${offsetAt(99)}&live=sse`))
        .text();
    const control = JSON.parse(text.split("\n")[1].slice("data:".length));
    assert.equal(control.streamNextOffset, offsetAt(13));
    assert.equal(control.streamClosed, true);
  });
});

Deno.test("reads sent while a create with a body is in flight answer 404 or the body, never a server error", async () => {
  await withServer({}, async ({ url }) => {
    const statuses = new Map<number, number>();
    const check = async (response: Response) => {
      const text = await response.text();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      if (response.status === 404 && text.length > 0) {
        assert.equal(JSON.parse(text).error.code, "stream_not_found");
      } else if (response.status === 200 && text.length > 0) {
        assert.ok(text === "hello" || text.startsWith("{"), text);
      } else assert.ok([200, 404].includes(response.status), text);
    };
    for (let i = 0; i < 20; i++) {
      const stream = `${url}/v1/stream/racing-${i}`;
      let done = false;
      const put = fetch(stream, {
        method: "PUT",
        headers: { "content-type": "text/plain" },
        body: "hello",
      }).finally(() => done = true);
      // Reads keep arriving before, while and after the create commits.
      while (!done) {
        const reads = await Promise.all([
          fetch(`${stream}?offset=-1`),
          fetch(`${stream}?offset=-1&live=long-poll&timeout=1`),
          fetch(stream, { method: "HEAD" }),
          fetch(`${stream}/_details`),
        ]);
        for (const response of reads) await check(response);
      }
      assert.equal((await put).status, 201);
      await (await put).body?.cancel();
    }
    assert.ok(statuses.has(404) && !statuses.has(500), `${[...statuses]}`);
  });
});
