/**
 * @module
 * `_search` and `_aggregate` over a stream's records (specs/search.md §3-4).
 * Answers come from scanning source records (sealed and uploaded segments
 * through the tiered reader, then the WAL) within the request's time
 * budget, passing over the ranges an uploaded segment's companion rules
 * out (a `SearchPruner`, installed by tiering): extraction from
 * the stored record with its stored version's binding, the compiled query
 * checked on every record, the best `size` hits kept in a top-k heap, and
 * each hit's source promoted to the current schema version.
 */

import { fail, ok, type Result } from "../errors.ts";
import { promote } from "../schema/promote.ts";
import type { ActiveRegistry } from "../schema/registry.ts";
import {
  type AggregateBucket,
  type AggregateRequest,
  Aggregator,
  parseAggregateRequest,
  rollupEqualities,
} from "../search/aggregate.ts";
import {
  compileQuery,
  hasTextClause,
  type Plan,
  planFields,
} from "../search/compile.ts";
import { type SearchConfig, withFields } from "../search/config.ts";
import { parseQuery } from "../search/query.ts";
import {
  type CorpusStats,
  emptyStats,
  matches,
  score,
} from "../search/evaluate.ts";
import type { ExtractedDoc, Scalar } from "../search/extract.ts";
import {
  parseSearchRequest,
  type SearchRequest,
} from "../search/search_request.ts";
import {
  type Hit,
  isAfter,
  type SortValue,
  sortValues,
  TopK,
} from "../search/sort.ts";
import { encodeOffset } from "../protocol/offset.ts";
import { docAt } from "./filtered_reader.ts";
import type { KeyedChunkReader } from "./keyed_reader.ts";
import type { ReadSource } from "./reader.ts";
import {
  type IndexedSegment,
  type Pruning,
  type ScanLimits,
  type ScanOutcome,
  scanRecords,
  type SearchPruner,
  type SkipRanges,
} from "./record_scan.ts";
import { searchConfigOf } from "./schemas.ts";
import { mayContain, requiredTokens } from "./text_prefilter.ts";
import {
  addCompanionQueryStats,
  addRawQueryStats,
  queryTokens,
  textFieldsOf,
} from "./query_stats.ts";
import type { StreamState } from "./stream_state.ts";

/** Where the tiers of a stream split, for coverage figures. */
export interface SearchPositions {
  /** Records at or after this position are counted as tail docs (unsealed). */
  splitPos: number;
  /** Published (uploaded) through here: the end of a `published` search. */
  publishedPos: number;
}

/**
 * Scan settings shared by `_search` and `_aggregate`: the time budget
 * (`timeout_ms`, at most 3 s) bounds the scan, so there is no byte cap.
 */
export interface SearchScanLimits {
  /** Stored bytes asked of the reader per call. */
  sliceBytes: number;
}

/** One hit of a `_search` answer. */
export interface SearchHit {
  /** Fixed-width offset. */
  offset: string;
  /** Its score. */
  score: number;
  /** Its sort values. */
  sort: SortValue[];
  /** The extracted search fields. */
  doc: ExtractedDoc;
  /** The record promoted to the current schema version. */
  source: unknown;
}

/** What the scan behind an answer covered. */
export interface ScanCoverage {
  /** The committed tail when the request started (the snapshot). */
  snapshotEndPos: number;
  /** Position the scan reached. */
  scannedThroughPos: number;
  /** Records examined at or after `splitPos`. */
  scannedTailDocs: number;
  /** True when the budget ran out before the scan reached its end. */
  timedOut: boolean;
  /** Records after the scanned range (the `published` mode's omission). */
  omittedRecords: number;
  /** Uploaded segments whose companion answered for them. */
  indexedSegments: number;
}

/** A `_search` answer before rendering. */
export interface SearchOutcome extends ScanCoverage {
  /** The checked request. */
  request: SearchRequest;
  /** Hits, best first. */
  hits: SearchHit[];
  /** Paging key when the page is full, else null. */
  nextSearchAfter: SortValue[] | null;
}

