import assert from "node:assert/strict";
import fc from "fast-check";
import { type ChunkSpan, planCompaction } from "./_compact.ts";

function spansOf(sizes: number[]): ChunkSpan[] {
  let pos = 0;
  return sizes.map((size) => ({ startPos: pos, endPos: pos += size }));
}

Deno.test("planCompaction() merges only runs that reach the target and reports the full-size prefix (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 60 }),
      fc.integer({ min: 1, max: 120 }),
      (sizes, target) => {
        const spans = spansOf(sizes);
        const plan = planCompaction(spans, target, Number.MAX_SAFE_INTEGER);
        for (const run of plan.runs) {
          const bytes = run[run.length - 1].endPos - run[0].startPos;
          if (run.length < 2 || bytes < target) return false;
          for (let i = 1; i < run.length; i++) {
            if (run[i - 1].endPos !== run[i].startPos) return false;
          }
          // A run never absorbs a chunk that was already full-size on its own.
          if (
            run.some((s) => s.endPos - s.startPos >= target) &&
            run[0].endPos - run[0].startPos >= target
          ) return false;
        }
        // What is left after compactedPos is a run smaller than the target.
        const tail = spans.filter((s) => s.startPos >= plan.compactedPos);
        const tailBytes = tail.reduce((n, s) => n + s.endPos - s.startPos, 0);
        return tailBytes < target || tail.length === 0;
      },
    ),
  );
});

Deno.test("planCompaction() stops at the byte budget", () => {
  const plan = planCompaction(spansOf(Array(100).fill(10)), 50, 120);
  assert.equal(
    plan.runs.length,
    3,
    "three runs of 50 bytes reach the 120-byte budget",
  );
  assert.equal(plan.compactedPos, 150);
});
