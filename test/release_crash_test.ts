/**
 * Crash cases for releasing a deleted stream's objects: a server with tiny
 * thresholds kills itself with SIGKILL (test-only `DS_TEST_CRASH_POINT`)
 * after claiming a release and before deleting any object, and between
 * deleting some of the stream's objects and the rest. After a restart on
 * the same WAL (SQLite, or PostgreSQL in full mode) the release log brings
 * the release back: every object of the deleted stream is gone within a
 * bounded time, while a live stream and a stream created again under the
 * deleted name (a new id) keep every object and byte. With two nodes, a
 * node killed mid-release leaves its claim behind, and the survivor takes
 * the release over once the claim runs out.
 */

import assert from "node:assert/strict";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import {
  decodeManifest,
  streamPrefix,
  STREAMS_PREFIX,
} from "../src/objectstore/manifest.ts";
import { freshSchema, sharedPgCluster } from "../src/storage/_pg_testing.ts";
import { killServer, type ServerProcess, spawnServer } from "./_server.ts";

const json = { "content-type": "application/json" };
const TINY = [
  "--segment-bytes=4096",
  "--segment-age-ms=100",
  "--segment-idle-ms=100",
  "--manifest-batch-ms=10",
];
/** How long the objects of a released stream may outlive a restart, in ms. */
const RELEASED_WITHIN_MS = 15_000;
const LEASE_MS = 1500;

async function keysUnder(
  store: FsObjectStore,
  prefix: string,
): Promise<string[]> {
  const out: string[] = [];
  let next: string | undefined;
  do {
    const page = await store.list(prefix, next);
    out.push(...page.keys);
    next = page.next;
  } while (next !== undefined);
  return out;
}

