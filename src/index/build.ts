/**
 * @module
 * Building runs: an L0 run from the fingerprints of up to 16 consecutive
 * segments, and a level L+1 run from contiguous level L runs (compaction).
 * Both are a k-way merge of sorted fingerprint columns (compared as two
 * 32-bit halves, so the merge allocates no BigInts) followed by one fuse16
 * build in the WASM kernel over the merged, distinct fingerprints.
 */

import { assert } from "../assert.ts";
import { FuseFilter } from "../_wasm/fuse.ts";
import { L0_SPAN_MAX, RoutingRun, type RunTable, writeVarint } from "./run.ts";

/** Sorted distinct copy of `fps`. */
export function sortedDistinct(fps: BigUint64Array): BigUint64Array {
  const sorted = fps.slice().sort();
  if (sorted.length === 0) return sorted;
  const w = new Uint32Array(sorted.buffer);
  let n = 1;
  for (let i = 1; i < sorted.length; i++) {
    const lo = w[2 * i];
    const hi = w[2 * i + 1];
    if (lo !== w[2 * n - 2] || hi !== w[2 * n - 1]) {
      w[2 * n] = lo;
      w[2 * n + 1] = hi;
      n++;
    }
  }
  return sorted.subarray(0, n);
}

/**
 * Merges sorted distinct `lists`: calls `emit(members, count)` once per
 * distinct value in ascending order, where `members[0..count)` are the
 * indexes of the lists holding it, ascending, and `cursor[i]` is the
 * position of the value in list `i` for each member. Returns the merged
 * column of distinct values.
 */
function mergeSorted(
  lists: BigUint64Array[],
  emit: (members: Int32Array, count: number, cursor: Int32Array) => void,
): BigUint64Array {
  const k = lists.length;
  const words = lists.map((l) =>
    new Uint32Array(l.buffer, l.byteOffset, 2 * l.length)
  );
  const cursor = new Int32Array(k);
  const members = new Int32Array(k);
  let total = 0;
  for (const l of lists) total += l.length;
  const out = new BigUint64Array(total);
  const ow = new Uint32Array(out.buffer);
  let n = 0;
  for (;;) {
    let count = 0;
    let minHi = 0;
    let minLo = 0;
    for (let i = 0; i < k; i++) {
      const c = cursor[i];
      if (c >= lists[i].length) continue;
      const lo = words[i][2 * c];
      const hi = words[i][2 * c + 1];
      if (count === 0 || hi < minHi || (hi === minHi && lo < minLo)) {
        minHi = hi;
        minLo = lo;
        members[0] = i;
        count = 1;
      } else if (hi === minHi && lo === minLo) {
        members[count++] = i;
      }
    }
    if (count === 0) break;
    emit(members, count, cursor);
    ow[2 * n] = minLo;
    ow[2 * n + 1] = minHi;
    n++;
    for (let m = 0; m < count; m++) cursor[members[m]]++;
  }
  return out.slice(0, n);
}

/**
 * The L0 run over segments `firstSegment .. firstSegment + n - 1`, given
 * each one's key fingerprints (`perSegment[i]` for segment
 * `firstSegment + i`; duplicates allowed, any order).
 */
export function buildL0Run(
  firstSegment: number,
  perSegment: readonly BigUint64Array[],
): RoutingRun {
  const n = perSegment.length;
  assert(
    n >= 1 && n <= L0_SPAN_MAX,
    `an L0 run covers 1..16 segments, not ${n}`,
  );
  const lists = perSegment.map(sortedDistinct);
  let total = 0;
  for (const l of lists) total += l.length;
  const masks = new Uint16Array(total);
  let j = 0;
  const fingerprints = mergeSorted(lists, (members, count) => {
    let mask = 0;
    for (let m = 0; m < count; m++) mask |= 1 << members[m];
    masks[j++] = mask;
  });
  const table: RunTable = { level: 0, fingerprints, masks: masks.slice(0, j) };
  return new RoutingRun(
    firstSegment,
    firstSegment + n - 1,
    FuseFilter.build(fingerprints, 16),
    table,
  );
}

/** A growable byte buffer for posting lists. */
class ByteSink {
  bytes = new Uint8Array(1024);
  length = 0;
  #scratch: number[] = [];

  varint(value: number): void {
    this.#scratch.length = 0;
    writeVarint(this.#scratch, value);
    if (this.length + this.#scratch.length > this.bytes.length) {
      const grown = new Uint8Array(
        2 * this.bytes.length + this.#scratch.length,
      );
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    for (const b of this.#scratch) this.bytes[this.length++] = b;
  }
}

/**
 * Merges `runs` (same level, contiguous and ascending by segment) into one
 * run of the next level covering all their segments.
 */
export function compactRuns(runs: readonly RoutingRun[]): RoutingRun {
  assert(runs.length >= 2, "compaction merges at least two runs");
  const level = runs[0].level;
  for (let i = 0; i < runs.length; i++) {
    assert(runs[i].level === level, "compaction merges runs of one level");
    assert(
      i === 0 || runs[i].firstSegment === runs[i - 1].lastSegment + 1,
      "compaction merges contiguous runs in segment order",
    );
  }
  const first = runs[0].firstSegment;
  const sink = new ByteSink();
  const starts: number[] = [];
  const segments: number[] = [];
  const fingerprints = mergeSorted(
    runs.map((r) => r.table.fingerprints),
    (members, count, cursor) => {
      starts.push(sink.length);
      segments.length = 0;
      for (let m = 0; m < count; m++) {
        const r = members[m];
        for (const s of runs[r].segmentsAt(cursor[r])) segments.push(s);
      }
      sink.varint(segments.length);
      let previous = first;
      for (const s of segments) {
        sink.varint(s - previous);
        previous = s;
      }
    },
  );
  starts.push(sink.length);
  const table: RunTable = {
    level: level + 1,
    fingerprints,
    postings: sink.bytes.slice(0, sink.length),
    postingOffsets: Uint32Array.from(starts),
  };
  return new RoutingRun(
    first,
    runs[runs.length - 1].lastSegment,
    FuseFilter.build(fingerprints, 16),
    table,
  );
}
