import assert from "node:assert/strict";
import { SegmentCache } from "./cache.ts";
import { encodeSegment } from "./format.ts";

function segment(startPos: number, size: number): Uint8Array {
  return encodeSegment(
    [{ pos: startPos, data: new Uint8Array(size).fill(7) }],
    {
      streamId: "1",
      codec: null,
    },
  );
}

Deno.test("SegmentCache evicts least recently used segments to stay under its byte limit", async () => {
  const bytes = [segment(0, 100), segment(100, 100), segment(200, 100)];
  const one = bytes[0].length;
  const cache = new SegmentCache(one * 2, null);
  let loads = 0;
  const load = (i: number) => () => {
    loads++;
    return Promise.resolve(bytes[i]);
  };
  await cache.get("a", load(0));
  await cache.get("b", load(1));
  await cache.get("a", load(0)); // a is now the most recent
  await cache.get("c", load(2)); // evicts b
  assert.equal(loads, 3);
  assert.deepEqual(cache.stats(), {
    bytes: one * 2,
    entries: 2,
    hits: 1,
    misses: 3,
    evictions: 1,
  });
  await cache.get("a", load(0));
  assert.equal(loads, 3, "a stayed cached");
  const b = await cache.get("b", load(1));
  assert.equal(loads, 4, "b was evicted and loads again");
  assert.equal(b.startPos, 100);
  assert.ok(cache.stats().bytes <= one * 2);
});

Deno.test("SegmentCache shares one load between concurrent misses and never holds oversize segments", async () => {
  const big = segment(0, 1000);
  const cache = new SegmentCache(500, null);
  let loads = 0;
  const load = () => {
    loads++;
    return Promise.resolve(big);
  };
  const [x, y] = await Promise.all([
    cache.get("k", load),
    cache.get("k", load),
  ]);
  assert.equal(loads, 1);
  assert.equal(x, y);
  assert.equal(cache.stats().bytes, 0, "too big to keep");
  await cache.put("k2", big);
  assert.equal(cache.stats().entries, 0);
});