/** An `_aggregate` answer before rendering. */
export interface AggregateOutcome extends ScanCoverage {
  /** The rollup's name. */
  rollup: string;
  /** Request window, epoch ms. */
  fromMs: number;
  /** Request window end, epoch ms. */
  toMs: number;
  /** Interval as configured. */
  interval: string;
  /** Non-empty buckets, ascending. */
  buckets: AggregateBucket[];
  /** True when rollup rows answered some windows (`coverage.used_rollups`). */
  usedRollups: boolean;
}

/** The search config of `state`, or the 400 for a stream without one. */
export function searchableConfig(state: StreamState): Result<SearchConfig> {
  const config = state.json ? searchConfigOf(state.visibleSchema) : undefined;
  if (config === undefined) {
    return fail(
      "bad_request",
      `Stream "${state.name}" has no search configuration; install one with POST .../_schema`,
    );
  }
  return ok(config);
}

/** Visits one record's value and fields; `false` ends the scan. */
type Visit = (
  value: unknown,
  doc: ExtractedDoc,
  position: number,
) => boolean | void;

/**
 * Scans every message of `source` in `[0, endPos)`, extracting the fields
 * of `config` (narrowed by the caller to what the request reads).
 */
function scanDocs(
  read: KeyedChunkReader,
  source: ReadSource,
  config: SearchConfig,
  active: ActiveRegistry | null,
  range: { endPos: number; splitPos: number },
  limits: ScanLimits,
  visit: Visit,
  needs: readonly string[] = [],
  analyze = true,
  skip?: SkipRanges,
): Promise<ScanOutcome> {
  return scanRecords(
    read,
    source,
    { fromPos: 0, tailPos: range.endPos, splitPos: range.splitPos, skip },
    (stored, start, _end, value) =>
      // A message lacking a token every match needs is not extracted.
      !mayContain(stored, needs) ||
      visit(value, docAt(config, active, value, start, analyze), start) !==
        false,
    limits,
  );
}

/** Counts the messages in `[fromPos, endPos)` without parsing them. */
async function countRecords(
  read: KeyedChunkReader,
  source: ReadSource,
  fromPos: number,
  endPos: number,
  limits: SearchScanLimits,
): Promise<number> {
  if (fromPos >= endPos) return 0;
  const scan = await scanRecords(
    read,
    source,
    { fromPos, tailPos: endPos, parse: false },
    () => true,
    { ...limits, deadlineMs: Infinity, scanBytesMax: Infinity },
  );
  return scan.records;
}

interface Ranked extends Hit {
  doc: ExtractedDoc;
  value: unknown;
  position: number;
}

/**
 * Runs a `_search` body against `state`: checks it (400s), scans, ranks.
 * With a text clause the corpus statistics BM25 needs come from a first
 * pass over the same range.
 */
