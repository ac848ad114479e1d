import assert from "node:assert/strict";
import { buildL0Run } from "./build.ts";
import { RunCache } from "./cache.ts";
import { fingerprintKeys, segmentKeys } from "./fingerprint.ts";
import type { RoutingRun } from "./run.ts";

function runOf(keys: number): RoutingRun {
  const names = Array.from({ length: keys }, (_, i) => `key-${i}`);
  return buildL0Run(0, [fingerprintKeys(segmentKeys(names), 1n)]);
}

Deno.test("RunCache evicts least recently used runs to stay within its bytes", async () => {
  const run = runOf(100);
  const size = run.memoryBytes;
  const cache = new RunCache(2 * size + size / 2);
  let loads = 0;
  const load = () => {
    loads++;
    return Promise.resolve(run);
  };
  await cache.get("a", load);
  await cache.get("b", load);
  await cache.get("a", load); // a is now the most recent
  await cache.get("c", load); // evicts b
  assert.equal(loads, 3);
  assert.deepEqual(cache.stats(), {
    bytes: 2 * size,
    entries: 2,
    hits: 1,
    misses: 3,
    evictions: 1,
  });
  await cache.get("a", load);
  await cache.get("c", load);
  assert.equal(loads, 3);
  await cache.get("b", load);
  assert.equal(loads, 4);
  assert.ok(cache.stats().bytes <= cache.bytesMax);
  cache.delete("b");
  assert.equal(cache.stats().entries, 1);
});

Deno.test("RunCache shares one load between concurrent misses and keeps no failure", async () => {
  const cache = new RunCache(1 << 20);
  const run = runOf(10);
  let loads = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const load = async () => {
    loads++;
    await gate;
    return run;
  };
  const both = Promise.all([cache.get("k", load), cache.get("k", load)]);
  release();
  const [x, y] = await both;
  assert.equal(x, run);
  assert.equal(y, run);
  assert.equal(loads, 1);
  await assert.rejects(
    cache.get("bad", () => Promise.reject(new Error("boom"))),
    /boom/,
  );
  assert.equal(await cache.get("bad", () => Promise.resolve(run)), run);
});

Deno.test("RunCache returns a run larger than its budget without keeping it", async () => {
  const cache = new RunCache(16);
  const run = runOf(50);
  assert.equal(await cache.get("big", () => Promise.resolve(run)), run);
  assert.deepEqual(cache.stats().entries, 0);
  assert.equal(cache.stats().bytes, 0);
});
