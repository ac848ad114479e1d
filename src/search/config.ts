/**
 * @module
 * The `search` section of a stream's registry: its types, its validation
 * (every rule of specs/search.md §1, each failure naming the offending path)
 * and the plan hash that decides when indexes built for it are stale.
 *
 * About 630 lines: one validator per section of the config (fields,
 * aliases, default fields, rollups), all sharing the path-qualified error
 * helpers; the section is validated as one document.
 */

import { fail, ok, type Result } from "../errors.ts";
import {
  SEARCH_FIELD_BINDINGS_MAX,
  SEARCH_FIELDS_MAX,
  SEARCH_NAME_CHARS_MAX,
  SEARCH_ROLLUP_DIMENSIONS_MAX,
  SEARCH_ROLLUP_INTERVALS_MAX,
  SEARCH_ROLLUP_MEASURES_MAX,
  SEARCH_ROLLUPS_MAX,
} from "../limits.ts";
import { compileQuery } from "./compile.ts";
import { parseQuery } from "./query.ts";

/** The kinds a search field may have. */
export type FieldKind =
  | "keyword"
  | "text"
  | "integer"
  | "float"
  | "date"
  | "bool";
/** Every field kind, in the spec's order. */
export const FIELD_KINDS: readonly FieldKind[] = [
  "keyword",
  "text",
  "integer",
  "float",
  "date",
  "bool",
];
/** Capability bits a field may set (`contains` is accepted and unused). */
export const CAPABILITIES = [
  "exact",
  "prefix",
  "column",
  "exists",
  "sortable",
  "aggregatable",
  "positions",
  "contains",
] as const;
/** One capability bit. */
export type Capability = typeof CAPABILITIES[number];

/** Where a field lives in records of a schema version and later ones. */
export interface FieldBinding {
  /** First schema version this pointer applies to. */
  version: number;
  /** RFC 6901 JSON pointer into the stored record. */
  jsonPointer: string;
}

/** One declared search field. */
export type SearchField =
  & { kind: FieldKind; bindings: FieldBinding[] }
  & {
    [C in Capability]?: boolean;
  }
  & {
    analyzer?: "unicode_word_v1";
    normalizer?: "identity_v1" | "lowercase_v1";
  };

/** A rollup measure. */
export type Measure =
  | { kind: "count"; include?: string }
  | { kind: "summary"; field: string; histogram?: "log2_v1" }
  | {
    kind: "summary_parts";
    countJsonPointer: string;
    sumJsonPointer: string;
    minJsonPointer: string;
    maxJsonPointer: string;
    histogramJsonPointer?: string;
  };

/** A declared rollup: time-bucketed measures per group of dimensions. */
export interface Rollup {
  /** A `date` field; defaults to `primaryTimestampField`. */
  timestampField?: string;
  /** `exact` fields to group by. */
  dimensions?: string[];
  /** Bucket widths, `<n>(ms|s|m|h|d)`. */
  intervals: string[];
  /** Measures by name. */
  measures: Record<string, Measure>;
}

/** A stream's `search` section. */
export interface SearchConfig {
  /** The `date` field that orders hits after the score. */
  primaryTimestampField?: string;
  /** Alternative names for declared fields. */
  aliases?: Record<string, string>;
  /** Fields bare terms search, with boosts. */
  defaultFields?: { field: string; boost?: number }[];
  /** Fields by name. */
  fields: Record<string, SearchField>;
  /** Rollups by name. */
  rollups?: Record<string, Rollup>;
}

/** The indexing plan of a config: a generation bumped when the hash changes. */
export interface SearchPlan {
  /** Starts at 1; bumped on every change of `hash`. */
  generation: number;
  /** Hex hash of the canonical JSON of the config. */
  hash: string;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]*$/;
