/**
 * @module
 * A stream's schema registry: its versions, the offsets where each version
 * starts (boundaries), the lenses between versions, the routing-key pointer
 * and the stored `search` configuration. Pure: `planSchemaUpdate` turns a
 * `POST .../_schema` body and the stream's tail into the next registry, and
 * the engine stores it atomically with respect to appends.
 */

import { fail, ok, type Result } from "../errors.ts";
import { type CompiledOp, compileOps, type Lens, parseLens } from "./lens.ts";
import { fillDefaults, proveLens, type Schema } from "./proof.ts";
import { parsePointer } from "./pointer.ts";
import {
  type CompiledSchema,
  compileSchema,
  isPlainObject,
} from "./validate.ts";

/** The registry format's API version. */
export const REGISTRY_API_VERSION = "durable.streams/schema-registry/v1";
/** One schema's serialized size at most. */
export const SCHEMA_BYTES_MAX = 256 * 1024;
/** A whole registry's serialized size at most. */
export const REGISTRY_BYTES_MAX = 4 * 1024 * 1024;
/** Schema versions per stream at most. */
export const SCHEMA_VERSIONS_MAX = 1000;

/** Where a routing key comes from in each JSON element. */
export interface RoutingKeyRule {
  /** RFC 6901 pointer into each element. */
  jsonPointer: string;
  /** Whether an element without a value there is refused. */
  required: boolean;
}

/** Records at or after `position` were written under `version`. */
export interface Boundary {
  /** Byte position in the stream (an offset's position). */
  position: number;
  /** Schema version from here on. */
  version: number;
}

/** A search plan as the registry stores it (`search/config.ts` computes it). */
export interface SearchPlanRef {
  /** Starts at 1; bumped on every change of the search config. */
  generation: number;
  /** Hex hash of the config's canonical JSON. */
  hash: string;
}

/** A stream's registry, as stored. */
export interface Registry {
  /** The registry's schema name (defaults to the stream name). */
  schema: string;
  /** Latest version; 0 when the stream has no schema. */
  currentVersion: number;
  /** The routing-key rule, or `null`. */
  routingKey: RoutingKeyRule | null;
  /** One per version, in version order. */
  boundaries: Boundary[];
  /** Schemas by version (`"1"`, `"2"`, …). */
  schemas: Record<string, unknown>;
  /** `lenses["N"]` upgrades version N to N+1. */
  lenses: Record<string, Lens>;
  /** The search configuration (validated by the engine before it is stored). */
  search: unknown;
  /**
   * The search plan: a generation bumped whenever `search` changes, and the
   * config's hash. Stored and published with the registry; not part of the
   * API's JSON.
   */
  searchPlan?: SearchPlanRef | null;
  /**
   * Counts the changes (1 after the first): which of two registries of a
   * stream is newer, for publication. Not part of the API's JSON.
   */
  revision: number;
}

/** The registry of a stream with no schema. */
export function emptyRegistry(name: string): Registry {
  return {
    schema: name,
    currentVersion: 0,
    routingKey: null,
    boundaries: [],
    schemas: {},
    lenses: {},
    search: null,
    revision: 0,
  };
}

/** Whether the registry says anything (a stream without one stores no row). */
export function isEmptyRegistry(registry: Registry): boolean {
  return registry.currentVersion === 0 && registry.routingKey === null &&
    registry.search === null;
}

const UPDATE_KEYS = new Set([
  "apiVersion",
  "schema",
  "lens",
  "routingKey",
  "search",
]);

/** What the stream looks like when the update is planned. */
export interface UpdateContext {
  /** The stream's tail position: the new version's boundary. */
  tail: number;
  /** Whether the stream holds no records of its own (tail = fork point). */
  empty: boolean;
}

function invalid(
  message: string,
): { ok: false; error: ReturnType<typeof fail>["error"] } {
  return fail("schema_invalid", message);
}

/**
 * The registry after applying a `POST .../_schema` body, or why not:
 * `schema_invalid` (400) for a bad body, schema, lens or proof,
 * `lens_version_mismatch` (409) for a lens between the wrong versions.
 */
