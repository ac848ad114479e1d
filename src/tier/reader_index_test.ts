import assert from "node:assert/strict";
import fc from "fast-check";
import { gatherKeyed } from "../engine/keyed_reader.ts";
import { TierReadBytes } from "../engine/reader.ts";
import { inThreadRunBuilder } from "../index/builder.ts";
import { RunCache } from "../index/cache.ts";
import { MemoryRunCatalog } from "../index/catalog.ts";
import { defaultShape } from "../index/plan.ts";
import { RoutingKeyIndex } from "../index/routing_index.ts";
import { segmentKey } from "../objectstore/manifest.ts";
import { MemoryObjectStore } from "../objectstore/memory.ts";
import { SegmentCache } from "../segment/cache.ts";
import { encodeSegment, type SegmentRecordInput } from "../segment/format.ts";
import { segmentKeysOf, tieredKeyedReader } from "./reader.ts";
import { TierStreams } from "./streams.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Counts `get`s of segment objects (run objects live under `/index/`). */
class CountingStore extends MemoryObjectStore {
  segmentGets = new Set<string>();
  override get(key: string): Promise<Uint8Array | undefined> {
    if (!key.includes("/index/")) this.segmentGets.add(key);
    return super.get(key);
  }
}

/**
 * Stream 1 with `keys.length` uploaded segments; segment `i` holds one
 * record per entry of `keys[i]` (`null`: no key), each record's text naming
 * its segment, index and key.
 */
async function fixture(keys: (string | null)[][]) {
  const objects = new CountingStore();
  const rows = [];
  const all: { text: string; key: string | null }[] = [];
  let pos = 0;
  for (const [s, segment] of keys.entries()) {
    const records: SegmentRecordInput[] = [];
    const startPos = pos;
    for (const [r, key] of segment.entries()) {
      const text = `s${s}r${r}=${key ?? "-"}`;
      const data = enc.encode(text);
      records.push({
        pos,
        data,
        key: key === null ? null : enc.encode(key),
        timeMs: 1000,
      });
      all.push({ text, key });
      pos += data.length;
    }
    const bytes = encodeSegment(records, {
      streamId: "1",
      codec: null,
      blockBytesTarget: 64,
    });
    await objects.put(segmentKey(1, startPos, pos), bytes);
    rows.push({
      streamId: 1,
      startPos,
      endPos: pos,
      sizeBytes: bytes.length,
      uploaded: true,
    });
  }
  const streams = new TierStreams();
  streams.load({
    streams: [],
    segments: rows,
    nextStreamId: 2,
    schemaRegistries: [],
    profiles: [],
  });
  return { objects, streams, tailPos: pos, all, count: keys.length };
}

type Fixture = Awaited<ReturnType<typeof fixture>>;

function newIndex(f: Fixture, catalog = new MemoryRunCatalog()) {
  const keyCache = new SegmentCache(1 << 20, null);
  return new RoutingKeyIndex({
    objects: f.objects,
    catalog,
    builder: inThreadRunBuilder(),
    cache: new RunCache(1 << 20),
    readKeys: (id, ordinal) =>
      segmentKeysOf(f.objects, keyCache, f.streams.get(id)!, ordinal),
    shape: defaultShape(),
    now: () => 1_000_000,
  });
}

async function buildAll(index: RoutingKeyIndex, f: Fixture): Promise<void> {
  while (await index.step(1, f.count) !== undefined) {
    // one run per step
  }
}

/** A keyed read of the whole stream through a fresh segment cache. */
async function keyedRead(
  f: Fixture,
  key: string,
  index?: RoutingKeyIndex,
): Promise<{ texts: string[]; opened: number }> {
  f.objects.segmentGets.clear();
  const read = tieredKeyedReader(
    f.streams,
    f.objects,
    new SegmentCache(1 << 20, null),
    () => Promise.resolve([]),
    new TierReadBytes(),
    index,
  );
  const got = await gatherKeyed(
    read,
    { id: 1, parent: undefined, forkPos: 0 },
    0,
    f.tailPos,
    enc.encode(key),
    { bytesMax: 1 << 20, scanBytesMax: 1 << 30, sliceBytes: 1 << 20 },
  );
  return {
    texts: got.pieces.map((p) => dec.decode(p)),
    opened: f.objects.segmentGets.size,
  };
}

Deno.test("keyed reads open only the segments the routing-key index names, plus the unindexed tail", async () => {
  // 64 indexed segments (four L0 runs) and 3 past the index's coverage.
  const keys: (string | null)[][] = [];
  for (let s = 0; s < 67; s++) {
    keys.push([`a${s}`, `b${s}`, null, `c${s % 7}`]);
  }
  keys[37].push("target");
  const f = await fixture(keys);
  const index = newIndex(f);
  await buildAll(index, f);
  assert.equal(index.manifest(1)?.indexedThrough, 64);

  const without = await keyedRead(f, "target");
  assert.deepEqual(without.texts, ["s37r4=target"]);
  assert.equal(without.opened, 67);

  const withIndex = await keyedRead(f, "target", index);
  assert.deepEqual(withIndex.texts, without.texts);
  assert.ok(withIndex.opened <= 2 + 3, `opened ${withIndex.opened}`);
  assert.equal(withIndex.opened, 1 + 3); // segment 37, then the tail

  // An absent key opens only the unindexed tail.
  const absent = await keyedRead(f, "nobody", index);
  assert.deepEqual(absent.texts, []);
  assert.equal(absent.opened, 3);
});

Deno.test("keyed reads with the routing-key index equal the filtered full read, also after a restore", async () => {
  const alphabet = ["k0", "k1", "k2", "k3", "k4", "k5"];
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.array(fc.option(fc.constantFrom(...alphabet), { nil: null }), {
          minLength: 1,
          maxLength: 5,
        }),
        { minLength: 1, maxLength: 40 },
      ),
      async (keys) => {
        const f = await fixture(keys);
        const index = newIndex(f);
        await buildAll(index, f);
        const restored = newIndex(f);
        const section = index.manifest(1);
        if (section !== undefined) restored.restore(1, section);
        for (const key of [...alphabet, "absent"]) {
          const expected = f.all.filter((r) => r.key === key).map((r) =>
            r.text
          );
          assert.deepEqual((await keyedRead(f, key, index)).texts, expected);
          assert.deepEqual(
            (await keyedRead(f, key, restored)).texts,
            expected,
          );
        }
      },
    ),
    { numRuns: 25 },
  );
});
