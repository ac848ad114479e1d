import assert from "node:assert/strict";
import { Histogram } from "./histogram.ts";

Deno.test("Histogram.observe() counts a value in the first bucket whose bound is not below it", () => {
  const h = new Histogram([1, 2, 5]);
  for (const v of [0, 1, 1.5, 2, 4.9, 5, 5.1, 100]) h.observe(v);
  // le=1: 0, 1; le=2: 1.5, 2; le=5: 4.9, 5; +Inf: 5.1, 100
  assert.deepEqual([...h.counts], [2, 2, 2, 2]);
  assert.equal(h.count, 8);
  assert.equal(h.sum, 0 + 1 + 1.5 + 2 + 4.9 + 5 + 5.1 + 100);
});

Deno.test("Histogram refuses bounds that do not ascend", () => {
  assert.throws(() => new Histogram([1, 1]), RangeError);
  assert.throws(() => new Histogram([2, 1]), RangeError);
});
