import assert from "node:assert/strict";
import { createNodeZstdCodec } from "../_wasm/codec.ts";
import { defaultConfig, type SegmentConfig } from "../config.ts";
import { TierReadBytes } from "../engine/reader.ts";
import type { StreamInfo } from "../engine/types.ts";
import { createLogger } from "../log.ts";
import { StreamError } from "../errors.ts";
import { MemoryObjectStore } from "../objectstore/memory.ts";
import { decodePackIndex } from "../segment/pack.ts";
import { appendRecord, streamRow } from "../storage/_contract.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import type { WalOp } from "../storage/wal_store.ts";
import { bootstrapFromObjects } from "./bootstrap.ts";
import { readBatches } from "./manifest_batch.ts";
import { Tier } from "./tier.ts";
import { ManualClock } from "./_testing.ts";

/** A memory store that counts requests by kind. */
class CountingStore extends MemoryObjectStore {
  calls = { put: 0, get: 0, getRange: 0 };
  puts: string[] = [];
  /** While set, puts of pack objects fail as unavailable. */
  failPacks = false;
  override put(key: string, bytes: Uint8Array): Promise<void> {
    if (this.failPacks && key.startsWith("packs/")) {
      return Promise.reject(new StreamError("unavailable", "injected"));
    }
    this.calls.put++;
    this.puts.push(key);
    return super.put(key, bytes);
  }
  override get(key: string): Promise<Uint8Array | undefined> {
    this.calls.get++;
    return super.get(key);
  }
  override getRange(
    key: string,
    offset: number,
    length: number,
  ): Promise<Uint8Array | undefined> {
    this.calls.getRange++;
    return super.getRange(key, offset, length);
  }
}

const STREAM: StreamInfo = {
  id: 1,
  name: "s",
  contentType: "application/octet-stream",
  createdAtMs: 0,
  ttlSeconds: null,
  expiresAtMs: null,
  tailPos: 0,
  closed: false,
  softDeleted: false,
  fork: null,
  schemaRegistry: null,
  profile: { kind: "generic" },
};

const CONFIG: SegmentConfig = {
  ...defaultConfig().segment,
  segmentAgeMs: 1000,
  segmentIdleMs: 1000,
  manifestBatchMs: 500,
};

/** `count` streams of 100 bytes each (byte i of stream id is id + i). */
async function tinyStreams(
  count: number,
): Promise<{ store: MemoryStore; infos: Map<number, StreamInfo> }> {
  const store = new MemoryStore();
  const infos = new Map<number, StreamInfo>();
  const ops: WalOp[] = [];
  for (let id = 1; id <= count; id++) {
    ops.push({ op: "create", stream: streamRow(id, `t/${id}`) });
    ops.push(appendRecord(id, 0, bytesOf(id)));
    infos.set(id, { ...STREAM, id, name: `t/${id}`, tailPos: 100 });
  }
  await store.commit(ops, count + 1);
  return { store, infos };
}

function bytesOf(id: number): Uint8Array {
  return Uint8Array.from({ length: 100 }, (_, i) => (id + i) & 0xff);
}

function open(
  store: MemoryStore,
  objects: MemoryObjectStore,
  infos: Map<number, StreamInfo>,
  clock: ManualClock,
  dir: string,
  packs = true,
): Promise<Tier> {
  return Tier.open({
    store,
    objects,
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    config: CONFIG,
    streams: () => infos.values(),
    streamInfo: (id) => infos.get(id),
    log: createLogger("error"),
    clock,
    packs,
  });
}

async function readAll(
  tier: Tier,
  store: MemoryStore,
  id: number,
): Promise<Uint8Array> {
  const read = tier.reader(
    (sid, from, end, max) => store.readChunks(sid, from, end, max),
    new TierReadBytes(),
  );
  const chunks = await read(id, 0, 100, 1 << 20);
  const out = new Uint8Array(100);
  for (const c of chunks) {
    const from = Math.max(0, -c.startPos);
    out.set(c.data.subarray(from, from + 100 - c.startPos), c.startPos);
  }
  return out;
}

/** Runs passes until `done()` or 200 passes of 50 ms. */
async function until(clock: ManualClock, done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await clock.advance(50);
  assert.ok(done(), "reached");
}