/** The id of the stream named `name` by a published manifest, if any. */
async function publishedId(
  store: FsObjectStore,
  name: string,
): Promise<number | undefined> {
  for (const key of await keysUnder(store, STREAMS_PREFIX)) {
    if (!key.endsWith("/manifest.json")) continue;
    const bytes = await store.get(key);
    if (bytes === undefined) continue;
    const m = decodeManifest(bytes, key);
    if (m.name === name && m.segments.length >= 2) return m.id;
  }
  return undefined;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function call(
  url: string,
  method: string,
  name: string,
  body?: unknown,
): Promise<number> {
  const response = await fetch(`${url}/v1/stream/${name}`, {
    method,
    headers: json,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await response.body?.cancel();
  return response.status;
}

/** Creates `name` and appends 20 messages of ~400 bytes (2+ segments). */
async function fill(url: string, name: string): Promise<string[]> {
  assert.equal(await call(url, "PUT", name), 201);
  const sent: string[] = [];
  for (let i = 0; i < 20; i++) {
    const message = `${name}-${i}-${"x".repeat(400)}`;
    assert.equal(await call(url, "POST", name, [message]), 204);
    sent.push(message);
  }
  return sent;
}

async function readAll(url: string, name: string): Promise<string[]> {
  const out: string[] = [];
  let offset = "-1";
  for (let guard = 0; guard < 10_000; guard++) {
    const response = await fetch(`${url}/v1/stream/${name}?offset=${offset}`);
    assert.equal(response.status, 200);
    out.push(...await response.json() as string[]);
    offset = response.headers.get("stream-next-offset")!;
    if (response.headers.get("stream-up-to-date") === "true") return out;
  }
  throw new Error("never caught up");
}

interface Case {
  point: "before_release_objects" | "after_release_object";
  /** Which hit of the point kills. */
  nth: number;
  /** Flags of the WAL (SQLite when empty). */
  wal: () => Promise<string[]>;
}

async function crashCase(c: Case): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "streambed-rcrash-" });
  const objectsDir = `${dir}/objects`;
  const args = [...await c.wal(), ...TINY, `--object-dir=${objectsDir}`];
  const objects = new FsObjectStore({ root: objectsDir });
  let server: ServerProcess = await spawnServer(`${dir}/data`, args, {
    DS_TEST_CRASH_POINT: `${c.point}:${c.nth}`,
  });
  try {
    const kept = await fill(server.url, "kept");
    await fill(server.url, "victim");
    const [victimId, keptId] = await waitFor(
      "both streams published",
      async () => {
        const v = await publishedId(objects, "victim");
        const k = await publishedId(objects, "kept");
        return v !== undefined && k !== undefined && [v, k];
      },
    );
    const before = await keysUnder(objects, streamPrefix(victimId));
    assert.ok(before.length >= 3, `objects of the victim: ${before}`);
    const keptKeys = await keysUnder(objects, streamPrefix(keptId));
    assert.equal(await call(server.url, "DELETE", "victim"), 204);
    const status = await server.child.status;
    assert.equal(status.signal, "SIGKILL", `${c.point}: died at its point`);
    const left = await keysUnder(objects, streamPrefix(victimId));
    if (c.point === "before_release_objects") {
      assert.deepEqual(left, before, "nothing deleted before the crash");
    } else {
      assert.ok(
        left.length > 0 && left.length < before.length,
        `some deleted, some left: ${left.length} of ${before.length}`,
      );
    }
    // The restart resumes the release; the name is used again meanwhile.
    server = await spawnServer(`${dir}/data`, args);
    const again = await fill(server.url, "victim");
    const releasedAtMs = Date.now();
    await waitFor(
      "the deleted stream's objects gone",
      async () =>
        (await keysUnder(objects, streamPrefix(victimId))).length === 0,
      RELEASED_WITHIN_MS,
    );
    const newId = await waitFor(
      "the new stream published",
      () => publishedId(objects, "victim"),
    );
    assert.notEqual(newId, victimId);
    assert.ok(Date.now() - releasedAtMs < RELEASED_WITHIN_MS);
    // Live streams keep every object they had and every byte.
    const keptNow = await keysUnder(objects, streamPrefix(keptId));
    for (const key of keptKeys) {
      if (key.includes("/manifests/")) continue; // retired generations
      assert.ok(keptNow.includes(key), `kept object ${key} survives`);
    }
    assert.deepEqual(await readAll(server.url, "kept"), kept);
    assert.deepEqual(await readAll(server.url, "victim"), again);
    // And stay so: no later pass deletes anything of theirs.
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok((await keysUnder(objects, streamPrefix(newId))).length >= 3);
    assert.deepEqual(await readAll(server.url, "kept"), kept);
  } finally {
    await killServer(server);
    await Deno.remove(dir, { recursive: true });
  }
}

const sqlite = () => Promise.resolve([]);
const pgFull = async (schema = freshSchema("relcrash")) => {
  const cluster = await sharedPgCluster();
  return [
    "--storage=postgres",
    `--postgres-url=${cluster.url}`,
    `--postgres-schema=${schema}`,
    "--postgres-mode=full",
    `--postgres-lease-ms=${LEASE_MS}`,
    "--object-store=fs",
  ];
};

Deno.test("SQLite: SIGKILL after a release is claimed, before any object is deleted: the restart deletes them all", () =>
  crashCase({ point: "before_release_objects", nth: 1, wal: sqlite }));

Deno.test("SQLite: SIGKILL between deleting some of a released stream's objects and the rest: the restart deletes the rest", () =>
  crashCase({ point: "after_release_object", nth: 2, wal: sqlite }));

Deno.test("PostgreSQL full mode: SIGKILL after a release is claimed, before any object is deleted: once the claim runs out the restart deletes them all", () =>
  crashCase({ point: "before_release_objects", nth: 1, wal: pgFull }));

Deno.test("PostgreSQL full mode: SIGKILL between deleting some of a released stream's objects and the rest: the restart deletes the rest", () =>
  crashCase({ point: "after_release_object", nth: 2, wal: pgFull }));

