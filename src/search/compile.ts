/**
 * @module
 * Checks a parsed query against a `search` config and compiles it to a plan
 * of resolved fields and canonical values: the clause rules of
 * specs/search.md §2.2 for `filter` and §3 for `search` (which adds bare
 * terms, prefixes and text clauses). Violations are `bad_request`.
 */

import { fail, ok, type Result } from "../errors.ts";
import {
  type FieldKind,
  fieldOf,
  resolveFieldName,
  type SearchConfig,
} from "./config.ts";
import {
  analyzeText,
  canonicalize,
  normalizeKeyword,
  type Scalar,
} from "./extract.ts";
import type { CompareOp, QueryNode } from "./query.ts";

/** Which caller compiles: `filter=` reads and rollup includes, or `_search`. */
export type QueryMode = "filter" | "search";

/** One text field a term is matched against, with its boost. */
export interface TextTarget {
  /** Declared field name. */
  field: string;
  /** `text` or `keyword`. */
  kind: "text" | "keyword";
  /** Multiplies the field's score. */
  boost: number;
}

/** A compiled query. */
export type Plan =
  | { type: "and" | "or"; children: Plan[] }
  | { type: "not"; child: Plan }
  | { type: "has"; field: string }
  | {
    type: "compare";
    field: string;
    kind: FieldKind;
    op: CompareOp;
    value: Scalar;
  }
  | { type: "keyword_prefix"; field: string; prefix: string }
  | {
    type: "text";
    targets: TextTarget[];
    /** Analyzed tokens (for keyword targets, `raw` is compared instead). */
    tokens: string[];
    /** The value as written, normalized per keyword target at match time. */
    raw: string;
    /** Tokens must be adjacent and in order. */
    phrase: boolean;
    /** The last token (or the keyword value) is a prefix. */
    prefix: boolean;
  };

class CompileProblem extends Error {}

function problem(message: string): never {
  throw new CompileProblem(message);
}

/** Compiles `node` for `mode`; every refusal names the field and the rule. */
export function compileQuery(
  config: SearchConfig,
  node: QueryNode,
  mode: QueryMode,
): Result<Plan> {
  try {
    return ok(compileNode(config, node, mode));
  } catch (error) {
    if (!(error instanceof CompileProblem)) throw error;
    return fail("bad_request", `Invalid query: ${error.message}`);
  }
}

/** Whether a plan has a text clause (it decides the default sort). */
export function hasTextClause(plan: Plan): boolean {
  switch (plan.type) {
    case "and":
    case "or":
      return plan.children.some(hasTextClause);
    case "not":
      return hasTextClause(plan.child);
    case "text":
      return true;
    default:
      return false;
  }
}

function compileNode(
  config: SearchConfig,
  node: QueryNode,
  mode: QueryMode,
): Plan {
  switch (node.type) {
    case "and":
    case "or":
      return {
        type: node.type,
        children: node.children.map((c) => compileNode(config, c, mode)),
      };
    case "not":
      return { type: "not", child: compileNode(config, node.child, mode) };
    case "has":
      return compileHas(config, node.field, mode);
    case "field":
      return compileField(config, node, mode);
    case "term":
      if (mode === "filter") {
        problem(`bare term "${node.value}": filters need field:value`);
      }
      return compileTerm(config, node);
  }
}

function resolve(config: SearchConfig, name: string): string {
  if (name.toLowerCase() === "contains") problem("contains: is not supported");
  const field = resolveFieldName(config, name);
  if (field === undefined) problem(`field "${name}" is not indexed`);
  return field;
}

function compileHas(config: SearchConfig, name: string, mode: QueryMode): Plan {
  const field = resolve(config, name);
  const declared = fieldOf(config.fields, field)!;
  const allowed = declared.exists === true || declared.exact === true ||
    declared.column === true || (mode === "search" && declared.kind === "text");
  if (!allowed) {
    problem(`has:${name} needs exists, exact or column on "${field}"`);
  }
  return { type: "has", field };
}

function compileField(
  config: SearchConfig,
  node: Extract<QueryNode, { type: "field" }>,
  mode: QueryMode,
): Plan {
  const field = resolve(config, node.field);
  const declared = fieldOf(config.fields, field)!;
  const kind = declared.kind;
  if (kind === "text") {
    if (mode === "filter") {
      problem(`"${field}" is a text field: use _search or has:`);
    }
    if (node.op !== "=") {
      problem(`"${field}" is a text field and cannot be compared`);
    }
    return textPlan(
      [{ field, kind, boost: 1 }],
      node.value,
      node.quoted,
      node.prefix,
      config,
    );
  }
  if (node.prefix) {
    if (kind !== "keyword" || mode === "filter" || declared.prefix !== true) {
      problem(
        `prefix on "${field}" needs a keyword field with prefix (in _search)`,
      );
    }
    return {
      type: "keyword_prefix",
      field,
      prefix: normalizeKeyword(declared, node.value),
    };
  }
  if (node.op === "=") {
    if (declared.exact !== true && declared.column !== true) {
      problem(`"${field}" needs exact or column for equality`);
    }
  } else if (kind === "keyword" || declared.column !== true) {
    problem(`"${field}" cannot be compared (needs a typed field with column)`);
  }
  const value = canonicalize(declared, node.value);
  if (value === undefined) {
    problem(`"${node.value}" is not a valid ${kind} for "${field}"`);
  }
  return { type: "compare", field, kind, op: node.op, value };
}

function defaultTargets(config: SearchConfig): TextTarget[] {
  if (config.defaultFields !== undefined && config.defaultFields.length > 0) {
    return config.defaultFields.map(({ field, boost }) => ({
      field,
      kind: fieldOf(config.fields, field)!.kind as "text" | "keyword",
      boost: boost ?? 1,
    }));
  }
  return Object.entries(config.fields)
    .filter(([, f]) => f.kind === "text")
    .map(([field]) => ({ field, kind: "text", boost: 1 }));
}

function compileTerm(
  config: SearchConfig,
  node: Extract<QueryNode, { type: "term" }>,
): Plan {
  const targets = defaultTargets(config);
  if (targets.length === 0) {
    problem("bare terms need defaultFields or a text field");
  }
  return textPlan(targets, node.value, node.quoted, node.prefix, config);
}

function textPlan(
  targets: TextTarget[],
  raw: string,
  phrase: boolean,
  prefix: boolean,
  config: SearchConfig,
): Plan {
  const tokens = analyzeText(raw);
  const hasText = targets.some((t) => t.kind === "text");
  if (hasText && tokens.length === 0) {
    problem(`"${raw}" has no searchable tokens`);
  }
  if (phrase && tokens.length > 1) {
    for (const t of targets) {
      if (
        t.kind === "text" && fieldOf(config.fields, t.field)!.positions !== true
      ) {
        problem(`phrase on "${t.field}" needs positions`);
      }
    }
  }
  return { type: "text", targets, tokens, raw, phrase, prefix };
}

/** The declared fields `plan` reads (added to `into`). */
export function planFields(
  plan: Plan,
  into: Set<string> = new Set(),
): Set<string> {
  switch (plan.type) {
    case "and":
    case "or":
      for (const child of plan.children) planFields(child, into);
      break;
    case "not":
      planFields(plan.child, into);
      break;
    case "text":
      for (const target of plan.targets) into.add(target.field);
      break;
    default:
      into.add(plan.field);
  }
  return into;
}
