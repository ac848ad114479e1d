/**
 * @module
 * Rollup aggregation as a pure fold (specs/search.md §4): an `_aggregate`
 * request checked against the config, then records folded into buckets
 * aligned to the interval since the epoch, per group of dimension values,
 * with count and summary measures (log2 histograms, p50/p95/p99). Index
 * sections and source scans both feed this fold.
 */

import { assert } from "../assert.ts";
import { fail, ok, type Result } from "../errors.ts";
import { AGGREGATE_GROUPS_MAX, AGGREGATE_WINDOWS_MAX } from "../limits.ts";
import {
  fieldOf,
  intervalMs,
  type Measure,
  type Rollup,
  type SearchConfig,
} from "./config.ts";
import { compileQuery, type Plan } from "./compile.ts";
import { compareScalars, matches } from "./evaluate.ts";
import {
  type ExtractedDoc,
  parseRfc3339,
  resolvePointer,
  type Scalar,
} from "./extract.ts";
import { parseQuery } from "./query.ts";

/** A checked `_aggregate` request. */
export interface AggregateRequest {
  /** Rollup name. */
  rollup: string;
  /** Inclusive start, epoch ms. */
  fromMs: number;
  /** Exclusive end, epoch ms. */
  toMs: number;
  /** The interval as configured (`1m`). */
  interval: string;
  /** Its width in ms. */
  intervalMs: number;
  /** The compiled `q`, if any. */
  filter?: Plan;
  /** Dimensions to group by (a subset of the rollup's). */
  groupBy: string[];
  /** Measure names to compute. */
  measures: string[];
}

/** A measure's state and its result: `{count}` or the summary figures. */
export interface MeasureValue {
  /** Values (or pre-aggregated counts) folded in. */
  count: number;
  /** Summary measures only. */
  sum?: number;
  /** Summary only; null when nothing was folded in. */
  min?: number | null;
  /** Summary only; null when nothing was folded in. */
  max?: number | null;
  /** Summary only: sum / count, null when count is 0. */
  avg?: number | null;
  /** Summary only: lower bound of the log2 bucket reaching 50% (null without a histogram). */
  p50?: number | null;
  /** Summary only: the same at 95%. */
  p95?: number | null;
  /** Summary only: the same at 99%. */
  p99?: number | null;
  /** Summary only: count per log2 bucket lower bound. */
  histogram?: Record<string, number>;
}

/** One group of a bucket. */
export interface AggregateGroup {
  /** Dimension values (`null` when missing), in `groupBy` order. */
  key: Record<string, Scalar | null>;
  /** Results per measure name. */
  measures: Record<string, MeasureValue>;
}

/** One non-empty bucket. */
export interface AggregateBucket {
  /** Bucket start, epoch ms (a multiple of the interval). */
  startMs: number;
  /** Bucket end, epoch ms. */
  endMs: number;
  /** Groups sorted by key. */
  groups: AggregateGroup[];
}

/** A record to fold: its extracted fields and the stored record (for `summary_parts`). */
export interface AggregateInput {
  /** Extracted search fields. */
  doc: ExtractedDoc;
  /** The stored record. */
  record: unknown;
}

function timeOf(raw: unknown, name: string): Result<number> {
  if (typeof raw === "number" && Number.isSafeInteger(raw)) return ok(raw);
  // specs/search.md §4: digit strings are refused (numbers are ms).
  const ms = typeof raw === "string" && !/^[0-9]+$/.test(raw)
    ? parseRfc3339(raw)
    : undefined;
  if (ms === undefined) {
    return fail(
      "bad_request",
      `Invalid ${name}: expected an RFC 3339 string or epoch-ms number`,
    );
  }
  return ok(ms);
}

