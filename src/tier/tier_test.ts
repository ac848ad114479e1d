import assert from "node:assert/strict";
import { createNodeZstdCodec } from "../_wasm/codec.ts";
import { backoff } from "../backoff.ts";
import { defaultConfig, type SegmentConfig } from "../config.ts";
import { StreamError } from "../errors.ts";
import { createLogger } from "../log.ts";
import { FaultyObjectStore } from "../objectstore/faulty.ts";
import { MemoryObjectStore } from "../objectstore/memory.ts";
import { appendRecord, streamRow } from "../storage/_contract.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import type { StreamInfo } from "../engine/types.ts";
import type { Sealer } from "./_seal.ts";
import { Tier } from "./tier.ts";
import { bootstrapFromObjects } from "./bootstrap.ts";
import { readBatches } from "./manifest_batch.ts";
import { inThreadRunBuilder } from "../index/builder.ts";
import { MemoryRunCatalog } from "../index/catalog.ts";
import {
  decodeManifest,
  manifestKey,
  segmentKey,
  streamPrefix,
} from "../objectstore/manifest.ts";
import { encodeKeys } from "../record_meta.ts";
import {
  INDEX_STATUS_WAITERS_MAX,
  RELEASE_LOG_READ_MS,
  ROUTING_RUN_RETIRED_GRACE_MS,
  UPLOAD_PASS_SEGMENTS_MAX,
} from "../limits.ts";
import type { WalOp } from "../storage/wal_store.ts";
import { ManualClock } from "./_testing.ts";

/** A sealer whose every call fails, as on a full or read-only disk. */
function failingSealer(): Sealer & { calls: number } {
  const sealer = {
    calls: 0,
    seal(): Promise<undefined> {
      sealer.calls++;
      return Promise.reject(
        new StreamError("unavailable", "Cannot write segment: disk is full"),
      );
    },
    close() {},
  };
  return sealer;
}

/** Times (from 0) of the attempts a retry loop makes with no jitter, up to `endMs`. */
function attemptTimes(minMs: number, maxMs: number, endMs: number): number[] {
  const times = [0];
  for (let n = 1; n < 1000; n++) {
    const next = times[n - 1] + backoff(n, minMs, maxMs, () => 0);
    if (next > endMs) break;
    times.push(next);
  }
  return times;
}

const STREAM: StreamInfo = {
  id: 1,
  name: "s",
  contentType: "application/octet-stream",
  createdAtMs: 0,
  ttlSeconds: null,
  expiresAtMs: null,
  tailPos: 3000,
  closed: false,
  softDeleted: false,
  fork: null,
  schemaRegistry: null,
  profile: { kind: "generic" },
};

