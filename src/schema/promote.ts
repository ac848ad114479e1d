/**
 * @module
 * Promotion on read: a record's version is the last boundary at or before
 * its position; lenses from that version to the current one are applied in
 * order. Reads never re-validate.
 */

import { ok, type Result } from "../errors.ts";
import { applyLens } from "./lens.ts";
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