const INTERVAL = /^([1-9][0-9]{0,11})(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const TYPED_KINDS: readonly FieldKind[] = ["integer", "float", "date", "bool"];

/** The field declared as `name`, never one inherited from `Object.prototype`. */
export function fieldOf(
  fields: Record<string, SearchField>,
  name: string,
): SearchField | undefined {
  return Object.hasOwn(fields, name) ? fields[name] : undefined;
}

/** Thrown inside validation and turned into a `Result` at its entry. */
class ConfigProblem extends Error {
  constructor(readonly path: string, message: string) {
    super(message);
  }
}

function problem(path: string, message: string): never {
  throw new ConfigProblem(path, message);
}

/** Milliseconds of an interval such as `1m`, or undefined when malformed. */
export function intervalMs(text: string): number | undefined {
  const match = INTERVAL.exec(text);
  if (match === null) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2]];
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

/** Whether `pointer` is a syntactically valid RFC 6901 JSON pointer. */
export function isJsonPointer(pointer: unknown): pointer is string {
  if (typeof pointer !== "string") return false;
  if (pointer !== "" && !pointer.startsWith("/")) return false;
  return !/~(?![01])/.test(pointer);
}

/**
 * Validates an untrusted `search` section. Unknown keys anywhere, bad names,
 * kinds, capabilities, references, rollups or limits fail with `bad_request`
 * whose message and `detail.path` name the offending path
 * (`search.fields.status.kind`).
 */
export function validateSearchConfig(input: unknown): Result<SearchConfig> {
  try {
    const config = checkConfig(input);
    checkIncludes(config);
    return ok(config);
  } catch (error) {
    if (!(error instanceof ConfigProblem)) throw error;
    return fail(
      "bad_request",
      `Invalid search config at ${error.path}: ${error.message}`,
      {
        path: error.path,
      },
    );
  }
}

function object(
  value: unknown,
  path: string,
  keys: readonly string[],
): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    problem(path, "must be an object");
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!keys.includes(key)) problem(`${path}.${key}`, "unknown key");
  }
  return record;
}

function dictionary(
  value: unknown,
  path: string,
  max: number,
): [string, unknown][] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    problem(path, "must be an object");
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > max) problem(path, `at most ${max} entries`);
  for (const [name] of entries) checkName(name, `${path}.${name}`);
  return entries;
}

function checkName(name: unknown, path: string): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    problem(path, "name must match ^[a-zA-Z0-9][a-zA-Z0-9._-]*$");
  }
  if (name.length > SEARCH_NAME_CHARS_MAX) {
    problem(path, `name longer than ${SEARCH_NAME_CHARS_MAX} characters`);
  }
  return name;
}

function array(
  value: unknown,
  path: string,
  max: number,
  nonEmpty: boolean,
): unknown[] {
  if (!Array.isArray(value)) problem(path, "must be an array");
  if (nonEmpty && value.length === 0) problem(path, "must not be empty");
  if (value.length > max) problem(path, `at most ${max} entries`);
  return value;
}

function checkConfig(input: unknown): SearchConfig {
  const raw = object(input, "search", [
    "primaryTimestampField",
    "aliases",
    "defaultFields",
    "fields",
    "rollups",
  ]);
  if (raw.fields === undefined) problem("search.fields", "is required");
  const fields: Record<string, SearchField> = {};
  for (
    const [name, value] of dictionary(
      raw.fields,
      "search.fields",
      SEARCH_FIELDS_MAX,
    )
  ) {
    fields[name] = checkField(value, `search.fields.${name}`);
  }
  const config: SearchConfig = { fields };
  if (raw.primaryTimestampField !== undefined) {
    const name = raw.primaryTimestampField;
    const path = "search.primaryTimestampField";
    if (typeof name !== "string" || fieldOf(fields, name) === undefined) {
      problem(path, "must name a declared field");
    }
    if (fields[name].kind !== "date") {
      problem(path, `field "${name}" is not a date field`);
    }
    config.primaryTimestampField = name;
  }
  if (raw.aliases !== undefined) {
    config.aliases = {};
    for (
      const [alias, target] of dictionary(
        raw.aliases,
        "search.aliases",
        SEARCH_FIELDS_MAX,
      )
    ) {
      const path = `search.aliases.${alias}`;
      if (typeof target !== "string" || fieldOf(fields, target) === undefined) {
        problem(path, "must name a declared field");
      }
      if (fieldOf(fields, alias) !== undefined) {
        problem(path, "alias shadows a declared field");
      }
      config.aliases[alias] = target;
    }
  }
  if (raw.defaultFields !== undefined) {
    config.defaultFields = checkDefaultFields(raw.defaultFields, fields);
  }
  if (raw.rollups !== undefined) {
    config.rollups = {};
    for (
      const [name, value] of dictionary(
        raw.rollups,
        "search.rollups",
        SEARCH_ROLLUPS_MAX,
      )
    ) {
      config.rollups[name] = checkRollup(
        value,
        `search.rollups.${name}`,
        config,
      );
    }
  }
  return config;
}

