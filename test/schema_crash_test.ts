/**
 * Crash safety of schema changes: a real server takes concurrent appends
 * while a schema update (v1 -> v2, which makes a field required) commits, and
 * is killed with SIGKILL while appends are still in flight. After a restart
 * the registry is exactly what was acknowledged, every acknowledged append is
 * there once, and no record at or after the new boundary lacks what v2
 * requires: no append slipped between reading the tail and the boundary.
 */

import assert from "node:assert/strict";
import { killServer, spawnServer } from "./_server.ts";

const JSON_HEADERS = { "content-type": "application/json" };
const V1 = {
  type: "object",
  required: ["w", "i"],
  properties: { w: { type: "string" }, i: { type: "integer" } },
};
const V2 = {
  type: "object",
  required: ["w", "i", "n"],
  properties: {
    w: { type: "string" },
    i: { type: "integer" },
    n: { type: "integer" },
  },
};
const LENS = {
  apiVersion: "durable.lens/v1",
  schema: "orders",
  from: 1,
  to: 2,
  ops: [{ op: "add", path: "/n", schema: { type: "integer" }, default: 0 }],
};

interface Writer {
  id: string;
  withN: boolean;
  acked: string[];
  /** Appends refused with 400, and when each was sent. */
  refused: { sentMs: number }[];
}

async function runWriter(
  url: string,
  w: Writer,
  stop: { now: boolean },
): Promise<void> {
  for (let i = 0; !stop.now; i++) {
    const message = w.withN ? { w: w.id, i, n: 1 } : { w: w.id, i };
    const sentMs = performance.now();
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: JSON_HEADERS,
        body: JSON.stringify(message),
      });
      await response.body?.cancel();
      if (response.status === 204) w.acked.push(`${w.id}-${i}`);
      else if (response.status === 400) w.refused.push({ sentMs });
      else return;
    } catch {
      return; // the server died
    }
  }
}

Deno.test("kill -9 while a schema change commits among appends keeps registry, records and boundary exact", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-schema-crash-" });
  let server = await spawnServer(dir);
  const url = `${server.url}/v1/stream/orders`;
  try {
    assert.equal(
      (await fetch(url, { method: "PUT", headers: JSON_HEADERS })).status,
      201,
    );
    const first = await fetch(`${url}/_schema`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({ schema: V1 }),
    });
    assert.equal(first.status, 200);
    await first.body?.cancel();
    const writers: Writer[] = Array.from({ length: 6 }, (_, k) => ({
      id: `w${k}`,
      withN: k % 2 === 0,
      acked: [],
      refused: [],
    }));
    const stop = { now: false };
    const running = writers.map((w) => runWriter(url, w, stop));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const evolved = await fetch(`${url}/_schema`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({ schema: V2, lens: LENS }),
    });
    assert.equal(evolved.status, 200);
    const registry = await evolved.json();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await killServer(server); // appends still in flight
    stop.now = true;
    await Promise.all(running);

    server = await spawnServer(dir);
    const again = `${server.url}/v1/stream/orders`;
    const restored = await (await fetch(`${again}/_schema`)).json();
    assert.deepEqual(restored, registry);
    const read = await fetch(`${again}?offset=-1`);
    assert.equal(read.status, 200);
    const records = await read.json() as { w: string; i: number; n?: number }[];
    // Every record reads at v2: old ones promoted, new ones as written.
    for (const r of records) {
      assert.equal(typeof r.n, "number", JSON.stringify(r));
    }
    const seen = new Set<string>();
    for (const r of records) {
      const id = `${r.w}-${r.i}`;
      assert.ok(!seen.has(id), `duplicate ${id}`);
      seen.add(id);
    }
    for (const w of writers) {
      for (const id of w.acked) assert.ok(seen.has(id), `acked ${id} lost`);
    }
    // Writers without n wrote under v1 and were refused once v2 was in force;
    // writers with n were never refused.
    for (const w of writers.filter((w) => !w.withN)) {
      assert.ok(w.acked.length > 0, `${w.id} wrote nothing under v1`);
    }
    assert.ok(writers.some((w) => !w.withN && w.refused.length > 0));
    assert.ok(
      writers.filter((w) => w.withN).every((w) => w.refused.length === 0),
    );
    const noN = await fetch(again, {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({ w: "x", i: 0 }),
    });
    assert.equal(noN.status, 400);
    await noN.body?.cancel();
  } finally {
    await killServer(server);
    await Deno.remove(dir, { recursive: true });
  }
});
