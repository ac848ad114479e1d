import assert from "node:assert/strict";
import { DueQueue, lookAt } from "./due.ts";

Deno.test("DueQueue: marked ids and ids whose time came, each once, in time order", () => {
  const due = new DueQueue();
  const times = [50, 10, 40, 30, 20, 60, 10];
  for (const [i, t] of times.entries()) due.at(100 + i, t);
  due.mark(7);
  due.mark(7);
  due.at(7, 5);
  assert.deepEqual(due.take(0), [7]);
  // Its scheduled entry stays: a look at its time is harmless.
  assert.deepEqual(due.take(10), [7, 101, 106]);
  assert.deepEqual(due.take(35), [104, 103]);
  assert.equal(due.size, 3);
  assert.deepEqual(due.take(1000), [102, 100, 105]);
  assert.deepEqual(due.take(1000), []);
  assert.equal(due.size, 0);
});

Deno.test("DueQueue: a random schedule comes out sorted by time", () => {
  const due = new DueQueue();
  const at = new Map<number, number>();
  for (let id = 0; id < 500; id++) {
    const t = Math.floor(Math.random() * 1000);
    at.set(id, t);
    due.at(id, t);
  }
  let last = -1;
  for (let now = 0; now < 1007; now += 7) {
    for (const id of due.take(now)) {
      assert.ok(at.get(id)! <= now);
      assert.ok(at.get(id)! >= last - 7);
      last = at.get(id)!;
      at.delete(id);
    }
  }
  assert.equal(at.size, 0);
});

Deno.test("lookAt keeps one live entry per stream: later looks are not scheduled", () => {
  const due = new DueQueue();
  let current = Infinity;
  current = lookAt(due, 1, 100, current);
  for (let t = 101; t < 200; t++) current = lookAt(due, 1, t, current);
  assert.equal(current, 100);
  assert.equal(due.size, 1);
  current = lookAt(due, 1, 50, current); // an earlier look is scheduled
  assert.equal(current, 50);
  assert.equal(due.size, 2);
  assert.deepEqual(due.take(100), [1]);
});