export async function runSearch(
  read: KeyedChunkReader,
  state: StreamState,
  body: Record<string, unknown>,
  positions: SearchPositions,
  limits: SearchScanLimits,
  pruner?: SearchPruner,
): Promise<Result<SearchOutcome>> {
  const startedMs = Date.now();
  const config = searchableConfig(state);
  if (!config.ok) return config;
  const parsed = parseSearchRequest(config.value, body);
  if (!parsed.ok) return parsed;
  const request = parsed.value;
  const active = state.visibleSchema;
  const tailPos = state.visibleTailPos;
  const endPos = request.coverage === "published"
    ? Math.min(positions.publishedPos, tailPos)
    : tailPos;
  const scanLimits = {
    ...limits,
    scanBytesMax: Infinity,
    deadlineMs: startedMs + request.timeoutMs,
  };
  const range = { endPos, splitPos: positions.splitPos };
  const names = planFields(request.plan);
  for (const key of request.keys) names.add(key.key);
  const extract = withFields(config.value, names);
  const stats: CorpusStats = emptyStats();
  let statsScan: ScanOutcome | undefined;
  const pruning = pruner?.(state.id, config.value, request.plan);
  if (hasTextClause(request.plan)) {
    const wanted = queryTokens(request.plan);
    const text = textFieldsOf(extract);
    // Segments with a companion give their figures from its `fts` section;
    // the scan reads every other record.
    const indexed = (pruning?.companions?.() ?? []).filter((s) =>
      s.endPos <= endPos
    );
    for (const s of indexed) {
      addCompanionQueryStats(stats, s.companion, text, wanted);
    }
    statsScan = await scanDocs(
      read,
      state,
      // Statistics read the text fields alone (no dates to parse, say).
      withFields(extract, text),
      active,
      range,
      scanLimits,
      (_value, doc) => addRawQueryStats(stats, doc, text, wanted),
      [],
      false,
      segmentsSkip(state.id, indexed),
    );
  }
  const top = new TopK(request.keys, request.size);
  // Matches read only what no companion rules out.
  const scan = await scanDocs(
    read,
    state,
    extract,
    active,
    range,
    scanLimits,
    (value, doc, position) => {
      if (!matches(config.value, request.plan, doc)) return;
      const s = score(config.value, request.plan, doc, stats);
      const offset = encodeOffset(position);
      const sort = sortValues(request.keys, doc, offset, s);
      if (!isAfter(request.keys, sort, request.after)) return;
      top.push({ offset, score: s, sort, doc, value, position } as Ranked);
    },
    requiredTokens(request.plan),
    true,
    pruning?.skip,
  );
  const timedOut = scan.stop !== "tail" ||
    (statsScan !== undefined && statsScan.stop !== "tail");
  const ranked = top.sorted() as Ranked[];
  const hits: SearchHit[] = [];
  for (const hit of ranked) {
    const source = active === null
      ? ok(hit.value)
      : promote(active, hit.position, hit.value);
    if (!source.ok) {
      return fail(
        "internal",
        `Cannot upgrade the record at offset ${hit.offset}: ${source.error.message}`,
      );
    }
    hits.push({
      offset: hit.offset,
      score: hit.score,
      sort: hit.sort,
      // Every declared field for the answer (the scan extracted a few).
      doc: docAt(config.value, active, hit.value, hit.position),
      source: source.value,
    });
  }
  const full = hits.length === request.size;
  return ok({
    request,
    hits,
    nextSearchAfter: full ? hits[hits.length - 1].sort : null,
    snapshotEndPos: tailPos,
    scannedThroughPos: scan.endPos,
    scannedTailDocs: scan.recordsFromSplit,
    timedOut,
    omittedRecords: await countRecords(read, state, endPos, tailPos, limits),
    indexedSegments: pruning?.indexedSegments() ?? 0,
  });
}

/** Skips the whole of each of `segments` (ascending) of stream `streamId`. */
function segmentsSkip(
  streamId: number,
  segments: readonly IndexedSegment[],
): SkipRanges | undefined {
  if (segments.length === 0) return undefined;
  return (id, pos) => {
    if (id !== streamId) return undefined;
    let lo = 0;
    let hi = segments.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (segments[mid].endPos <= pos) lo = mid + 1;
      else hi = mid;
    }
    const s = segments[lo];
    return s === undefined ? undefined : { from: s.startPos, to: s.endPos };
  };
}

/** The fields an aggregate reads: time, groups, includes, summaries, `q`. */
function aggregateFields(
  config: SearchConfig,
  request: AggregateRequest,
): Set<string> {
  const rollup = config.rollups![request.rollup];
  const names = new Set<string>([rollup.timestampField!, ...request.groupBy]);
  if (request.filter !== undefined) planFields(request.filter, names);
  for (const measure of Object.values(rollup.measures)) {
    if (measure.kind === "summary") names.add(measure.field);
    if (measure.kind === "count" && measure.include !== undefined) {
      const parsed = parseQuery(measure.include);
      const plan = parsed.ok
        ? compileQuery(config, parsed.value, "filter")
        : parsed;
      // A stored include that no longer compiles reads every field.
      if (!plan.ok) return new Set(Object.keys(config.fields));
      planFields(plan.value, names);
    }
  }
  return names;
}