/** Checks an `_aggregate` body against `config`. */
export function parseAggregateRequest(
  config: SearchConfig,
  body: Record<string, unknown>,
): Result<AggregateRequest> {
  const known = [
    "rollup",
    "from",
    "to",
    "interval",
    "q",
    "group_by",
    "measures",
  ];
  const unknown = Object.keys(body).find((k) => !known.includes(k));
  if (unknown !== undefined) {
    return fail("bad_request", `Invalid aggregate: unknown field "${unknown}"`);
  }
  const name = body.rollup;
  const rollup =
    typeof name === "string" && Object.hasOwn(config.rollups ?? {}, name)
      ? config.rollups![name]
      : undefined;
  if (rollup === undefined) {
    return fail("bad_request", `Invalid aggregate: unknown rollup`);
  }
  const from = timeOf(body.from, "from");
  if (!from.ok) return from;
  const to = timeOf(body.to, "to");
  if (!to.ok) return to;
  if (to.value <= from.value) {
    return fail("bad_request", "Invalid aggregate: to must be after from");
  }
  const interval = body.interval;
  if (typeof interval !== "string" || !rollup.intervals.includes(interval)) {
    return fail(
      "bad_request",
      `Invalid aggregate: interval must be one of ${
        rollup.intervals.join(", ")
      }`,
    );
  }
  const width = intervalMs(interval)!;
  if (Math.ceil((to.value - from.value) / width) > AGGREGATE_WINDOWS_MAX) {
    return fail(
      "bad_request",
      `Invalid aggregate: too many buckets (more than ${AGGREGATE_WINDOWS_MAX})`,
    );
  }
  const groupBy = subset(
    body.group_by,
    rollup.dimensions ?? [],
    "group_by",
    [],
  );
  if (!groupBy.ok) return groupBy;
  const all = Object.keys(rollup.measures);
  const measures = subset(body.measures, all, "measures", all);
  if (!measures.ok) return measures;
  if (measures.value.length === 0) {
    return fail("bad_request", "Invalid aggregate: measures is empty");
  }
  const request: AggregateRequest = {
    rollup: name as string,
    fromMs: from.value,
    toMs: to.value,
    interval,
    intervalMs: width,
    groupBy: groupBy.value,
    measures: measures.value,
  };
  if (body.q !== undefined) {
    if (typeof body.q !== "string") {
      return fail("bad_request", "Invalid aggregate: q must be a string");
    }
    const parsed = parseQuery(body.q);
    const compiled = parsed.ok
      ? compileQuery(config, parsed.value, "search")
      : parsed;
    if (!compiled.ok) return compiled;
    request.filter = compiled.value;
  }
  return ok(request);
}

function subset(
  raw: unknown,
  allowed: string[],
  name: string,
  fallback: string[],
): Result<string[]> {
  if (raw === undefined) return ok(fallback);
  if (!Array.isArray(raw)) {
    return fail("bad_request", `Invalid aggregate: ${name} must be an array`);
  }
  for (const [i, item] of raw.entries()) {
    if (
      typeof item !== "string" || !allowed.includes(item) ||
      raw.indexOf(item) !== i
    ) {
      return fail(
        "bad_request",
        `Invalid aggregate: ${name}[${i}] is not one of ${allowed.join(", ")}`,
      );
    }
  }
  return ok(raw as string[]);
}

/** The `log2_v1` bucket of a value: 2^floor(log2(max(1, |x|))) (sign is lost). */
export function log2Bucket(value: number): number {
  const magnitude = Math.max(1, Math.abs(value));
  let bucket = 2 ** Math.floor(Math.log2(magnitude));
  // Guard against rounding in log2 near powers of two.
  if (bucket * 2 <= magnitude) bucket *= 2;
  if (bucket > magnitude) bucket /= 2;
  return bucket;
}

/** The running state of one measure (count, sum, min, max, log2 histogram). */
export interface State {
  /** Values (or pre-aggregated counts) folded in. */
  count: number;
  /** Sum of the values. */
  sum: number;
  /** Smallest value (Infinity when none). */
  min: number;
  /** Largest value (-Infinity when none). */
  max: number;
  /** Count per log2 bucket lower bound. */
  histogram: Map<number, number>;
}

/** An empty measure state. */
export const newState = (): State => ({
  count: 0,
  sum: 0,
  min: Infinity,
  max: -Infinity,
  histogram: new Map(),
});

/**
 * The histogram of every count measure's state in an `Aggregator`: a count
 * keeps its count alone, so its groups share one map that refuses writes
 * instead of each allocating its own.
 */
class NoHistogram extends Map<number, number> {
  override set(): this {
    assert(false, "a count measure keeps no histogram");
  }
}
const NO_HISTOGRAM: Map<number, number> = new NoHistogram();

/** A state for `measure` in an `Aggregator` group (counts share no map). */
function groupState(measure: Measure): State {
  if (measure.kind !== "count") return newState();
  return {
    count: 0,
    sum: 0,
    min: Infinity,
    max: -Infinity,
    histogram: NO_HISTOGRAM,
  };
}

/** One value of a summary field, or undefined unless the field has exactly one. */
function singleNumber(doc: ExtractedDoc, field: string): number | undefined {
  const values = doc.values.get(field);
  if (values === undefined || values.length !== 1) return undefined;
  const value = values[0];
  return typeof value === "bigint"
    ? Number(value)
    : typeof value === "number"
    ? value
    : undefined;
}

