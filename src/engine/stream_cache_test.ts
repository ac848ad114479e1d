import assert from "node:assert/strict";
import fc from "fast-check";
import { streamRow } from "../storage/_contract.ts";
import { producerBytes, StreamCache } from "./stream_cache.ts";
import { StreamState } from "./stream_state.ts";

/** A stream whose producer states are loaded, with `producers` producers. */
function loaded(id: number, producers = 1): StreamState {
  const state = new StreamState(streamRow(id, `s${id}`), undefined, false);
  state.loadProducers(
    Array.from({ length: producers }, (_, i) => ({
      streamId: id,
      producerId: `p${i}`,
      epoch: 0,
      seq: i,
      updatedAtMs: 0,
    })),
  );
  return state;
}

Deno.test("StreamCache drops the least recently used streams' producer states past its budget", () => {
  const one = producerBytes(loaded(0));
  const cache = new StreamCache(3 * one);
  const states = [1, 2, 3, 4].map((id) => loaded(id));
  for (const state of states.slice(0, 3)) cache.use(state);
  cache.use(states[0]); // 1 is the most recently used now: 2 goes first
  cache.use(states[3]);
  assert.deepEqual(states.map((s) => s.producersLoaded), [
    true,
    false,
    true,
    true,
  ]);
  assert.equal(states[1].producers.size, 0);
  assert.deepEqual(cache.stats(), {
    entries: 3,
    bytes: 3 * one,
    bytesMax: 3 * one,
    pinned: 0,
    hits: 0,
    misses: 0,
    evictions: 1,
  });
});

Deno.test("StreamCache never evicts a pinned stream, and enforces the budget again once it is unpinned", () => {
  const one = producerBytes(loaded(0));
  const cache = new StreamCache(one);
  const first = loaded(1);
  const second = loaded(2);
  cache.pin(first);
  cache.pin(first);
  cache.use(first);
  cache.use(second); // over budget: only `second` may go
  assert.equal(first.producersLoaded, true);
  assert.equal(second.producersLoaded, false);
  const third = loaded(3);
  cache.pin(third);
  cache.use(third); // both pinned: over budget for now
  assert.equal(first.producersLoaded, true);
  assert.equal(third.producersLoaded, true);
  assert.equal(cache.stats().bytes, 2 * one);
  cache.unpin(first);
  assert.equal(cache.pinned(first), true);
  assert.equal(first.producersLoaded, true);
  cache.unpin(first); // the last pin: `first` is the oldest, over budget
  assert.equal(cache.pinned(first), false);
  assert.equal(first.producersLoaded, false);
  assert.equal(third.producersLoaded, true);
  assert.equal(cache.stats().entries, 1);
  assert.equal(cache.stats().bytes, one);
  assert.equal(cache.stats().pinned, 1);
  assert.throws(() => cache.unpin(first), /not pinned/);
});

Deno.test("StreamCache.prune and forget drop deleted and reset streams without counting evictions", () => {
  const cache = new StreamCache(1 << 20);
  const [a, b, c] = [1, 2, 3].map((id) => loaded(id, 3));
  for (const state of [a, b, c]) cache.use(state);
  a.deleted = true;
  b.unloadProducers();
  cache.prune();
  assert.equal(cache.stats().entries, 1);
  cache.forget(c);
  assert.deepEqual(
    { ...cache.stats(), bytesMax: 0 },
    {
      entries: 0,
      bytes: 0,
      bytesMax: 0,
      pinned: 0,
      hits: 0,
      misses: 0,
      evictions: 0,
    },
  );
});

Deno.test("StreamCache's byte count is the sum of its entries' sizes and stays within budget while nothing is pinned", () => {
  const op = fc.oneof(
    fc.record({ use: fc.nat(15), producers: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ pin: fc.nat(15) }),
    fc.record({ unpin: fc.nat(15) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
    const budget = 4 * producerBytes(loaded(0, 2));
    const cache = new StreamCache(budget);
    const states = Array.from({ length: 16 }, (_, id) => loaded(id, 0));
    const pins = new Array(16).fill(0);
    for (const o of ops) {
      if ("use" in o) {
        const state = states[o.use];
        state.loadProducers(
          Array.from({ length: o.producers }, (_, i) => ({
            streamId: o.use,
            producerId: `producer-${i}`,
            epoch: 0,
            seq: 0,
            updatedAtMs: 0,
          })),
        );
        cache.use(state);
      } else if ("pin" in o) {
        cache.pin(states[o.pin]);
        pins[o.pin]++;
      } else if (pins[o.unpin] > 0) {
        cache.unpin(states[o.unpin]);
        pins[o.unpin]--;
      }
      const stats = cache.stats();
      const held = states.filter((s) => s.producersLoaded);
      let inCache = 0;
      for (const state of held) {
        if (state.producers.size > 0) inCache += producerBytes(state);
      }
      assert.equal(stats.bytes, inCache);
      if (pins.every((n) => n === 0)) assert.ok(stats.bytes <= budget);
      for (const [i, n] of pins.entries()) {
        if (n > 0 && states[i].producers.size > 0) {
          assert.ok(states[i].producersLoaded, "a pinned stream stays");
        }
      }
    }
  }));
});
