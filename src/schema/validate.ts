/**
 * @module
 * JSON Schema validation of appended elements with Ajv 8 (draft-07 keywords,
 * `$schema` ignored). Schemas may reference only their own fragments
 * (`#/$defs/x`); `date-time` is strict RFC 3339 (`T`, seconds, 1-9 fraction
 * digits, `Z` or `±hh:mm`). Compiled validators are cached by a hash of the
 * schema text in a bounded LRU, so every stream with the same schema shares
 * one validator and a registry reload compiles nothing new.
 */

import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { fail, ok, type Result } from "../errors.ts";

/** Compiled validators kept at most (least recently used go first). */
export const VALIDATOR_CACHE_ENTRIES_MAX = 256;

/** A compiled schema: `validate(value)` is `undefined` when it fits. */
export interface CompiledSchema {
  /** Hash of the schema's JSON text (the cache key). */
  readonly hash: string;
  /** The error message for `value`, or `undefined` when it is valid. */
  check(value: unknown): string | undefined;
}

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|([+-])(\d{2}):(\d{2}))$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether `text` is an RFC 3339 date-time with a `T` and seconds. */
export function isStrictDateTime(text: string): boolean {
  // Called for every date-time field of every appended record: no arrays
  // or destructuring beyond the match itself.
  const m = DATE_TIME.exec(text);
  if (m === null) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  if (day > days) return false;
  // Second 60 is a leap second (RFC 3339 §5.7).
  if (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 60) {
    return false;
  }
  if (m[8] !== "Z" && (Number(m[10]) > 23 || Number(m[11]) > 59)) {
    return false;
  }
  return true;
}

function newAjv(): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    strict: false,
    allowUnionTypes: true,
    logger: false,
  });
  ajv.addFormat("date-time", { type: "string", validate: isStrictDateTime });
  return ajv;
}

let shared: Ajv = newAjv();
const cache = new Map<
  string,
  CompiledSchema & { source: object; ajv: Ajv }
>();

/**
 * A 64-bit hash of `text` as 16 hex digits: two 32-bit FNV-1a lanes with
 * different offsets, the second also mixing each unit's position.
 */
export function textHash(text: string): string {
  let a = 0x811c9dc5, b = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    a = Math.imul(a ^ unit, 0x01000193);
    b = Math.imul(b ^ unit ^ (i & 0xff) << 16, 0x01000193);
  }
  return (a >>> 0).toString(16).padStart(8, "0") +
    (b >>> 0).toString(16).padStart(8, "0");
}

/** Every `$ref` in `schema` that is not a fragment of the schema itself. */
function foreignRefs(schema: unknown, out: string[], depth: number): void {
  if (depth > 256 || schema === null || typeof schema !== "object") return;
  if (Array.isArray(schema)) {
    for (const item of schema) foreignRefs(item, out, depth + 1);
    return;
  }
  for (const [key, value] of Object.entries(schema)) {
    if (key === "$ref" && (typeof value !== "string" || value[0] !== "#")) {
      out.push(String(value));
    }
    foreignRefs(value, out, depth + 1);
  }
}

/**
 * Compiles `schema` (or takes it from the cache). Fails with
 * `schema_invalid` for a `$ref` outside the schema or a schema Ajv refuses.
 */
export function compileSchema(schema: unknown): Result<CompiledSchema> {
  if (typeof schema !== "boolean" && !isPlainObject(schema)) {
    return fail("schema_invalid", "Invalid schema: must be an object");
  }
  const text = JSON.stringify(schema);
  const hash = textHash(text);
  const hit = cache.get(hash);
  if (hit !== undefined) {
    cache.delete(hash);
    cache.set(hash, hit);
    return ok(hit);
  }
  const refs: string[] = [];
  foreignRefs(schema, refs, 0);
  if (refs.length > 0) {
    return fail(
      "schema_invalid",
      `Invalid schema: only fragment references ("#/...") are supported, found $ref "${
        refs[0]
      }"`,
    );
  }
  // Ajv keeps every compiled schema object; compile a private copy so that
  // evicting it (`removeSchema`) frees exactly what the cache held.
  const source = JSON.parse(text) as Record<string, unknown>;
  // Draft-07 keywords whatever the schema declares: `$schema` is ignored
  // (Ajv would otherwise refuse a meta-schema it does not hold).
  if (isPlainObject(source)) delete source.$schema;
  // Ajv refuses a second schema with an `$id` it already holds: schemas that
  // name themselves get an instance of their own, so two streams may use
  // different schemas with the same `$id`.
  const ajv = text.includes('"$id"') ? newAjv() : shared;
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(source);
  } catch (cause) {
    return fail(
      "schema_invalid",
      `Invalid schema: ${(cause as Error).message}`,
    );
  }
  const compiled = {
    hash,
    source,
    ajv,
    check: (value: unknown) =>
      validate(value) ? undefined : describeErrors(validate.errors),
  };
  cache.set(hash, compiled);
  if (cache.size > VALIDATOR_CACHE_ENTRIES_MAX) evictOldest();
  return ok(compiled);
}

function evictOldest(): void {
  const [hash, entry] = cache.entries().next().value!;
  cache.delete(hash);
  if (entry.ajv !== shared) return; // its own instance goes with it
  try {
    shared.removeSchema(entry.source);
  } catch {
    // A schema Ajv cannot remove: start a fresh instance rather than let the
    // old one grow (validators compiled on it keep working).
    shared = newAjv();
  }
}

/** Compiled validators currently cached (for tests). */
export function cachedValidatorCount(): number {
  return cache.size;
}

/** Ajv's errors as one line: `<path> <message>` joined by `; `. */
function describeErrors(
  errors: ErrorObject[] | null | undefined,
): string {
  if (!errors || errors.length === 0) return "does not match the schema";
  return errors.map((e) =>
    e.instancePath === ""
      ? e.message ?? e.keyword
      : `${e.instancePath} ${e.message ?? e.keyword}`
  ).join("; ");
}

/**
 * Checks every element; the first invalid one fails the whole batch with
 * `validation_failed` and a message naming its index.
 */
export function validateElements(
  schema: CompiledSchema,
  elements: readonly unknown[],
): Result<void> {
  for (let i = 0; i < elements.length; i++) {
    const problem = schema.check(elements[i]);
    if (problem !== undefined) {
      return fail(
        "validation_failed",
        `Schema validation failed: element ${i}: ${problem}`,
        { element: i },
      );
    }
  }
  return ok(undefined);
}

/** Whether `value` is a JSON object (not an array, not null). */
export function isPlainObject(
  value: unknown,
): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