/**
 * Runs an `_aggregate` body against `state`: checks it (400s), then folds.
 * The aligned windows wholly inside the request come from the `agg`
 * sections of the segments that have a companion for the config in force
 * (when `q` allows it: none, or equalities on dimensions); their records
 * are read only for the edge windows. Every other record (lagging
 * segments, the WAL tail, a fork's source) is folded from the source.
 */
export async function runAggregate(
  read: KeyedChunkReader,
  state: StreamState,
  body: Record<string, unknown>,
  positions: SearchPositions,
  limits: SearchScanLimits & { timeoutMs: number },
  pruner?: SearchPruner,
): Promise<Result<AggregateOutcome>> {
  const startedMs = Date.now();
  const config = searchableConfig(state);
  if (!config.ok) return config;
  const parsed = parseAggregateRequest(config.value, body);
  if (!parsed.ok) return parsed;
  const request = parsed.value;
  const folder = Aggregator.open(config.value, request);
  if (!folder.ok) return folder;
  const tailPos = state.visibleTailPos;
  let failure: Result<never> | undefined;
  const rollups = rollupCover(config.value, request, state.id, pruner);
  const pruning = rollups?.pruning ??
    pruner?.(state.id, config.value, windowPlan(config.value, request));
  if (rollups !== undefined) {
    const merged = mergeRollups(folder.value, request, rollups);
    if (!merged.ok) return merged;
  }
  const timestampField = config.value.rollups![request.rollup].timestampField!;
  const scan = await scanDocs(
    read,
    state,
    withFields(config.value, aggregateFields(config.value, request)),
    state.visibleSchema,
    { endPos: tailPos, splitPos: positions.splitPos },
    {
      sliceBytes: limits.sliceBytes,
      scanBytesMax: Infinity,
      deadlineMs: startedMs + limits.timeoutMs,
    },
    (record, doc, position) => {
      // Counted by the rollup rows merged above.
      if (rollups?.covers(position, doc.values.get(timestampField))) return;
      const added = folder.value.add({ doc, record });
      if (added.ok) return true;
      failure = added;
      return false;
    },
    // Only records matching `q` count at all.
    request.filter === undefined ? [] : requiredTokens(request.filter),
    true,
    pruning?.skip,
  );
  if (failure !== undefined) return failure;
  return ok({
    rollup: request.rollup,
    fromMs: request.fromMs,
    toMs: request.toMs,
    interval: request.interval,
    buckets: folder.value.buckets(),
    snapshotEndPos: tailPos,
    scannedThroughPos: scan.endPos,
    scannedTailDocs: scan.recordsFromSplit,
    timedOut: scan.stop !== "tail",
    omittedRecords: 0,
    indexedSegments: rollups?.segments.length ??
      pruning?.indexedSegments() ?? 0,
    usedRollups: rollups !== undefined,
  });
}

/** The segments whose rollup rows answer an aggregate's inner windows. */
interface RollupCover {
  /** Skips, within those segments, every block holding no edge record. */
  pruning: Pruning;
  /** The segments, ascending. */
  segments: readonly IndexedSegment[];
  /** Inner windows: `[fromMs, toMs)`, aligned to the interval. */
  fromMs: number;
  toMs: number;
  /** Whether the record at `position` with these timestamps is in a merged row. */
  covers(position: number, times: readonly Scalar[] | undefined): boolean;
}

