/**
 * @module
 * A necessary condition for text clauses, checked on a stored message's
 * bytes before it is parsed into fields: every token a match needs (the
 * tokens of text clauses that an AND requires) occurs in the message's JSON
 * text, ASCII case-insensitively. An alphanumeric run of a string value is
 * written contiguously in JSON unless a `\u` escape spells one of its
 * characters, so messages holding `\u` always pass; a message that fails
 * cannot match, and one that passes is evaluated in full. Only ASCII tokens
 * are checked.
 */

import type { Plan } from "../search/compile.ts";

/** Tokens every match of `plan` contains (ASCII only); empty: no condition. */
export function requiredTokens(plan: Plan): string[] {
  const out = new Set<string>();
  collect(plan, out);
  return [...out];
}

function collect(plan: Plan, out: Set<string>): void {
  switch (plan.type) {
    case "and":
      for (const child of plan.children) collect(child, out);
      return;
    case "text":
      for (const token of plan.tokens) {
        if (/^[a-z0-9]+$/.test(token)) out.add(token);
      }
      return;
    default:
      // OR, NOT and field clauses require no particular token.
      return;
  }
}

const BACKSLASH = 0x5c;
const U = 0x75;

/** Whether `bytes` may match: each token occurs (or a `\u` escape hides it). */
export function mayContain(
  bytes: Uint8Array,
  tokens: readonly string[],
): boolean {
  if (tokens.length === 0) return true;
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === BACKSLASH && bytes[i + 1] === U) return true;
  }
  for (const token of tokens) {
    if (!containsFolded(bytes, token)) return false;
  }
  return true;
}

/** ASCII case-insensitive search of lower-case `token` in `bytes`. */
function containsFolded(bytes: Uint8Array, token: string): boolean {
  const first = token.charCodeAt(0);
  const n = token.length;
  outer: for (let i = 0; i + n <= bytes.length; i++) {
    if (fold(bytes[i]) !== first) continue;
    for (let j = 1; j < n; j++) {
      if (fold(bytes[i + j]) !== token.charCodeAt(j)) continue outer;
    }
    return true;
  }
  return false;
}

function fold(byte: number): number {
  return byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
}
