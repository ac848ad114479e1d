/**
 * @module
 * Building runs: an L0 run from the fingerprints of up to 16 consecutive
 * segments, and a level L+1 run from contiguous level L runs (compaction).
 * Both tag each input fingerprint with its segment or run number (in the
 * fingerprint's free low bits), sort all of them at once with the native
 * typed-array sort, group equal fingerprints in one pass over 32-bit words
 * (no BigInts), and build one fuse16 filter in WASM over the distinct ones.
 */

import { assert } from "../assert.ts";
import { FuseFilter } from "../_wasm/fuse.ts";
import { FINGERPRINT_TAG_BITS } from "./fingerprint.ts";
import { L0_SPAN_MAX, RoutingRun, type RunTable } from "./run.ts";

const TAG_MASK = (1 << FINGERPRINT_TAG_BITS) - 1;
/** Most inputs one build merges: segments of an L0 run, runs of a compaction. */
export const MERGE_INPUTS_MAX = 1 << FINGERPRINT_TAG_BITS;

/**
 * All of `lists` in one array, each fingerprint tagged in its free low bits
 * with the index of its list, sorted. Equal fingerprints end up adjacent,
 * in list order; one native sort replaces a k-way merge.
 */
function tagAndSort(lists: readonly BigUint64Array[]): BigUint64Array {
  assert(lists.length <= MERGE_INPUTS_MAX, "one tag per input list");
  let total = 0;
  for (const l of lists) total += l.length;
  const out = new BigUint64Array(total);
  const words = new Uint32Array(out.buffer);
  let at = 0;
  for (let tag = 0; tag < lists.length; tag++) {
    out.set(lists[tag], at);
    const end = at + lists[tag].length;
    let stray = 0;
    for (let i = at; i < end; i++) {
      stray |= words[2 * i] & TAG_MASK;
      words[2 * i] |= tag;
    }
    assert(stray === 0, "fingerprints keep their tag bits clear");
    at = end;
  }
  return out.sort();
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
  const tagged = tagAndSort(perSegment);
  const words = new Uint32Array(tagged.buffer);
  const fingerprints = new BigUint64Array(tagged.length);
  const out = new Uint32Array(fingerprints.buffer);
  const masks = new Uint16Array(tagged.length);
  let j = -1;
  for (let i = 0; i < tagged.length; i++) {
    const raw = words[2 * i];
    const lo = (raw & ~TAG_MASK) >>> 0;
    const hi = words[2 * i + 1];
    if (j < 0 || lo !== out[2 * j] || hi !== out[2 * j + 1]) {
      j++;
      out[2 * j] = lo;
      out[2 * j + 1] = hi;
    }
    masks[j] |= 1 << (raw & TAG_MASK);
  }
  const table: RunTable = {
    level: 0,
    fingerprints: fingerprints.slice(0, j + 1),
    masks: masks.slice(0, j + 1),
  };
  return new RoutingRun(
    firstSegment,
    firstSegment + n - 1,
    FuseFilter.build(table.fingerprints, 16),
    table,
  );
}

/** A growable byte buffer for posting lists. */
class ByteSink {
  bytes = new Uint8Array(1024);
  length = 0;

  varint(value: number): void {
    if (this.length + 10 > this.bytes.length) {
      const grown = new Uint8Array(2 * this.bytes.length);
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    while (value >= 0x80) {
      this.bytes[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.bytes[this.length++] = value;
  }
}

/**
 * Merges `runs` (same level, contiguous and ascending by segment) into one
 * run of the next level covering all their segments.
 */
export function compactRuns(runs: readonly RoutingRun[]): RoutingRun {
  assert(
    runs.length >= 2 && runs.length <= MERGE_INPUTS_MAX,
    "compaction merges 2..16 runs",
  );
  const level = runs[0].level;
  for (let i = 0; i < runs.length; i++) {
    assert(runs[i].level === level, "compaction merges runs of one level");
    assert(
      i === 0 || runs[i].firstSegment === runs[i - 1].lastSegment + 1,
      "compaction merges contiguous runs in segment order",
    );
  }
  const first = runs[0].firstSegment;
  const tagged = tagAndSort(runs.map((r) => r.table.fingerprints));
  const words = new Uint32Array(tagged.buffer);
  const fingerprints = new BigUint64Array(tagged.length);
  const out = new Uint32Array(fingerprints.buffer);
  const cursor = new Int32Array(runs.length);
  const sink = new ByteSink();
  const starts: number[] = [];
  const segments: number[] = [];
  let j = -1;
  const flush = () => {
    if (j < 0) return;
    starts.push(sink.length);
    sink.varint(segments.length);
    let previous = first;
    for (const s of segments) {
      sink.varint(s - previous);
      previous = s;
    }
    segments.length = 0;
  };
  for (let i = 0; i < tagged.length; i++) {
    const raw = words[2 * i];
    const lo = (raw & ~TAG_MASK) >>> 0;
    const hi = words[2 * i + 1];
    if (j < 0 || lo !== out[2 * j] || hi !== out[2 * j + 1]) {
      flush();
      j++;
      out[2 * j] = lo;
      out[2 * j + 1] = hi;
    }
    // Runs are in segment order and tags sort ascending: segments stay sorted.
    const r = raw & TAG_MASK;
    runs[r].appendSegmentsAt(cursor[r]++, segments);
  }
  flush();
  starts.push(sink.length);
  const table: RunTable = {
    level: level + 1,
    fingerprints: fingerprints.slice(0, j + 1),
    postings: sink.bytes.slice(0, sink.length),
    postingOffsets: Uint32Array.from(starts),
  };
  return new RoutingRun(
    first,
    runs[runs.length - 1].lastSegment,
    FuseFilter.build(table.fingerprints, 16),
    table,
  );
}