/**
 * The rollup cover of `request`, or undefined when rollups cannot answer
 * it: `q` is not a conjunction of dimension equalities, no aligned window
 * lies wholly inside the request, or no segment has a usable `agg` table.
 */
function rollupCover(
  config: SearchConfig,
  request: AggregateRequest,
  streamId: number,
  pruner: SearchPruner | undefined,
): RollupCover | undefined {
  if (pruner === undefined) return undefined;
  if (rollupEqualities(config, request) === undefined) return undefined;
  const width = request.intervalMs;
  const fromMs = Math.ceil(request.fromMs / width) * width;
  const toMs = Math.floor(request.toMs / width) * width;
  if (fromMs >= toMs) return undefined;
  const pruning = pruner(
    streamId,
    config,
    edgePlan(config, request, fromMs, toMs),
  );
  const segments = pruning?.companions?.() ?? [];
  if (pruning === undefined || segments.length === 0) return undefined;
  // Every segment the pruning may skip in must have the table.
  for (const s of segments) {
    if (!s.companion.agg.get(request.rollup)?.has(request.interval)) {
      return undefined;
    }
  }
  return {
    pruning,
    segments,
    fromMs,
    toMs,
    covers(position, times) {
      if (times === undefined || times.length !== 1) return false;
      const ts = times[0] as number;
      if (ts < fromMs || ts >= toMs) return false;
      return segmentAt(segments, position) !== undefined;
    },
  };
}

/** The segment of `segments` (ascending) holding `position`, if any. */
function segmentAt(
  segments: readonly IndexedSegment[],
  position: number,
): IndexedSegment | undefined {
  let lo = 0;
  let hi = segments.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (segments[mid].endPos <= position) lo = mid + 1;
    else hi = mid;
  }
  const s = segments[lo];
  return s !== undefined && s.startPos <= position ? s : undefined;
}

/** Merges the rows of the cover's inner windows into `folder`. */
function mergeRollups(
  folder: Aggregator,
  request: AggregateRequest,
  cover: RollupCover,
): Result<void> {
  for (const segment of cover.segments) {
    const table = segment.companion.agg.get(request.rollup)!.get(
      request.interval,
    )!;
    const picks = request.measures.map((name) => table.measures.indexOf(name));
    for (const window of table.windows) {
      if (window.startMs < cover.fromMs || window.startMs >= cover.toMs) {
        continue;
      }
      for (const row of window.rows) {
        const added = folder.addRollupGroup(
          window.startMs,
          row.dims,
          row.states,
          picks,
        );
        if (!added.ok) return added;
      }
    }
  }
  return ok(undefined);
}

/**
 * What a record of a covered segment must satisfy to be read: its time in
 * an edge of the window (outside the inner windows), and `q`.
 */
function edgePlan(
  config: SearchConfig,
  request: AggregateRequest,
  innerFromMs: number,
  innerToMs: number,
): Plan {
  const field = config.rollups![request.rollup].timestampField!;
  const range = (from: number, to: number): Plan => ({
    type: "and",
    children: [
      { type: "compare", field, kind: "date", op: ">=", value: from },
      { type: "compare", field, kind: "date", op: "<", value: to },
    ],
  });
  const children: Plan[] = [{
    type: "or",
    children: [
      range(request.fromMs, innerFromMs),
      range(innerToMs, request.toMs),
    ],
  }];
  if (request.filter !== undefined) children.push(request.filter);
  return { type: "and", children };
}

/**
 * What a record must satisfy to count in an aggregate: its time in the
 * window, and `q` when given (the fold ignores every other record).
 */
function windowPlan(config: SearchConfig, request: AggregateRequest): Plan {
  const field = config.rollups![request.rollup].timestampField!;
  const children: Plan[] = [
    { type: "compare", field, kind: "date", op: ">=", value: request.fromMs },
    { type: "compare", field, kind: "date", op: "<", value: request.toMs },
  ];
  if (request.filter !== undefined) children.push(request.filter);
  return { type: "and", children };
}
