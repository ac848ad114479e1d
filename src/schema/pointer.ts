/**
 * @module
 * JSON Pointers (RFC 6901): parsing into reference tokens and looking a value
 * up. Lenses, the lens proof and routing-key extraction all address parts of
 * a JSON document this way; `""` is the whole document.
 */

import { fail, ok, type Result } from "../errors.ts";

/** Splits `pointer` into its unescaped reference tokens (`""` is `[]`). */
export function parsePointer(pointer: string): Result<string[]> {
  if (pointer === "") return ok([]);
  if (pointer[0] !== "/") {
    return fail(
      "bad_request",
      `Invalid JSON pointer "${pointer}": must be empty or start with "/"`,
    );
  }
  const tokens = pointer.slice(1).split("/");
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (/~[^01]|~$/.test(token)) {
      return fail(
        "bad_request",
        `Invalid JSON pointer "${pointer}": "~" must be followed by 0 or 1`,
      );
    }
    tokens[i] = token.replaceAll("~1", "/").replaceAll("~0", "~");
  }
  return ok(tokens);
}

/** Renders tokens back into a pointer string. */
export function formatPointer(tokens: readonly string[]): string {
  let out = "";
  for (const token of tokens) {
    out += "/" + token.replaceAll("~", "~0").replaceAll("/", "~1");
  }
  return out;
}

/**
 * The child of a JSON container named by one token, or `undefined` when the
 * container has no such member (an array index must be a canonical decimal).
 */
export function childOf(container: unknown, token: string): unknown {
  if (Array.isArray(container)) {
    if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
    return container[Number(token)];
  }
  if (container !== null && typeof container === "object") {
    return Object.hasOwn(container, token)
      ? (container as Record<string, unknown>)[token]
      : undefined;
  }
  return undefined;
}

/** The value `tokens` name in `doc`, or `undefined` when absent. */
export function valueAt(doc: unknown, tokens: readonly string[]): unknown {
  let current = doc;
  for (const token of tokens) {
    current = childOf(current, token);
    if (current === undefined) return undefined;
  }
  return current;
}
