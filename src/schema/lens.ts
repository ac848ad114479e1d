/**
 * @module
 * Lenses (`durable.lens/v1`): declarative, forward-only edits that upgrade a
 * record written under schema version N to version N+1. This module parses
 * a lens document, compiles its pointers, and applies it to a parsed JSON
 * value. Whether a lens is safe for two schemas is `proof.ts`'s question.
 *
 * Two departures from the lens format's first implementation, on purpose:
 * `add` leaves a present value that fits the op's `schema` alone (it inserts
 * when absent, and replaces only a value the new field could not hold), and
 * `in`/`map` write back a nested root their ops replaced.
 *
 * About 640 lines, kept together: the eleven ops and six builtins share one
 * compiled-op form and one apply loop, and reading one op means reading
 * the loop it runs in.
 */

import { fail, ok, type Result } from "../errors.ts";
import { childOf, parsePointer } from "./pointer.ts";
import {
  type CompiledSchema,
  compileSchema,
  isPlainObject,
  isStrictDateTime,
} from "./validate.ts";

/** The JSON type names `convert` checks. */
export type JsonTypeName =
  | "string"
  | "number"
  | "integer"
  | "boolean"
  | "null"
  | "object"
  | "array";

/** The six named conversions. */
export type Builtin =
  | "lowercase"
  | "uppercase"
  | "string_to_int"
  | "int_to_string"
  | "rfc3339_to_unix_millis"
  | "unix_millis_to_rfc3339";

/** A `convert` mapping: a lookup table or a builtin. */
export type Transform =
  | { map: Record<string, unknown>; default?: unknown }
  | { builtin: Builtin };

/** One lens operation, as written in the document. */
export type LensOp =
  | { op: "rename"; from: string; to: string }
  | { op: "copy"; from: string; to: string }
  | { op: "add"; path: string; schema: unknown; default?: unknown }
  | { op: "remove"; path: string; schema: unknown; default?: unknown }
  | {
    op: "hoist";
    host: string;
    name: string;
    to: string;
    removeFromHost?: boolean;
  }
  | {
    op: "plunge";
    from: string;
    host: string;
    name: string;
    createHost?: boolean;
    removeFromSource?: boolean;
  }
  | { op: "wrap"; path: string; mode: "singleton"; reverseMode?: "first" }
  | { op: "head"; path: string; reverseMode?: "singleton" }
  | {
    op: "convert";
    path: string;
    fromType: JsonTypeName;
    toType: JsonTypeName;
    forward: Transform;
    backward: Transform;
  }
  | { op: "in"; path: string; ops: LensOp[] }
  | { op: "map"; path: string; ops: LensOp[] };

/** A lens document. */
export interface Lens {
  /** Always `durable.lens/v1`. */
  apiVersion: "durable.lens/v1";
  /** The registry's schema name. */
  schema: string;
  /** Version the lens reads. */
  from: number;
  /** Version the lens writes (`from + 1`). */
  to: number;
  /** Free text. */
  description?: string;
  /** The operations, applied in order. */
  ops: LensOp[];
}

/** The lens format's API version. */
export const LENS_API_VERSION = "durable.lens/v1";

// ---- the document's shape ----------------------------------------------

const POINTER = { type: "string", pattern: "^(/.*)?$" };
const TYPE_NAME = {
  enum: ["string", "number", "integer", "boolean", "null", "object", "array"],
};
const TRANSFORM = {
  oneOf: [
    {
      type: "object",
      required: ["map"],
      additionalProperties: false,
      properties: { map: { type: "object" }, default: true },
    },
    {
      type: "object",
      required: ["builtin"],
      additionalProperties: false,
      properties: {
        builtin: {
          enum: [
            "lowercase",
            "uppercase",
            "string_to_int",
            "int_to_string",
            "rfc3339_to_unix_millis",
            "unix_millis_to_rfc3339",
          ],
        },
      },
    },
  ],
};
const OPS = { type: "array", minItems: 1, items: { type: "object" } };