Deno.test("seal retries follow their own backoff, and seal failures never delay uploads (nor uploads seals)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tier-" });
  const clock = new ManualClock();
  const sealer = failingSealer();
  const objects = new FaultyObjectStore(new MemoryObjectStore(), {
    failureRate: 1,
  });
  const config: SegmentConfig = {
    ...defaultConfig().segment,
    segmentBytes: 1024, // 3000 unsealed bytes: a seal is due on every pass
    segmentAgeMs: 0,
    sealRetryMinMs: 1000,
    sealRetryMaxMs: 60_000,
    uploadRetryMinMs: 100,
    uploadRetryMaxMs: 400,
    manifestBatchMs: 0,
  };
  const tier = await Tier.open({
    store: new MemoryStore(),
    objects,
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    config,
    streams: () => [STREAM],
    streamInfo: (id) => id === 1 ? STREAM : undefined,
    log: createLogger("error"),
    clock,
    random: () => 0,
    sealer,
  });
  try {
    const attempts = () => objects.calls.put + objects.calls.list - 1;
    await clock.settle(); // the first pass of each loop, at time 0
    const seals = attemptTimes(1000, 60_000, 3000); // 0, 1000, 3000
    const uploads = attemptTimes(100, 400, 3000); // 0, 100, 300, 700, 1100, ...
    for (let t = 0; t <= 3000; t += 100) {
      if (t > 0) await clock.advance(100);
      const at = `at ${t} ms`;
      assert.equal(sealer.calls, seals.filter((s) => s <= t).length, at);
      // The stream has no segment, so its manifest is batched: each
      // publish attempt fails on its first call, the listing of batches
      // (one more came at start-up).
      assert.equal(attempts(), uploads.filter((u) => u <= t).length, at);
    }
    assert.equal(sealer.calls, 3);
    assert.equal(attempts(), 9);
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the backlog figure follows commits and deletes, and admit() refuses above --backlog-bytes-max", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tier-" });
  const clock = new ManualClock();
  const fork: StreamInfo = {
    ...STREAM,
    id: 2,
    name: "fork",
    tailPos: 1000,
    fork: { sourceId: 1, sourceName: "s", position: 1000 },
  };
  const streams = new Map<number, StreamInfo>();
  const tier = await Tier.open({
    store: new MemoryStore(),
    objects: new FaultyObjectStore(new MemoryObjectStore(), { failureRate: 1 }),
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    config: { ...defaultConfig().segment, backlogBytesMax: 3000 },
    streams: () => streams.values(),
    streamInfo: (id) => streams.get(id),
    log: createLogger("error"),
    clock,
    sealer: failingSealer(),
  });
  try {
    await clock.settle();
    streams.set(1, STREAM);
    tier.committed(1, 3000);
    assert.equal(tier.stats().backlogBytes, 3000);
    assert.equal(tier.admit(10), undefined, "at the budget: admitted");
    streams.set(2, fork);
    tier.committed(2, 1500); // a fork's own bytes start at its fork position
    assert.equal(tier.stats().walBacklogBytes, 3500);
    const refused = tier.admit(10);
    assert.equal(refused?.kind, "overloaded");
    assert.deepEqual(refused?.detail, {
      retryAfterSeconds: 5,
      overload: "backlog",
    });
    tier.committed(1, 3000); // no new bytes
    await clock.advance(100); // a pass sees the same tails
    assert.equal(tier.stats().backlogBytes, 3500);
    streams.delete(1); // deleted: the next pass forgets its bytes
    tier.changed(1);
    await clock.advance(100);
    assert.equal(tier.stats().backlogBytes, 500);
    assert.equal(tier.admit(10), undefined);
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("after a restart the backlog is rebuilt from the WAL: unpublished bytes plus pending segments", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tier-" });
  const store = new MemoryStore();
  await store.commit([
    { op: "create", stream: streamRow(1, "s") },
    appendRecord(1, 0, new Uint8Array(1000)),
    appendRecord(1, 1000, new Uint8Array(1000)),
    appendRecord(1, 2000, new Uint8Array(500)),
  ], 2);
  const segment = { streamId: 1, sizeBytes: 70, uploaded: false };
  await store.addSegment({ ...segment, startPos: 0, endPos: 1000 });
  await store.addSegment({ ...segment, startPos: 1000, endPos: 2000 });
  await store.truncate(1, 1000); // the first segment is published
  const clock = new ManualClock();
  const tier = await Tier.open({
    store,
    objects: new FaultyObjectStore(new MemoryObjectStore(), { failureRate: 1 }),
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    config: defaultConfig().segment,
    streams: () => [{ ...STREAM, tailPos: 2500 }],
    streamInfo: (id) => id === 1 ? { ...STREAM, tailPos: 2500 } : undefined,
    log: createLogger("error"),
    clock,
    sealer: failingSealer(),
  });
  try {
    const stats = tier.stats();
    assert.equal(stats.walBacklogBytes, 1500); // [1000, 2500) is not published
    assert.equal(stats.uploadBacklogBytes, 70);
    assert.equal(stats.uploadsPending, 1);
    assert.equal(stats.backlogBytes, 1570);
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the upload loop builds the routing-key index, its manifest names it, and bootstrap restores it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tier-" });
  const store = new MemoryStore();
  const ops: WalOp[] = [{ op: "create", stream: streamRow(1, "s") }];
  // 20 records of 100 bytes, keys k0..k4: one segment each.
  for (let i = 0; i < 20; i++) {
    const op = appendRecord(1, i * 100, new Uint8Array(100));
    if (op.op === "append" && op.chunk !== null) {
      op.chunk.keys = encodeKeys([new TextEncoder().encode(`k${i % 5}`)]);
    }
    ops.push(op);
  }
  await store.commit(ops, 2);
  const objects = new MemoryObjectStore();
  const clock = new ManualClock();
  const catalog = new MemoryRunCatalog();
  let live = true;
  const tier = await Tier.open({
    store,
    objects,
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    config: { ...defaultConfig().segment, segmentBytes: 100, segmentAgeMs: 0 },
    streams: () => live ? [{ ...STREAM, tailPos: 2000 }] : [],
    streamInfo: (id) =>
      live && id === 1 ? { ...STREAM, tailPos: 2000 } : undefined,
    log: createLogger("error"),
    clock,
    routingIndex: {
      catalog,
      builder: inThreadRunBuilder(),
    },
  });
  try {
    await clock.settle();
    for (let i = 0; i < 40 && catalog.state(1)?.indexedThrough !== 16; i++) {
      await clock.advance(1000);
    }
    assert.equal(catalog.state(1)?.indexedThrough, 16);
    await clock.advance(1000); // publishes the manifest with the index
    const manifest = decodeManifest(
      (await objects.get(manifestKey(1)))!,
      "m",
    );
    assert.deepEqual(manifest.routingIndex, tier.routingIndex!.manifest(1));
    const section = manifest.routingIndex as { indexedThrough: number };
    assert.equal(section.indexedThrough, 16);

    // A new node bootstraps from the objects: its catalog gets the index.
    const fresh = new MemoryStore();
    const restored = new MemoryRunCatalog();
    await bootstrapFromObjects(
      fresh,
      objects,
      createLogger("error"),
      0,
      restored,
    );
    assert.equal(restored.state(1)?.indexedThrough, 16);
    assert.deepEqual(restored.runs(1).map((r) => r.objectKey), [
      "streams/0000000000000001/index/rk/L0-0000000000000000-0000000000000015.run",
    ]);

    // Deleting the stream drops its index.
    live = false;
    tier.changed(1);
    await clock.advance(1000);
    for (let i = 0; i < 100 && catalog.state(1) !== undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(catalog.state(1), undefined);
    assert.deepEqual(catalog.runs(1), []);
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the upload loop compacts the routing-key index and deletes retired runs after two manifests and the grace time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tier-" });
  const store = new MemoryStore();
  const ops: WalOp[] = [{ op: "create", stream: streamRow(1, "s") }];
  for (let i = 0; i < 8; i++) {
    const op = appendRecord(1, i * 100, new Uint8Array(100));
    if (op.op === "append" && op.chunk !== null) {
      op.chunk.keys = encodeKeys([new TextEncoder().encode(`k${i}`)]);
    }
    ops.push(op);
  }
  await store.commit(ops, 2);
  const objects = new MemoryObjectStore();
  const clock = new ManualClock();
  const catalog = new MemoryRunCatalog();
  const tier = await Tier.open({
    store,
    objects,
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    config: { ...defaultConfig().segment, segmentBytes: 100, segmentAgeMs: 0 },
    streams: () => [{ ...STREAM, tailPos: 800 }],
    streamInfo: (id) => id === 1 ? { ...STREAM, tailPos: 800 } : undefined,
    log: createLogger("error"),
    clock,
    routingIndex: {
      catalog,
      builder: inThreadRunBuilder(),
      shape: { span: 2, fanout: 2, levelMax: 4 },
    },
  });
  // Run files, each with its key lexicon beside it.
  const runObjects = async () => {
    const keys = (await objects.list("streams/0000000000000001/index/")).keys;
    const runs = keys.filter((k) => k.endsWith(".run"));
    assert.deepEqual(
      keys.filter((k) => k.endsWith(".lex")),
      runs.map((k) => k.replace(/\.run$/, ".lex")),
    );
    return runs.length;
  };
  try {
    await clock.settle();
    // Eight segments: four L0 runs, two L1, then one L2 over all of them.
    for (let i = 0; i < 60 && catalog.runs(1).at(-1)?.level !== 2; i++) {
      await clock.advance(1000);
    }
    const active = () => catalog.runs(1).filter((r) => r.retiredAtMs === null);
    assert.deepEqual(active().map((r) => [r.level, r.firstSegment]), [[2, 0]]);
    assert.equal(catalog.runs(1).length, 7); // six retired, kept for readers
    assert.equal(await runObjects(), 7);
    await clock.advance(1000);
    await clock.advance(1000);
    assert.equal(catalog.runs(1).length, 7, "within the grace time");
    await clock.advance(ROUTING_RUN_RETIRED_GRACE_MS);
    await clock.advance(1000);
    assert.deepEqual(catalog.runs(1).map((r) => r.level), [2]);
    assert.equal(await runObjects(), 1);
    const manifest = decodeManifest((await objects.get(manifestKey(1)))!, "m");
    assert.deepEqual(
      (manifest.routingIndex as { runs: { level: number }[] }).runs.map((r) =>
        r.level
      ),
      [2],
    );
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("waitForPass: woken by the next pass, ended by an abort, bounded by INDEX_STATUS_WAITERS_MAX, released on close", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tier-" });
  const clock = new ManualClock();
  const tier = await Tier.open({
    store: new MemoryStore(),
    objects: new MemoryObjectStore(),
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    config: defaultConfig().segment,
    streams: () => [],
    streamInfo: () => undefined,
    log: createLogger("error"),
    clock,
    sealer: failingSealer(),
  });
  try {
    await clock.settle();
    const woken = tier.waitForPass(60_000);
    await clock.advance(100);
    assert.deepEqual(await woken, { ok: true, value: "changed" });

    const hangUp = new AbortController();
    const aborted = tier.waitForPass(60_000, hangUp.signal);
    hangUp.abort();
    assert.deepEqual(await aborted, { ok: true, value: "aborted" });

    const held = [];
    for (let i = 0; i < INDEX_STATUS_WAITERS_MAX; i++) {
      held.push(tier.waitForPass(60_000));
    }
    const refused = await tier.waitForPass(60_000);
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.error.kind, "overloaded");
    await tier.close();
    for (const w of await Promise.all(held)) {
      assert.deepEqual(w, { ok: true, value: "changed" });
    }
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A store holding streams of the given sizes (ids from 1), and their infos. */
async function storeWith(
  sizes: number[],
): Promise<{ store: MemoryStore; infos: Map<number, StreamInfo> }> {
  const store = new MemoryStore();
  const infos = new Map<number, StreamInfo>();
  const ops: WalOp[] = [];
  for (const [i, size] of sizes.entries()) {
    const id = i + 1;
    ops.push({ op: "create", stream: streamRow(id, `s${id}`) });
    ops.push(appendRecord(id, 0, new Uint8Array(size)));
    infos.set(id, { ...STREAM, id, name: `s${id}`, tailPos: size });
  }
  await store.commit(ops, sizes.length + 1);
  return { store, infos };
}

Deno.test("a tiny stream is not sealed by age: it waits for --segment-idle-ms after the last commit, and its first manifest comes with its segment; a closed one is sealed by age", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tier-" });
  // Stream 1: 100 bytes (tiny: under 16 MiB / 256); stream 2: 100 KiB;
  // stream 3: 100 bytes, closed.
  const { store, infos } = await storeWith([100, 100 * 1024, 100]);
  infos.set(3, { ...infos.get(3)!, closed: true });
  const objects = new MemoryObjectStore();
  const clock = new ManualClock();
  let lookups = 0;
  const tier = await Tier.open({
    store,
    objects,
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    config: {
      ...defaultConfig().segment,
      segmentAgeMs: 60_000,
      segmentIdleMs: 600_000,
    },
    streams: () => infos.values(),
    streamInfo: (id) => {
      lookups++;
      return infos.get(id);
    },
    log: createLogger("error"),
    clock,
  });
  const manifests = async () =>
    (await objects.list("streams/")).keys.filter((k) =>
      k.endsWith("manifest.json")
    ).length;
  try {
    await clock.settle();
    await clock.advance(61_000); // stream 2 aged: sealed
    await clock.advance(100); // and uploaded
    assert.equal(tier.details(2, 0).uploadedThroughPos, 100 * 1024);
    assert.equal(tier.details(1, 0).sealedThroughPos, 0, "tiny: not by age");
    assert.equal(tier.details(3, 0).uploadedThroughPos, 100, "closed: by age");
    assert.equal(await manifests(), 2, "no manifest for the tiny stream yet");

    // Idle passes look at no stream at all.
    lookups = 0;
    for (let i = 0; i < 5; i++) await clock.advance(1000);
    assert.equal(lookups, 0);

    // A commit at 300 s moves its idle time: not sealed at 600 s.
    const more = appendRecord(1, 100, new Uint8Array(100));
    await store.commit([more], 4);
    infos.set(1, { ...infos.get(1)!, tailPos: 200 });
    clock.nowMs = 300_000;
    tier.committed(1, 200);
    await clock.advance(0);
    await clock.advance(300_100);
    assert.equal(tier.details(1, 0).sealedThroughPos, 0, "written at 300 s");
    await clock.advance(300_000); // 900.1 s: idle for 600 s
    await clock.advance(100);
    const d = tier.details(1, 0);
    assert.equal(d.sealedThroughPos, 200);
    assert.equal(d.uploadedThroughPos, 200);
    assert.equal(await manifests(), 3);
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("while the local backlog is above half of --backlog-bytes-max, tiny streams are sealed by age", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tier-" });
  const { store, infos } = await storeWith([100, 100]);
  const clock = new ManualClock();
  const tier = await Tier.open({
    store,
    objects: new MemoryObjectStore(),
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    config: {
      ...defaultConfig().segment,
      segmentAgeMs: 60_000,
      segmentIdleMs: 3_600_000,
      backlogBytesMax: 300, // 200 bytes wait: above half
    },
    streams: () => infos.values(),
    streamInfo: (id) => infos.get(id),
    log: createLogger("error"),
    clock,
  });
  try {
    await clock.settle();
    await clock.advance(61_000);
    await clock.advance(100);
    assert.equal(tier.details(1, 0).uploadedThroughPos, 100);
    assert.equal(tier.details(2, 0).uploadedThroughPos, 100);
    assert.equal(tier.stats().backlogBytes, 0);
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Tier.open starts from a given snapshot without loading the WAL again; streams gone since are released", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tier-" });
  const { store, infos } = await storeWith([100, 100]);
  const snapshot = await store.load();
  let loads = 0;
  const load = store.load.bind(store);
  store.load = () => {
    loads++;
    return load();
  };
  infos.delete(2); // deleted after the snapshot was taken
  const clock = new ManualClock();
  const tier = await Tier.open({
    store,
    snapshot,
    objects: new MemoryObjectStore(),
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    config: defaultConfig().segment,
    streams: () => infos.values(),
    streamInfo: (id) => infos.get(id),
    log: createLogger("error"),
    clock,
  });
  try {
    await clock.settle();
    assert.equal(loads, 0);
    // The snapshot held 200 bytes; the first passes released stream 2.
    assert.equal(tier.stats().walBacklogBytes, 100);
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("uploads publish while sealing keeps adding tiny segments: a pass uploads what was sealed when it began, in bounded batches", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tier-" });
  const store = new MemoryStore();
  const ops: WalOp[] = [{ op: "create", stream: streamRow(1, "s") }];
  // 300 records of 100 bytes and --segment-bytes 100: 300 tiny segments.
  for (let i = 0; i < 300; i++) {
    ops.push(appendRecord(1, i * 100, new Uint8Array(100)));
  }
  await store.commit(ops, 2);
  // Every segment put takes a moment, so sealing outpaces uploading.
  const memory = new MemoryObjectStore();
  const puts: string[] = [];
  const objects = Object.create(memory) as MemoryObjectStore;
  objects.list = memory.list.bind(memory);
  objects.get = memory.get.bind(memory);
  objects.put = async (key: string, bytes: Uint8Array) => {
    if (key.includes("/segments/")) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    puts.push(key === manifestKey(1) ? "manifest" : "segment");
    await memory.put(key, bytes);
  };
  const clock = new ManualClock();
  const tier = await Tier.open({
    store,
    objects,
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    config: { ...defaultConfig().segment, segmentBytes: 100, segmentAgeMs: 0 },
    streams: () => [{ ...STREAM, tailPos: 30_000 }],
    streamInfo: (id) => id === 1 ? { ...STREAM, tailPos: 30_000 } : undefined,
    log: createLogger("error"),
    clock,
  });
  try {
    await clock.settle();
    for (
      let i = 0;
      i < 50 && puts.filter((p) => p === "segment").length < 300;
      i++
    ) {
      await clock.advance(100);
    }
    assert.equal(puts.filter((p) => p === "segment").length, 300);
    // A manifest (and with it the WAL truncation) came after every batch of
    // at most UPLOAD_PASS_SEGMENTS_MAX segments, not once sealing stopped.
    let run = 0;
    let longest = 0;
    for (const p of puts) {
      run = p === "segment" ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    assert.ok(
      longest <= UPLOAD_PASS_SEGMENTS_MAX,
      `${longest} segment puts in a row`,
    );
    assert.ok(
      puts.filter((p) => p === "manifest").length >=
        300 / UPLOAD_PASS_SEGMENTS_MAX,
    );
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("empty streams' manifests go out in one batch object, and a restart does not publish them again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tier-" });
  const store = new MemoryStore();
  const memory = new MemoryObjectStore();
  const puts: string[] = [];
  const objects = Object.create(memory) as MemoryObjectStore;
  objects.list = memory.list.bind(memory);
  objects.get = memory.get.bind(memory);
  objects.put = (key: string, bytes: Uint8Array) => {
    puts.push(key);
    return memory.put(key, bytes);
  };
  objects.delete = memory.delete.bind(memory);
  const infos = new Map<number, StreamInfo>();
  const ops: WalOp[] = [];
  for (let id = 1; id <= 500; id++) {
    infos.set(id, { ...STREAM, id, name: `e/${id}`, tailPos: 0 });
    ops.push({ op: "create", stream: streamRow(id, `e/${id}`) });
  }
  await store.commit(ops, 501);
  const open = (clock: ManualClock) =>
    Tier.open({
      store,
      objects,
      codec: createNodeZstdCodec(),
      segmentDir: dir,
      config: { ...defaultConfig().segment, manifestBatchMs: 1000 },
      streams: () => infos.values(),
      streamInfo: (id) => infos.get(id),
      log: createLogger("error"),
      clock,
    });
  try {
    let clock = new ManualClock();
    let tier = await open(clock);
    await clock.settle();
    assert.deepEqual(puts, []); // held for --manifest-batch-ms
    for (let i = 0; i < 25; i++) await clock.advance(50);
    assert.deepEqual(puts, ["manifests/0000000000000001.json"]);
    await tier.close();
    // A restart reads the batch and publishes nothing that did not change.
    clock = new ManualClock();
    tier = await open(clock);
    for (let i = 0; i < 25; i++) await clock.advance(50);
    assert.equal(puts.length, 1);
    // A closed stream is published again, in a new batch; a deleted one gets
    // a tombstone there.
    infos.set(7, { ...infos.get(7)!, closed: true });
    tier.changed(7);
    infos.delete(9);
    tier.changed(9);
    for (let i = 0; i < 25; i++) await clock.advance(50);
    await tier.close();
    assert.equal(puts.length, 2);
    const fresh = new MemoryStore();
    const restored = await bootstrapFromObjects(
      fresh,
      memory,
      createLogger("error"),
    );
    // The tombstone came after the entry it hides.
    const nine = (await readBatches(memory)).filter((e) => e.id === 9);
    assert.deepEqual(nine.map((e) => e.manifest === null), [false, true]);
    assert.equal(restored, 499);
    const rows = (await fresh.load()).streams;
    assert.equal(rows.find((r) => r.id === 7)!.closed, true);
    assert.equal(rows.some((r) => r.id === 9), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Every key under `prefix` in `objects`. */
async function keysUnder(
  objects: MemoryObjectStore,
  prefix: string,
): Promise<string[]> {
  const out: string[] = [];
  let next: string | undefined;
  for (let i = 0; i < 1000; i++) {
    const page = await objects.list(prefix, next);
    out.push(...page.keys);
    next = page.next;
    if (next === undefined) break;
  }
  return out;
}

Deno.test("the release queue works from the WAL's release log: objects left by a crash are deleted after a restart, the row goes only once every object is gone, a full queue reads the rest later, live streams keep theirs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tier-" });
  // Streams 1..4 with objects; 2 and 3 deleted (the crash came before any
  // of their objects went), 4 deleted too, and "s2" created again as 5.
  const { store, infos } = await storeWith([100, 100, 100, 100]);
  await store.commit([
    { op: "delete", streamId: 2 },
    { op: "delete", streamId: 3 },
    { op: "delete", streamId: 4 },
    { op: "create", stream: streamRow(5, "s2") },
  ], 6);
  for (const id of [2, 3, 4]) infos.delete(id);
  infos.set(5, { ...STREAM, id: 5, name: "s2", tailPos: 0 });
  const memory = new MemoryObjectStore();
  const blob = new Uint8Array(8);
  for (const id of [1, 2, 3, 4, 5]) {
    await memory.put(manifestKey(id), blob);
    await memory.put(
      `${streamPrefix(id)}manifests/0000000000000001.json`,
      blob,
    );
    await memory.put(segmentKey(id, 0, 100), blob);
    await memory.put(`${streamPrefix(id)}index/rk/L0-x.run`, blob);
  }
  // Deletes of stream 3's segment fail until `healed`: its release stops
  // half-way and its row stays.
  let healed = false;
  const objects = Object.create(memory) as MemoryObjectStore;
  objects.list = memory.list.bind(memory);
  objects.put = memory.put.bind(memory);
  objects.get = memory.get.bind(memory);
  objects.head = memory.head.bind(memory);
  objects.delete = (key) =>
    !healed && key === segmentKey(3, 0, 100)
      ? Promise.reject(new StreamError("unavailable", "object store down"))
      : memory.delete(key);
  const clock = new ManualClock();
  const tier = await Tier.open({
    store,
    objects,
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    // Two releases in memory at most: the third waits in the log.
    config: {
      ...defaultConfig().segment,
      releaseQueueMax: 2,
      uploadRetryMinMs: 100,
      uploadRetryMaxMs: 100,
      manifestBatchMs: 0,
    },
    streams: () => infos.values(),
    streamInfo: (id) => infos.get(id),
    log: createLogger("error"),
    clock,
    random: () => 0,
  });
  try {
    await clock.settle();
    assert.deepEqual(await keysUnder(memory, streamPrefix(2)), []);
    assert.ok((await keysUnder(memory, streamPrefix(3))).length > 0);
    assert.deepEqual(await store.pendingReleases(0, 10), [3, 4]);
    // 4 did not fit the queue; the next read of the log takes it.
    await clock.advance(RELEASE_LOG_READ_MS);
    assert.deepEqual(await keysUnder(memory, streamPrefix(4)), []);
    assert.deepEqual(await store.pendingReleases(0, 10), [3]);
    assert.ok(
      (await keysUnder(memory, streamPrefix(3))).includes(
        segmentKey(3, 0, 100),
      ),
    );
    healed = true;
    await clock.advance(RELEASE_LOG_READ_MS);
    assert.deepEqual(await keysUnder(memory, streamPrefix(3)), []);
    assert.deepEqual(await store.pendingReleases(0, 10), []);
    assert.equal(tier.stats().releaseQueue, 0);
    // The live streams, the one re-created under a deleted name included,
    // keep every object.
    for (const id of [1, 5]) {
      assert.equal((await keysUnder(memory, streamPrefix(id))).length, 4);
    }
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});
