/**
 * @module
 * Evaluates a compiled query on one record's extracted fields (the `filter=`
 * scan and the final check of every index candidate), and ranks matches with
 * BM25 over the text targets, each scaled by its boost; the best target of a
 * term wins and AND/OR add their children's scores.
 */

import { assert } from "../assert.ts";
import { fieldOf, type SearchConfig } from "./config.ts";
import { type ExtractedDoc, normalizeKeyword, type Scalar } from "./extract.ts";
import type { Plan, TextTarget } from "./compile.ts";

/** BM25 term-frequency saturation. */
export const BM25_K1 = 1.2;
/** BM25 document-length normalization. */
export const BM25_B = 0.75;

/** Corpus statistics BM25 needs, per text field. */
export interface CorpusStats {
  /** Records counted. */
  docCount: number;
  /** Per text field: total tokens and documents per token. */
  fields: Map<string, { tokenCount: number; docFreq: Map<string, number> }>;
}

/** Empty statistics. */
export function emptyStats(): CorpusStats {
  return { docCount: 0, fields: new Map() };
}

/** Adds one record's text fields to `stats`. */
export function addToStats(stats: CorpusStats, doc: ExtractedDoc): void {
  stats.docCount++;
  for (const [field, values] of doc.tokens) {
    let entry = stats.fields.get(field);
    if (entry === undefined) {
      entry = { tokenCount: 0, docFreq: new Map() };
      stats.fields.set(field, entry);
    }
    const seen = new Set<string>();
    for (const tokens of values) {
      entry.tokenCount += tokens.length;
      for (const token of tokens) seen.add(token);
    }
    for (const token of seen) {
      entry.docFreq.set(token, (entry.docFreq.get(token) ?? 0) + 1);
    }
  }
}

/** Orders two canonical values (values of one kind compare naturally; `false < true`). */
export function compareScalars(a: Scalar, b: Scalar): number {
  if (typeof a !== typeof b) return typeof a < typeof b ? -1 : 1;
  if (typeof a === "boolean") return Number(a) - Number(b as boolean);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether a comparison `op` holds for `order` (the sign of a compare). */
export function compareHolds(op: string, order: number): boolean {
  switch (op) {
    case "=":
      return order === 0;
    case ">":
      return order > 0;
    case ">=":
      return order >= 0;
    case "<":
      return order < 0;
    default:
      return order <= 0;
  }
}

/** Whether `doc` satisfies `plan`. */
export function matches(
  config: SearchConfig,
  plan: Plan,
  doc: ExtractedDoc,
): boolean {
  switch (plan.type) {
    case "and":
      return plan.children.every((c) => matches(config, c, doc));
    case "or":
      return plan.children.some((c) => matches(config, c, doc));
    case "not":
      return !matches(config, plan.child, doc);
    case "has":
      return doc.values.has(plan.field);
    case "compare":
      return (doc.values.get(plan.field) ?? []).some((v) =>
        compareHolds(plan.op, compareScalars(v, plan.value))
      );
    case "keyword_prefix":
      return (doc.values.get(plan.field) ?? []).some((v) =>
        (v as string).startsWith(plan.prefix)
      );
    case "text":
      return plan.targets.some((t) => targetHits(config, plan, t, doc) > 0);
  }
}

type TextPlan = Extract<Plan, { type: "text" }>;

function tokenMatches(plan: TextPlan, index: number, token: string): boolean {
  const wanted = plan.tokens[index];
  const last = index === plan.tokens.length - 1;
  return plan.prefix && last ? token.startsWith(wanted) : token === wanted;
}

/**
 * How often `plan` occurs in one target of `doc`: phrase occurrences, or the
 * occurrences of its tokens when every token is present; 0 when it does not match.
 */
function targetHits(
  config: SearchConfig,
  plan: TextPlan,
  target: TextTarget,
  doc: ExtractedDoc,
): number {
  if (target.kind === "keyword") {
    const declared = fieldOf(config.fields, target.field);
    assert(declared !== undefined, "text targets name declared fields");
    const wanted = normalizeKeyword(declared, plan.raw);
    const values = doc.values.get(target.field) ?? [];
    return values.filter((v) =>
      plan.prefix ? (v as string).startsWith(wanted) : v === wanted
    )
      .length;
  }
  const values = doc.tokens.get(target.field) ?? [];
  return plan.phrase ? phraseHits(plan, values) : termHits(plan, values);
}

function phraseHits(plan: TextPlan, values: string[][]): number {
  let hits = 0;
  const n = plan.tokens.length;
  for (const tokens of values) {
    for (let i = 0; i + n <= tokens.length; i++) {
      let all = true;
      for (let j = 0; j < n && all; j++) {
        all = tokenMatches(plan, j, tokens[i + j]);
      }
      if (all) hits++;
    }
  }
  return hits;
}

function termHits(plan: TextPlan, values: string[][]): number {
  let total = 0;
  for (let j = 0; j < plan.tokens.length; j++) {
    let count = 0;
    for (const tokens of values) {
      for (const token of tokens) if (tokenMatches(plan, j, token)) count++;
    }
    if (count === 0) return 0;
    total += count;
  }
  return total;
}

/** The BM25 weight of a term seen `tf` times in a field of `length` tokens. */
export function bm25(
  tf: number,
  length: number,
  averageLength: number,
  docCount: number,
  docFreq: number,
): number {
  const idf = Math.log(1 + (docCount - docFreq + 0.5) / (docFreq + 0.5));
  const norm = averageLength > 0 ? length / averageLength : 1;
  return idf * (tf * (BM25_K1 + 1)) /
    (tf + BM25_K1 * (1 - BM25_B + BM25_B * norm));
}

function textScore(
  config: SearchConfig,
  plan: TextPlan,
  target: TextTarget,
  doc: ExtractedDoc,
  stats: CorpusStats,
): number {
  const hits = targetHits(config, plan, target, doc);
  if (hits === 0) return 0;
  // A keyword default field scores its boost (exact value, no frequencies).
  if (target.kind === "keyword") return target.boost;
  const values = doc.tokens.get(target.field) ?? [];
  const length = values.reduce((sum, tokens) => sum + tokens.length, 0);
  const field = stats.fields.get(target.field);
  const docCount = Math.max(stats.docCount, 1);
  const average = field === undefined ? length : field.tokenCount / docCount;
  let score = 0;
  plan.tokens.forEach((token, j) => {
    const prefixToken = plan.prefix && j === plan.tokens.length - 1;
    // A prefix stands for many terms: score it as a term present in every record.
    const df = prefixToken
      ? docCount
      : Math.min(field?.docFreq.get(token) ?? 1, docCount);
    const tf = plan.phrase ? hits : values.reduce(
      (sum, tokens) =>
        sum + tokens.filter((t) => tokenMatches(plan, j, t)).length,
      0,
    );
    score += bm25(tf, length, average, docCount, df);
  });
  return score * target.boost;
}

/**
 * The score of `doc` for `plan` (call only when it matches): text clauses
 * score BM25 × boost, best target wins; AND/OR add matching children; NOT,
 * `has:` and field comparisons score 0.
 */
export function score(
  config: SearchConfig,
  plan: Plan,
  doc: ExtractedDoc,
  stats: CorpusStats,
): number {
  switch (plan.type) {
    case "and":
    case "or": {
      let sum = 0;
      for (const child of plan.children) {
        if (matches(config, child, doc)) {
          sum += score(config, child, doc, stats);
        }
      }
      return sum;
    }
    case "text":
      return Math.max(
        0,
        ...plan.targets.map((t) => textScore(config, plan, t, doc, stats)),
      );
    default:
      return 0;
  }
}
