/**
 * `_routing_keys` over a tiered stream: segments the routing-key index
 * covers are listed from their key lexicons (reported as indexed, not
 * scanned), and paging over the whole listing returns exactly the distinct
 * keys a scan of every record finds, for random keys and page sizes.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { testConfig } from "../src/config.ts";
import { MemoryObjectStore } from "../src/objectstore/memory.ts";
import { startServer } from "../src/server.ts";

const encoder = new TextEncoder();

/** A header value carrying `key`'s UTF-8 bytes (one char per byte). */
function keyHeader(key: string): string {
  return String.fromCharCode(...encoder.encode(key));
}

/** UTF-8 byte order, the order `_routing_keys` lists in. */
function byBytes(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

interface Coverage {
  complete: boolean;
  indexed_segments: number;
  scanned_segments: number;
  scanned_wal_records: number;
}

Deno.test("_routing_keys answers indexed segments from the index's lexicons and lists exactly the keys a scan finds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-test-" });
  const server = await startServer(
    testConfig(dir, {
      objectStore: { kind: "fs" },
      segment: { segmentBytes: 1024, segmentAgeMs: 50 },
    }),
    { objectStore: new MemoryObjectStore() },
  );
  let streams = 0;
  try {
    const keyArb = fc.oneof(
      fc.constantFrom("a", "b", "ü", "a/b", "zz", "é"),
      fc.array(fc.constantFrom("a", "b", "z", "0", "/", "ü", "€", "😀", "~"), {
        minLength: 1,
        maxLength: 5,
      }).map((chars) => chars.join("")),
    );
    await fc.assert(
      fc.asyncProperty(
        // One record per segment (each is over --segment-bytes); null: no key.
        fc.array(fc.option(keyArb, { nil: null, freq: 6 }), {
          minLength: 16,
          maxLength: 21,
        }),
        fc.integer({ min: 1, max: 7 }),
        async (drawn, limit) => {
          // One keyed record at least: a stream without keys has no index.
          const keys = ["k", ...drawn];
          const url = `${server.url}/v1/stream/lx${streams++}`;
          const created = await fetch(url, {
            method: "PUT",
            headers: { "content-type": "text/plain" },
          });
          await created.body?.cancel();
          assert.equal(created.status, 201);
          for (const [i, key] of keys.entries()) {
            const headers: Record<string, string> = {
              "content-type": "text/plain",
            };
            if (key !== null) headers["stream-key"] = keyHeader(key);
            const r = await fetch(url, {
              method: "POST",
              headers,
              body: `<${i}>` + "x".repeat(1100),
            });
            await r.body?.cancel();
            assert.equal(r.status, 204);
          }
          // The first 16 segments make an L0 run once uploaded. Every
          // record's segment is uploaded before the listing, so its coverage
          // and the status read after it count the same segments.
          let indexed = 0;
          let uploaded = 0;
          const settled = () => indexed >= 16 && uploaded === keys.length;
          for (let i = 0; i < 3000 && !settled(); i++) {
            const r = await fetch(`${url}/_index_status`);
            const body = await r.json();
            indexed = body.routing_key_index.indexed_segment_count ?? 0;
            uploaded = body.segments.uploaded_count;
            if (!settled()) await new Promise((r) => setTimeout(r, 10));
          }
          assert.equal(indexed, 16);
          assert.equal(uploaded, keys.length);

          // What a scan of every record finds.
          const expected = [
            ...new Set(keys.filter((k): k is string => k !== null)),
          ].sort(byBytes);
          const listed: string[] = [];
          let after: string | null = null;
          let coverage: Coverage | undefined;
          for (let page = 0; page < 100; page++) {
            const query: string = `limit=${limit}` +
              (after === null ? "" : `&after=${encodeURIComponent(after)}`);
            const r: Response = await fetch(`${url}/_routing_keys?${query}`);
            assert.equal(r.status, 200);
            const body = await r.json();
            coverage = body.coverage;
            assert.ok(body.keys.length <= limit);
            listed.push(...body.keys);
            after = body.next_after;
            if (after === null) break;
          }
          assert.deepEqual(listed, expected);
          assert.equal(coverage!.complete, true);
          // The 16 indexed segments came from the lexicon; the rest were read.
          assert.equal(coverage!.indexed_segments, 16);
          const status = await (await fetch(`${url}/_index_status`)).json();
          assert.equal(
            coverage!.indexed_segments + coverage!.scanned_segments,
            status.segments.uploaded_count,
          );
        },
      ),
      { numRuns: 4 },
    );
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--routing-index false: no runs are built; keyed reads and _routing_keys read every segment", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-test-" });
  const objects = new MemoryObjectStore();
  const server = await startServer(
    testConfig(dir, {
      objectStore: { kind: "fs" },
      segment: { segmentBytes: 1024, segmentAgeMs: 50, routingIndex: false },
    }),
    { objectStore: objects },
  );
  try {
    const url = `${server.url}/v1/stream/off`;
    const created = await fetch(url, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
    });
    await created.body?.cancel();
    for (let i = 0; i < 20; i++) {
      const r = await fetch(url, {
        method: "POST",
        headers: { "content-type": "text/plain", "stream-key": `k${i % 3}` },
        body: `<${i}>` + "x".repeat(1100),
      });
      await r.body?.cancel();
      assert.equal(r.status, 204);
    }
    let status: {
      segments: { uploaded_count: number };
      routing_key_index: { configured: boolean };
    } | undefined;
    for (let i = 0; i < 3000; i++) {
      status = await (await fetch(`${url}/_index_status`)).json();
      if (status!.segments.uploaded_count >= 19) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(status!.segments.uploaded_count >= 19);
    assert.equal(status!.routing_key_index.configured, false);
    const listing = await (await fetch(`${url}/_routing_keys`)).json();
    assert.deepEqual(listing.keys, ["k0", "k1", "k2"]);
    assert.equal(listing.coverage.indexed_segments, 0);
    assert.ok(listing.coverage.scanned_segments >= 19);
    const keyed = await (await fetch(`${url}?key=k1`)).text();
    assert.deepEqual(
      [...keyed.matchAll(/<(\d+)>/g)].map((m) => Number(m[1])),
      [1, 4, 7, 10, 13, 16, 19],
    );
    const indexObjects = (await objects.list("streams/")).keys
      .filter((k) => k.includes("/index/"));
    assert.deepEqual(indexObjects, []);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