Deno.test("PostgreSQL full mode on two nodes: the node releasing a deleted stream dies mid-release; the survivor takes the release over once the claim runs out and deletes every object, the other streams keep theirs", async () => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("reltake");
  const dir = await Deno.makeTempDir({ prefix: "streambed-rtake-" });
  const objectsDir = `${dir}/objects`;
  const objects = new FsObjectStore({ root: objectsDir });
  const args = [
    ...await pgFull(schema),
    "--postgres-multi-node",
    ...TINY,
    `--object-dir=${objectsDir}`,
  ];
  const nodeIds = async () =>
    (await cluster.psql(`SELECT node_id FROM ${schema}.nodes ORDER BY 1`))
      .trim().split("\n").filter((line) => line !== "");
  // a releases and dies at its first release; b lives on.
  const a = await spawnServer(`${dir}/a`, args, {
    DS_TEST_CRASH_POINT: "before_release_objects:1",
  });
  let b: ServerProcess | undefined;
  try {
    const [idA] = await nodeIds();
    b = await spawnServer(`${dir}/b`, args);
    const names = Array.from({ length: 6 }, (_, i) => `t${i}`);
    const sent = new Map<string, string[]>();
    for (const name of names) sent.set(name, await fill(a.url, name));
    const ids = await waitFor("every stream published", async () => {
      const out = new Map<string, number>();
      for (const name of names) {
        const id = await publishedId(objects, name);
        if (id === undefined) return undefined;
        out.set(name, id);
      }
      return out;
    }, 60_000);
    // A stream whose lease a holds: a releases it.
    const held = await cluster.psql(
      `SELECT stream_id FROM ${schema}.stream_leases WHERE node_id = '${idA}'
         AND expires_at_ms > 0 ORDER BY 1`,
    );
    const heldIds = held.trim().split("\n").filter((l) => l !== "").map(
      Number,
    );
    const victim = names.find((n) => heldIds.includes(ids.get(n)!));
    assert.ok(victim !== undefined, `a holds one of ${[...ids]}: ${heldIds}`);
    const victimId = ids.get(victim)!;
    const before = await keysUnder(objects, streamPrefix(victimId));
    assert.ok(before.length >= 3, `objects of ${victim}: ${before}`);
    const others = names.filter((n) => n !== victim);
    const otherKeys = new Map<string, string[]>();
    for (const name of others) {
      otherKeys.set(
        name,
        await keysUnder(objects, streamPrefix(ids.get(name)!)),
      );
    }
    assert.equal(await call(b.url, "DELETE", victim), 204);
    const status = await a.child.status;
    assert.equal(status.signal, "SIGKILL", "a died at its release");
    assert.deepEqual(
      await keysUnder(objects, streamPrefix(victimId)),
      before,
      "a deleted nothing",
    );
    const claimed = await cluster.psql(
      `SELECT node_id FROM ${schema}.releases WHERE stream_id = ${victimId}`,
    );
    assert.equal(claimed.trim(), idA, "a's claim is left behind");
    await waitFor(
      "b to finish the release",
      async () =>
        (await keysUnder(objects, streamPrefix(victimId))).length === 0,
      RELEASED_WITHIN_MS,
    );
    await waitFor("the release log row gone", async () =>
      (await cluster.psql(
        `SELECT count(*) FROM ${schema}.releases`,
      )).trim() === "0");
    for (const name of others) {
      const now = await keysUnder(objects, streamPrefix(ids.get(name)!));
      for (const key of otherKeys.get(name)!) {
        if (key.includes("/manifests/")) continue; // retired generations
        assert.ok(now.includes(key), `${name}: ${key} survives`);
      }
      assert.deepEqual(await readAll(b.url, name), sent.get(name));
    }
  } finally {
    await killServer(a);
    if (b !== undefined) await killServer(b);
    await Deno.remove(dir, { recursive: true });
  }
});
