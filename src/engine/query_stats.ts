/**
 * @module
 * The corpus statistics BM25 needs for one query (`CorpusStats`), gathered
 * by a pass over every record: the record count, each text field's token
 * count, and document frequencies of the query's own tokens only (the only
 * ones scoring looks up). Text values are counted, not analyzed, and a
 * value is analyzed only when it may hold a query token.
 */

import type { Companion } from "../search/companion.ts";
import type { Plan } from "../search/compile.ts";
import type { SearchConfig } from "../search/config.ts";
import { compareScalars, type CorpusStats } from "../search/evaluate.ts";
import {
  analyzeText,
  countTokens,
  type ExtractedDoc,
  type Scalar,
} from "../search/extract.ts";

/** The analyzed tokens of every text clause of `plan`. */
export function queryTokens(
  plan: Plan,
  into: Set<string> = new Set(),
): Set<string> {
  switch (plan.type) {
    case "and":
    case "or":
      for (const child of plan.children) queryTokens(child, into);
      break;
    case "not":
      queryTokens(plan.child, into);
      break;
    case "text":
      for (const token of plan.tokens) into.add(token);
      break;
  }
  return into;
}

/** The names of `config`'s text fields. */
export function textFieldsOf(config: SearchConfig): string[] {
  return Object.entries(config.fields).filter(([, f]) => f.kind === "text")
    .map(([name]) => name);
}

/**
 * Adds one record, extracted without analysis, to `stats`: the same figures
 * `addToStats` gives for the tokens in `wanted`.
 */
export function addRawQueryStats(
  stats: CorpusStats,
  doc: ExtractedDoc,
  textFields: readonly string[],
  wanted: ReadonlySet<string>,
): void {
  stats.docCount++;
  for (const field of textFields) {
    const values = doc.values.get(field) as string[] | undefined;
    if (values === undefined) continue;
    let entry = stats.fields.get(field);
    if (entry === undefined) {
      entry = { tokenCount: 0, docFreq: new Map() };
      stats.fields.set(field, entry);
    }
    let seen: Set<string> | undefined;
    for (const value of values) {
      entry.tokenCount += countTokens(value);
      let lower: string | undefined;
      let tokens: Set<string> | undefined;
      for (const token of wanted) {
        if (seen?.has(token)) continue;
        lower ??= value.toLowerCase();
        // Lower-cased text holds every token it analyzes to (a cheap test
        // first; non-ASCII case mappings are settled by the analysis).
        if (!lower.includes(token) && /^[a-z0-9]*$/.test(token)) continue;
        tokens ??= new Set(analyzeText(value));
        if (tokens.has(token)) (seen ??= new Set()).add(token);
      }
    }
    for (const token of seen ?? []) {
      entry.docFreq.set(token, (entry.docFreq.get(token) ?? 0) + 1);
    }
  }
}

/**
 * Adds the records of one segment to `stats` from its companion's `fts`
 * section: the figures `addRawQueryStats` gives over the same records
 * (record count, each text field's token count, and the number of records
 * holding each token of `wanted`), without reading them.
 */
export function addCompanionQueryStats(
  stats: CorpusStats,
  companion: Companion,
  textFields: readonly string[],
  wanted: ReadonlySet<string>,
): void {
  stats.docCount += recordsOf(companion);
  for (const name of textFields) {
    const fts = companion.fts.get(name);
    // No record of the segment has the field: it adds nothing.
    if (fts === undefined || !hasAny(fts.present)) continue;
    let entry = stats.fields.get(name);
    if (entry === undefined) {
      entry = { tokenCount: 0, docFreq: new Map() };
      stats.fields.set(name, entry);
    }
    entry.tokenCount += fts.tokens;
    for (const token of wanted) {
      const at = termIndex(fts.terms, token);
      if (at < 0) continue;
      entry.docFreq.set(token, (entry.docFreq.get(token) ?? 0) + fts.docs[at]);
    }
  }
}

/** Records per decoded companion (they never change once decoded). */
const records = new WeakMap<Companion, number>();

/** The records of `companion`'s segment, summed over its blocks once. */
function recordsOf(companion: Companion): number {
  let n = records.get(companion);
  if (n === undefined) {
    n = 0;
    for (const block of companion.blocks) n += block.records;
    records.set(companion, n);
  }
  return n;
}

/** Whether any bit of `bits` is set. */
function hasAny(bits: Uint8Array): boolean {
  for (let i = 0; i < bits.length; i++) if (bits[i] !== 0) return true;
  return false;
}

/** Index of `term` in ascending `terms`, or -1. */
function termIndex(terms: readonly Scalar[], term: string): number {
  let lo = 0;
  let hi = terms.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const order = compareScalars(terms[mid], term);
    if (order === 0) return mid;
    if (order < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}
