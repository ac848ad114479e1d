/**
 * @module
 * The `touch` options of the `state-protocol` profile (touch-live.md §2):
 * one table row per option with its default and range, nested groups
 * `memory` and `templates`, unknown keys and values out of range refused.
 */

import { ok, type Result } from "../errors.ts";
import { badOption, checkKeys, isObject, type JsonObject } from "./profile.ts";

const ANY = Number.MAX_SAFE_INTEGER;
const DAY_MS = 24 * 60 * 60 * 1000;

/** One numeric option: default and inclusive range. */
interface NumberRow {
  fallback: number;
  min: number;
  max: number;
}

const TOP: Record<string, NumberRow> = {
  coarseIntervalMs: { fallback: 100, min: 10, max: 10_000 },
  touchCoalesceWindowMs: { fallback: 100, min: 10, max: 10_000 },
  lagDegradeFineTouchesAtSourceOffsets: { fallback: 5000, min: 0, max: ANY },
  lagRecoverFineTouchesAtSourceOffsets: { fallback: 1000, min: 0, max: ANY },
  fineTouchBudgetPerBatch: { fallback: 2000, min: 0, max: ANY },
  fineTokensPerSecond: { fallback: 200_000, min: 0, max: ANY },
  fineBurstTokens: { fallback: 400_000, min: 0, max: ANY },
  lagReservedFineTouchBudgetPerBatch: { fallback: 200, min: 0, max: ANY },
};

const MEMORY: Record<string, NumberRow> = {
  bucketMs: { fallback: 100, min: 10, max: 1000 },
  filterPow2: { fallback: 22, min: 10, max: 24 },
  k: { fallback: 4, min: 1, max: 8 },
  pendingMaxKeys: { fallback: 100_000, min: 1, max: 1_000_000 },
  keyIndexMaxKeys: { fallback: 32, min: 1, max: 1024 },
  hotKeyTtlMs: { fallback: 10_000, min: 0, max: ANY },
  hotTemplateTtlMs: { fallback: 10_000, min: 0, max: ANY },
  hotMaxKeys: { fallback: 1_000_000, min: 0, max: ANY },
  hotMaxTemplates: { fallback: 4096, min: 0, max: ANY },
};

const TEMPLATES: Record<string, NumberRow> = {
  defaultInactivityTtlMs: { fallback: 3_600_000, min: 1000, max: 7 * DAY_MS },
  lastSeenPersistIntervalMs: { fallback: 300_000, min: 1000, max: ANY },
  gcIntervalMs: { fallback: 60_000, min: 1000, max: ANY },
  maxActiveTemplatesPerEntity: { fallback: 256, min: 1, max: 4096 },
  maxActiveTemplatesPerStream: { fallback: 2048, min: 1, max: 65_536 },
  activationRateLimitPerMinute: { fallback: 100, min: 0, max: ANY },
};

const MISSING_BEFORE = ["coarse", "skipBefore", "error"];

/** Parses `profile.touch`, filling every default. */
export function validateTouch(raw: unknown): Result<JsonObject> {
  const path = "profile.touch";
  if (raw !== undefined && !isObject(raw)) {
    return badOption(path, "must be an object");
  }
  const input = (raw ?? {}) as Record<string, unknown>;
  const keys = checkKeys(input, [
    "enabled",
    "onMissingBefore",
    "memory",
    "templates",
    ...Object.keys(TOP),
  ], path);
  if (!keys.ok) return keys;
  if (input.enabled !== undefined && typeof input.enabled !== "boolean") {
    return badOption(`${path}.enabled`, "must be a boolean");
  }
  const missing = input.onMissingBefore ?? "coarse";
  if (typeof missing !== "string" || !MISSING_BEFORE.includes(missing)) {
    return badOption(
      `${path}.onMissingBefore`,
      `must be one of ${MISSING_BEFORE.join(", ")}`,
    );
  }
  const top = numbers(input, TOP, path);
  if (!top.ok) return top;
  const degrade = top.value.lagDegradeFineTouchesAtSourceOffsets as number;
  const recover = top.value.lagRecoverFineTouchesAtSourceOffsets as number;
  if (degrade < recover) {
    return badOption(
      `${path}.lagDegradeFineTouchesAtSourceOffsets`,
      "must be at least lagRecoverFineTouchesAtSourceOffsets",
    );
  }
  const memory = group(input.memory, MEMORY, `${path}.memory`);
  if (!memory.ok) return memory;
  const templates = group(input.templates, TEMPLATES, `${path}.templates`);
  if (!templates.ok) return templates;
  return ok({
    enabled: input.enabled ?? false,
    onMissingBefore: missing,
    ...top.value,
    memory: memory.value,
    templates: templates.value,
  });
}

function group(
  raw: unknown,
  rows: Record<string, NumberRow>,
  path: string,
): Result<JsonObject> {
  if (raw !== undefined && !isObject(raw)) {
    return badOption(path, "must be an object");
  }
  const input = (raw ?? {}) as Record<string, unknown>;
  const keys = checkKeys(input, Object.keys(rows), path);
  if (!keys.ok) return keys;
  return numbers(input, rows, path);
}

function numbers(
  input: Record<string, unknown>,
  rows: Record<string, NumberRow>,
  path: string,
): Result<JsonObject> {
  const out: JsonObject = {};
  for (const [key, row] of Object.entries(rows)) {
    const value = input[key] ?? row.fallback;
    if (!Number.isSafeInteger(value)) {
      return badOption(`${path}.${key}`, "must be an integer");
    }
    const n = value as number;
    if (n < row.min || n > row.max) {
      const range = row.max === ANY
        ? `at least ${row.min}`
        : `between ${row.min} and ${row.max}`;
      return badOption(`${path}.${key}`, `must be ${range}`);
    }
    out[key] = n;
  }
  return ok(out);
}
