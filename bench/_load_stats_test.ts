/**
 * @module
 * Tests for the load benchmark's percentile helpers.
 */

import {
  median,
  percentileSorted,
  SampleRecorder,
  summarize,
} from "./_load_stats.ts";

function assertEquals(actual: unknown, expected: unknown): void {
  if (!Object.is(actual, expected)) {
    throw new Error(`expected ${expected}, got ${actual}`);
  }
}

Deno.test("percentileSorted() uses nearest rank", () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assertEquals(percentileSorted(sorted, 0.5), 50);
  assertEquals(percentileSorted(sorted, 0.99), 99);
  assertEquals(percentileSorted([7], 0.99), 7);
  assertEquals(percentileSorted([], 0.5), NaN);
});

Deno.test("summarize() sorts its input", () => {
  const summary = summarize([3, 1, 2]);
  assertEquals(summary.p50Ms, 2);
  assertEquals(summary.maxMs, 3);
  assertEquals(summary.count, 3);
});

Deno.test("SampleRecorder grows past its initial capacity", () => {
  const recorder = new SampleRecorder();
  for (let i = 0; i < 5000; i++) recorder.add(i);
  assertEquals(recorder.count, 5000);
  assertEquals(recorder.summary().maxMs, 4999);
  assertEquals(median([5, 1, 3]), 3);
});
