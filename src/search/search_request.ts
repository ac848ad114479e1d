/**
 * @module
 * A `_search` request body checked against a `search` config
 * (specs/search.md §3): the query compiled, sort keys, `search_after`, page
 * size, time budget and coverage mode; and a hit's `fields` as JSON. The GET
 * form maps its query parameters onto the same body first.
 */

import { fail, ok, type Result } from "../errors.ts";
import { SEARCH_SIZE_MAX, SEARCH_TIMEOUT_MS_MAX } from "../limits.ts";
import type { SearchConfig } from "./config.ts";
import { compileQuery, hasTextClause, type Plan } from "./compile.ts";
import { type ExtractedDoc, scalarToJson } from "./extract.ts";
import { parseQuery } from "./query.ts";
import {
  parseSearchAfter,
  parseSort,
  type SortKey,
  type SortValue,
} from "./sort.ts";

/** Page size when the request names none. */
export const SEARCH_SIZE_DEFAULT = 50;

/** A checked `_search` request. */
export interface SearchRequest {
  /** The query as sent. */
  q: string;
  /** The compiled query. */
  plan: Plan;
  /** Sort keys, ending with `offset`. */
  keys: SortKey[];
  /** Page size, 1..500. */
  size: number;
  /** Paging position, when continuing. */
  after?: SortValue[];
  /** Time budget, 0..3000 ms. */
  timeoutMs: number;
  /** `complete` scans what indexes do not cover; `published` omits it. */
  coverage: "complete" | "published";
}

const KNOWN = ["q", "size", "sort", "search_after", "timeout_ms", "coverage"];

/** Checks a `_search` body; every refusal is `bad_request`. */
export function parseSearchRequest(
  config: SearchConfig,
  body: Record<string, unknown>,
): Result<SearchRequest> {
  if (Object.hasOwn(body, "track_total_hits")) {
    return fail(
      "bad_request",
      "Invalid search: track_total_hits is not supported",
    );
  }
  const unknown = Object.keys(body).find((k) => !KNOWN.includes(k));
  if (unknown !== undefined) {
    return fail("bad_request", `Invalid search: unknown field "${unknown}"`);
  }
  const q = body.q;
  if (typeof q !== "string" || q.trim() === "") {
    return fail("bad_request", "Invalid search: q must be a non-empty string");
  }
  const parsed = parseQuery(q);
  if (!parsed.ok) return parsed;
  const plan = compileQuery(config, parsed.value, "search");
  if (!plan.ok) return plan;
  const size = body.size ?? SEARCH_SIZE_DEFAULT;
  if (
    typeof size !== "number" || !Number.isInteger(size) || size < 1 ||
    size > SEARCH_SIZE_MAX
  ) {
    return fail(
      "bad_request",
      `Invalid search: size must be an integer 1..${SEARCH_SIZE_MAX}`,
    );
  }
  const sort = body.sort;
  if (
    sort !== undefined &&
    (!Array.isArray(sort) || sort.some((s) => typeof s !== "string"))
  ) {
    return fail(
      "bad_request",
      "Invalid search: sort must be an array of strings",
    );
  }
  const keys = parseSort(
    config,
    sort as string[] | undefined,
    hasTextClause(plan.value),
  );
  if (!keys.ok) return keys;
  const timeout = body.timeout_ms ?? SEARCH_TIMEOUT_MS_MAX;
  if (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout < 0) {
    return fail(
      "bad_request",
      "Invalid search: timeout_ms must be a number >= 0",
    );
  }
  const coverage = body.coverage ?? "complete";
  if (coverage !== "complete" && coverage !== "published") {
    return fail(
      "bad_request",
      "Invalid search: coverage must be complete or published",
    );
  }
  const request: SearchRequest = {
    q,
    plan: plan.value,
    keys: keys.value,
    size,
    timeoutMs: Math.min(Math.floor(timeout), SEARCH_TIMEOUT_MS_MAX),
    coverage,
  };
  if (body.search_after !== undefined) {
    const after = parseSearchAfter(config, keys.value, body.search_after);
    if (!after.ok) return after;
    request.after = after.value;
  }
  return ok(request);
}

/** A JSON scalar. */
export type JsonScalar = string | number | boolean | null;

/**
 * A hit's `fields`: each extracted field as a scalar when it has one value,
 * else an array; integers beyond 2^53 as strings.
 */
export function fieldsToJson(
  doc: ExtractedDoc,
): Record<string, JsonScalar | JsonScalar[]> {
  const out: Record<string, JsonScalar | JsonScalar[]> = {};
  for (const [name, values] of doc.values) {
    const json = values.map(scalarToJson);
    out[name] = json.length === 1 ? json[0] : json;
  }
  return out;
}