/** Adds `from` into `into` (states of one measure, folded apart). */
export function mergeState(into: State, from: State): void {
  into.count += from.count;
  into.sum += from.sum;
  into.min = Math.min(into.min, from.min);
  into.max = Math.max(into.max, from.max);
  // forEach: no entry array per bucket (this runs per merged rollup row).
  const histogram = into.histogram;
  from.histogram.forEach((n, bucket) => {
    histogram.set(bucket, (histogram.get(bucket) ?? 0) + n);
  });
}

/** Folds one record into the state of `measure` (`include` compiled). */
export function foldMeasure(
  config: SearchConfig,
  measure: Measure,
  include: Plan | undefined,
  state: State,
  input: AggregateInput,
): void {
  if (measure.kind === "count") {
    if (include === undefined || matches(config, include, input.doc)) {
      state.count++;
    }
    return;
  }
  if (measure.kind === "summary") {
    const value = singleNumber(input.doc, measure.field);
    if (value === undefined) return;
    state.count++;
    state.sum += value;
    state.min = Math.min(state.min, value);
    state.max = Math.max(state.max, value);
    const bucket = log2Bucket(value);
    state.histogram.set(bucket, (state.histogram.get(bucket) ?? 0) + 1);
    return;
  }
  foldParts(measure, state, input.record);
}

function foldParts(
  measure: Extract<Measure, { kind: "summary_parts" }>,
  state: State,
  record: unknown,
): void {
  const num = (pointer: string) => {
    const v = resolvePointer(record, pointer);
    return typeof v === "number" && Number.isFinite(v) ? v : undefined;
  };
  const count = num(measure.countJsonPointer);
  const sum = num(measure.sumJsonPointer);
  const min = num(measure.minJsonPointer);
  const max = num(measure.maxJsonPointer);
  if (
    count === undefined || sum === undefined || min === undefined ||
    max === undefined
  ) return;
  if (!Number.isSafeInteger(count) || count < 0) return;
  state.count += count;
  state.sum += sum;
  state.min = Math.min(state.min, min);
  state.max = Math.max(state.max, max);
  if (measure.histogramJsonPointer === undefined) return;
  const histogram = resolvePointer(record, measure.histogramJsonPointer);
  if (
    typeof histogram !== "object" || histogram === null ||
    Array.isArray(histogram)
  ) return;
  for (const [bound, n] of Object.entries(histogram)) {
    const b = Number(bound);
    if (
      !Number.isFinite(b) || typeof n !== "number" ||
      !Number.isSafeInteger(n) || n < 0
    ) continue;
    const bucket = log2Bucket(b);
    state.histogram.set(bucket, (state.histogram.get(bucket) ?? 0) + n);
  }
}

/** The percentiles a summary reports, ascending. */
const PERCENTILES = [0.5, 0.95, 0.99] as const;

/**
 * The lower bound of the log2 bucket in which each rank of `PERCENTILES`
 * is reached, over `bounds` ascending with their `counts`: one pass.
 */
function percentiles(
  bounds: readonly number[],
  counts: readonly number[],
  total: number,
): (number | null)[] {
  if (total === 0) return [null, null, null];
  const out: (number | null)[] = [];
  let seen = 0;
  let i = 0;
  for (const p of PERCENTILES) {
    const rank = Math.max(1, Math.ceil(p * total));
    while (i < bounds.length && seen + counts[i] < rank) seen += counts[i++];
    out.push(bounds[Math.min(i, bounds.length - 1)]);
  }
  return out;
}

function result(measure: Measure, state: State): MeasureValue {
  if (measure.kind === "count") return { count: state.count };
  const empty = state.count === 0;
  const bounds: number[] = [];
  state.histogram.forEach((_, bound) => bounds.push(bound));
  bounds.sort((a, b) => a - b);
  const counts: number[] = new Array(bounds.length);
  let total = 0;
  for (let i = 0; i < bounds.length; i++) {
    total += counts[i] = state.histogram.get(bounds[i])!;
  }
  // Bounds are integer-like keys, kept as an object's elements: added
  // largest first, the object starts sparse (dictionary elements) instead
  // of growing a backing store to the largest bound (1,024 slots for a
  // bound of 1,024) as ascending inserts do. Keys enumerate ascending
  // either way.
  const histogram: Record<string, number> = {};
  for (let i = bounds.length - 1; i >= 0; i--) {
    histogram[String(bounds[i])] = counts[i];
  }
  const [p50, p95, p99] = percentiles(bounds, counts, total);
  return {
    count: state.count,
    sum: state.sum,
    min: empty ? null : state.min,
    max: empty ? null : state.max,
    avg: empty ? null : state.sum / state.count,
    p50,
    p95,
    p99,
    histogram,
  };
}

