/**
 * @module
 * Field extraction (specs/search.md §1.1): for a stored record and its schema
 * version, the binding with the largest version ≤ that version picks a JSON
 * pointer; the values there are canonicalized per field kind (analyzed into
 * tokens for text, normalized for keyword). One rule for index builds, scans,
 * filters and rollups alike.
 */

import { TEXT_TOKENS_PER_VALUE_MAX } from "../limits.ts";
import type {
  FieldBinding,
  FieldKind,
  SearchConfig,
  SearchField,
} from "./config.ts";

/** A canonical value: keyword/text string, integer bigint, float/date number, bool. */
export type Scalar = string | number | bigint | boolean;

/** The search values of one record. Absent fields have no entry. */
export interface ExtractedDoc {
  /** Canonical values per field (text fields keep their original strings). */
  values: Map<string, Scalar[]>;
  /** Text fields: the analyzed tokens of each value, in order. */
  tokens: Map<string, string[][]>;
}

/** The binding in force at `version`: the largest binding version ≤ it. */
export function bindingFor(
  bindings: readonly FieldBinding[],
  version: number,
): FieldBinding | undefined {
  let found: FieldBinding | undefined;
  for (const binding of bindings) {
    if (
      binding.version <= version &&
      (found === undefined || binding.version > found.version)
    ) {
      found = binding;
    }
  }
  return found;
}

/** The value at an RFC 6901 pointer, or undefined when the path is missing. */
export function resolvePointer(record: unknown, pointer: string): unknown {
  return resolveParts(record, pointerParts(pointer));
}

/** The unescaped reference tokens of a pointer (`null`: the whole record). */
function pointerParts(pointer: string): string[] | null {
  if (pointer === "") return null;
  return pointer.slice(1).split("/").map((raw) =>
    raw.replace(/~1/g, "/").replace(/~0/g, "~")
  );
}

const INDEX = /^(0|[1-9][0-9]*)$/;

/** `resolvePointer` with the pointer already split (`pointerParts`). */
function resolveParts(record: unknown, parts: string[] | null): unknown {
  if (parts === null) return record;
  let current = record;
  for (const part of parts) {
    if (Array.isArray(current)) {
      if (!INDEX.test(part)) return undefined;
      current = current[Number(part)];
    } else if (typeof current === "object" && current !== null) {
      if (!Object.hasOwn(current, part)) return undefined;
      current = (current as Record<string, unknown>)[part];
    } else {
      return undefined;
    }
  }
  return current;
}

const TOKEN = /[\p{L}\p{N}]+/gu;

/** `unicode_word_v1`: lower-cased runs of letters and digits, at most a fixed number per value. */
export function analyzeText(text: string): string[] {
  // ASCII text (the common case) is split by char codes, several times
  // faster than the Unicode regex; anything else takes the regex. ASCII
  // lower-casing keeps every index, so tokens are cut from the lowered text.
  const tokens: string[] = [];
  let lower: string | undefined;
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x20;
    if (c >= 0x80) return analyzeUnicode(text);
    const word = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x41 && c <= 0x5a);
    if (word) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (tokens.length < TEXT_TOKENS_PER_VALUE_MAX) {
        lower ??= text.toLowerCase();
        tokens.push(lower.slice(start, i));
      }
      start = -1;
    }
  }
  return tokens;
}

/** `analyzeText(text).length`, without building the tokens for ASCII text. */
export function countTokens(text: string): number {
  let count = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return analyzeUnicode(text).length;
    const word = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x41 && c <= 0x5a);
    if (word && !inWord) count++;
    inWord = word;
  }
  return Math.min(count, TEXT_TOKENS_PER_VALUE_MAX);
}

/** `analyzeText` by the Unicode regex: the rule itself, for any text. */
export function analyzeUnicode(text: string): string[] {
  const tokens: string[] = [];
  for (const match of text.matchAll(TOKEN)) {
    if (tokens.length >= TEXT_TOKENS_PER_VALUE_MAX) break;
    tokens.push(match[0].toLowerCase());
  }
  return tokens;
}

/** Applies a keyword normalizer (`identity_v1` when none is set). */
export function normalizeKeyword(field: SearchField, value: string): string {
  return field.normalizer === "lowercase_v1" ? value.toLowerCase() : value;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const DIGITS = /^[0-9]+$/;
const INTEGER = /^[+-]?[0-9]+$/;
const FLOAT = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;

/** Epoch ms of an RFC 3339 timestamp, or undefined when malformed or out of range. */
export function parseRfc3339(text: string): number | undefined {
  const fast = parseUtcMillis(text);
  if (fast !== undefined) return fast;
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const fraction = m[7] === undefined
    ? 0
    : Math.floor(Number(`0${m[7]}`) * 1000);
  let zone = 0;
  if (m[8] !== "Z" && m[8] !== "z") {
    const sign = m[8][0] === "-" ? -1 : 1;
    const [zh, zm] = m[8].slice(1).split(":").map(Number);
    if (zh > 23 || zm > 59) return undefined;
    zone = sign * (zh * 60 + zm) * 60_000;
  }
  const local = utcMillis(year, month, day, hour, minute, second);
  return local === undefined ? undefined : local + fraction - zone;
}

/** Epoch ms of the calendar fields, or undefined when out of range. */
function utcMillis(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): number | undefined {
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 60) {
    return undefined;
  }
  const base = Date.UTC(
    year,
    month - 1,
    day,
    hour,
    minute,
    Math.min(second, 59),
  );
  if (new Date(base).getUTCDate() !== day) return undefined;
  return base;
}

