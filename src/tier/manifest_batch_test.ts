import assert from "node:assert/strict";
import { MemoryObjectStore } from "../objectstore/memory.ts";
import {
  buildManifest,
  encodeManifest,
  type Manifest,
  manifestKey,
} from "../objectstore/manifest.ts";
import { MANIFEST_BATCH_OBJECTS_MAX } from "../limits.ts";
import { withBatched } from "./bootstrap.ts";
import {
  batchable,
  batchKey,
  decodeBatch,
  encodeBatch,
  listBatches,
  ManifestBatcher,
  newestEntries,
  readBatches,
} from "./manifest_batch.ts";
import type { TierClock } from "./clock.ts";

function empty(id: number, closed = false): Manifest {
  return buildManifest(
    {
      id,
      name: `s/${id}`,
      contentType: "application/json",
      createdAtMs: 1,
      ttlSeconds: null,
      expiresAtMs: null,
      tailPos: 0,
      closed,
      softDeleted: false,
      fork: null,
    },
    [],
    0,
  );
}

function withSegment(id: number): Manifest {
  return buildManifest(
    {
      id,
      name: `s/${id}`,
      contentType: "application/json",
      createdAtMs: 1,
      ttlSeconds: null,
      expiresAtMs: null,
      tailPos: 10,
      closed: false,
      softDeleted: false,
      fork: null,
    },
    [{ streamId: id, startPos: 0, endPos: 10, sizeBytes: 40 }],
    10,
  );
}

function batcher(objects: MemoryObjectStore, clock: { nowMs: number }) {
  const tierClock: TierClock = {
    now: () => clock.nowMs,
    sleep: () => Promise.resolve(),
  };
  return new ManifestBatcher({
    objects,
    waitMs: 1000,
    clock: tierClock,
    random: () => 0,
    retryMinMs: 100,
    retryMaxMs: 400,
    crashPoint: () => {},
  });
}

Deno.test("batchable() takes manifests naming no segments, registry or index", () => {
  assert.equal(batchable(empty(1)), true);
  assert.equal(batchable(withSegment(1)), false);
  const schema = {
    ...empty(1),
    schemaRegistry: { key: "k", sha256: "0".repeat(64), revision: 1 },
  } as Manifest;
  assert.equal(batchable(schema), false);
});

Deno.test("encodeBatch() and decodeBatch() round-trip entries and tombstones; bad bytes are corrupt", () => {
  const entries = [
    { seq: 3, id: 1, manifest: empty(1) },
    { seq: 3, id: 2, manifest: null },
  ];
  assert.deepEqual(decodeBatch(encodeBatch(entries), "k"), entries);
  const bad = new TextEncoder().encode('{"version":1,"entries":[{"seq":1}]}');
  assert.throws(() => decodeBatch(bad, "k"), { kind: "corrupt" });
  assert.throws(
    () => decodeBatch(new TextEncoder().encode("nope"), "k"),
    { kind: "corrupt" },
  );
  const wrongId = encodeBatch([{ seq: 1, id: 5, manifest: empty(6) }]);
  assert.throws(() => decodeBatch(wrongId, "k"), { kind: "corrupt" });
});

Deno.test("ManifestBatcher holds entries up to waitMs, then puts them in one object", async () => {
  const objects = new MemoryObjectStore();
  const clock = { nowMs: 0 };
  const b = batcher(objects, clock);
  await b.open();
  const published: number[] = [];
  for (let id = 1; id <= 300; id++) {
    b.add(empty(id), () => published.push(id));
  }
  await b.flush();
  assert.deepEqual(await listBatches(objects), []);
  assert.equal(published.length, 0);
  clock.nowMs = 1000;
  await b.flush();
  assert.deepEqual(await listBatches(objects), [batchKey(1)]);
  assert.equal(published.length, 300);
  assert.equal((await readBatches(objects)).length, 300);
  assert.equal(b.pending, 0);
});

