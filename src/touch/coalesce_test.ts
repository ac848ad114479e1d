import assert from "node:assert/strict";
import { TouchCoalescer } from "./coalesce.ts";
import type { Touch } from "./processor.ts";

const fine = (key: string): Touch => ({ key, keyId: 1, kind: "fine" });
const table = (key: string): Touch => ({ key, keyId: 2, kind: "table" });
const keys = (touches: Touch[]) => touches.map((t) => t.key);

Deno.test("TouchCoalescer: a key's first touch passes; repeats in its window are held, then released once", () => {
  const c = new TouchCoalescer(100, 10);
  assert.deepEqual(keys(c.admit([fine("a"), table("t")], 1000)), ["a", "t"]);
  assert.equal(c.nextDueMs(), null);
  assert.deepEqual(keys(c.admit([fine("a"), fine("b")], 1050)), ["b"]);
  assert.deepEqual(keys(c.admit([fine("a"), table("t")], 1060)), ["t"]);
  assert.equal(c.held, 1);
  assert.equal(c.coalescedTotal, 2);
  assert.equal(c.nextDueMs(), 1100);
  assert.deepEqual(c.release(1099), []);
  assert.deepEqual(keys(c.release(1100)), ["a"]);
  assert.equal(c.held, 0);
  // The release opened a new window for "a".
  assert.deepEqual(keys(c.admit([fine("a")], 1150)), []);
  assert.deepEqual(keys(c.release(1200)), ["a"]);
  // Past its window a key passes at once again.
  assert.deepEqual(keys(c.admit([fine("b")], 1200)), ["b"]);
});

Deno.test("TouchCoalescer: past its key cap it lets touches through instead of holding them", () => {
  const c = new TouchCoalescer(100, 2);
  assert.deepEqual(keys(c.admit([fine("a"), fine("b")], 0)), ["a", "b"]);
  // Full of live windows: "c" passes and is not remembered ...
  assert.deepEqual(keys(c.admit([fine("c")], 10)), ["c"]);
  assert.deepEqual(keys(c.admit([fine("c")], 20)), ["c"]);
  assert.equal(c.tracked, 2);
  // ... until windows end and make room.
  assert.deepEqual(keys(c.admit([fine("c")], 100)), ["c"]);
  assert.deepEqual(keys(c.admit([fine("c")], 110)), []);
  assert.equal(c.held, 1);
});
