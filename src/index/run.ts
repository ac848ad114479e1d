/**
 * @module
 * A routing-key run in memory: the segments it covers, a fuse16 filter over
 * its distinct key fingerprints, and a table from fingerprint to the
 * segments holding a key with it. L0 runs keep a 16-bit segment mask per
 * fingerprint; higher levels keep posting lists (varint count, then the
 * first segment and the gaps to the next). Fingerprints are sorted, so a
 * lookup is one filter probe and, on a hit, one binary search.
 */

import { assert } from "../assert.ts";
import { type FuseData, FuseFilter } from "../_wasm/fuse.ts";

/** Most segments an L0 run covers (one bit each in a 16-bit mask). */
export const L0_SPAN_MAX = 16;
/** Highest run level. */
export const RUN_LEVEL_MAX = 15;

/** The table of a run: sorted distinct fingerprints and their segments. */
export type RunTable =
  | {
    level: 0;
    /** Distinct fingerprints, ascending. */
    fingerprints: BigUint64Array;
    /** Bit `i` of `masks[j]`: segment `firstSegment + i` holds `fingerprints[j]`. */
    masks: Uint16Array;
  }
  | {
    level: number;
    /** Distinct fingerprints, ascending. */
    fingerprints: BigUint64Array;
    /** Varint posting lists, one per fingerprint, back to back. */
    postings: Uint8Array;
    /** `fingerprints.length + 1` offsets of each list in `postings`. */
    postingOffsets: Uint32Array;
  };

/** An immutable, decoded run. */
export class RoutingRun {
  /** First segment ordinal covered. */
  readonly firstSegment: number;
  /** Last segment ordinal covered (inclusive). */
  readonly lastSegment: number;
  /** Filter over `table.fingerprints`. */
  readonly filter: FuseFilter;
  /** Fingerprints and their segments. */
  readonly table: RunTable;

  /** Wraps a filter and table (from `build.ts` or `decodeRun`). */
  constructor(
    firstSegment: number,
    lastSegment: number,
    filter: FuseFilter,
    table: RunTable,
  ) {
    assert(
      Number.isSafeInteger(firstSegment) && firstSegment >= 0 &&
        Number.isSafeInteger(lastSegment) && lastSegment >= firstSegment,
      "a run covers a nonempty range of segment ordinals",
    );
    assert(
      table.level > 0 || lastSegment - firstSegment < L0_SPAN_MAX,
      "an L0 run covers at most 16 segments",
    );
    this.firstSegment = firstSegment;
    this.lastSegment = lastSegment;
    this.filter = filter;
    this.table = table;
  }

  /** The run's level (0 for runs built from segments). */
  get level(): number {
    return this.table.level;
  }

  /** Distinct fingerprints in the run. */
  get entryCount(): number {
    return this.table.fingerprints.length;
  }

  /** Bytes the decoded run holds (what the run cache charges). */
  get memoryBytes(): number {
    const t = this.table;
    const table = "masks" in t
      ? t.fingerprints.byteLength + t.masks.byteLength
      : t.fingerprints.byteLength + t.postings.byteLength +
        t.postingOffsets.byteLength;
    return table + this.filter.data.fingerprints.byteLength + 256;
  }

  /** Index of `fingerprint` in the table, or -1. */
  indexOf(fingerprint: bigint): number {
    const fps = this.table.fingerprints;
    let lo = 0;
    let hi = fps.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (fps[mid] < fingerprint) lo = mid + 1;
      else hi = mid;
    }
    return lo < fps.length && fps[lo] === fingerprint ? lo : -1;
  }

  /** Segment ordinals of entry `j`, ascending. */
  segmentsAt(j: number): number[] {
    const out: number[] = [];
    this.appendSegmentsAt(j, out);
    return out;
  }

  /** Pushes the segment ordinals of entry `j` onto `out`, ascending. */
  appendSegmentsAt(j: number, out: number[]): void {
    const t = this.table;
    if ("masks" in t) {
      let mask = t.masks[j];
      while (mask !== 0) {
        const low = mask & -mask;
        out.push(this.firstSegment + 31 - Math.clz32(low));
        mask ^= low;
      }
      return;
    }
    const bytes = t.postings;
    let at = t.postingOffsets[j];
    let count: number;
    [count, at] = readVarint(bytes, at);
    let segment = this.firstSegment;
    for (let i = 0; i < count; i++) {
      // Gaps below 128 (nearly all of them) take one byte.
      const b = bytes[at];
      if (b < 0x80) {
        segment += b;
        at++;
      } else {
        let step: number;
        [step, at] = readVarint(bytes, at);
        segment += step;
      }
      out.push(segment);
    }
    assert(
      at === t.postingOffsets[j + 1],
      "posting list length matches its offsets",
    );
  }

  /**
   * Segments that may hold a key with `fingerprint`: never misses one that
   * does; may name extra ones only if two keys share a 64-bit fingerprint.
   */
  lookup(fingerprint: bigint): number[] {
    if (!this.filter.has(fingerprint)) return [];
    const j = this.indexOf(fingerprint);
    return j < 0 ? [] : this.segmentsAt(j);
  }
}

/** A run as plain data: what crosses a Worker boundary. */
export interface RunParts {
  /** First segment ordinal covered. */
  firstSegment: number;
  /** Last segment ordinal covered (inclusive). */
  lastSegment: number;
  /** The filter's parameters and fingerprints. */
  filter: FuseData;
  /** Fingerprints and their segments. */
  table: RunTable;
}

/** `run` as plain data (sharing its arrays). */
export function runToParts(run: RoutingRun): RunParts {
  return {
    firstSegment: run.firstSegment,
    lastSegment: run.lastSegment,
    filter: { ...run.filter.data },
    table: run.table,
  };
}

/**
 * The run of `parts`, which must come from `runToParts` of a checked run
 * (`decodeRun` on the other side of a Worker): only lengths are re-checked.
 */
export function runFromParts(parts: RunParts): RoutingRun {
  const t = parts.table;
  const n = t.fingerprints.length;
  assert(
    "masks" in t ? t.masks.length === n : t.postingOffsets.length === n + 1,
    "run columns have one entry per fingerprint",
  );
  return new RoutingRun(
    parts.firstSegment,
    parts.lastSegment,
    FuseFilter.fromData(parts.filter),
    t,
  );
}

/** Buffers of `parts`, to transfer rather than copy. */
export function runPartsBuffers(parts: RunParts): ArrayBuffer[] {
  const t = parts.table;
  const views: ArrayBufferView[] = "masks" in t
    ? [t.fingerprints, t.masks]
    : [t.fingerprints, t.postings, t.postingOffsets];
  views.push(parts.filter.fingerprints);
  const out = new Set<ArrayBuffer>();
  for (const v of views) if (v.buffer instanceof ArrayBuffer) out.add(v.buffer);
  return [...out];
}

/** Appends the unsigned LEB128 form of `value` to `out`. */
export function writeVarint(out: number[], value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, "varints are unsigned");
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

/**
 * Reads an unsigned LEB128 value at `at`; returns it and the next offset,
 * or [-1, at] when it runs past `bytes` or past 2^53.
 */
export function readVarint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < bytes.length && i < at + 8; i++) {
    const b = bytes[i];
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [value, i + 1];
    scale *= 0x80;
  }
  return [-1, at];
}
