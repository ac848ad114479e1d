/**
 * The routing-key index through the HTTP API, in process: the upload loop
 * builds it as segments are uploaded, `GET .../_index_status` reports its
 * progress (with an ETag), and keyed reads return exactly the keyed
 * records.
 */

import assert from "node:assert/strict";
import { testConfig } from "../src/config.ts";
import { MemoryObjectStore } from "../src/objectstore/memory.ts";
import { startServer } from "../src/server.ts";

Deno.test("_index_status reports the routing-key index the upload loop builds; keyed reads stay exact", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-test-" });
  const server = await startServer(
    testConfig(dir, {
      objectStore: { kind: "fs" },
      segment: { segmentBytes: 1024, segmentAgeMs: 50 },
    }),
    { objectStore: new MemoryObjectStore() },
  );
  const base = `${server.url}/v1/stream/ix`;
  try {
    const created = await fetch(base, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
    });
    await created.body?.cancel();
    assert.equal(created.status, 201);
    // 36 records of ~1100 bytes: one segment each, keys k0..k5.
    for (let i = 0; i < 36; i++) {
      const r = await fetch(base, {
        method: "POST",
        headers: { "content-type": "text/plain", "stream-key": `k${i % 6}` },
        body: `<${i}>` + "x".repeat(1100),
      });
      await r.body?.cancel();
      assert.equal(r.status, 204);
    }
    type Status = {
      stream: string;
      segments: { total_count: number; uploaded_count: number };
      routing_key_index: Record<string, unknown>;
    };
    let status: Status | undefined;
    let etag = "";
    for (let i = 0; i < 2000; i++) {
      const r = await fetch(`${base}/_index_status`);
      assert.equal(r.status, 200);
      etag = r.headers.get("etag")!;
      status = await r.json() as Status;
      if (
        status.routing_key_index.indexed_segment_count === 32 &&
        status.segments.uploaded_count === 36
      ) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(status!.stream, "ix");
    assert.equal(status!.segments.uploaded_count, 36);
    const rk = status!.routing_key_index;
    assert.equal(rk.configured, true);
    assert.equal(rk.indexed_segment_count, 32);
    assert.equal(rk.active_run_count, 2);
    assert.equal(rk.object_count, 2);
    assert.equal(typeof rk.bytes_at_rest, "string");
    assert.ok(Number(rk.bytes_at_rest) > 0);
    assert.equal(
      rk.lag_segments,
      status!.segments.uploaded_count - 32,
    );
    assert.match(etag, /^W\/"[0-9a-f]{16}"$/);

    // Once nothing moves, the same ETag answers 304.
    assert.equal(rk.lag_segments, 4);
    let notModified = false;
    for (let i = 0; i < 2000 && !notModified; i++) {
      const first = await fetch(`${base}/_index_status`);
      await first.body?.cancel();
      const tag = first.headers.get("etag")!;
      // Time passes (lag_ms grows: 4 segments wait for a full span); the
      // tag holds while the index and the uploads stay put.
      await new Promise((r) => setTimeout(r, 5));
      const again = await fetch(`${base}/_index_status`, {
        headers: { "if-none-match": tag },
      });
      await again.body?.cancel();
      notModified = again.status === 304;
      if (!notModified) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(notModified);
    const stale = await fetch(`${base}/_index_status`, {
      headers: { "if-none-match": 'W/"0000000000000000"' },
    });
    await stale.body?.cancel();
    assert.equal(stale.status, 200);

    const missing = await fetch(`${server.url}/v1/stream/nope/_index_status`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, "stream_not_found");

    // Keyed reads over indexed segments return exactly the keyed records.
    const keyed = await fetch(`${base}?key=k4`);
    const text = await keyed.text();
    assert.deepEqual(
      [...text.matchAll(/<(\d+)>/g)].map((m) => Number(m[1])),
      [4, 10, 16, 22, 28, 34],
    );
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("_index_status long-poll: 304 when nothing moves, 200 with the new body once uploads move it, 400 on a bad live mode", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-test-" });
  const server = await startServer(
    testConfig(dir, {
      objectStore: { kind: "fs" },
      segment: { segmentBytes: 1024, segmentAgeMs: 50 },
      http: { longPollTimeoutMs: 60_000 },
    }),
    { objectStore: new MemoryObjectStore() },
  );
  const base = `${server.url}/v1/stream/lp`;
  try {
    const created = await fetch(base, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
    });
    await created.body?.cancel();
    assert.equal(created.status, 201);
    const first = await fetch(`${base}/_index_status`);
    assert.equal(first.status, 200);
    const before = await first.json();
    const etag = first.headers.get("etag")!;
    assert.equal(before.segments.uploaded_count, 0);

    // Nothing is appended: the wait ends at the (short) timeout with 304.
    const idle = await fetch(
      `${base}/_index_status?live=long-poll&timeout=0.2`,
      { headers: { "if-none-match": etag } },
    );
    await idle.body?.cancel();
    assert.equal(idle.status, 304);
    assert.equal(idle.headers.get("etag"), etag);

    // A wait in flight while records are appended: segments seal and upload,
    // the tag changes, and the wait answers 200 with the new body.
    const waiting = fetch(
      `${base}/_index_status?live=long-poll&timeout=60`,
      { headers: { "if-none-match": etag } },
    );
    for (let i = 0; i < 4; i++) {
      const r = await fetch(base, {
        method: "POST",
        headers: { "content-type": "text/plain", "stream-key": `k${i}` },
        body: `<${i}>` + "x".repeat(1100),
      });
      await r.body?.cancel();
      assert.equal(r.status, 204);
    }
    const moved = await waiting;
    assert.equal(moved.status, 200);
    const after = await moved.json();
    assert.notEqual(moved.headers.get("etag"), etag);
    assert.equal(after.stream, "lp");
    assert.ok(after.segments.total_count > 0);

    // No If-None-Match: nothing to wait for, the body comes at once.
    const plain = await fetch(`${base}/_index_status?live=long-poll`);
    assert.equal(plain.status, 200);
    assert.equal((await plain.json()).stream, "lp");

    for (const query of ["live=sse", "live=yes", "live=long-poll&timeout=x"]) {
      const bad = await fetch(`${base}/_index_status?${query}`, {
        headers: { "if-none-match": etag },
      });
      assert.equal(bad.status, 400, query);
      assert.equal((await bad.json()).error.code, "bad_request");
    }
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