/** The compiled `include` of each count measure of `rollup` that has one. */
export function compileIncludes(
  config: SearchConfig,
  rollup: Rollup,
): Map<string, Plan> {
  const includes = new Map<string, Plan>();
  for (const [name, measure] of Object.entries(rollup.measures)) {
    if (measure.kind !== "count" || measure.include === undefined) continue;
    const parsed = parseQuery(measure.include);
    const compiled = parsed.ok
      ? compileQuery(config, parsed.value, "filter")
      : parsed;
    // validateSearchConfig() already compiled every include.
    if (!compiled.ok) throw compiled.error;
    includes.set(name, compiled.value);
  }
  return includes;
}

/** The group key of a record, or undefined when a dimension has several values. */
function groupKey(
  doc: ExtractedDoc,
  groupBy: readonly string[],
): (Scalar | null)[] | undefined {
  const key: (Scalar | null)[] = [];
  for (const dim of groupBy) {
    const values = doc.values.get(dim);
    if (values !== undefined && values.length > 1) return undefined;
    key.push(values === undefined ? null : values[0]);
  }
  return key;
}

function compareKeys(
  a: readonly (Scalar | null)[],
  b: readonly (Scalar | null)[],
): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    if (a[i] === null) return 1;
    if (b[i] === null) return -1;
    const c = compareScalars(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * Folds `inputs` into non-empty buckets, ascending, groups sorted by key
 * (missing dimension values last). A record counts when its rollup
 * timestamp has exactly one value in [from, to), it matches `q`, and each
 * grouped dimension has at most one value. Fails with `too many buckets`
 * past the output-group cap.
 */
export function aggregate(
  config: SearchConfig,
  request: AggregateRequest,
  inputs: Iterable<AggregateInput>,
): Result<AggregateBucket[]> {
  const folder = Aggregator.open(config, request);
  if (!folder.ok) return folder;
  for (const input of inputs) {
    const added = folder.value.add(input);
    if (!added.ok) return added;
  }
  return ok(folder.value.buckets());
}

/**
 * The equalities on rollup dimensions `q` is a conjunction of (empty
 * without `q`), or undefined when `q` is anything else: then rollup
 * sections cannot answer the request (specs/search.md §4).
 */
export function rollupEqualities(
  config: SearchConfig,
  request: AggregateRequest,
): { field: string; value: Scalar }[] | undefined {
  const dimensions = config.rollups?.[request.rollup]?.dimensions ?? [];
  const out: { field: string; value: Scalar }[] = [];
  const walk = (plan: Plan): boolean => {
    if (plan.type === "and") return plan.children.every(walk);
    if (
      plan.type !== "compare" || plan.op !== "=" ||
      !dimensions.includes(plan.field)
    ) return false;
    out.push({ field: plan.field, value: plan.value });
    return true;
  };
  if (request.filter !== undefined && !walk(request.filter)) return undefined;
  return out;
}

/** One value of a group key as a string no other value gives (typed, length-prefixed). */
function keyPart(v: Scalar | null): string {
  if (v === null) return "n;";
  const text = String(v);
  return `${(typeof v)[0]}${text.length}:${text}`;
}

type GroupState = { key: (Scalar | null)[]; states: State[] };

/**
 * The fold of `aggregate()` one record at a time, for callers that read
 * records in slices (a scan never holds them all).
 */
export class Aggregator {
  readonly #config: SearchConfig;
  readonly #request: AggregateRequest;
  readonly #rollup: Rollup;
  readonly #includes: Map<string, Plan>;
  /** `q`'s equalities by dimension index, when rollups may answer. */
  readonly #rollupWanted: { index: number; value: Scalar }[] | undefined;
  /** The dimension index of each `group_by` dimension. */
  readonly #rollupGroupBy: number[];
  /** The measures of the request, in its order. */
  readonly #measures: Measure[];
  readonly #buckets = new Map<number, Map<string, GroupState>>();
  #groups = 0;

  private constructor(
    config: SearchConfig,
    request: AggregateRequest,
    rollup: Rollup,
  ) {
    this.#config = config;
    this.#request = request;
    this.#rollup = rollup;
    this.#includes = compileIncludes(config, rollup);
    const dimensions = rollup.dimensions ?? [];
    this.#rollupWanted = rollupEqualities(config, request)?.map((e) => ({
      index: dimensions.indexOf(e.field),
      value: e.value,
    }));
    this.#rollupGroupBy = request.groupBy.map((d) => dimensions.indexOf(d));
    this.#measures = request.measures.map((name) => rollup.measures[name]);
  }

  /** A fold for `request`; `bad_request` when its rollup is unknown. */
  static open(
    config: SearchConfig,
    request: AggregateRequest,
  ): Result<Aggregator> {
    const rollup = config.rollups?.[request.rollup];
    if (
      rollup === undefined ||
      fieldOf(config.fields, rollup.timestampField ?? "") === undefined
    ) {
      return fail("bad_request", `Invalid aggregate: unknown rollup`);
    }
    return ok(new Aggregator(config, request, rollup));
  }

  /** Folds one record in; fails past the output-group cap. */
  add(input: AggregateInput): Result<void> {
    const request = this.#request;
    const times = input.doc.values.get(this.#rollup.timestampField!);
    if (times === undefined || times.length !== 1) return ok(undefined);
    const ts = times[0] as number;
    if (ts < request.fromMs || ts >= request.toMs) return ok(undefined);
    if (
      request.filter !== undefined &&
      !matches(this.#config, request.filter, input.doc)
    ) return ok(undefined);
    const key = groupKey(input.doc, request.groupBy);
    if (key === undefined) return ok(undefined);
    const start = Math.floor(ts / request.intervalMs) * request.intervalMs;
    const group = this.#group(start, key);
    if (!group.ok) return group;
    request.measures.forEach((name, i) => {
      foldMeasure(
        this.#config,
        this.#rollup.measures[name],
        this.#includes.get(name),
        group.value.states[i],
        input,
      );
    });
    return ok(undefined);
  }

  /**
   * Folds one group of a rollup section in: records whose timestamps fall
   * in the bucket starting at `startMs` (one of this request's buckets,
   * wholly inside its window), `dims` the values of each of the rollup's
   * dimensions (in its order; empty when missing) and `states` measure
   * states. The group is passed over when `q` rules it
   * out or a grouped dimension has several values, as `add` does for one
   * record. `picks[i]` is the index in `states` of the state of the
   * request's `i`th measure. Call only when `rollupEqualities` allows the
   * request.
   */
  addRollupGroup(
    startMs: number,
    dims: readonly (readonly Scalar[])[],
    states: readonly State[],
    picks: readonly number[],
  ): Result<void> {
    const wanted = this.#rollupWanted;
    assert(wanted !== undefined, "q is not a rollup filter");
    for (const { index, value } of wanted) {
      const values = dims[index] ?? [];
      if (!values.some((v) => compareScalars(v, value) === 0)) {
        return ok(undefined);
      }
    }
    const key: (Scalar | null)[] = [];
    for (const index of this.#rollupGroupBy) {
      const values = dims[index] ?? [];
      if (values.length > 1) return ok(undefined);
      key.push(values.length === 0 ? null : values[0]);
    }
    const group = this.#group(startMs, key);
    if (!group.ok) return group;
    const into = group.value.states;
    const measures = this.#measures;
    for (let i = 0; i < picks.length; i++) {
      const state = states[picks[i]];
      if (state === undefined) continue;
      // A count reports its count alone (and its state keeps no histogram).
      if (measures[i].kind === "count") into[i].count += state.count;
      else mergeState(into[i], state);
    }
    return ok(undefined);
  }

  #group(startMs: number, key: (Scalar | null)[]): Result<GroupState> {
    let bucket = this.#buckets.get(startMs);
    if (bucket === undefined) this.#buckets.set(startMs, bucket = new Map());
    let id = "";
    for (const v of key) id += keyPart(v);
    let group = bucket.get(id);
    if (group === undefined) {
      if (++this.#groups > AGGREGATE_GROUPS_MAX) {
        return fail(
          "bad_request",
          `Invalid aggregate: too many buckets (more than ${AGGREGATE_GROUPS_MAX} groups)`,
        );
      }
      group = { key, states: this.#measures.map(groupState) };
      bucket.set(id, group);
    }
    return ok(group);
  }

  /** The non-empty buckets so far, ascending, groups sorted by key. */
  buckets(): AggregateBucket[] {
    const request = this.#request;
    const measures = request.measures.map((name) =>
      this.#rollup.measures[name]
    );
    return [...this.#buckets.entries()].sort((a, b) => a[0] - b[0]).map((
      [startMs, bucket],
    ) => ({
      startMs,
      endMs: startMs + request.intervalMs,
      groups: [...bucket.values()].sort((a, b) => compareKeys(a.key, b.key))
        .map((g) => {
          const key: Record<string, Scalar | null> = {};
          request.groupBy.forEach((dim, i) => key[dim] = g.key[i]);
          const values: Record<string, MeasureValue> = {};
          request.measures.forEach((name, i) =>
            values[name] = result(measures[i], g.states[i])
          );
          return { key, measures: values };
        }),
    }));
  }
}