Deno.test("tiny idle streams go into one pack and one batch object; reads cost one ranged GET; a restart publishes nothing again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-packs-" });
  const { store, infos } = await tinyStreams(150);
  const objects = new CountingStore();
  let clock = new ManualClock();
  let tier = await open(store, objects, infos, clock, dir);
  try {
    await clock.settle();
    await clock.advance(1100); // idle: sealed
    await until(clock, () => tier.details(150, 0).walStartPos === 100);
    for (let id = 1; id <= 150; id++) {
      assert.equal(tier.details(id, 0).uploadedThroughPos, 100, `id ${id}`);
    }
    const keys = (await objects.list("")).keys;
    assert.deepEqual(
      keys.map((k) => k.replace(/\d{16}/, "N")),
      ["manifests/N.json", "packs/N.pack"],
    );
    const pack = (await objects.get(keys[1]))!;
    assert.equal(decodePackIndex(pack, keys[1]).length, 150);
    // WAL rows are gone: the bytes come from the pack.
    assert.equal((await store.readChunks(5, 0, 100, 1000)).length, 0);
    assert.deepEqual((await store.load()).segments[4].pack?.key, keys[1]);
    await tier.close();

    // A restart with an empty cache: one ranged GET per cold stream, and
    // nothing is published again.
    const puts = objects.calls.put;
    clock = new ManualClock();
    tier = await open(store, objects, infos, clock, dir);
    await clock.settle();
    for (let i = 0; i < 20; i++) await clock.advance(50);
    assert.equal(objects.calls.put, puts, "nothing published again");
    const before = { ...objects.calls };
    assert.deepEqual(await readAll(tier, store, 42), bytesOf(42));
    assert.equal(objects.calls.getRange - before.getRange, 1);
    assert.equal(objects.calls.get - before.get, 0);
    assert.deepEqual(await readAll(tier, store, 42), bytesOf(42));
    assert.equal(objects.calls.getRange - before.getRange, 1, "cached");

    // A deleted stream's entry gets a tombstone; its bytes stay in the pack.
    infos.delete(7);
    tier.changed(7);
    for (let i = 0; i < 20; i++) await clock.advance(50);
    await tier.close();
    const seven = (await readBatches(objects)).filter((e) => e.id === 7);
    assert.equal(seven.at(-1)!.manifest, null);

    // Bootstrap restores every other stream's packed range.
    const fresh = new MemoryStore();
    const restored = await bootstrapFromObjects(
      fresh,
      objects,
      createLogger("error"),
    );
    assert.equal(restored, 149);
    const snapshot = await fresh.load();
    assert.equal(snapshot.segments.length, 149);
    assert.ok(snapshot.segments.every((r) => r.pack?.key === keys[1]));
    const freshInfos = new Map(
      snapshot.streams.map((
        r,
      ) => [r.id, { ...STREAM, id: r.id, name: r.name, tailPos: r.tailPos }]),
    );
    clock = new ManualClock();
    tier = await open(fresh, objects, freshInfos, clock, dir);
    await clock.settle();
    for (const id of [1, 8, 100, 150]) {
      assert.deepEqual(await readAll(tier, fresh, id), bytesOf(id), `id ${id}`);
    }
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a packed stream that outgrows tiny gets its own manifest, naming the packed range first; without packs each tiny stream is two objects", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-packs-" });
  const { store, infos } = await tinyStreams(3);
  const objects = new CountingStore();
  const clock = new ManualClock();
  const tier = await open(store, objects, infos, clock, dir);
  try {
    await clock.settle();
    await clock.advance(1100);
    await until(clock, () => tier.details(3, 0).walStartPos === 100);
    // Stream 2 grows past tiny (64 KiB of the default 16 MiB segments).
    const big = new Uint8Array(70 * 1024).fill(9);
    await store.commit([appendRecord(2, 100, big)], 4);
    infos.set(2, { ...infos.get(2)!, tailPos: 100 + big.length });
    tier.committed(2, 100 + big.length);
    await clock.advance(1100); // aged: sealed as a segment of its own
    const end = 100 + big.length;
    await until(clock, () => tier.details(2, 0).walStartPos === end);
    const own = JSON.parse(
      new TextDecoder().decode(
        (await objects.get("streams/0000000000000002/manifest.json"))!,
      ),
    );
    assert.equal(own.segments.length, 2);
    assert.ok(own.segments[0].key.startsWith("packs/"));
    assert.equal(typeof own.segments[0].packOffset, "number");
    assert.equal(own.segments[1].packOffset, undefined);
    await tier.close();
    const fresh = new MemoryStore();
    assert.equal(
      await bootstrapFromObjects(fresh, objects, createLogger("error")),
      3,
    );
    const rows = (await fresh.load()).segments.filter((r) => r.streamId === 2);
    assert.equal(rows.length, 2);
    assert.ok(rows[0].pack !== undefined && rows[1].pack === undefined);
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
  // The same streams without packing: a segment and a manifest each.
  const dir2 = await Deno.makeTempDir({ prefix: "streambed-packs-" });
  const plain = await tinyStreams(3);
  const objects2 = new CountingStore();
  const clock2 = new ManualClock();
  const tier2 = await open(
    plain.store,
    objects2,
    plain.infos,
    clock2,
    dir2,
    false,
  );
  try {
    await clock2.settle();
    await clock2.advance(1100);
    await until(clock2, () => tier2.details(3, 0).walStartPos === 100);
    assert.equal((await objects2.list("")).keys.length, 6);
  } finally {
    await tier2.close();
    await Deno.remove(dir2, { recursive: true });
  }
});

Deno.test("a failed pack put is retried with backoff; the held streams are not put one by one meanwhile, and nothing is lost", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-packs-" });
  const { store, infos } = await tinyStreams(20);
  const objects = new CountingStore();
  objects.failPacks = true;
  const clock = new ManualClock();
  const tier = await open(store, objects, infos, clock, dir);
  try {
    await clock.settle();
    await clock.advance(1100);
    for (let i = 0; i < 40; i++) await clock.advance(50);
    assert.deepEqual(objects.puts, [], "held, not put on their own");
    assert.equal(tier.details(20, 0).sealedThroughPos, 100);
    assert.equal(tier.details(20, 0).walStartPos, 0);
    objects.failPacks = false;
    await until(clock, () => tier.details(20, 0).walStartPos === 100);
    const keys = (await objects.list("")).keys;
    assert.deepEqual(
      keys.map((k) => k.replace(/\d{16}/, "N")),
      ["manifests/N.json", "packs/N.pack"],
    );
    for (const id of [1, 10, 20]) {
      assert.deepEqual(await readAll(tier, store, id), bytesOf(id));
    }
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});
