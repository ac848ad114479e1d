import assert from "node:assert/strict";
import type { RunRow } from "./catalog.ts";
import {
  defaultShape,
  nextIndexTask,
  runObjectKey,
  shapeErrors,
} from "./plan.ts";

const shape = { span: 2, fanout: 2, levelMax: 2 };
const state = (through: number) => ({
  seed: 1n,
  indexedThrough: through,
  updatedAtMs: 0,
});
const row = (level: number, first: number, last: number): RunRow => ({
  level,
  firstSegment: first,
  lastSegment: last,
  objectKey: `${level}-${first}`,
  bytes: 1,
  retiredAtMs: null,
});

Deno.test("nextIndexTask() builds full spans first, then compacts aligned groups", () => {
  assert.equal(nextIndexTask(state(0), [], 1, shape), undefined);
  assert.deepEqual(nextIndexTask(state(0), [], 3, shape), {
    kind: "build",
    firstSegment: 0,
    lastSegment: 1,
  });
  const l0s = [row(0, 0, 1), row(0, 2, 3), row(0, 4, 5)];
  assert.deepEqual(nextIndexTask(state(6), l0s, 8, shape), {
    kind: "build",
    firstSegment: 6,
    lastSegment: 7,
  });
  const task = nextIndexTask(state(6), l0s, 7, shape);
  assert.deepEqual(task, { kind: "compact", level: 0, runs: l0s.slice(0, 2) });
  // An L1 at 0..3 and L0s at 4..5, 6..7: the L0 pair at 4 is aligned (4 % 4 == 0).
  const mixed = [row(1, 0, 3), row(0, 4, 5), row(0, 6, 7)];
  assert.deepEqual(nextIndexTask(state(8), mixed, 8, shape), {
    kind: "compact",
    level: 0,
    runs: mixed.slice(1),
  });
  // Two L1s make an L2; L2 is the top level here, so nothing more.
  assert.equal(
    nextIndexTask(state(8), [row(1, 0, 3), row(1, 4, 7)], 8, shape)?.kind,
    "compact",
  );
  assert.equal(nextIndexTask(state(8), [row(2, 0, 7)], 8, shape), undefined);
  // Retired rows do not count.
  assert.equal(
    nextIndexTask(
      state(4),
      [{ ...row(0, 0, 1), retiredAtMs: 5 }, row(1, 0, 3)],
      4,
      shape,
    ),
    undefined,
  );
});

Deno.test("runObjectKey() names level and covered ordinals under the stream's folder", () => {
  assert.equal(
    runObjectKey(7, 1, 0, 255),
    "streams/0000000000000007/index/rk/L1-0000000000000000-0000000000000255.run",
  );
});

Deno.test("shapeErrors() accepts the default and names each bad field", () => {
  assert.deepEqual(shapeErrors(defaultShape()), []);
  assert.equal(shapeErrors({ span: 0, fanout: 17, levelMax: -1 }).length, 3);
  assert.deepEqual(shapeErrors({ span: 16, fanout: 16, levelMax: 15 }), [
    "span * fanout^levelMax must stay below 2^40 segments",
  ]);
});