function opShape(required: string[], properties: Record<string, unknown>) {
  return {
    type: "object",
    required: ["op", ...required],
    additionalProperties: false,
    properties: { op: { type: "string" }, ...properties },
  };
}

/** Each operation's fields, as JSON Schema (nested `ops` checked one by one). */
const OP_SHAPES: Record<LensOp["op"], object> = {
  rename: opShape(["from", "to"], { from: POINTER, to: POINTER }),
  copy: opShape(["from", "to"], { from: POINTER, to: POINTER }),
  add: opShape(["path", "schema"], { path: POINTER, schema: {}, default: {} }),
  remove: opShape(["path", "schema"], {
    path: POINTER,
    schema: {},
    default: {},
  }),
  hoist: opShape(["host", "name", "to"], {
    host: POINTER,
    name: { type: "string" },
    to: POINTER,
    removeFromHost: { type: "boolean" },
  }),
  plunge: opShape(["from", "host", "name"], {
    from: POINTER,
    host: POINTER,
    name: { type: "string" },
    createHost: { type: "boolean" },
    removeFromSource: { type: "boolean" },
  }),
  wrap: opShape(["path", "mode"], {
    path: POINTER,
    mode: { const: "singleton" },
    reverseMode: { const: "first" },
  }),
  head: opShape(["path"], {
    path: POINTER,
    reverseMode: { const: "singleton" },
  }),
  convert: opShape(["path", "fromType", "toType", "forward", "backward"], {
    path: POINTER,
    fromType: TYPE_NAME,
    toType: TYPE_NAME,
    forward: TRANSFORM,
    backward: TRANSFORM,
  }),
  in: opShape(["path", "ops"], { path: POINTER, ops: OPS }),
  map: opShape(["path", "ops"], { path: POINTER, ops: OPS }),
};

const DOCUMENT_SHAPE = {
  type: "object",
  required: ["apiVersion", "schema", "from", "to", "ops"],
  additionalProperties: false,
  properties: {
    apiVersion: { const: LENS_API_VERSION },
    schema: { type: "string", minLength: 1 },
    from: { type: "integer", minimum: 0 },
    to: { type: "integer", minimum: 0 },
    description: { type: "string" },
    ops: OPS,
  },
};

/** Nesting of `in`/`map` allowed at most. */
export const LENS_DEPTH_MAX = 32;

/** Fields of each op that must not name the whole document. */
const NOT_ROOT: Partial<Record<LensOp["op"], string[]>> = {
  rename: ["from", "to"],
  copy: ["from", "to"],
  add: ["path"],
  remove: ["path"],
  hoist: ["to"],
  plunge: ["from"],
};

function shapeCheck(
  shape: object,
  value: unknown,
  where: string,
): Result<void> {
  const compiled = compileSchema(shape);
  if (!compiled.ok) throw compiled.error; // our own schema: a bug
  const problem = compiled.value.check(value);
  if (problem === undefined) return ok(undefined);
  return fail("schema_invalid", `Invalid lens: ${where}${problem}`);
}

function checkOps(ops: unknown[], where: string, depth: number): Result<void> {
  if (depth > LENS_DEPTH_MAX) {
    return fail("schema_invalid", `Invalid lens: ${where} nests too deeply`);
  }
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as Record<string, unknown>;
    const at = `${where}ops/${i}: `;
    const name = op.op as LensOp["op"];
    if (typeof name !== "string" || !Object.hasOwn(OP_SHAPES, name)) {
      return fail(
        "schema_invalid",
        `Invalid lens: ${at}unknown op ${JSON.stringify(op.op)}`,
      );
    }
    const shaped = shapeCheck(OP_SHAPES[name], op, at);
    if (!shaped.ok) return shaped;
    for (const field of ["from", "to", "path", "host"]) {
      if (typeof op[field] !== "string") continue;
      const parsed = parsePointer(op[field] as string);
      if (!parsed.ok) {
        return fail(
          "schema_invalid",
          `Invalid lens: ${at}${parsed.error.message}`,
        );
      }
      if (parsed.value.length === 0 && NOT_ROOT[name]?.includes(field)) {
        return fail(
          "schema_invalid",
          `Invalid lens: ${at}${name}.${field} must not be the whole document ("")`,
        );
      }
    }
    if (name === "add" || name === "remove") {
      // The proof reasons about an op's schema out of its document: no refs.
      if (JSON.stringify(op.schema).includes('"$ref"')) {
        return fail(
          "schema_invalid",
          `Invalid lens: ${at}${name}.schema must not use $ref`,
        );
      }
      const schema = compileSchema(op.schema);
      if (!schema.ok) {
        return fail(
          "schema_invalid",
          `Invalid lens: ${at}${schema.error.message}`,
        );
      }
    }
    if (name === "in" || name === "map") {
      const nested = checkOps(op.ops as unknown[], `${at}`, depth + 1);
      if (!nested.ok) return nested;
    }
  }
  return ok(undefined);
}

