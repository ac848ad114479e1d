/**
 * @module
 * Promotion on read and routing keys on write: the two per-record uses of a
 * registry. A record's version is the last boundary at or before its
 * position; lenses from that version to the current one are applied in
 * order. Reads never re-validate.
 */

import { fail, ok, type Result } from "../errors.ts";
import { applyLens } from "./lens.ts";
import { valueAt } from "./pointer.ts";
import type { ActiveRegistry } from "./registry.ts";

/** Whether reads of this registry's stream need parsing at all. */
export function needsPromotion(active: ActiveRegistry | null): boolean {
  return active !== null && active.lenses.size > 0;
}

/** The schema version of a record stored at `position` (0: before any). */
export function versionAt(active: ActiveRegistry, position: number): number {
  const boundaries = active.registry.boundaries;
  let lo = 0, hi = boundaries.length; // first boundary with position > p
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (boundaries[mid].position <= position) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? 0 : boundaries[lo - 1].version;
}

/**
 * `value`, stored at `position`, upgraded to the current version. Records
 * before the first boundary (version 0) are returned as written. Fails with
 * `internal` when a lens cannot apply (the proof should rule that out).
 */
export function promote(
  active: ActiveRegistry,
  position: number,
  value: unknown,
): Result<unknown> {
  const from = versionAt(active, position);
  if (from === 0) return ok(value);
  for (let v = from; v < active.registry.currentVersion; v++) {
    const ops = active.lenses.get(v);
    if (ops === undefined) continue;
    const next = applyLens(value, ops);
    if (!next.ok) return next;
    value = next.value;
  }
  return ok(value);
}

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
  const encoder = new TextEncoder();
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