/**
 * The common shape `YYYY-MM-DDTHH:MM:SS.sssZ` (what `toISOString` writes)
 * read by char codes, several times faster than the regex; undefined for
 * any other shape (then the regex decides).
 */
function parseUtcMillis(text: string): number | undefined {
  if (
    text.length !== 24 || text.charCodeAt(4) !== 0x2d ||
    text.charCodeAt(7) !== 0x2d || text.charCodeAt(10) !== 0x54 ||
    text.charCodeAt(13) !== 0x3a || text.charCodeAt(16) !== 0x3a ||
    text.charCodeAt(19) !== 0x2e || text.charCodeAt(23) !== 0x5a
  ) {
    return undefined;
  }
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  const second = digitsAt(text, 17, 2);
  const millis = digitsAt(text, 20, 3);
  if ((year | month | day | hour | minute | second | millis) < 0) {
    return undefined;
  }
  const base = utcMillis(year, month, day, hour, minute, second);
  return base === undefined ? undefined : base + millis;
}

/** The decimal number of `n` ASCII digits at `at`, or -1 when one is not a digit. */
function digitsAt(text: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * The canonical form of one raw value for a field kind (§1.1 table), or
 * undefined when it does not canonicalize. Text values stay strings here;
 * `analyzeText` tokenizes them.
 */
export function canonicalize(
  field: SearchField,
  raw: unknown,
): Scalar | undefined {
  return canonicalizeKind(field.kind, raw, field);
}

function canonicalizeKind(
  kind: FieldKind,
  raw: unknown,
  field: SearchField,
): Scalar | undefined {
  switch (kind) {
    case "keyword":
      return typeof raw === "string" ? normalizeKeyword(field, raw) : undefined;
    case "text":
      return typeof raw === "string" ? raw : undefined;
    case "integer":
      if (typeof raw === "number") {
        return Number.isInteger(raw) ? BigInt(raw) : undefined;
      }
      return typeof raw === "string" && INTEGER.test(raw)
        ? BigInt(raw)
        : undefined;
    case "float": {
      const n = typeof raw === "number"
        ? raw
        : typeof raw === "string" && FLOAT.test(raw)
        ? Number(raw)
        : NaN;
      return Number.isFinite(n) ? n : undefined;
    }
    case "date":
      return canonicalDate(raw);
    case "bool":
      if (typeof raw === "boolean") return raw;
      if (typeof raw !== "string") return undefined;
      return raw.toLowerCase() === "true"
        ? true
        : raw.toLowerCase() === "false"
        ? false
        : undefined;
  }
}

// specs/search.md §1.1: a digits-only string is always epoch ms; other
// strings must be RFC 3339.
function canonicalDate(raw: unknown): number | undefined {
  if (typeof raw === "number") {
    return Number.isSafeInteger(raw) ? raw : undefined;
  }
  if (typeof raw !== "string") return undefined;
  if (DIGITS.test(raw)) {
    const ms = Number(raw);
    return Number.isSafeInteger(ms) ? ms : undefined;
  }
  return parseRfc3339(raw);
}

/**
 * Extracts every declared field of `record`, stored at schema `version`.
 * Arrays at a pointer are flattened one level; `null`, missing and values
 * that do not canonicalize are absent. A non-object record has no fields.
 * With `analyze` false, text fields keep their values but get no tokens.
 */
export function extractFields(
  config: SearchConfig,
  record: unknown,
  version: number,
  analyze = true,
): ExtractedDoc {
  const doc: ExtractedDoc = { values: new Map(), tokens: new Map() };
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    return doc;
  }
  for (const { name, field, parts } of boundFields(config, version)) {
    const found = resolveParts(record, parts);
    const raws = Array.isArray(found) ? found : [found];
    const values: Scalar[] = [];
    for (const raw of raws) {
      const value = raw === null || raw === undefined
        ? undefined
        : canonicalize(field, raw);
      if (value !== undefined) values.push(value);
    }
    if (values.length === 0) continue;
    doc.values.set(name, values);
    if (field.kind === "text" && analyze) {
      doc.tokens.set(name, values.map((v) => analyzeText(v as string)));
    }
  }
  return doc;
}

/** A field with a binding at some version, its pointer split. */
interface BoundField {
  name: string;
  field: SearchField;
  parts: string[] | null;
}

const bound = new WeakMap<SearchConfig, Map<number, BoundField[]>>();

/**
 * The fields of `config` bound at `version`, in declaration order, worked
 * out once per config object and version (configs are not mutated once
 * validated).
 */
function boundFields(config: SearchConfig, version: number): BoundField[] {
  let byVersion = bound.get(config);
  if (byVersion === undefined) {
    byVersion = new Map();
    bound.set(config, byVersion);
  }
  let fields = byVersion.get(version);
  if (fields === undefined) {
    fields = [];
    for (const [name, field] of Object.entries(config.fields)) {
      const binding = bindingFor(field.bindings, version);
      if (binding === undefined) continue;
      fields.push({ name, field, parts: pointerParts(binding.jsonPointer) });
    }
    byVersion.set(version, fields);
  }
  return fields;
}

/** A canonical value as JSON: integers beyond 2^53 become decimal strings. */
export function scalarToJson(value: Scalar): string | number | boolean {
  if (typeof value !== "bigint") return value;
  return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
}
