/**
 * @module
 * The `agg` section of a companion (docs/companions.md): per rollup and
 * interval, the segment's records folded into aligned windows, one row per
 * distinct combination of dimension values, with the state of every
 * measure. `_aggregate` merges these rows for the windows a request covers
 * whole instead of folding the records again (specs/search.md §4).
 *
 * A row keeps each dimension's full value list (empty when missing, several
 * when multi-valued), so any `group_by` subset and any conjunction of
 * dimension equalities in `q` give the answer a fold of the records gives.
 */

import { intervalMs, type Measure, type SearchConfig } from "./config.ts";
import {
  compileIncludes,
  foldMeasure,
  newState,
  type State,
} from "./aggregate.ts";
import type { Plan } from "./compile.ts";
import { compareScalars } from "./evaluate.ts";
import type { ExtractedDoc, Scalar } from "./extract.ts";
import { Reader, Writer } from "./_section_bytes.ts";

/** One row of a window: the values of each dimension and each measure's state. */
export interface RollupRow {
  /** Per dimension (rollup order), its values sorted; empty when missing. */
  dims: Scalar[][];
  /** Per measure (table order), its state. */
  states: State[];
}

/** One window with at least one record. */
export interface RollupWindow {
  /** Window start, epoch ms, a multiple of the interval. */
  startMs: number;
  /** Rows in first-seen order. */
  rows: RollupRow[];
}

/** The windows of one rollup at one interval. */
export interface RollupTable {
  /** Rollup name. */
  rollup: string;
  /** Interval as configured. */
  interval: string;
  /** Its width. */
  intervalMs: number;
  /** Dimension names, rollup order. */
  dimensions: string[];
  /** Measure names, rollup order. */
  measures: string[];
  /** Whether each measure keeps a full summary state (else a count). */
  summaries: boolean[];
  /** Windows ascending. */
  windows: RollupWindow[];
}

/** A decoded `agg` section: tables by rollup, then by interval. */
export type AggSection = Map<string, Map<string, RollupTable>>;

/** Folds the records of one segment into its `agg` section. */
export class RollupBuilder {
  readonly #config: SearchConfig;
  readonly #tables: {
    table: RollupTable;
    timestampField: string;
    measures: Measure[];
    includes: Map<string, Plan>;
    windows: Map<number, Map<string, RollupRow>>;
  }[] = [];

  /** A builder for the rollups of `config`, one table per rollup and interval. */
  constructor(config: SearchConfig) {
    this.#config = config;
    for (const [rollup, r] of Object.entries(config.rollups ?? {})) {
      const includes = compileIncludes(config, r);
      for (const interval of r.intervals) {
        this.#tables.push({
          table: {
            rollup,
            interval,
            intervalMs: intervalMs(interval)!,
            dimensions: [...(r.dimensions ?? [])],
            measures: Object.keys(r.measures),
            summaries: Object.values(r.measures).map((m) => m.kind !== "count"),
            windows: [],
          },
          timestampField: r.timestampField!,
          measures: Object.values(r.measures),
          includes,
          windows: new Map(),
        });
      }
    }
  }

  /** Folds one record (its fields, and the record for `summary_parts`). */
  add(doc: ExtractedDoc, record: unknown): void {
    for (const t of this.#tables) {
      const times = doc.values.get(t.timestampField);
      // Aggregator.add counts a record only with exactly one timestamp.
      if (times === undefined || times.length !== 1) continue;
      const ts = times[0] as number;
      const width = t.table.intervalMs;
      const start = Math.floor(ts / width) * width;
      let rows = t.windows.get(start);
      if (rows === undefined) t.windows.set(start, rows = new Map());
      const dims = t.table.dimensions.map((d) =>
        [...(doc.values.get(d) ?? [])].sort(compareScalars)
      );
      const id = JSON.stringify(
        dims,
        (_k, v) => typeof v === "bigint" ? { n: `${v}` } : v,
      );
      let row = rows.get(id);
      if (row === undefined) {
        row = { dims, states: t.measures.map(newState) };
        rows.set(id, row);
      }
      t.measures.forEach((measure, i) => {
        foldMeasure(
          this.#config,
          measure,
          t.includes.get(t.table.measures[i]),
          row!.states[i],
          { doc, record },
        );
      });
    }
  }

  /** The section of every record added. */
  finish(): AggSection {
    const out: AggSection = new Map();
    for (const t of this.#tables) {
      t.table.windows = [...t.windows.entries()].sort((a, b) => a[0] - b[0])
        .map(([startMs, rows]) => ({ startMs, rows: [...rows.values()] }));
      let byInterval = out.get(t.table.rollup);
      if (byInterval === undefined) {
        out.set(t.table.rollup, byInterval = new Map());
      }
      byInterval.set(t.table.interval, t.table);
    }
    return out;
  }
}

// ---------------------------------------------------------------- encoding

const VALUE_TAGS = { string: 0, bigint: 1, boolean: 2, number: 3 } as const;
const MEASURE_COUNT = 0;
const MEASURE_SUMMARY = 1;

