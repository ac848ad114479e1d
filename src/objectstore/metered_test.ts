import assert from "node:assert/strict";
import { FaultyObjectStore } from "./faulty.ts";
import { manifestKey, segmentKey } from "./manifest.ts";
import { MemoryObjectStore } from "./memory.ts";
import { MeteredObjectStore } from "./metered.ts";

Deno.test("MeteredObjectStore counts calls by operation, artifact and outcome", async () => {
  const faulty = new FaultyObjectStore(new MemoryObjectStore(), {
    crashAfterPuts: 2,
  });
  const store = new MeteredObjectStore(faulty);
  await store.put(segmentKey(1, 0, 10), new Uint8Array(10));
  await store.put(manifestKey(1), new Uint8Array(2));
  await assert.rejects(store.put(segmentKey(1, 10, 20), new Uint8Array(1)));
  await assert.rejects(store.get("other/key"));
  await assert.rejects(store.get("manifests/0000000000000001.json"));
  const byOp = new Map(store.stats().map((m) => [m.op, m]));
  // counts[artifact * 2 + outcome]: segment, manifest, other x ok, error
  assert.deepEqual([...byOp.get("put")!.counts], [1, 1, 1, 0, 0, 0]);
  // A batch of manifests counts as a manifest.
  assert.deepEqual([...byOp.get("get")!.counts], [0, 0, 0, 1, 0, 1]);
  assert.equal(byOp.get("put")!.seconds.count, 3);
  assert.equal(byOp.get("delete")!.seconds.count, 0);
});
