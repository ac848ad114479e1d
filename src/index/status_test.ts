import assert from "node:assert/strict";
import type { RunRow } from "./catalog.ts";
import { routingIndexStatus } from "./status.ts";

const row = (
  level: number,
  first: number,
  last: number,
  bytes: number,
  retiredAtMs: number | null = null,
): RunRow => ({
  level,
  firstSegment: first,
  lastSegment: last,
  objectKey: `L${level}-${first}`,
  bytes,
  retiredAtMs,
});

Deno.test("routingIndexStatus() reports coverage, lag and bytes at rest", () => {
  const updatedAtMs = Date.UTC(2026, 11, 1, 9, 59, 20);
  const status = routingIndexStatus({
    configured: true,
    uploadedCount: 38,
    state: { seed: 1n, indexedThrough: 32, updatedAtMs },
    rows: [
      row(0, 0, 15, 9000, updatedAtMs),
      row(1, 0, 15, 6000),
      row(0, 16, 31, 3432),
    ],
    oldestUnindexedUploadedAtMs: updatedAtMs - 1000,
    nowMs: updatedAtMs + 40_000,
  });
  assert.deepEqual(status, {
    configured: true,
    indexed_segment_count: 32,
    lag_segments: 6,
    lag_ms: "41000",
    bytes_at_rest: "18432",
    object_count: 3,
    active_run_count: 2,
    retired_run_count: 1,
    fully_indexed_uploaded_segments: false,
    updated_at: "2026-12-01T09:59:20.000Z",
  });
});

Deno.test("routingIndexStatus() before any run, when caught up, and when unconfigured", () => {
  assert.deepEqual(
    routingIndexStatus({
      configured: false,
      uploadedCount: 3,
      state: undefined,
      rows: [],
      oldestUnindexedUploadedAtMs: 5,
      nowMs: 9,
    }),
    { configured: false },
  );
  const fresh = routingIndexStatus({
    configured: true,
    uploadedCount: 3,
    state: undefined,
    rows: [],
    oldestUnindexedUploadedAtMs: 5,
    nowMs: 9,
  });
  assert.equal(fresh.configured && fresh.lag_segments, 3);
  assert.equal(fresh.configured && fresh.lag_ms, "4");
  assert.equal(fresh.configured && fresh.updated_at, null);
  const done = routingIndexStatus({
    configured: true,
    uploadedCount: 16,
    state: { seed: 1n, indexedThrough: 16, updatedAtMs: 0 },
    rows: [row(0, 0, 15, 2 ** 53)],
    oldestUnindexedUploadedAtMs: undefined,
    nowMs: 9,
  });
  assert.equal(done.configured && done.fully_indexed_uploaded_segments, true);
  assert.equal(done.configured && done.lag_ms, null);
  assert.equal(done.configured && done.bytes_at_rest, "9007199254740992");
});