export function planSchemaUpdate(
  current: Registry,
  body: unknown,
  context: UpdateContext,
): Result<Registry> {
  if (!isPlainObject(body)) {
    return invalid("Invalid schema update: body must be a JSON object");
  }
  for (const key of Object.keys(body)) {
    if (!UPDATE_KEYS.has(key)) {
      return invalid(
        `Invalid schema update: unknown key "${key}" (allowed: apiVersion, schema, lens, routingKey, search)`,
      );
    }
  }
  if (
    body.apiVersion !== undefined && body.apiVersion !== REGISTRY_API_VERSION
  ) {
    return invalid(
      `Invalid schema update: apiVersion must be "${REGISTRY_API_VERSION}"`,
    );
  }
  if (body.schema === undefined && body.lens !== undefined) {
    return invalid("Invalid schema update: a lens needs a schema");
  }
  if (
    body.schema === undefined && body.routingKey === undefined &&
    body.search === undefined
  ) {
    return invalid(
      "Invalid schema update: nothing to change (give schema, routingKey or search)",
    );
  }
  let next: Registry = structuredClone(current);
  next.revision = current.revision + 1;
  if (body.schema !== undefined) {
    const evolved = addVersion(next, body.schema, body.lens, context);
    if (!evolved.ok) return evolved;
    next = evolved.value;
  }
  if (body.routingKey !== undefined) {
    const rule = parseRoutingKeyRule(body.routingKey);
    if (!rule.ok) return rule;
    next.routingKey = rule.value;
  }
  if (body.search !== undefined) {
    if (next.currentVersion < 1) {
      return invalid("Invalid schema update: search needs a schema");
    }
    if (!isPlainObject(body.search)) {
      return invalid("Invalid schema update: search must be an object");
    }
    next.search = structuredClone(body.search);
  }
  if (JSON.stringify(next).length > REGISTRY_BYTES_MAX) {
    return invalid(
      `Invalid schema update: the registry would exceed ${REGISTRY_BYTES_MAX} bytes`,
    );
  }
  return ok(next);
}

/** Parses a `routingKey` value: `null` clears the rule. */
export function parseRoutingKeyRule(
  value: unknown,
): Result<RoutingKeyRule | null> {
  if (value === null) return ok(null);
  if (!isPlainObject(value) || typeof value.jsonPointer !== "string") {
    return invalid(
      'Invalid routingKey: must be null or {"jsonPointer": string, "required"?: boolean}',
    );
  }
  for (const key of Object.keys(value)) {
    if (key !== "jsonPointer" && key !== "required") {
      return invalid(`Invalid routingKey: unknown key "${key}"`);
    }
  }
  if (value.required !== undefined && typeof value.required !== "boolean") {
    return invalid("Invalid routingKey: required must be a boolean");
  }
  const tokens = parsePointer(value.jsonPointer);
  if (!tokens.ok) return invalid(`Invalid routingKey: ${tokens.error.message}`);
  if (tokens.value.length === 0) {
    return invalid(
      "Invalid routingKey: jsonPointer must name a member, not the whole element",
    );
  }
  return ok({
    jsonPointer: value.jsonPointer,
    required: value.required === true,
  });
}

function addVersion(
  next: Registry,
  schema: unknown,
  lensValue: unknown,
  context: UpdateContext,
): Result<Registry> {
  if (JSON.stringify(schema)?.length > SCHEMA_BYTES_MAX) {
    return invalid(`Invalid schema: larger than ${SCHEMA_BYTES_MAX} bytes`);
  }
  const compiled = compileSchema(schema);
  if (!compiled.ok) return compiled;
  const version = next.currentVersion + 1;
  if (version > SCHEMA_VERSIONS_MAX) {
    return invalid(
      `Invalid schema update: at most ${SCHEMA_VERSIONS_MAX} versions`,
    );
  }
  if (version === 1 && !context.empty) {
    return invalid("Invalid schema update: first schema requires empty stream");
  }
  if (version > 1 && lensValue === undefined) {
    return invalid(
      `Invalid schema update: lens required (from ${
        version - 1
      } to ${version})`,
    );
  }
  if (lensValue !== undefined) {
    const lens = parseLens(lensValue);
    if (!lens.ok) return lens;
    if (lens.value.from !== version - 1 || lens.value.to !== version) {
      return fail(
        "lens_version_mismatch",
        `Lens goes from ${lens.value.from} to ${lens.value.to}; this update needs ${
          version - 1
        } to ${version}`,
        { from: version - 1, to: version },
      );
    }
    if (lens.value.schema !== next.schema) {
      return invalid(
        `Invalid lens: schema is "${lens.value.schema}", the registry's is "${next.schema}"`,
      );
    }
    let stored = lens.value;
    if (version > 1) {
      const filled = fillDefaults(stored, schema as Schema);
      if (!filled.ok) return filled;
      const proven = proveLens(
        next.schemas[String(version - 1)] as Schema,
        schema as Schema,
        filled.value,
      );
      if (!proven.ok) return proven;
      stored = filled.value;
    }
    next.lenses[String(version - 1)] = stored;
  }
  next.schemas[String(version)] = structuredClone(schema);
  next.boundaries.push({ position: context.tail, version });
  next.currentVersion = version;
  return ok(next);
}

