import assert from "node:assert/strict";
import fc from "fast-check";
import { lexiconObjectKey } from "./lexicon.ts";
import { StreamError } from "../errors.ts";
import { FaultyObjectStore, seededRandom } from "../objectstore/faulty.ts";
import { MemoryObjectStore } from "../objectstore/memory.ts";
import type { ObjectStore } from "../objectstore/object_store.ts";
import {
  inThreadRunBuilder,
  pooledRunBuilder,
  type RunBuilder,
  workerRunBuilder,
} from "./builder.ts";
import { RunCache } from "./cache.ts";
import { MemoryRunCatalog, type RunCatalog } from "./catalog.ts";
import { fingerprintKeys, segmentKeys } from "./fingerprint.ts";
import type { RoutingIndexShape } from "./plan.ts";
import { RoutingKeyIndex } from "./routing_index.ts";
import { openSqliteRunCatalog } from "./sqlite_catalog.ts";
import { decodeRun, encodeRun } from "./run_format.ts";
import { buildL0Run } from "./build.ts";

interface Setup {
  layout: string[][]; // keys of each uploaded segment
  objects?: ObjectStore;
  catalog?: RunCatalog;
  builder?: RunBuilder;
  decoder?: RunBuilder;
  shape?: RoutingIndexShape;
  cacheBytes?: number;
}

function makeIndex(s: Setup) {
  const objects = s.objects ?? new MemoryObjectStore();
  const catalog = s.catalog ?? new MemoryRunCatalog();
  let nowMs = 1_000;
  const index = new RoutingKeyIndex({
    objects,
    catalog,
    builder: s.builder ?? inThreadRunBuilder(),
    decoder: s.decoder,
    cache: new RunCache(s.cacheBytes ?? 1 << 20),
    readKeys: (_id, ordinal) => Promise.resolve(segmentKeys(s.layout[ordinal])),
    shape: s.shape ?? { span: 2, fanout: 2, levelMax: 2 },
    now: () => nowMs,
  });
  return { index, objects, catalog, tick: (ms: number) => nowMs += ms };
}

/** Segments holding each key. */
function truth(layout: string[][]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  layout.forEach((keys, s) => {
    for (const k of new Set(keys)) m.set(k, [...(m.get(k) ?? []), s]);
  });
  return m;
}

async function assertNoFalseNegatives(
  index: RoutingKeyIndex,
  layout: string[][],
  uploaded: number,
  probes: string[] = [],
): Promise<void> {
  const want = truth(layout.slice(0, uploaded));
  for (const [key, segments] of want) {
    const got = await index.candidates(1, key, uploaded);
    for (const s of segments) {
      assert.ok(got.segments.includes(s), `key ${key} segment ${s}`);
    }
    // With every run read, indexed segments are exact unless 64-bit
    // fingerprints collide.
    if (got.runsUnreadable === 0) {
      const indexed = got.segments.filter((s) => s < got.indexedThrough);
      assert.deepEqual(indexed, segments.filter((s) => s < got.indexedThrough));
    }
    for (let s = got.indexedThrough; s < uploaded; s++) {
      assert.ok(got.segments.includes(s));
    }
  }
  for (const key of probes) {
    if (want.has(key)) continue;
    const got = await index.candidates(1, key, uploaded);
    assert.ok(
      got.segments.every((s) => s >= got.indexedThrough),
      `absent ${key}`,
    );
  }
}

const layoutArb = fc.array(
  fc.array(fc.string({ minLength: 1, maxLength: 4, unit: "grapheme-ascii" }), {
    maxLength: 12,
  }),
  { minLength: 1, maxLength: 40 },
);
const shapeArb = fc.record({
  span: fc.integer({ min: 1, max: 4 }),
  fanout: fc.integer({ min: 2, max: 3 }),
  levelMax: fc.integer({ min: 0, max: 3 }),
});

