import assert from "node:assert/strict";
import fc from "fast-check";
import { AssertionError } from "./assert.ts";
import { TimeHeap } from "./time_heap.ts";

Deno.test("TimeHeap.pop() returns items earliest first", () => {
  const heap = new TimeHeap<string>();
  assert.equal(heap.size, 0);
  assert.equal(heap.nextAtMs, Infinity);
  for (const [item, at] of [["c", 30], ["a", 10], ["d", 40], ["b", 20]]) {
    heap.push(item as string, at as number);
  }
  assert.equal(heap.size, 4);
  assert.equal(heap.nextAtMs, 10);
  assert.deepEqual([heap.pop(), heap.pop()], ["a", "b"]);
  heap.push("a2", 5);
  assert.deepEqual([heap.pop(), heap.pop(), heap.pop()], ["a2", "c", "d"]);
  assert.equal(heap.size, 0);
  assert.equal(heap.nextAtMs, Infinity);
});

Deno.test("TimeHeap.pop() on an empty heap is an assertion failure", () => {
  const heap = new TimeHeap<number>();
  assert.throws(() => heap.pop(), AssertionError);
  heap.push(1, 1);
  heap.pop();
  assert.throws(() => heap.pop(), AssertionError);
});

Deno.test("TimeHeap.clear() empties the heap", () => {
  const heap = new TimeHeap<number>();
  for (let i = 0; i < 10; i++) heap.push(i, 10 - i);
  heap.clear();
  assert.equal(heap.size, 0);
  assert.equal(heap.nextAtMs, Infinity);
  heap.push(7, 3);
  assert.equal(heap.pop(), 7);
});

// Differential: any interleaving of pushes and pops yields, at every pop,
// the earliest time held, as a sorted list of the same entries says; and
// the multiset of popped entries equals the pushed ones.
Deno.test("TimeHeap agrees with a sorted list on random pushes and pops", () => {
  const op = fc.oneof(
    fc.record({
      push: fc.oneof(
        fc.integer({ min: -50, max: 50 }),
        fc.double({ noNaN: true }).map((x) => x === 0 ? 0 : x), // no -0
        fc.constantFrom(Infinity, -Infinity, 0),
      ),
    }),
    fc.constant({ pop: true as const }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const heap = new TimeHeap<number>();
      const model: { atMs: number; id: number }[] = [];
      const byTime = (a: { atMs: number; id: number }, b: typeof a) =>
        a.atMs < b.atMs ? -1 : a.atMs > b.atMs ? 1 : a.id - b.id;
      let id = 0;
      for (const o of ops) {
        if ("push" in o) {
          heap.push(id, o.push);
          model.push({ atMs: o.push, id });
          id++;
        } else if (model.length > 0) {
          model.sort(byTime);
          const popped = heap.pop();
          const at = model.find((e) => e.id === popped);
          assert.ok(
            at !== undefined,
            `popped ${popped}, never pushed or popped twice`,
          );
          assert.equal(at.atMs, model[0].atMs, "popped the earliest time");
          model.splice(model.indexOf(at), 1);
        }
        assert.equal(heap.size, model.length);
        const earliest = model.reduce((m, e) => Math.min(m, e.atMs), Infinity);
        assert.equal(heap.nextAtMs, earliest);
      }
      const rest: number[] = [];
      while (heap.size > 0) rest.push(heap.pop());
      const expected = model.sort(byTime);
      assert.deepEqual(
        rest.map((r) => expected.find((e) => e.id === r)!.atMs),
        expected.map((e) => e.atMs),
      );
      assert.deepEqual(
        [...rest].sort((a, b) => a - b),
        expected.map((e) => e.id).sort((a, b) => a - b),
      );
    }),
    { numRuns: 300 },
  );
});

Deno.test("TimeHeap drains 10,000 random times in sorted order", () => {
  const heap = new TimeHeap<number>();
  const times = Array.from(
    { length: 10_000 },
    () => Math.floor(Math.random() * 1e6),
  );
  for (const [i, t] of times.entries()) heap.push(i, t);
  const out: number[] = [];
  while (heap.size > 0) out.push(times[heap.pop()]);
  assert.deepEqual(out, [...times].sort((a, b) => a - b));
});
