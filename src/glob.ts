/**
 * @module
 * Glob patterns over stream-root-relative stream paths (PROTOCOL.md §6.2):
 * `*` matches exactly one path segment and `**` matches zero or more. Both
 * must be whole segments; every other segment matches literally. Matching is
 * the classic greedy wildcard walk with one backtrack point, so it runs in
 * O(segments of path x segments of pattern) at worst, never exponentially.
 */

import { fail, ok, type Result } from "./errors.ts";

/** A parsed pattern: its segments, and the literal prefix for listing. */
export interface GlobPattern {
  /** The pattern as given. */
  source: string;
  /** Segments; `*` and `**` are wildcards. */
  segments: readonly string[];
  /** The literal leading segments joined with `/` (plus a trailing `/`), or "". */
  literalPrefix: string;
}

/** Parses and validates `pattern`; empty segments and partial wildcards are 400s. */
export function parseGlob(pattern: string): Result<GlobPattern> {
  if (pattern.length === 0) return fail("bad_request", "pattern is empty");
  const segments = pattern.split("/");
  for (const segment of segments) {
    if (segment.length === 0) {
      return fail(
        "bad_request",
        `pattern "${pattern}" has an empty segment (leading, trailing or double "/")`,
      );
    }
    if (segment.includes("*") && segment !== "*" && segment !== "**") {
      return fail(
        "bad_request",
        `pattern "${pattern}": "*" and "**" must be whole segments`,
      );
    }
  }
  if (segments[0] === "__ds") {
    return fail(
      "bad_request",
      `pattern "${pattern}" names reserved __ds paths`,
    );
  }
  const literal: string[] = [];
  for (const segment of segments) {
    if (segment === "*" || segment === "**") break;
    literal.push(segment);
  }
  const literalPrefix = literal.length === segments.length
    ? literal.join("/") // no wildcard: the prefix is the whole name
    : literal.map((s) => s + "/").join("");
  return ok({ source: pattern, segments, literalPrefix });
}

/** Whether stream path `path` matches `glob`. */
export function globMatch(glob: GlobPattern, path: string): boolean {
  const pattern = glob.segments;
  const parts = path.split("/");
  let p = 0; // index into pattern
  let s = 0; // index into parts
  let starP = -1; // pattern index just after the last `**`
  let starS = 0; // parts index that `**` is currently assumed to reach
  while (s < parts.length) {
    const seg = pattern[p];
    if (seg === "**") {
      starP = ++p;
      starS = s;
    } else if (
      p < pattern.length &&
      (seg === "*" ? parts[s].length > 0 : seg === parts[s])
    ) {
      p++;
      s++;
    } else if (starP >= 0) {
      p = starP; // let the last `**` swallow one more segment and retry
      s = ++starS;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "**") p++;
  return p === pattern.length;
}

/**
 * Whether every path `inner` matches also matches `outer` (a subscription's
 * pattern within an API key's streams). Decided segment by segment: a `**`
 * of `outer` absorbs anything, a `*` absorbs one literal or `*`, a literal
 * only itself. Sound but not complete: it never says yes wrongly, and says
 * no to a few equivalent spellings (`*` + `**` against `**` + `*`).
 */
export function globCovers(outer: GlobPattern, inner: GlobPattern): boolean {
  const o = outer.segments;
  const n = inner.segments;
  // memo[i * (o.length + 1) + j]: inner[i..] within outer[j..]; O(|n| x |o|).
  const memo = new Int8Array((n.length + 1) * (o.length + 1));
  const covers = (i: number, j: number): boolean => {
    const at = i * (o.length + 1) + j;
    if (memo[at] !== 0) return memo[at] > 0;
    let result: boolean;
    if (i === n.length) result = o.slice(j).every((s) => s === "**");
    else if (j === o.length) result = false;
    else if (o[j] === "**") result = covers(i, j + 1) || covers(i + 1, j);
    else if (n[i] === "**") result = false;
    else if (o[j] === "*" || o[j] === n[i]) result = covers(i + 1, j + 1);
    else result = false;
    memo[at] = result ? 1 : -1;
    return result;
  };
  return covers(0, 0);
}