function writeValue(w: Writer, v: Scalar): void {
  const tag = VALUE_TAGS[typeof v as keyof typeof VALUE_TAGS];
  w.u8(tag);
  if (typeof v === "number") w.f64(v);
  else if (typeof v === "boolean") w.u8(v ? 1 : 0);
  else w.str(String(v));
}

function readValue(r: Reader): Scalar {
  const tag = r.u8();
  if (tag === VALUE_TAGS.number) return r.f64();
  if (tag === VALUE_TAGS.boolean) return r.u8() === 1;
  if (tag === VALUE_TAGS.bigint) return BigInt(r.str());
  if (tag === VALUE_TAGS.string) return r.str();
  throw new Error(`agg section: unknown value tag ${tag}`);
}

function writeState(w: Writer, kind: number, s: State): void {
  w.f64(s.count);
  if (kind === MEASURE_COUNT) return;
  w.f64(s.sum);
  w.f64(s.min);
  w.f64(s.max);
  w.u32(s.histogram.size);
  for (const [bucket, n] of s.histogram) {
    w.f64(bucket);
    w.f64(n);
  }
}

function readState(r: Reader, kind: number): State {
  const s = newState();
  s.count = r.f64();
  if (kind === MEASURE_COUNT) return s;
  s.sum = r.f64();
  s.min = r.f64();
  s.max = r.f64();
  const n = r.count(16);
  for (let i = 0; i < n; i++) s.histogram.set(r.f64(), r.f64());
  return s;
}

/**
 * The bytes of an `agg` section. Measure kinds are stored so the reader
 * needs no config: `count` keeps its count, summaries their full state.
 */
export function encodeAggSection(section: AggSection): Uint8Array {
  const w = new Writer();
  const tables = [...section.values()].flatMap((m) => [...m.values()]);
  w.u32(tables.length);
  for (const t of tables) {
    const kinds = t.summaries.map((summary) =>
      summary ? MEASURE_SUMMARY : MEASURE_COUNT
    );
    w.str(t.rollup);
    w.str(t.interval);
    w.f64(t.intervalMs);
    w.u32(t.dimensions.length);
    for (const d of t.dimensions) w.str(d);
    w.u32(t.measures.length);
    t.measures.forEach((m, i) => {
      w.str(m);
      w.u8(kinds[i]);
    });
    w.u32(t.windows.length);
    for (const win of t.windows) {
      w.f64(win.startMs);
      w.u32(win.rows.length);
      for (const row of win.rows) {
        for (const values of row.dims) {
          w.u32(values.length);
          for (const v of values) writeValue(w, v);
        }
        row.states.forEach((s, i) => writeState(w, kinds[i], s));
      }
    }
  }
  return w.done();
}

/** Reads an `agg` section; throws on any damage. */
export function decodeAggSection(bytes: Uint8Array): AggSection {
  const r = new Reader(bytes);
  const out: AggSection = new Map();
  const tables = r.count(1);
  for (let i = 0; i < tables; i++) {
    const rollup = r.str();
    const interval = r.str();
    const width = r.f64();
    if (!(width > 0)) throw new Error("agg section: bad interval");
    const dimensions = Array.from({ length: r.count(4) }, () => r.str());
    const measures: string[] = [];
    const kinds: number[] = [];
    const m = r.count(5);
    for (let j = 0; j < m; j++) {
      measures.push(r.str());
      const kind = r.u8();
      if (kind !== MEASURE_COUNT && kind !== MEASURE_SUMMARY) {
        throw new Error("agg section: bad measure kind");
      }
      kinds.push(kind);
    }
    const windows: RollupWindow[] = [];
    const w = r.count(12);
    for (let j = 0; j < w; j++) {
      const startMs = r.f64();
      const rows: RollupRow[] = [];
      const n = r.count(1);
      for (let k = 0; k < n; k++) {
        const dims = dimensions.map(() =>
          Array.from({ length: r.count(2) }, () => readValue(r))
        );
        const states = kinds.map((kind) => readState(r, kind));
        rows.push({ dims, states });
      }
      windows.push({ startMs, rows });
    }
    let byInterval = out.get(rollup);
    if (byInterval === undefined) out.set(rollup, byInterval = new Map());
    byInterval.set(interval, {
      rollup,
      interval,
      intervalMs: width,
      dimensions,
      measures,
      summaries: kinds.map((kind) => kind === MEASURE_SUMMARY),
      windows,
    });
  }
  if (r.at !== bytes.length) throw new Error("agg section: trailing bytes");
  return out;
}

/** Rough bytes a decoded section holds in memory (for the cache's bound). */
export function aggSectionMemoryBytes(section: AggSection): number {
  let bytes = 0;
  for (const byInterval of section.values()) {
    for (const t of byInterval.values()) {
      for (const w of t.windows) {
        bytes += 32;
        for (const row of w.rows) {
          bytes += 48 + row.dims.length * 24 + row.states.length * 64;
          for (const s of row.states) bytes += s.histogram.size * 32;
        }
      }
    }
  }
  return bytes;
}