/** Checks that `value` is a well-formed lens document. */
export function parseLens(value: unknown): Result<Lens> {
  if (!isPlainObject(value)) {
    return fail("schema_invalid", "Invalid lens: must be an object");
  }
  const shaped = shapeCheck(DOCUMENT_SHAPE, value, "");
  if (!shaped.ok) return shaped;
  const ops = checkOps(value.ops as unknown[], "", 0);
  if (!ops.ok) return ops;
  return ok(structuredClone(value) as unknown as Lens);
}

// ---- compiled form -------------------------------------------------------

/** An op with its pointers split into tokens. */
export type CompiledOp =
  | { op: "rename" | "copy"; from: string[]; to: string[] }
  | { op: "add"; path: string[]; value: unknown; fits: CompiledSchema }
  | { op: "remove"; path: string[] }
  | {
    op: "hoist";
    host: string[];
    name: string;
    to: string[];
    removeFromHost: boolean;
  }
  | {
    op: "plunge";
    from: string[];
    host: string[];
    name: string;
    createHost: boolean;
    removeFromSource: boolean;
  }
  | { op: "wrap" | "head"; path: string[] }
  | {
    op: "convert";
    path: string[];
    fromType: JsonTypeName;
    toType: JsonTypeName;
    forward: Transform;
  }
  | { op: "in" | "map"; path: string[]; ops: CompiledOp[] };

function tokens(pointer: string): string[] {
  const parsed = parsePointer(pointer);
  if (!parsed.ok) throw parsed.error; // checked by parseLens
  return parsed.value;
}

/**
 * Compiles the ops of a lens that `parseLens` accepted and whose `add`
 * defaults are filled in (`proof.ts` fills them).
 */
export function compileOps(ops: readonly LensOp[]): CompiledOp[] {
  return ops.map((op): CompiledOp => {
    switch (op.op) {
      case "rename":
      case "copy":
        return { op: op.op, from: tokens(op.from), to: tokens(op.to) };
      case "add": {
        const fits = compileSchema(op.schema);
        if (!fits.ok) throw fits.error;
        return {
          op: "add",
          path: tokens(op.path),
          value: op.default,
          fits: fits.value,
        };
      }
      case "remove":
        return { op: "remove", path: tokens(op.path) };
      case "hoist":
        return {
          op: "hoist",
          host: tokens(op.host),
          name: op.name,
          to: tokens(op.to),
          removeFromHost: op.removeFromHost !== false,
        };
      case "plunge":
        return {
          op: "plunge",
          from: tokens(op.from),
          host: tokens(op.host),
          name: op.name,
          createHost: op.createHost !== false,
          removeFromSource: op.removeFromSource !== false,
        };
      case "wrap":
      case "head":
        return { op: op.op, path: tokens(op.path) };
      case "convert":
        return {
          op: "convert",
          path: tokens(op.path),
          fromType: op.fromType,
          toType: op.toType,
          forward: op.forward,
        };
      case "in":
      case "map":
        return { op: op.op, path: tokens(op.path), ops: compileOps(op.ops) };
    }
  });
}