function checkDefaultFields(
  value: unknown,
  fields: Record<string, SearchField>,
): { field: string; boost: number }[] {
  const out: { field: string; boost: number }[] = [];
  const items = array(value, "search.defaultFields", SEARCH_FIELDS_MAX, false);
  items.forEach((item, i) => {
    const path = `search.defaultFields[${i}]`;
    const entry = object(item, path, ["field", "boost"]);
    const field = entry.field;
    if (typeof field !== "string" || fieldOf(fields, field) === undefined) {
      problem(`${path}.field`, "must name a declared field");
    }
    const kind = fields[field].kind;
    if (kind !== "text" && kind !== "keyword") {
      problem(`${path}.field`, `field "${field}" is neither text nor keyword`);
    }
    if (out.some((d) => d.field === field)) {
      problem(`${path}.field`, "duplicate field");
    }
    const boost = entry.boost ?? 1;
    if (typeof boost !== "number" || !Number.isFinite(boost) || boost <= 0) {
      problem(`${path}.boost`, "must be a number > 0");
    }
    out.push({ field, boost });
  });
  return out;
}

const FIELD_KEYS = [
  "kind",
  "bindings",
  "analyzer",
  "normalizer",
  ...CAPABILITIES,
];

function checkField(value: unknown, path: string): SearchField {
  const raw = object(value, path, FIELD_KEYS);
  const kind = raw.kind;
  if (typeof kind !== "string" || !FIELD_KINDS.includes(kind as FieldKind)) {
    problem(`${path}.kind`, `must be one of ${FIELD_KINDS.join(", ")}`);
  }
  const field = {
    kind,
    bindings: checkBindings(raw.bindings, `${path}.bindings`),
  } as SearchField;
  for (const bit of CAPABILITIES) {
    if (raw[bit] === undefined) continue;
    if (typeof raw[bit] !== "boolean") {
      problem(`${path}.${bit}`, "must be a boolean");
    }
    field[bit] = raw[bit] as boolean;
  }
  if (raw.analyzer !== undefined) {
    if (raw.analyzer !== "unicode_word_v1") {
      problem(`${path}.analyzer`, "must be unicode_word_v1");
    }
    field.analyzer = raw.analyzer;
  }
  if (raw.normalizer !== undefined) {
    if (raw.normalizer !== "identity_v1" && raw.normalizer !== "lowercase_v1") {
      problem(`${path}.normalizer`, "must be identity_v1 or lowercase_v1");
    }
    field.normalizer = raw.normalizer;
  }
  checkKindRules(field, path);
  return field;
}

function checkKindRules(field: SearchField, path: string): void {
  if (field.kind === "text") {
    if (field.analyzer === undefined) {
      problem(`${path}.analyzer`, "text fields require an analyzer");
    }
    for (const bit of ["column", "sortable", "aggregatable"] as const) {
      if (field[bit] !== undefined) {
        problem(`${path}.${bit}`, "not allowed on text fields");
      }
    }
  } else if (field.positions !== undefined) {
    problem(`${path}.positions`, "only text fields may set positions");
  }
  if (field.kind === "keyword" && field.analyzer !== undefined) {
    problem(`${path}.analyzer`, "not allowed on keyword fields");
  }
  if (TYPED_KINDS.includes(field.kind)) {
    for (
      const key of ["prefix", "contains", "normalizer", "analyzer"] as const
    ) {
      if (field[key] !== undefined) {
        problem(`${path}.${key}`, `not allowed on ${field.kind} fields`);
      }
    }
  }
}

