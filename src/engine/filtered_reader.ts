/**
 * @module
 * `filter=` reads (specs/search.md §2): walk a JSON stream's records from a
 * position, extract each record's search fields from the stored record with
 * the binding of its stored schema version, keep those the compiled filter
 * matches (and, with `key=`, whose routing key is the one asked for), and
 * stop when the answer is full, the scan budget or time budget is spent, or
 * the tail is reached. Kept records are promoted to the current version.
 */

import { fail, ok, type Result } from "../errors.ts";
import { concatBytes } from "../bytes.ts";
import { promote, versionAt } from "../schema/promote.ts";
import type { ActiveRegistry } from "../schema/registry.ts";
import { compileQuery, type Plan, planFields } from "../search/compile.ts";
import { type SearchConfig, withFields } from "../search/config.ts";
import { matches } from "../search/evaluate.ts";
import { type ExtractedDoc, extractFields } from "../search/extract.ts";
import { parseQuery } from "../search/query.ts";
import type { KeyedChunkReader } from "./keyed_reader.ts";
import { scanRecords, type SearchPruner } from "./record_scan.ts";
import { viewOf } from "./registry.ts";
import { searchConfigOf } from "./schemas.ts";
import type { StreamState } from "./stream_state.ts";
import type { KeyedReadOutcome } from "./types.ts";

/** A filter compiled against a stream's search config. */
export interface CompiledFilter {
  /** The filter text as sent (for ETags). */
  text: string;
  /** The stream's search config. */
  config: SearchConfig;
  /** The compiled filter. */
  plan: Plan;
  /** The config narrowed to the fields the filter reads (what is extracted). */
  extract: SearchConfig;
}

/** Limits of one filtered read. */
export interface FilterLimits {
  /** Soft cap on returned bytes (at least one matching record). */
  bytesMax: number;
  /** Stored bytes examined at most. */
  scanBytesMax: number;
  /** Stored bytes asked of the reader per call. */
  sliceBytes: number;
  /** Time budget of the scan, in ms. */
  timeBudgetMs: number;
}

/** A filtered read's outcome: a keyed read's, plus why the scan stopped early. */
export interface FilteredReadOutcome extends KeyedReadOutcome {
  /** True when the time budget ran out before the tail. */
  timeLimitReached: boolean;
}

/**
 * Checks `text` as a `filter=` expression for `state`: JSON streams with a
 * `search` section only; every refusal is `bad_request`.
 */
export function compileFilter(
  state: StreamState,
  text: string,
): Result<CompiledFilter> {
  if (!state.json) {
    return fail(
      "bad_request",
      `Stream "${state.name}" is not an application/json stream; filter= applies to JSON streams only`,
    );
  }
  const config = searchConfigOf(state.visibleSchema);
  if (config === undefined) {
    return fail(
      "bad_request",
      `Stream "${state.name}" has no search configuration; install one with POST .../_schema before using filter=`,
    );
  }
  const parsed = parseQuery(text);
  if (!parsed.ok) return parsed;
  const plan = compileQuery(config, parsed.value, "filter");
  if (!plan.ok) return plan;
  return ok({
    text,
    config,
    plan: plan.value,
    extract: withFields(config, planFields(plan.value)),
  });
}

const encoder = new TextEncoder();

/** The search fields of the message stored at `position`. */
export function docAt(
  config: SearchConfig,
  active: ActiveRegistry | null,
  value: unknown,
  position: number,
  analyze = true,
): ExtractedDoc {
  const version = active === null ? 0 : versionAt(active, position);
  return extractFields(config, value, version, analyze);
}

/**
 * A filtered read of `state` from `position` (`"start"`, `"now"` or a byte
 * position, capped at the committed tail), optionally only `key`'s records.
 */
export async function readFilteredFrom(
  read: KeyedChunkReader,
  state: StreamState,
  position: number | "start" | "now",
  filter: CompiledFilter,
  key: Uint8Array | undefined,
  limits: FilterLimits,
  pruner?: SearchPruner,
): Promise<Result<FilteredReadOutcome>> {
  const tailPos = state.visibleTailPos;
  const active = state.visibleSchema;
  const fromPos = position === "start"
    ? 0
    : position === "now"
    ? tailPos
    : Math.min(position, tailPos);
  const pieces: Uint8Array[] = [];
  let bytes = 0;
  let failure: Result<never> | undefined;
  const skip = pruner?.(state.id, filter.config, filter.plan)?.skip;
  const scan = await scanRecords(
    read,
    state,
    { fromPos, tailPos, key, skip },
    (stored, start, _end, value) => {
      const doc = docAt(filter.extract, active, value, start);
      if (!matches(filter.config, filter.plan, doc)) return true;
      let piece = stored;
      if (active !== null && active.lenses.size > 0) {
        const promoted = promote(active, start, value);
        if (!promoted.ok) {
          failure = fail(
            "internal",
            `Cannot upgrade the record at position ${start}: ${promoted.error.message}`,
            { position: start },
          );
          return false;
        }
        piece = encoder.encode(JSON.stringify(promoted.value) + ",");
      }
      if (bytes > 0 && bytes + piece.length > limits.bytesMax) return false;
      pieces.push(piece);
      bytes += piece.length;
      return true;
    },
    {
      scanBytesMax: limits.scanBytesMax,
      sliceBytes: limits.sliceBytes,
      deadlineMs: Date.now() + limits.timeBudgetMs,
    },
  );
  if (failure !== undefined) return failure;
  const upToDate = scan.endPos >= tailPos;
  return ok({
    stream: viewOf(state),
    startPos: fromPos,
    nextPos: scan.endPos,
    data: concatBytes(pieces),
    upToDate,
    // Closed only if nothing was committed while this read ran.
    closed: upToDate && state.visibleClosed &&
      tailPos === state.visibleTailPos,
    scannedBytes: scan.scannedBytes,
    scanLimitReached: scan.stop === "scan_bytes" || scan.stop === "time",
    timeLimitReached: scan.stop === "time",
  });
}