// ---- application ---------------------------------------------------------

/** Thrown inside `applyOps`; turned into a `Result` at its edge. */
class LensFailure extends Error {}

function failure(message: string): never {
  throw new LensFailure(message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value);
}

/** The container holding the last token of `path`, or a failure. */
function parentOf(
  root: unknown,
  path: readonly string[],
  what: string,
): unknown {
  let current = root;
  for (let i = 0; i < path.length - 1; i++) {
    current = childOf(current, path[i]);
    if (current === undefined) failure(`${what}: missing parent`);
  }
  return current;
}

function get(root: unknown, path: readonly string[]): unknown {
  let current = root;
  for (const token of path) {
    current = childOf(current, token);
    if (current === undefined) return undefined;
  }
  return current;
}

function need(root: unknown, path: readonly string[], what: string): unknown {
  const value = get(root, path);
  if (value === undefined) failure(`${what}: path is absent`);
  return value;
}

/** Sets `path` to `value`; returns the (possibly new) root. */
function set(
  root: unknown,
  path: readonly string[],
  value: unknown,
  what: string,
): unknown {
  if (path.length === 0) return value;
  const parent = parentOf(root, path, what);
  const key = path[path.length - 1];
  if (Array.isArray(parent)) {
    const index = /^(0|[1-9][0-9]*)$/.test(key) ? Number(key) : -1;
    if (index < 0 || index >= parent.length) {
      failure(`${what}: array index out of bounds`);
    }
    parent[index] = value;
  } else if (isObject(parent)) parent[key] = value;
  else failure(`${what}: parent is not a container`);
  return root;
}

function remove(root: unknown, path: readonly string[], what: string): void {
  const parent = parentOf(root, path, what);
  const key = path[path.length - 1];
  if (childOf(parent, key) === undefined) failure(`${what}: path is absent`);
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete (parent as Record<string, unknown>)[key];
}

/** The JSON type of `value` (`integer` for whole numbers). */
export function typeOf(value: unknown): JsonTypeName {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") {
    return Number.isInteger(value) ? "integer" : "number";
  }
  return typeof value as JsonTypeName;
}

/** Whether a value of type `actual` satisfies the type name `wanted`. */
export function typeFits(actual: JsonTypeName, wanted: JsonTypeName): boolean {
  return actual === wanted || (wanted === "number" && actual === "integer");
}

const MILLIS_ABS_MAX = 8.64e15; // the range of a JavaScript Date

/** Runs a builtin; a message for input it does not accept. */
export function runBuiltin(name: Builtin, value: unknown): Result<unknown> {
  const bad = (why: string) => fail("internal", `builtin ${name}: ${why}`);
  switch (name) {
    case "lowercase":
    case "uppercase":
      if (typeof value !== "string") return bad("expects a string");
      return ok(
        name === "lowercase" ? value.toLowerCase() : value.toUpperCase(),
      );
    case "string_to_int": {
      if (typeof value !== "string" || !/^[+-]?[0-9]+$/.test(value)) {
        return bad("expects a base-10 integer string");
      }
      const n = Number(value);
      return Number.isSafeInteger(n) ? ok(n) : bad("integer out of range");
    }
    case "int_to_string":
      if (!Number.isInteger(value)) return bad("expects an integer");
      return ok(String(value));
    case "rfc3339_to_unix_millis": {
      if (typeof value !== "string" || !isStrictDateTime(value)) {
        return bad("expects an RFC 3339 date-time");
      }
      // Date parses at most millisecond precision: cut longer fractions.
      const ms = Date.parse(value.replace(/(\.\d{3})\d+/, "$1"));
      return Number.isNaN(ms) ? bad("date out of range") : ok(ms);
    }
    case "unix_millis_to_rfc3339":
      if (typeof value !== "number" || !Number.isFinite(value)) {
        return bad("expects a number");
      }
      if (Math.abs(value) > MILLIS_ABS_MAX) return bad("date out of range");
      return ok(new Date(value).toISOString());
  }
}