function checkBindings(value: unknown, path: string): FieldBinding[] {
  const items = array(value, path, SEARCH_FIELD_BINDINGS_MAX, true);
  const bindings = items.map((item, i) => {
    const at = `${path}[${i}]`;
    const raw = object(item, at, ["version", "jsonPointer"]);
    const version = raw.version;
    if (
      typeof version !== "number" || !Number.isSafeInteger(version) ||
      version < 1
    ) {
      problem(`${at}.version`, "must be a positive integer");
    }
    if (!isJsonPointer(raw.jsonPointer)) {
      problem(`${at}.jsonPointer`, "must be a JSON pointer");
    }
    return { version, jsonPointer: raw.jsonPointer };
  });
  const versions = new Set<number>();
  bindings.forEach((b, i) => {
    if (versions.has(b.version)) {
      problem(`${path}[${i}].version`, "duplicate version");
    }
    versions.add(b.version);
  });
  return bindings.sort((a, b) => a.version - b.version);
}

function checkRollup(
  value: unknown,
  path: string,
  config: SearchConfig,
): Rollup {
  const raw = object(value, path, [
    "timestampField",
    "dimensions",
    "intervals",
    "measures",
  ]);
  const timestampField = raw.timestampField ?? config.primaryTimestampField;
  if (
    typeof timestampField !== "string" ||
    fieldOf(config.fields, timestampField)?.kind !== "date"
  ) {
    problem(
      `${path}.timestampField`,
      "must name a date field (or set primaryTimestampField)",
    );
  }
  const rollup: Rollup = { timestampField, intervals: [], measures: {} };
  if (raw.dimensions !== undefined) {
    const at = `${path}.dimensions`;
    const dims = array(raw.dimensions, at, SEARCH_ROLLUP_DIMENSIONS_MAX, false);
    rollup.dimensions = dims.map((dim, i) => {
      if (
        typeof dim !== "string" || fieldOf(config.fields, dim)?.exact !== true
      ) {
        problem(`${at}[${i}]`, "must name an exact field");
      }
      if (dims.indexOf(dim) !== i) {
        problem(`${at}[${i}]`, "duplicate dimension");
      }
      return dim;
    });
  }
  const intervals = array(
    raw.intervals,
    `${path}.intervals`,
    SEARCH_ROLLUP_INTERVALS_MAX,
    true,
  );
  rollup.intervals = intervals.map((interval, i) => {
    const at = `${path}.intervals[${i}]`;
    if (typeof interval !== "string" || intervalMs(interval) === undefined) {
      problem(at, "must be <n>(ms|s|m|h|d) with n > 0");
    }
    if (intervals.indexOf(interval) !== i) problem(at, "duplicate interval");
    return interval;
  });
  const measures = dictionary(
    raw.measures,
    `${path}.measures`,
    SEARCH_ROLLUP_MEASURES_MAX,
  );
  if (measures.length === 0) problem(`${path}.measures`, "must not be empty");
  for (const [name, measure] of measures) {
    rollup.measures[name] = checkMeasure(
      measure,
      `${path}.measures.${name}`,
      config,
    );
  }
  return rollup;
}

const PART_POINTERS = [
  "countJsonPointer",
  "sumJsonPointer",
  "minJsonPointer",
  "maxJsonPointer",
] as const;