Deno.test("candidates never miss a segment, at every step of builds and compactions", async () => {
  await fc.assert(
    fc.asyncProperty(
      layoutArb,
      shapeArb,
      fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
      async (layout, shape, uploads) => {
        const { index, catalog } = makeIndex({ layout, shape });
        // Segments arrive in bursts; the index catches up step by step.
        let uploaded = 0;
        for (const burst of uploads) {
          uploaded = Math.min(layout.length, uploaded + (burst % 9));
          while (await index.step(1, uploaded) !== undefined) {
            await assertNoFalseNegatives(index, layout, uploaded, ["zz", "q"]);
          }
          await assertNoFalseNegatives(index, layout, uploaded, ["zz"]);
        }
        const state = catalog.state(1)!;
        assert.equal(state.indexedThrough, uploaded - (uploaded % shape.span));
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("compaction reaches the top level and lookups then read one run", async () => {
  const layout = Array.from(
    { length: 16 },
    (_, s) => [`k${s}`, `k${s + 1}`, "all"],
  );
  const { index, catalog, objects } = makeIndex({
    layout,
    shape: { span: 2, fanout: 2, levelMax: 3 },
  });
  const tasks: string[] = [];
  for (;;) {
    const t = await index.step(1, 16);
    if (t === undefined) break;
    tasks.push(
      t.kind === "build"
        ? `b${t.firstSegment}`
        : `c${t.kind === "compact" ? t.level : "r"}@${t.runs[0].firstSegment}`,
    );
  }
  assert.deepEqual(tasks.filter((t) => t.startsWith("b")).length, 8);
  assert.deepEqual(tasks.filter((t) => t.startsWith("c")).length, 4 + 2 + 1);
  const manifest = index.manifest(1)!;
  assert.deepEqual(
    manifest.runs.map((r) => [r.level, r.firstSegment, r.lastSegment]),
    [[3, 0, 15]],
  );
  assert.deepEqual((await index.candidates(1, "all", 16)).segments, [
    ...Array(16).keys(),
  ]);
  assert.deepEqual((await index.candidates(1, "k5", 16)).segments, [4, 5]);
  assert.deepEqual((await index.candidates(1, "k5", 16, 5)).segments, [5]);
  assert.deepEqual((await index.candidates(1, "absent", 16)).segments, []);
  assert.deepEqual((await index.candidates(1, "absent", 18)).segments, [
    16,
    17,
  ]);
  // Retired runs stay until their grace period passes, then go.
  const retired = catalog.runs(1).filter((r) => r.retiredAtMs !== null);
  assert.equal(retired.length, 8 + 4 + 2);
  assert.equal(await index.collectRetired(1, Infinity, 60_000), 0);
  assert.ok(await objects.get(retired[0].objectKey));
  const later = makeIndexAt(catalog, objects, layout, 120_000);
  // Old enough, but the manifest before the latest was published when they
  // were retired: a reader may still hold it.
  assert.equal(await later.collectRetired(1, 1_000, 60_000), 0);
  assert.equal(await later.collectRetired(1, 1_001, 60_000), 14);
  assert.equal(await objects.get(retired[0].objectKey), undefined);
  assert.deepEqual((await later.candidates(1, "k5", 16)).segments, [4, 5]);
  await later.dropStream(1);
  assert.equal(catalog.state(1), undefined);
  assert.equal((await objects.list("streams/")).keys.length, 0);
});

function makeIndexAt(
  catalog: RunCatalog,
  objects: ObjectStore,
  layout: string[][],
  nowMs: number,
) {
  return new RoutingKeyIndex({
    objects,
    catalog,
    builder: inThreadRunBuilder(),
    cache: new RunCache(1 << 20),
    readKeys: (_id, ordinal) => Promise.resolve(segmentKeys(layout[ordinal])),
    shape: { span: 2, fanout: 2, levelMax: 3 },
    now: () => nowMs,
  });
}

Deno.test("object-store failures fail a step without changing the catalog; lookups fall back to scanning", async () => {
  const layout = Array.from({ length: 24 }, (_, s) => [`k${s % 5}`]);
  const objects = new FaultyObjectStore(new MemoryObjectStore(), {
    random: seededRandom(7),
  });
  const { index, catalog } = makeIndex({
    layout,
    objects,
    shape: { span: 4, fanout: 2, levelMax: 2 },
    cacheBytes: 0,
  });
  let failures = 0;
  objects.setFaults({ failureRate: 0.4 });
  for (let i = 0; i < 200; i++) {
    const before = JSON.stringify(catalog.runs(1));
    try {
      if (await index.step(1, 24) === undefined) break;
    } catch (error) {
      assert.ok(error instanceof StreamError && error.kind === "unavailable");
      assert.equal(JSON.stringify(catalog.runs(1)), before);
      failures++;
    }
    await assertNoFalseNegatives(index, layout, 24);
  }
  assert.ok(failures > 0, "some steps failed");
  assert.equal(catalog.state(1)!.indexedThrough, 24);
  // With every read failing, candidates are all segments: slow, never wrong.
  objects.setFaults({ failureRate: 1 });
  const all = await index.candidates(1, "k1", 24);
  assert.deepEqual(all.segments, [...Array(24).keys()]);
  assert.ok(all.runsUnreadable > 0);
});

Deno.test("a SQLite catalog and the manifest section carry the index across a restart and a bootstrap", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const layout = Array.from({ length: 10 }, (_, s) => [`a${s}`, "b"]);
    const objects = new MemoryObjectStore();
    const first = makeIndex({
      layout,
      objects,
      catalog: openSqliteRunCatalog(`${dir}/wal.sqlite`, "os"),
    });
    while (await first.index.step(1, 10) !== undefined) { /* catch up */ }
    const manifest = JSON.parse(JSON.stringify(first.index.manifest(1)));
    first.catalog.close();
    const reopened = makeIndex({
      layout,
      objects,
      catalog: openSqliteRunCatalog(`${dir}/wal.sqlite`, "os"),
    });
    assert.deepEqual(reopened.index.manifest(1), manifest);
    await assertNoFalseNegatives(reopened.index, layout, 10);
    reopened.catalog.close();
    const booted = makeIndex({ layout, objects });
    booted.index.restore(1, manifest);
    assert.throws(
      () => booted.index.restore(2, { ...manifest, seed: "x" }),
      (e) => e instanceof StreamError && e.kind === "corrupt",
    );
    const status = booted.index.status(1, {
      configured: true,
      uploadedCount: 11,
      oldestUnindexedUploadedAtMs: 400,
    });
    assert.ok(status.configured);
    assert.equal(status.indexed_segment_count, 10);
    assert.equal(status.lag_segments, 1);
    assert.equal(status.lag_ms, "600");
    assert.equal(status.active_run_count, manifest.runs.length);
    assert.deepEqual((await booted.index.candidates(1, "a3", 10)).segments, [
      3,
    ]);
    await assertNoFalseNegatives(booted.index, layout, 10);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("workerRunBuilder() builds and decodes the same runs as the in-thread builder", async () => {
  const builder = workerRunBuilder();
  const decoder = workerRunBuilder();
  try {
    const layout = Array.from(
      { length: 8 },
      (_, s) => Array.from({ length: 50 }, (_, i) => `u${(s * 31 + i) % 97}`),
    );
    const viaWorker = makeIndex({
      layout,
      builder,
      decoder,
      shape: { span: 4, fanout: 2, levelMax: 1 },
    });
    const inThread = makeIndex({
      layout,
      shape: { span: 4, fanout: 2, levelMax: 1 },
    });
    viaWorker.catalog.init(1, 42n, 0);
    inThread.catalog.init(1, 42n, 0);
    while (await viaWorker.index.step(1, 8) !== undefined) { /* catch up */ }
    while (await inThread.index.step(1, 8) !== undefined) { /* catch up */ }
    const keys = (await viaWorker.objects.list("")).keys;
    assert.deepEqual(keys, (await inThread.objects.list("")).keys);
    for (const k of keys) {
      assert.deepEqual(
        await viaWorker.objects.get(k),
        await inThread.objects.get(k),
      );
    }
    await assertNoFalseNegatives(viaWorker.index, layout, 8);
    const file = (await viaWorker.objects.get(keys[keys.length - 1]))!;
    const decoded = await decoder.decode(file);
    assert.deepEqual(decoded.table, decodeRun(file).table);
    assert.deepEqual(decoded.filter.data, decodeRun(file).filter.data);
    // Bad bytes come back as typed errors.
    await assert.rejects(
      decoder.decode(file.subarray(1)),
      (e) => e instanceof StreamError && e.kind === "corrupt",
    );
    await assert.rejects(
      builder.compact([new Uint8Array(8), new Uint8Array(8)]),
      (e) => e instanceof StreamError && e.kind === "corrupt",
    );
  } finally {
    builder.close();
    decoder.close();
  }
  await assert.rejects(
    builder.compact([]),
    (e) => e instanceof StreamError && e.kind === "unavailable",
  );
});

Deno.test("RoutingKeyIndex refuses an invalid shape", () => {
  for (
    const shape of [{ span: 17, fanout: 16, levelMax: 4 }, {
      span: 16,
      fanout: 1,
      levelMax: 4,
    }, { span: 16, fanout: 16, levelMax: 16 }]
  ) {
    assert.throws(
      () => makeIndex({ layout: [], shape }),
      (e) => e instanceof StreamError && e.kind === "bad_request",
    );
  }
});

Deno.test("step() with nothing to do writes nothing to the catalog", async () => {
  const writes: string[] = [];
  class Counting extends MemoryRunCatalog {
    override init(streamId: number, seed: bigint, nowMs: number) {
      writes.push("init");
      return super.init(streamId, seed, nowMs);
    }
    override commit(
      streamId: number,
      change: Parameters<MemoryRunCatalog["commit"]>[1],
    ) {
      writes.push("commit");
      super.commit(streamId, change);
    }
  }
  const layout = [["a"], ["b"], ["c"]];
  const { index } = makeIndex({
    layout,
    catalog: new Counting(),
    shape: { span: 2, fanout: 2, levelMax: 1 },
  });
  assert.equal(await index.step(1, 1), undefined);
  assert.deepEqual(writes, ["init"]);
  assert.equal((await index.step(1, 3))?.kind, "build");
  for (let i = 0; i < 5; i++) assert.equal(await index.step(1, 3), undefined);
  assert.deepEqual(writes, ["init", "commit"]);
});

Deno.test("concurrent step() calls run one at a time and each does distinct work", async () => {
  const layout = Array.from({ length: 8 }, (_, s) => [`k${s}`]);
  const { index, catalog } = makeIndex({
    layout,
    shape: { span: 2, fanout: 2, levelMax: 2 },
  });
  const tasks = await Promise.all(
    Array.from({ length: 10 }, () => index.step(1, 8)),
  );
  const done = tasks.filter((t) => t !== undefined);
  assert.equal(done.length, 4 + 2 + 1);
  assert.equal(catalog.state(1)!.indexedThrough, 8);
  await assertNoFalseNegatives(index, layout, 8);
  const flood = Array.from({ length: 20 }, () => index.step(1, 8));
  const settled = await Promise.allSettled(flood);
  const refused = settled.filter((r) => r.status === "rejected");
  assert.equal(refused.length, 4);
  for (const r of refused) {
    assert.ok(
      r.status === "rejected" && r.reason instanceof StreamError &&
        r.reason.kind === "overloaded",
    );
  }
});

Deno.test("workerRunBuilder() refuses requests past its queue bound as overloaded", async () => {
  const worker = workerRunBuilder(1);
  try {
    const file = encodeRunOf(["a", "b"]);
    const [first, second] = await Promise.allSettled([
      worker.decode(file),
      worker.decode(file),
    ]);
    assert.equal(first.status, "fulfilled");
    assert.ok(
      second.status === "rejected" && second.reason instanceof StreamError &&
        second.reason.kind === "overloaded",
    );
    assert.deepEqual((await worker.decode(file)).table, decodeRun(file).table);
  } finally {
    worker.close();
  }
});

function encodeRunOf(keys: string[]): Uint8Array {
  return encodeRun(buildL0Run(0, [fingerprintKeys(segmentKeys(keys), 3n)]));
}

Deno.test("a crash between a run's upload and its catalog commit leaves no stray object after the restart", async () => {
  const layout = Array.from({ length: 12 }, (_, s) => [`k${s % 4}`, `s${s}`]);
  const shape = { span: 2, fanout: 2, levelMax: 2 };
  for (let crashAt = 1; crashAt <= 9; crashAt++) {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/wal.sqlite`;
      const objects = new MemoryObjectStore();
      // The process "dies" on its crashAt-th catalog commit, after the put.
      const dying = openSqliteRunCatalog(path, "fsync");
      let commits = 0;
      const realCommit = dying.commit.bind(dying);
      dying.commit = (id, change) => {
        if (++commits === crashAt) throw new Error("killed");
        realCommit(id, change);
      };
      const first = makeIndex({ layout, objects, catalog: dying, shape });
      await assert.rejects(async () => {
        while (await first.index.step(1, 12) !== undefined) {
          /* until killed */
        }
      }, /killed/);
      dying.close();
      const catalog = openSqliteRunCatalog(path, "fsync");
      const second = makeIndex({ layout, objects, catalog, shape });
      while (await second.index.step(1, 12) !== undefined) { /* catch up */ }
      await assertNoFalseNegatives(second.index, layout, 12, ["zz"]);
      const named = catalog.runs(1).map((r) => r.objectKey).sort();
      const all = (await objects.list("streams/")).keys.sort();
      const stored = all.filter((k) => k.endsWith(".run"));
      assert.deepEqual(stored, named, `crash at commit ${crashAt}`);
      // Each run has its lexicon beside it, and no lexicon is stray.
      assert.deepEqual(
        all.filter((k) => k.endsWith(".lex")),
        named.map(lexiconObjectKey).sort(),
      );
      catalog.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("a corrupt or missing run is rebuilt from its segments, before compaction or after a lookup", async () => {
  const layout = Array.from({ length: 8 }, (_, s) => [`k${s % 3}`, `s${s}`]);
  const shape = { span: 2, fanout: 2, levelMax: 2 };
  const { index, objects, catalog } = makeIndex({ layout, shape });
  // Two L0 runs; damage the first, then let compaction find it.
  assert.equal((await index.step(1, 4))?.kind, "build");
  assert.equal((await index.step(1, 4))?.kind, "build");
  const [a] = catalog.runs(1);
  const good = (await objects.get(a.objectKey))!;
  await objects.put(a.objectKey, good.subarray(0, good.length - 1));
  const repair = await index.step(1, 4);
  assert.equal(repair?.kind, "repair");
  assert.deepEqual(repair?.runs.map((r) => r.objectKey), [a.objectKey]);
  assert.deepEqual(await objects.get(a.objectKey), good); // same bytes again
  assert.equal((await index.step(1, 4))?.kind, "compact");
  // Catch up to one L2 run, then lose it: lookups scan, the next step rebuilds.
  while (await index.step(1, 8) !== undefined) { /* catch up */ }
  const [top] = catalog.runs(1).filter((r) => r.retiredAtMs === null);
  assert.equal(top.level, 2);
  await objects.delete(top.objectKey);
  const cacheless = makeIndex({ layout, objects, catalog, shape });
  const scanned = await cacheless.index.candidates(1, "s5", 8);
  assert.equal(scanned.runsUnreadable, 1);
  assert.deepEqual(scanned.segments, [...Array(8).keys()]);
  assert.equal((await cacheless.index.step(1, 8))?.kind, "repair");
  assert.deepEqual(
    catalog.runs(1).filter((r) => r.retiredAtMs === null).map((r) => r.level),
    [0, 0, 0, 0],
  );
  while (await cacheless.index.step(1, 8) !== undefined) { /* compact again */ }
  const exact = await cacheless.index.candidates(1, "s5", 8);
  assert.deepEqual(exact, {
    segments: [5],
    indexedThrough: 8,
    runsUnreadable: 0,
  });
  await assertNoFalseNegatives(cacheless.index, layout, 8);
  // A run missing only for a while is not rebuilt: it reads fine by then.
  const [l2] = catalog.runs(1).filter((r) => r.retiredAtMs === null);
  const bytes = (await objects.get(l2.objectKey))!;
  await objects.delete(l2.objectKey);
  const third = makeIndex({ layout, objects, catalog, shape });
  assert.equal((await third.index.candidates(1, "s5", 8)).runsUnreadable, 1);
  await objects.put(l2.objectKey, bytes);
  assert.equal(await third.index.step(1, 8), undefined);
  assert.deepEqual((await third.index.candidates(1, "s5", 8)).segments, [5]);
});

Deno.test("workerRunBuilder() leaves its inputs usable (a key reader may cache them)", async () => {
  const worker = workerRunBuilder();
  try {
    const keys = [segmentKeys(["a", "b"]), segmentKeys(["c"])];
    const first = await worker.buildL0(5n, 0, keys);
    assert.equal(keys[0].data.length, 2);
    const again = await worker.buildL0(5n, 0, keys);
    assert.deepEqual(again.bytes, first.bytes);
    const runs = [first.bytes, (await worker.buildL0(5n, 2, keys)).bytes];
    await worker.compact(runs);
    assert.deepEqual(decodeRun(runs[0]).table, decodeRun(first.bytes).table);
  } finally {
    worker.close();
  }
});

Deno.test("steps of different streams run side by side (a pooled builder gets both); one stream's steps stay in order", async () => {
  const inner = inThreadRunBuilder();
  let inFlight = 0;
  let most = 0;
  const gates: (() => void)[] = [];
  const gated: RunBuilder = {
    ...inner,
    async buildL0(seed, first, keys) {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise<void>((resolve) => gates.push(resolve));
      inFlight--;
      return await inner.buildL0(seed, first, keys);
    },
  };
  const layout = Array.from({ length: 4 }, (_, s) => [`k${s}`]);
  const { index, catalog } = makeIndex({
    layout,
    builder: pooledRunBuilder([gated, gated]),
  });
  const a1 = index.step(1, 4);
  const a2 = index.step(1, 4);
  const b1 = index.step(2, 4);
  for (let i = 0; i < 50 && gates.length < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  // Streams 1 and 2 build at once; stream 1's second step waits its turn.
  assert.equal(most, 2);
  while (gates.length > 0 || inFlight > 0) {
    gates.shift()?.();
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const tasks = await Promise.all([a1, a2, b1]);
  assert.deepEqual(tasks.map((t) => t?.kind), ["build", "build", "build"]);
  assert.equal(most, 2);
  assert.equal(catalog.state(1)?.indexedThrough, 4);
  assert.equal(catalog.state(2)?.indexedThrough, 2);
});