/** Applies a `convert` mapping to one value. */
export function runTransform(
  transform: Transform,
  value: unknown,
): Result<unknown> {
  if ("builtin" in transform) return runBuiltin(transform.builtin, value);
  const key = String(value);
  if (Object.hasOwn(transform.map, key)) return ok(transform.map[key]);
  if (Object.hasOwn(transform, "default")) return ok(transform.default);
  return fail("internal", `convert: no mapping for "${key}" and no default`);
}

function applyOp(root: unknown, op: CompiledOp): unknown {
  const what = op.op;
  switch (op.op) {
    case "rename": {
      const value = need(root, op.from, what);
      remove(root, op.from, what);
      return set(root, op.to, value, what);
    }
    case "copy":
      return set(root, op.to, structuredClone(need(root, op.from, what)), what);
    case "add": {
      const present = get(root, op.path);
      if (present !== undefined && op.fits.check(present) === undefined) {
        return root;
      }
      return set(root, op.path, structuredClone(op.value), what);
    }
    case "remove":
      remove(root, op.path, what);
      return root;
    case "hoist": {
      const host = need(root, op.host, what);
      if (!isObject(host)) failure("hoist: host is not an object");
      if (!Object.hasOwn(host, op.name)) failure("hoist: name is absent");
      const value = host[op.name];
      if (op.removeFromHost) delete host[op.name];
      return set(root, op.to, value, what);
    }
    case "plunge":
      return plunge(root, op);
    case "wrap":
      return set(root, op.path, [need(root, op.path, what)], what);
    case "head": {
      const value = need(root, op.path, what);
      if (!Array.isArray(value) || value.length === 0) {
        failure("head: expects a non-empty array");
      }
      return set(root, op.path, value[0], what);
    }
    case "convert":
      return convert(root, op);
    case "in": {
      const value = need(root, op.path, what);
      if (!isObject(value)) failure("in: expects an object");
      return set(root, op.path, applyAll(value, op.ops), what);
    }
    case "map": {
      const value = need(root, op.path, what);
      if (!Array.isArray(value)) failure("map: expects an array");
      for (let i = 0; i < value.length; i++) {
        value[i] = applyAll(value[i], op.ops);
      }
      return root;
    }
  }
}

function plunge(
  root: unknown,
  op: Extract<CompiledOp, { op: "plunge" }>,
): unknown {
  const value = need(root, op.from, "plunge");
  if (op.removeFromSource) remove(root, op.from, "plunge");
  let host = get(root, op.host);
  if (host === undefined) {
    if (!op.createHost) failure("plunge: host is absent");
    host = {};
    root = set(root, op.host, host, "plunge");
  }
  if (!isObject(host)) failure("plunge: host is not an object");
  host[op.name] = value;
  return root;
}

function convert(
  root: unknown,
  op: Extract<CompiledOp, { op: "convert" }>,
): unknown {
  const value = need(root, op.path, "convert");
  if (!typeFits(typeOf(value), op.fromType)) {
    failure(`convert: expected ${op.fromType}, found ${typeOf(value)}`);
  }
  const out = runTransform(op.forward, value);
  if (!out.ok) failure(`convert: ${out.error.message}`);
  if (!typeFits(typeOf(out.value), op.toType)) {
    failure(`convert: result is ${typeOf(out.value)}, not ${op.toType}`);
  }
  return set(root, op.path, out.value, "convert");
}

function applyAll(root: unknown, ops: readonly CompiledOp[]): unknown {
  for (const op of ops) root = applyOp(root, op);
  return root;
}

/**
 * Applies compiled ops to `value` (which it may change in place) and returns
 * the result; fails with `internal` when the value does not have the shape
 * the ops need (the proof rules that out for records of the old version).
 */
export function applyLens(
  value: unknown,
  ops: readonly CompiledOp[],
): Result<unknown> {
  try {
    return ok(applyAll(value, ops));
  } catch (cause) {
    if (!(cause instanceof LensFailure)) throw cause;
    return fail("internal", `Lens failed: ${cause.message}`);
  }
}