function checkMeasure(
  value: unknown,
  path: string,
  config: SearchConfig,
): Measure {
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (kind === "count") {
    const raw = object(value, path, ["kind", "include"]);
    if (raw.include === undefined) return { kind };
    if (typeof raw.include !== "string" || raw.include.trim() === "") {
      problem(`${path}.include`, "must be a non-empty query");
    }
    return { kind, include: raw.include };
  }
  if (kind === "summary") {
    const raw = object(value, path, ["kind", "field", "histogram"]);
    const field = raw.field;
    const declared = typeof field === "string"
      ? fieldOf(config.fields, field)
      : undefined;
    if (
      declared === undefined || declared.aggregatable !== true ||
      (declared.kind !== "integer" && declared.kind !== "float")
    ) {
      problem(
        `${path}.field`,
        "must name an aggregatable integer or float field",
      );
    }
    if (raw.histogram !== undefined && raw.histogram !== "log2_v1") {
      problem(`${path}.histogram`, "must be log2_v1");
    }
    return raw.histogram === undefined ? { kind, field: field as string } : {
      kind,
      field: field as string,
      histogram: "log2_v1",
    };
  }
  if (kind === "summary_parts") {
    const raw = object(value, path, [
      "kind",
      ...PART_POINTERS,
      "histogramJsonPointer",
    ]);
    for (const key of PART_POINTERS) {
      if (!isJsonPointer(raw[key])) {
        problem(`${path}.${key}`, "must be a JSON pointer");
      }
    }
    if (
      raw.histogramJsonPointer !== undefined &&
      !isJsonPointer(raw.histogramJsonPointer)
    ) {
      problem(`${path}.histogramJsonPointer`, "must be a JSON pointer");
    }
    return raw as Measure;
  }
  problem(`${path}.kind`, "must be count, summary or summary_parts");
}

/** Every rollup `include` must parse and compile as a filter. */
function checkIncludes(config: SearchConfig): void {
  for (const [rollupName, rollup] of Object.entries(config.rollups ?? {})) {
    for (const [name, measure] of Object.entries(rollup.measures)) {
      if (measure.kind !== "count" || measure.include === undefined) continue;
      const path = `search.rollups.${rollupName}.measures.${name}.include`;
      const parsed = parseQuery(measure.include);
      const compiled = parsed.ok
        ? compileQuery(config, parsed.value, "filter")
        : parsed;
      if (!compiled.ok) problem(path, compiled.error.message);
    }
  }
}

/** JSON with object keys sorted, so equal configs hash equally. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const keys = Object.keys(value).sort();
    const body = keys.map((k) =>
      `${JSON.stringify(k)}:${
        canonicalJson((value as Record<string, unknown>)[k])
      }`
    );
    return `{${body.join(",")}}`;
  }
  return JSON.stringify(value);
}

/** A 64-bit FNV-1a hash of the canonical JSON of a validated config, in hex. */
export function searchConfigHash(config: SearchConfig): string {
  const bytes = new TextEncoder().encode(canonicalJson(config));
  let hash = 0xcbf29ce484222325n;
  for (const byte of bytes) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}

/**
 * The plan for `config` after `previous`: the same plan when the hash is
 * unchanged, else the next generation (the first plan has generation 1).
 */
export function nextSearchPlan(
  previous: SearchPlan | undefined,
  config: SearchConfig,
): SearchPlan {
  const hash = searchConfigHash(config);
  if (previous === undefined) return { generation: 1, hash };
  if (previous.hash === hash) return previous;
  return { generation: previous.generation + 1, hash };
}

/**
 * `config` with only the fields named in `names` (unknown names ignored):
 * extraction over it skips the rest, for scans that read a few fields.
 */
export function withFields(
  config: SearchConfig,
  names: Iterable<string>,
): SearchConfig {
  const fields: Record<string, SearchField> = {};
  for (const name of names) {
    const field = fieldOf(config.fields, name);
    if (field !== undefined) fields[name] = field;
  }
  return { ...config, fields };
}

/** The declared field a query names, through aliases; undefined when unknown. */
export function resolveFieldName(
  config: SearchConfig,
  name: string,
): string | undefined {
  if (Object.hasOwn(config.fields, name)) return name;
  const target = config.aliases?.[name];
  return target !== undefined && Object.hasOwn(config.aliases!, name)
    ? target
    : undefined;
}
