/**
 * Crash safety of the routing-key index: a real server process with tiny
 * segments takes keyed appends while its upload loop builds the index, and
 * is killed with SIGKILL mid-build with requests in flight. After a restart
 * on the same data dir nothing acknowledged is lost, keyed reads return
 * exactly the records of the filtered full read (before and after the index
 * catches up again), and `_index_status` answers.
 */

import assert from "node:assert/strict";
import { killServer, type ServerProcess, spawnServer } from "./_server.ts";

const KEYS = 5;
const ARGS = [
  "--object-store",
  "fs",
  "--segment-bytes",
  "1024",
  "--segment-age-ms",
  "20",
];

interface RoutingStatus {
  segments: { uploaded_count: number };
  routing_key_index: { configured: boolean; indexed_segment_count: number };
}

function record(n: number): string {
  // Just over --segment-bytes: about one segment per record.
  return `<${n}:k${n % KEYS}>` + "x".repeat(1100) + "\n";
}

function parse(text: string): { n: number; key: string }[] {
  return [...text.matchAll(/<(\d+):(k\d+)>/g)].map((m) => ({
    n: Number(m[1]),
    key: m[2],
  }));
}

async function readAll(url: string): Promise<string> {
  let out = "";
  let offset = "-1";
  for (let guard = 0; guard < 10_000; guard++) {
    const response = await fetch(
      `${url}${url.includes("?") ? "&" : "?"}offset=${offset}`,
    );
    assert.equal(response.status, 200);
    out += await response.text();
    offset = response.headers.get("stream-next-offset")!;
    if (response.headers.get("stream-up-to-date") === "true") return out;
  }
  throw new Error("too many pages");
}

async function status(base: string): Promise<RoutingStatus> {
  const r = await fetch(`${base}/_index_status`);
  assert.equal(r.status, 200);
  return await r.json() as RoutingStatus;
}

/** Every key's keyed read equals the full read filtered by that key. */
async function assertKeyedExact(base: string): Promise<number[]> {
  const all = parse(await readAll(base));
  for (let k = 0; k < KEYS; k++) {
    const key = `k${k}`;
    assert.deepEqual(
      parse(await readAll(`${base}?key=${key}`)).map((r) => r.n),
      all.filter((r) => r.key === key).map((r) => r.n),
      key,
    );
  }
  return all.map((r) => r.n);
}

Deno.test("after kill -9 while the routing-key index builds, keyed reads equal the filtered full read and nothing acknowledged is lost", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-crash-" });
  let server: ServerProcess = await spawnServer(dir, ARGS);
  try {
    let base = `${server.url}/v1/stream/ix`;
    const created = await fetch(base, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
    });
    await created.body?.cancel();
    assert.equal(created.status, 201);

    const acked: number[] = [];
    const stop = { now: false };
    const writer = (async () => {
      for (let n = 0; !stop.now; n++) {
        try {
          const r = await fetch(base, {
            method: "POST",
            headers: {
              "content-type": "text/plain",
              "stream-key": `k${n % KEYS}`,
            },
            body: record(n),
          });
          await r.body?.cancel();
          assert.equal(r.status, 204);
          acked.push(n);
        } catch {
          return; // the server died with this request in flight
        }
        // Paced, so uploads and index builds keep up with the appends.
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    // Kill once the index has runs and more segments keep arriving.
    let before: RoutingStatus | undefined;
    for (let i = 0; i < 1500; i++) {
      before = await status(base);
      if (before.routing_key_index.indexed_segment_count >= 32) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(
      before!.routing_key_index.indexed_segment_count >= 32,
      JSON.stringify({ before, acked: acked.length }),
    );
    await new Promise((r) => setTimeout(r, 150));
    await killServer(server);
    stop.now = true;
    await writer;
    assert.ok(acked.length > 32);

    server = await spawnServer(dir, ARGS);
    base = `${server.url}/v1/stream/ix`;
    const after = await status(base);
    assert.equal(after.routing_key_index.configured, true);

    // Acknowledged records are all there, in order; at most the one in
    // flight follows.
    const stored = await assertKeyedExact(base);
    assert.deepEqual(stored.slice(0, acked.length), acked);
    assert.ok(stored.length <= acked.length + 1);

    // Appends go on; the index catches up to every full span of 16.
    for (let n = stored.length; n < stored.length + 20; n++) {
      const r = await fetch(base, {
        method: "POST",
        headers: { "content-type": "text/plain", "stream-key": `k${n % KEYS}` },
        body: record(n),
      });
      await r.body?.cancel();
      assert.equal(r.status, 204);
    }
    let caught: RoutingStatus | undefined;
    for (let i = 0; i < 1500; i++) {
      caught = await status(base);
      const uploaded = caught.segments.uploaded_count;
      if (
        uploaded >= 16 &&
        caught.routing_key_index.indexed_segment_count ===
          uploaded - uploaded % 16
      ) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const uploaded = caught!.segments.uploaded_count;
    assert.equal(
      caught!.routing_key_index.indexed_segment_count,
      uploaded - uploaded % 16,
    );
    assert.ok(
      caught!.routing_key_index.indexed_segment_count >=
        before!.routing_key_index.indexed_segment_count,
    );
    const final = await assertKeyedExact(base);
    assert.deepEqual(
      final,
      Array.from({ length: stored.length + 20 }, (_, i) => i),
    );
  } finally {
    await killServer(server);
    await Deno.remove(dir, { recursive: true });
  }
});
