/**
 * @module
 * The one interface every stream profile implements (profiles.md §2): parse
 * its options, normalize an appended JSON element into canonical records,
 * name a record's routing key, and declare its canonical schema, search
 * fields and rollups as plain JSON. Core code calls these hooks and never
 * branches on the kind.
 */

import { fail, ok, type Result, type StreamError } from "../errors.ts";

/** The kinds the server knows, in the order error messages list them. */
export const PROFILE_KINDS = [
  "evlog",
  "generic",
  "metrics",
  "otel-traces",
  "state-protocol",
] as const;

/** A profile kind. */
export type ProfileKind = typeof PROFILE_KINDS[number];

/** A JSON value as stored in a record. */
export type Json =
  | null
  | boolean
  | number
  | string
  | Json[]
  | { [key: string]: Json };

/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** The stored options of a profile: always carries its `kind`. */
export type ProfileOptions = { kind: ProfileKind } & JsonObject;

/** One canonical record a normalized element produced. */
export interface CanonicalRecord {
  /** The record to store. */
  value: Json;
  /** Its routing key, or null when the profile picks none. */
  routingKey: string | null;
}

/** What normalization may read besides the element. */
export interface NormalizeContext {
  /** The server's clock, ms since the epoch (evlog stamps missing times). */
  nowMs: number;
}

/**
 * The canonical registry a profile installs (keys-schemas.md, search.md),
 * as plain JSON until the schema and search modules consume it.
 */
export interface CanonicalRegistry {
  /** The JSON Schema of version 1. */
  schema: JsonObject;
  /** Routing key declaration: a JSON pointer into the record. */
  routingKey: { jsonPointer: string; required: boolean } | null;
  /** Search field declarations by field name. */
  search: { fields: JsonObject; aliases: Record<string, string> } | null;
  /** Rollup declarations by rollup name. */
  rollups: JsonObject;
  /** Companion index families beyond the schema's (metrics: `mblk`). */
  indexFamilies?: string[];
}

/** One profile: its options parser, normalizer and canonical registry. */
export interface Profile<O extends ProfileOptions = ProfileOptions> {
  /** The kind this module implements. */
  readonly kind: ProfileKind;
  /**
   * Whether installing it replaces the stream's registry, which needs an
   * empty stream or the same kind already installed.
   */
  readonly installsRegistry: boolean;
  /**
   * True when `normalize` returns every element unchanged and keys none, so
   * the append path may skip it (the hot path of plain JSON streams).
   */
  readonly passThrough?: boolean;
  /** Parses the `profile` object: fills defaults, rejects unknown keys. */
  validate(raw: unknown): Result<O>;
  /**
   * Normalizes one appended element into canonical records. Errors are
   * `bad_request` with a message about the element alone; `normalizeBatch`
   * adds the element index.
   */
  normalize(
    element: unknown,
    options: O,
    context: NormalizeContext,
  ): Result<CanonicalRecord[]>;
  /** The routing key of a canonical record, or null. */
  routingKey(record: JsonObject, options: O): string | null;
  /** The canonical registry to install, or null to keep the current one. */
  canonicalRegistry(options: O): CanonicalRegistry | null;
}

/**
 * Normalizes every element of one append. The first failing element fails
 * the whole batch (nothing is written), with its index in the message and in
 * `detail.index`.
 */
export function normalizeBatch<O extends ProfileOptions>(
  profile: Profile<O>,
  options: O,
  elements: readonly unknown[],
  context: NormalizeContext,
): Result<CanonicalRecord[]> {
  const out: CanonicalRecord[] = [];
  for (let i = 0; i < elements.length; i++) {
    const result = profile.normalize(elements[i], options, context);
    if (!result.ok) return elementError(i, result.error);
    for (const record of result.value) out.push(record);
  }
  return ok(out);
}

function elementError(
  index: number,
  error: StreamError,
): { ok: false; error: StreamError } {
  return fail(error.kind, `Element ${index}: ${error.message}`, {
    ...error.detail,
    index,
  });
}

/** Whether `value` is a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Checks that `raw` has only `allowed` keys; the message names the first
 * other key with its dotted `path` (profiles.md §1: path-qualified messages).
 */
export function checkKeys(
  raw: Record<string, unknown>,
  allowed: readonly string[],
  path: string,
): Result<void> {
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) {
      return fail("bad_request", `Unknown key "${path}.${key}"`, {
        path: `${path}.${key}`,
      });
    }
  }
  return ok(undefined);
}

/** A 400 naming the option at `path`. */
export function badOption(
  path: string,
  message: string,
): { ok: false; error: StreamError } {
  return fail("bad_request", `Invalid "${path}": ${message}`, { path });
}

/**
 * The stream named by `observability.request.<field>` (profiles.md: an
 * evlog stream names its traces stream, an otel-traces stream its events
 * stream): an object with that one key, holding a non-empty string.
 */
export function observabilityStream(
  raw: unknown,
  field: "eventsStream" | "tracesStream",
): Result<string> {
  const path = "profile.observability";
  if (!isObject(raw)) return badOption(path, "must be an object");
  const keys = checkKeys(raw, ["request"], path);
  if (!keys.ok) return keys;
  const request = raw.request;
  if (!isObject(request)) {
    return badOption(`${path}.request`, "must be an object");
  }
  const rkeys = checkKeys(request, [field], `${path}.request`);
  if (!rkeys.ok) return rkeys;
  const stream = request[field];
  if (typeof stream !== "string" || stream === "") {
    return badOption(`${path}.request.${field}`, "must be a non-empty string");
  }
  return ok(stream);
}

/**
 * Parses an optional array of non-empty strings of at most `max` items;
 * `fallback` when absent.
 */
export function stringList(
  raw: unknown,
  path: string,
  max: number,
  fallback: string[],
): Result<string[]> {
  if (raw === undefined) return ok(fallback);
  if (!Array.isArray(raw)) {
    return badOption(path, "must be an array of strings");
  }
  if (raw.length > max) return badOption(path, `at most ${max} items`);
  for (const item of raw) {
    if (typeof item !== "string" || item.trim() === "") {
      return badOption(path, "items must be non-empty strings");
    }
  }
  return ok([...raw]);
}

/**
 * Sets an own property, even one named `__proto__` (which plain assignment
 * would treat as the prototype), so user keys survive as data.
 */
export function setField(
  target: Record<string, unknown>,
  key: string,
  value: unknown,
): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else target[key] = value;
}
