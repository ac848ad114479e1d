/**
 * @module
 * What the index should build next for one stream, as a pure function of
 * its catalog and how many segments are uploaded: an L0 run once `span`
 * uploaded segments past `indexedThrough` exist, else a compaction of
 * `fanout` aligned runs of one level. Run objects are named by level and
 * the segment ordinals they cover, so a rebuild after a crash writes the
 * same key again instead of leaving a second copy.
 */

import { assert } from "../assert.ts";
import {
  ROUTING_INDEX_FANOUT_DEFAULT,
  ROUTING_INDEX_LEVEL_MAX_DEFAULT,
  ROUTING_INDEX_SPAN_DEFAULT,
} from "../limits.ts";
import { streamPrefix } from "../objectstore/manifest.ts";
import { activeRuns, type RoutingState, type RunRow } from "./catalog.ts";
import { MERGE_INPUTS_MAX } from "./build.ts";
import { L0_SPAN_MAX, RUN_LEVEL_MAX } from "./run.ts";

/** Shape of the run hierarchy. */
export interface RoutingIndexShape {
  /** Segments per L0 run, 1..16. */
  span: number;
  /** Runs of one level per run of the next, 2..16. */
  fanout: number;
  /** Highest level compaction builds, 0..RUN_LEVEL_MAX. */
  levelMax: number;
}

/** The default shape: 16 / 16 / 4. */
export function defaultShape(): RoutingIndexShape {
  return {
    span: ROUTING_INDEX_SPAN_DEFAULT,
    fanout: ROUTING_INDEX_FANOUT_DEFAULT,
    levelMax: ROUTING_INDEX_LEVEL_MAX_DEFAULT,
  };
}

/** Problems with `shape`, empty when it is valid (a config check). */
export function shapeErrors(shape: RoutingIndexShape): string[] {
  const errors: string[] = [];
  const intIn = (v: number, lo: number, hi: number) =>
    Number.isInteger(v) && v >= lo && v <= hi;
  if (!intIn(shape.span, 1, L0_SPAN_MAX)) {
    errors.push(`span must be in 1..${L0_SPAN_MAX}`);
  }
  if (!intIn(shape.fanout, 2, MERGE_INPUTS_MAX)) {
    errors.push(`fanout must be in 2..${MERGE_INPUTS_MAX}`);
  }
  if (!intIn(shape.levelMax, 0, RUN_LEVEL_MAX)) {
    errors.push(`levelMax must be in 0..${RUN_LEVEL_MAX}`);
  }
  if (
    errors.length === 0 && shape.span * shape.fanout ** shape.levelMax > 2 ** 40
  ) {
    errors.push("span * fanout^levelMax must stay below 2^40 segments");
  }
  return errors;
}

/**
 * One unit of index work. `repair` is never planned here: the index does
 * it when a run turns out missing or corrupt (rebuilt from its segments).
 */
export type IndexTask =
  | PlannedTask
  | { kind: "repair"; runs: RunRow[] };

/** The work `nextIndexTask` plans: an L0 build or a compaction. */
export type PlannedTask =
  | { kind: "build"; firstSegment: number; lastSegment: number }
  | { kind: "compact"; level: number; runs: RunRow[] };

/** Segments a run of `level` covers. */
export function levelSpan(shape: RoutingIndexShape, level: number): number {
  return shape.span * shape.fanout ** level;
}

/**
 * The next task, or undefined when the index is up to date: first an L0
 * run over the oldest unindexed full span, else the lowest level with
 * `fanout` runs starting at a multiple of the next level's span.
 */
export function nextIndexTask(
  state: RoutingState,
  rows: readonly RunRow[],
  uploadedCount: number,
  shape: RoutingIndexShape,
): PlannedTask | undefined {
  assert(
    shapeErrors(shape).length === 0,
    "the index shape was checked at start",
  );
  const first = state.indexedThrough;
  if (uploadedCount - first >= shape.span) {
    return {
      kind: "build",
      firstSegment: first,
      lastSegment: first + shape.span - 1,
    };
  }
  const active = activeRuns(rows);
  for (let level = 0; level < shape.levelMax; level++) {
    const next = levelSpan(shape, level + 1);
    for (let i = 0; i + shape.fanout <= active.length; i++) {
      const group = active.slice(i, i + shape.fanout);
      if (
        group[0].firstSegment % next === 0 &&
        group.every((r) => r.level === level) &&
        group[group.length - 1].lastSegment === group[0].firstSegment + next - 1
      ) {
        return { kind: "compact", level, runs: group };
      }
    }
  }
  return undefined;
}

function pad(n: number): string {
  return String(n).padStart(16, "0");
}

/** Object key of stream `streamId`'s run of `level` over `[first, last]`. */
export function runObjectKey(
  streamId: number,
  level: number,
  first: number,
  last: number,
): string {
  return `${streamPrefix(streamId)}index/rk/L${level}-${pad(first)}-${
    pad(last)
  }.run`;
}