// ---- what appends and reads use -------------------------------------------

/**
 * What the request path needs from a registry, compiled once: the current
 * schema's validator, the routing-key pointer's tokens, and the lenses.
 */
export interface ActiveRegistry {
  /** The registry itself. */
  readonly registry: Registry;
  /** The current version's validator, or `null` without a schema. */
  readonly validator: CompiledSchema | null;
  /** The routing-key rule with its pointer split, or `null`. */
  readonly routingKey:
    | { tokens: string[]; required: boolean; pointer: string }
    | null;
  /** Compiled lens ops by from-version (1 and up). */
  readonly lenses: ReadonlyMap<number, CompiledOp[]>;
}

/** Compiles a stored registry for use on the request path. */
export function activate(registry: Registry): ActiveRegistry {
  let validator: CompiledSchema | null = null;
  if (registry.currentVersion > 0) {
    const compiled = compileSchema(
      registry.schemas[String(registry.currentVersion)],
    );
    if (!compiled.ok) throw compiled.error; // accepted when stored
    validator = compiled.value;
  }
  const lenses = new Map<number, CompiledOp[]>();
  for (let v = 1; v < registry.currentVersion; v++) {
    const lens = registry.lenses[String(v)];
    if (lens !== undefined) lenses.set(v, compileOps(lens.ops));
  }
  let routingKey = null;
  if (registry.routingKey !== null) {
    const tokens = parsePointer(registry.routingKey.jsonPointer);
    if (!tokens.ok) throw tokens.error;
    routingKey = {
      tokens: tokens.value,
      required: registry.routingKey.required,
      pointer: registry.routingKey.jsonPointer,
    };
  }
  return { registry, validator, routingKey, lenses };
}

/** The registry as `GET .../_schema` shows it, offsets rendered by `offsetOf`. */
export function registryJson(
  registry: Registry,
  offsetOf: (position: number) => string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    apiVersion: REGISTRY_API_VERSION,
    schema: registry.schema,
    currentVersion: registry.currentVersion,
  };
  if (registry.routingKey !== null) out.routingKey = registry.routingKey;
  out.boundaries = registry.boundaries.map((b) => ({
    offset: offsetOf(b.position),
    version: b.version,
  }));
  out.schemas = registry.schemas;
  out.lenses = registry.lenses;
  if (registry.search !== null) out.search = registry.search;
  return out;
}

function isSearchPlanRef(value: unknown): value is SearchPlanRef {
  return isPlainObject(value) && Number.isSafeInteger(value.generation) &&
    typeof value.hash === "string";
}

/** Checks a stored registry read back from disk or an object store. */
export function parseStoredRegistry(text: string): Result<Registry> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    return fail(
      "corrupt",
      `Stored schema registry is not JSON: ${(cause as Error).message}`,
    );
  }
  if (
    !isPlainObject(value) || typeof value.schema !== "string" ||
    !Number.isSafeInteger(value.currentVersion) ||
    !Array.isArray(value.boundaries) ||
    !isPlainObject(value.schemas) || !isPlainObject(value.lenses)
  ) {
    return fail("corrupt", "Stored schema registry has the wrong shape");
  }
  return ok({
    schema: value.schema,
    currentVersion: value.currentVersion as number,
    routingKey: (value.routingKey ?? null) as RoutingKeyRule | null,
    boundaries: value.boundaries as Boundary[],
    schemas: value.schemas,
    lenses: value.lenses as Record<string, Lens>,
    search: value.search ?? null,
    ...(isSearchPlanRef(value.searchPlan)
      ? { searchPlan: value.searchPlan }
      : {}),
    revision: Number.isSafeInteger(value.revision)
      ? value.revision as number
      : 0,
  });
}
