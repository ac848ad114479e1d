/**
 * @module
 * Routing keys taken from each JSON message by the registry's pointer
 * (`routingKey.jsonPointer`), with the rules that make a request a 400. Pure:
 * the append path calls it with the parsed messages and the `Stream-Key`
 * header, and stores the keys it returns.
 */

import { fail, ok, type Result } from "../errors.ts";
import { valueAt } from "./pointer.ts";
import type { ActiveRegistry } from "./registry.ts";

const encoder = new TextEncoder();

/**
 * Routing keys for each element from the registry's pointer, or `null` when
 * the registry has no rule (then the `Stream-Key` header, if any, applies).
 * Refuses (400) a `Stream-Key` header together with a pointer, a missing
 * required key, a key that is not a string, and a key that is empty or
 * longer than `keyBytesMax` UTF-8 bytes. One bad element refuses them all.
 */
export function routingKeys(
  active: ActiveRegistry | null,
  elements: readonly unknown[],
  headerKey: string | undefined,
  keyBytesMax: number,
): Result<(string | undefined)[] | null> {
  const rule = active?.routingKey ?? null;
  if (rule === null) return ok(null);
  if (headerKey !== undefined) {
    return fail(
      "bad_request",
      `Stream-Key cannot be used: the stream's schema takes routing keys from ${rule.pointer}`,
    );
  }
  const keys: (string | undefined)[] = new Array(elements.length).fill(
    undefined,
  );
  for (let i = 0; i < elements.length; i++) {
    const key = valueAt(elements[i], rule.tokens);
    const where = `element ${i}: routing key at ${rule.pointer}`;
    if (key === undefined) {
      if (rule.required) {
        return fail("bad_request", `${where}: routing key missing`);
      }
      continue;
    }
    if (typeof key !== "string") {
      return fail(
        "bad_request",
        `${where} must be a string, found ${
          key === null ? "null" : Array.isArray(key) ? "array" : typeof key
        }`,
      );
    }
    // A UTF-16 unit is at most 3 UTF-8 bytes: short keys need no encoding.
    const tooLong = key.length * 3 > keyBytesMax &&
      encoder.encode(key).length > keyBytesMax;
    if (key.length === 0 || tooLong) {
      return fail(
        "bad_request",
        `${where} must be 1 to ${keyBytesMax} bytes of UTF-8`,
      );
    }
    keys[i] = key;
  }
  return ok(keys);
}
