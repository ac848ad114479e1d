import assert from "node:assert/strict";
import { SearchGate } from "./search_gate.ts";

Deno.test("SearchGate runs two at once, queues in order, refuses past the queue bound", async () => {
  const gate = new SearchGate(2, 1);
  const releases: (() => void)[] = [];
  const order: number[] = [];
  const task = (n: number) => () =>
    new Promise<number>((resolve) => {
      order.push(n);
      releases.push(() => resolve(n));
    });
  const a = gate.run(task(1));
  const b = gate.run(task(2));
  const c = gate.run(task(3));
  const d = await gate.run(task(4));
  assert.ok(!d.ok);
  assert.equal(d.error.kind, "overloaded");
  assert.deepEqual([gate.running, gate.waiting], [2, 1]);
  assert.deepEqual(order, [1, 2]);
  releases[0]();
  assert.deepEqual(await a, { ok: true, value: 1 });
  await Promise.resolve();
  assert.deepEqual(order, [1, 2, 3]);
  releases[1]();
  releases[2]();
  assert.deepEqual(await b, { ok: true, value: 2 });
  assert.deepEqual(await c, { ok: true, value: 3 });
  assert.deepEqual([gate.running, gate.waiting], [0, 0]);
});

Deno.test("SearchGate frees the slot when a task throws", async () => {
  const gate = new SearchGate(1, 0);
  await assert.rejects(gate.run(() => Promise.reject(new Error("boom"))));
  assert.equal(gate.running, 0);
  assert.deepEqual(await gate.run(() => Promise.resolve(7)), {
    ok: true,
    value: 7,
  });
});