Deno.test("ManifestBatcher numbers batches above those already in the store, and only after listing them", async () => {
  const objects = new MemoryObjectStore();
  await objects.put(batchKey(41), encodeBatch([]));
  const clock = { nowMs: 0 };
  const b = batcher(objects, clock);
  b.add(empty(1));
  await b.flush(true); // not opened yet: lists first
  assert.deepEqual(await listBatches(objects), [batchKey(41), batchKey(42)]);
});

Deno.test("ManifestBatcher keeps entries queued when a put fails and retries after its backoff", async () => {
  const memory = new MemoryObjectStore();
  let failing = true;
  const objects = Object.create(memory) as MemoryObjectStore;
  objects.list = memory.list.bind(memory);
  objects.get = memory.get.bind(memory);
  objects.put = (key, bytes) =>
    failing ? Promise.reject(new Error("down")) : memory.put(key, bytes);
  const clock = { nowMs: 0 };
  const b = batcher(objects, clock);
  await b.open();
  b.add(empty(1));
  clock.nowMs = 1000;
  await assert.rejects(b.flush(), /down/);
  assert.equal(b.pending, 1);
  failing = false;
  clock.nowMs = 1050; // before the retry time: nothing is tried
  await b.flush();
  assert.equal(b.pending, 1);
  clock.nowMs = 1100;
  await b.flush();
  assert.equal(b.pending, 0);
  assert.equal((await readBatches(memory)).length, 1);
});

Deno.test("ManifestBatcher merges past MANIFEST_BATCH_OBJECTS_MAX objects, keeping the newest entry per stream", async () => {
  const objects = new MemoryObjectStore();
  const clock = { nowMs: 0 };
  const b = batcher(objects, clock);
  await b.open();
  // Stream 1 is published open, then closed; stream 2 is deleted; stream 3
  // gets a tombstone that nothing else mentions.
  b.add(empty(1));
  b.add(empty(2));
  await b.flush(true);
  b.add(empty(1, true));
  b.tombstone(2);
  b.tombstone(3);
  await b.flush(true);
  for (let i = 0; i < MANIFEST_BATCH_OBJECTS_MAX - 1; i++) {
    b.add(empty(10 + i));
    await b.flush(true);
  }
  // The flush that went past the limit merged everything into one object.
  const keys = await listBatches(objects);
  assert.equal(keys.length, 1);
  const entries = await readBatches(objects);
  const newest = newestEntries(entries);
  assert.equal(newest.get(1)!.manifest!.closed, true);
  assert.equal(newest.get(2)!.manifest, null); // still hides stream 2
  assert.equal(newest.has(3), false); // a lone tombstone is dropped
  assert.equal(entries.length, newest.size);
  // Later batches still number above the merged one.
  b.add(empty(999));
  await b.flush(true);
  const after = await listBatches(objects);
  assert.ok(after[1] > after[0]);
});

Deno.test("bootstrap's withBatched(): tombstones win, own manifests with segments win, else the batch entry", () => {
  const own = new Map<number, Manifest>([
    [1, empty(1)], // published before batching: the batch entry is newer
    [2, withSegment(2)], // has segments: always its own object
    [3, empty(3)], // deleted: hidden by the tombstone
    [4, empty(4)], // never batched
  ]);
  const batched = newestEntries([
    { seq: 1, id: 1, manifest: empty(1, true) },
    { seq: 1, id: 2, manifest: empty(2) },
    { seq: 2, id: 3, manifest: null },
    { seq: 2, id: 5, manifest: empty(5) },
  ]);
  const got = withBatched(own, batched).sort((a, b) => a.id - b.id);
  assert.deepEqual(got.map((m) => m.id), [1, 2, 4, 5]);
  assert.equal(got[0].closed, true);
  assert.equal(got[1].segments.length, 1);
  // Own manifests keep their key layout.
  assert.equal(manifestKey(2), "streams/0000000000000002/manifest.json");
  assert.ok(encodeManifest(got[0]).length > 0);
});
