/**
 * `--postgres-mode full` on one node: PostgreSQL holds the metadata and the
 * unpublished tail, sealed segments go to a shared fs object store, WAL rows
 * below the published position are deleted, and a node started on an empty
 * data dir reads everything back; SIGKILL mid-appends loses nothing
 * acknowledged.
 */

import assert from "node:assert/strict";
import { testConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { freshSchema, sharedPgCluster } from "../src/storage/_pg_testing.ts";
import { sigkillScenario } from "./_crash.ts";
import { manifestKey } from "../src/objectstore/manifest.ts";
import { keyPath } from "../src/objectstore/fs.ts";
import type { Logger } from "../src/log.ts";

const json = { "content-type": "application/json" };

async function readAll(url: string): Promise<string[]> {
  const out: string[] = [];
  let offset = "-1";
  for (let guard = 0; guard < 100_000; guard++) {
    const response = await fetch(`${url}?offset=${offset}`);
    assert.equal(response.status, 200, await response.clone().text());
    out.push(...await response.json() as string[]);
    offset = response.headers.get("stream-next-offset")!;
    if (response.headers.get("stream-up-to-date") === "true") break;
  }
  return out;
}

async function details(url: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${url}/_details`);
  assert.equal(response.status, 200);
  return await response.json();
}

Deno.test("PostgreSQL full mode: segments upload, the WAL tail shrinks, an empty node reads everything back, and --bootstrap restores an empty database", async () => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("full");
  const objects = await Deno.makeTempDir({ prefix: "streambed-full-objects-" });
  const dirs: string[] = [];
  const open = async (database = schema, bootstrap = false) => {
    const dir = await Deno.makeTempDir({ prefix: "streambed-full-" });
    dirs.push(dir);
    return await startServer(testConfig(dir, {
      storage: {
        backend: "postgres",
        postgresUrl: cluster.url,
        postgresSchema: database,
        postgresMode: "full",
      },
      objectStore: { kind: "fs", dir: objects, bootstrap },
      segment: { segmentBytes: 4096, segmentAgeMs: 50 },
    }));
  };
  let server = await open();
  try {
    let url = `${server.url}/v1/stream/events`;
    const created = await fetch(url, { method: "PUT", headers: json });
    assert.equal(created.status, 201);
    const sent: string[] = [];
    for (let i = 0; i < 300; i += 10) {
      const batch = Array.from(
        { length: 10 },
        (_, j) => `e-${i + j}-${"x".repeat(80)}`,
      );
      const response = await fetch(url, {
        method: "POST",
        headers: json,
        body: JSON.stringify(batch),
      });
      await response.body?.cancel();
      assert.equal(response.status, 204);
      sent.push(...batch);
    }
    let uploaded: Record<string, unknown> = {};
    for (let i = 0; i < 400; i++) {
      uploaded = await details(url);
      if (
        uploaded.uploadedThroughOffset === uploaded.tailOffset &&
        uploaded.walStartOffset === uploaded.tailOffset
      ) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(uploaded.uploadedThroughOffset, uploaded.tailOffset);
    // The records left PostgreSQL: segments are uploaded, no chunk is left.
    const sql = (q: string) =>
      cluster.psql(q.replace("FROM ", `FROM ${schema}.`));
    assert.equal((await sql("SELECT count(*) FROM chunks")).trim(), "0");
    const segments = Number(
      (await sql("SELECT count(*) FROM segments WHERE uploaded")).trim(),
    );
    assert.ok(segments >= 2, `expected several segments, got ${segments}`);
    const files = [...Deno.readDirSync(objects)];
    assert.ok(files.length > 0, "the object store holds the segments");
    assert.deepEqual(await readAll(url), sent);

    // A node on an empty data dir: PostgreSQL and the object store suffice.
    await server.close();
    const local = [...Deno.readDirSync(dirs[0])].map((e) => e.name)
      .filter((name) => !name.startsWith("LOCK") && name !== "segments");
    assert.deepEqual(local, [], "nothing but segment files in the data dir");
    server = await open();
    url = `${server.url}/v1/stream/events`;
    assert.deepEqual(await readAll(url), sent);
    // --bootstrap into an empty database restores it from the objects.
    await server.close();
    server = await open(freshSchema("restored"), true);
    url = `${server.url}/v1/stream/events`;
    assert.deepEqual(await readAll(url), sent);
    const more = ["after-restart"];
    const response = await fetch(url, {
      method: "POST",
      headers: json,
      body: JSON.stringify(more),
    });
    await response.body?.cancel();
    assert.equal(response.status, 204);
    assert.deepEqual(await readAll(url), [...sent, ...more]);
  } finally {
    await server.close();
    for (const dir of [...dirs, objects]) {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("PostgreSQL full mode: a publisher whose manifest generation or stream lease moved elsewhere writes no manifest", async () => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("fence");
  const objects = await Deno.makeTempDir({ prefix: "streambed-full-objects-" });
  const dir = await Deno.makeTempDir({ prefix: "streambed-full-" });
  const manifestFile = keyPath(objects, manifestKey(1));
  // What the object store held when the publication was refused.
  const refused: string[] = [];
  const log: Logger = {
    debug() {},
    info() {},
    error() {},
    warn(message) {
      // The generation's compare-and-set refused, or (the lease moved) the
      // fenced segment commit or the lease itself.
      if (
        message.includes("moved past generation") ||
        message.includes("moved past token") ||
        message.includes("no longer holds the lease")
      ) {
        refused.push(Deno.readTextFileSync(manifestFile));
      }
    },
  };
  const server = await startServer(
    testConfig(dir, {
      storage: {
        backend: "postgres",
        postgresUrl: cluster.url,
        postgresSchema: schema,
        postgresMode: "full",
      },
      objectStore: { kind: "fs", dir: objects },
      segment: { segmentBytes: 4096, segmentAgeMs: 50 },
    }),
    { log },
  );
  const generation = async () =>
    Number(
      (await cluster.psql(`SELECT generation FROM ${schema}.manifests`)).trim(),
    );
  const append = async (tag: string) => {
    const batch = Array.from({ length: 60 }, (_, i) => `${tag}-${i}`);
    const response = await fetch(url, {
      method: "POST",
      headers: json,
      body: JSON.stringify(batch),
    });
    await response.body?.cancel();
    assert.equal(response.status, 204);
    return batch;
  };
  const uploaded = async () => {
    for (let i = 0; i < 400; i++) {
      const d = await details(url);
      if (d.uploadedThroughOffset === d.tailOffset) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("never uploaded");
  };
  const url = `${server.url}/v1/stream/fenced`;
  try {
    assert.equal(
      (await fetch(url, { method: "PUT", headers: json })).status,
      201,
    );
    const first = await append("a");
    await uploaded();
    const before = Deno.readTextFileSync(manifestFile);
    // Another publisher moves the generation on.
    const moved = (await generation()) + 5;
    await cluster.psql(
      `UPDATE ${schema}.manifests SET generation = ${moved}`,
    );
    const second = await append("b");
    for (let i = 0; i < 400 && refused.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(refused.length > 0, "the publication was refused");
    assert.equal(refused[0], before, "no manifest was written over it");
    // Having read the new generation, the node publishes after it.
    await uploaded();
    assert.ok((await generation()) > moved);
    assert.deepEqual(await readAll(url), [...first, ...second]);

    // Another node takes the stream's lease: this one publishes nothing.
    const published = Deno.readTextFileSync(manifestFile);
    const atSteal = await generation();
    await cluster.psql(
      `UPDATE ${schema}.stream_leases SET node_id = 'other',
        token = token + 1, expires_at_ms = 9000000000000000`,
    );
    const third = await append("c");
    for (let i = 0; i < 400 && refused.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(refused.length >= 2, "the publication was refused again");
    assert.equal(refused[1], published, "no manifest was written");
    assert.equal(await generation(), atSteal);
    // The lease expires; this node takes it (a new token) and publishes.
    await cluster.psql(
      `UPDATE ${schema}.stream_leases SET expires_at_ms = 0`,
    );
    await uploaded();
    assert.ok((await generation()) > atSteal);
    assert.equal(
      (await cluster.psql(
        `SELECT node_id <> 'other' FROM ${schema}.stream_leases`,
      )).trim(),
      "t",
    );
    assert.deepEqual(await readAll(url), [...first, ...second, ...third]);
  } finally {
    await server.close();
    for (const d of [dir, objects]) await Deno.remove(d, { recursive: true });
  }
});

Deno.test("PostgreSQL full mode: SIGKILL mid-flight loses no acknowledged append and duplicates none", async () => {
  const cluster = await sharedPgCluster();
  const objects = await Deno.makeTempDir({ prefix: "streambed-full-objects-" });
  try {
    await sigkillScenario([
      "--storage",
      "postgres",
      "--postgres-url",
      cluster.url,
      "--postgres-schema",
      freshSchema("fullcrash"),
      "--postgres-mode",
      "full",
      "--object-store",
      "fs",
      "--object-dir",
      objects,
      "--segment-bytes",
      "4096",
      "--segment-age-ms",
      "50",
    ]);
  } finally {
    await Deno.remove(objects, { recursive: true });
  }
});
