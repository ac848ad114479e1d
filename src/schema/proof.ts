/**
 * @module
 * The lens proof: before a lens N→N+1 is accepted, show that it turns every
 * record valid under schema N into one valid under schema N+1, and that none
 * of its ops can fail on such a record.
 *
 * The proof runs the lens on the *schema*: starting from schema N, each op
 * rewrites a schema that over-approximates the records at that point (a
 * `rename` moves a property's subschema, `wrap` makes an array of one item,
 * `convert` maps an enum through its table, …). An op whose precondition the
 * current schema cannot guarantee (a source that may be absent, a parent that
 * may not be an object, a partial conversion of an open set) is refused.
 * Finally the derived schema must be contained in schema N+1 (`subsumes`),
 * a conservative check: keywords it does not model must match exactly.
 * Containment is sound, never complete: a safe lens may be refused, an unsafe
 * one never accepted.
 *
 * About 830 lines, kept together: one schema rewrite per op and the
 * containment check share the same small schema algebra, and soundness is
 * argued over all of them at once.
 */

import { fail, ok, type Result } from "../errors.ts";
import {
  type CompiledOp,
  compileOps,
  type Lens,
  type LensOp,
  runTransform,
  type Transform,
  typeFits,
  typeOf,
} from "./lens.ts";
import { formatPointer, parsePointer } from "./pointer.ts";
import { compileSchema, isPlainObject } from "./validate.ts";

/** A JSON Schema: `true`, `false`, or an object of keywords. */
export type Schema = boolean | Record<string, unknown>;

/** Why a proof step failed. */
class Refusal extends Error {}

function refuse(message: string): never {
  throw new Refusal(message);
}

const ANNOTATIONS = new Set([
  "title",
  "description",
  "default",
  "examples",
  "$comment",
  "$id",
  "$schema",
  "$defs",
  "definitions",
  "readOnly",
  "writeOnly",
  "deprecated",
]);

const LOWER_BOUNDS = [
  "minItems",
  "minLength",
  "minProperties",
  "minimum",
  "exclusiveMinimum",
];
const UPPER_BOUNDS = [
  "maxItems",
  "maxLength",
  "maxProperties",
  "maximum",
  "exclusiveMaximum",
];

// ---- references ----------------------------------------------------------

const REF_DEPTH_MAX = 32;

/** `schema` with every fragment `$ref` replaced by its target. */
export function inlineRefs(root: Schema): Schema {
  const visit = (node: unknown, depth: number): unknown => {
    if (Array.isArray(node)) return node.map((item) => visit(item, depth));
    if (!isPlainObject(node)) return node;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      if (key !== "$ref") out[key] = visit(value, depth);
    }
    if (typeof node.$ref !== "string") return out;
    if (depth >= REF_DEPTH_MAX) {
      refuse(`$ref "${node.$ref}" is recursive; the proof cannot follow it`);
    }
    const path = parsePointer(decodeURIComponent(node.$ref.slice(1)));
    let target: unknown = root;
    for (
      const token of path.ok ? path.value : refuse(`bad $ref "${node.$ref}"`)
    ) {
      target = isPlainObject(target) || Array.isArray(target)
        ? (target as Record<string, unknown>)[token]
        : undefined;
    }
    if (target === undefined) refuse(`$ref "${node.$ref}" names nothing`);
    const resolved = visit(target, depth + 1);
    const siblings = Object.keys(out).filter((k) => !ANNOTATIONS.has(k));
    return siblings.length === 0 ? resolved : { allOf: [out, resolved] };
  };
  return visit(root, 0) as Schema;
}

// ---- what a schema says about types --------------------------------------

/** The JSON types a schema's instances may have, or `null` when unknown. */
export function typesOf(schema: Schema): Set<string> | null {
  if (schema === false) return new Set();
  if (schema === true) return null;
  if ("const" in schema) return new Set([typeOf(schema.const)]);
  if (Array.isArray(schema.enum)) return new Set(schema.enum.map(typeOf));
  if (typeof schema.type === "string") return new Set([schema.type]);
  if (Array.isArray(schema.type)) return new Set(schema.type as string[]);
  if (Array.isArray(schema.anyOf)) {
    const all = new Set<string>();
    for (const branch of schema.anyOf as Schema[]) {
      const types = typesOf(branch);
      if (types === null) return null;
      for (const t of types) all.add(t);
    }
    return all;
  }
  return null;
}

function onlyType(schema: Schema, type: string): boolean {
  const types = typesOf(schema);
  if (types === null || types.size === 0) return false;
  for (const t of types) if (!typeFits(t as never, type as never)) return false;
  return true;
}

function excludesType(schema: Schema, type: string): boolean {
  const types = typesOf(schema);
  return types !== null && !types.has(type) &&
    !(type === "number" && types.has("integer")) &&
    !(type === "integer" && types.has("number"));
}

function deepEqual(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
  if (isPlainObject(value)) {
    return "{" + Object.keys(value).sort().map((k) =>
      JSON.stringify(k) + ":" + canonical(value[k])
    ).join(",") + "}";
  }
  return JSON.stringify(value);
}

// ---- containment ---------------------------------------------------------

/** Whether every value `value` is valid under `schema`. */
function valuesFit(values: readonly unknown[], schema: Schema): boolean {
  const compiled = compileSchema(schema);
  if (!compiled.ok) return false;
  return values.every((v) => compiled.value.check(v) === undefined);
}

/** The schema of property `name` of an object schema `s`. */
function propertyOf(s: Record<string, unknown>, name: string): Schema {
  const props = isPlainObject(s.properties) ? s.properties : {};
  if (Object.hasOwn(props, name)) return props[name] as Schema;
  if (s.patternProperties !== undefined) return true;
  const extra = s.additionalProperties;
  return extra === undefined ? true : extra as Schema;
}

/**
 * Why `inner` may hold a value that `outer` refuses, or `undefined` when
 * every instance of `inner` is an instance of `outer` (as far as the check
 * can tell; see the module comment).
 */
export function containmentGap(
  inner: Schema,
  outer: Schema,
  at = "",
): string | undefined {
  if (outer === true || inner === false) return undefined;
  if (deepEqual(inner, outer)) return undefined;
  if (outer === false) {
    return `${at || "/"}: the new schema allows no value here`;
  }
  const constraints = Object.keys(outer).filter((k) => !ANNOTATIONS.has(k));
  if (constraints.length === 0) return undefined;
  if (inner === true) {
    return `${
      at || "/"
    }: any value is allowed where the new schema constrains it`;
  }
  if ("const" in inner || Array.isArray(inner.enum)) {
    const values = "const" in inner ? [inner.const] : inner.enum as unknown[];
    return valuesFit(values, outer)
      ? undefined
      : `${at || "/"}: a possible value does not fit the new schema`;
  }
  for (const key of ["anyOf", "oneOf"]) {
    if (!Array.isArray(inner[key])) continue;
    const gaps = (inner[key] as Schema[]).map((b) =>
      containmentGap(b, outer, at)
    );
    if (gaps.every((g) => g === undefined)) return undefined;
  }
  if (Array.isArray(inner.allOf)) {
    for (const branch of inner.allOf as Schema[]) {
      if (containmentGap(branch, outer, at) === undefined) return undefined;
    }
  }
  for (const key of constraints) {
    const gap = keywordGap(inner, outer, key, at);
    if (gap !== undefined) return gap;
  }
  return undefined;
}

function keywordGap(
  inner: Record<string, unknown>,
  outer: Record<string, unknown>,
  key: string,
  at: string,
): string | undefined {
  const where = at || "/";
  const value = outer[key];
  switch (key) {
    case "type": {
      const types = typesOf(inner);
      const wanted = typeof value === "string" ? [value] : value as string[];
      if (types === null) {
        return `${where}: type is not declared, the new schema needs ${
          wanted.join("|")
        }`;
      }
      for (const t of types) {
        if (!wanted.some((w) => typeFits(t as never, w as never))) {
          return `${where}: may be ${t}, the new schema needs ${
            wanted.join("|")
          }`;
        }
      }
      return undefined;
    }
    case "required": {
      if (excludesType(inner, "object")) return undefined;
      const has = Array.isArray(inner.required) ? inner.required : [];
      for (const name of value as string[]) {
        if (!has.includes(name)) {
          return `${
            formatPointer([...tokensOf(at), name])
          }: may be absent, the new schema requires it`;
        }
      }
      return undefined;
    }
    case "properties": {
      if (excludesType(inner, "object")) return undefined;
      for (const [name, schema] of Object.entries(value as object)) {
        const gap = containmentGap(
          propertyOf(inner, name),
          schema as Schema,
          formatPointer([...tokensOf(at), name]),
        );
        if (gap !== undefined) return gap;
      }
      return undefined;
    }
    case "additionalProperties":
      return extraPropertiesGap(inner, outer, at);
    case "items": {
      if (excludesType(inner, "array")) return undefined;
      if (Array.isArray(value)) {
        return deepEqual(inner.items, value) &&
            deepEqual(inner.additionalItems, outer.additionalItems)
          ? undefined
          : `${where}: tuple items differ from the new schema`;
      }
      const items = inner.items === undefined
        ? [true]
        : Array.isArray(inner.items)
        ? [
          ...inner.items as Schema[],
          (inner.additionalItems ?? true) as Schema,
        ]
        : [inner.items as Schema];
      for (const item of items) {
        const gap = containmentGap(item, value as Schema, `${at}/*`);
        if (gap !== undefined) return gap;
      }
      return undefined;
    }
    case "anyOf": {
      const branches = value as Schema[];
      return branches.some((b) => containmentGap(inner, b, at) === undefined)
        ? undefined
        : `${where}: fits none of the new schema's anyOf branches`;
    }
    case "allOf": {
      for (const branch of value as Schema[]) {
        const gap = containmentGap(inner, branch, at);
        if (gap !== undefined) return gap;
      }
      return undefined;
    }
  }
  if (LOWER_BOUNDS.includes(key) || UPPER_BOUNDS.includes(key)) {
    const mine = inner[key];
    const lower = LOWER_BOUNDS.includes(key);
    if (
      typeof mine === "number" &&
      (lower ? mine >= (value as number) : mine <= (value as number))
    ) {
      return undefined;
    }
    const applies: Record<string, string> = {
      minItems: "array",
      maxItems: "array",
      minLength: "string",
      maxLength: "string",
      minProperties: "object",
      maxProperties: "object",
    };
    if (excludesType(inner, applies[key] ?? "number")) return undefined;
    return `${where}: the new schema adds ${key} ${JSON.stringify(value)}`;
  }
  return deepEqual(inner[key], value)
    ? undefined
    : `${where}: the new schema's ${key} is not guaranteed by the lens output`;
}

function extraPropertiesGap(
  inner: Record<string, unknown>,
  outer: Record<string, unknown>,
  at: string,
): string | undefined {
  if (excludesType(inner, "object")) return undefined;
  const where = at || "/";
  const known = isPlainObject(outer.properties) ? outer.properties : {};
  if (outer.patternProperties !== undefined) {
    return deepEqual(inner.additionalProperties, outer.additionalProperties) &&
        deepEqual(inner.patternProperties, outer.patternProperties) &&
        deepEqual(inner.properties, outer.properties)
      ? undefined
      : `${where}: patternProperties must match the old schema exactly`;
  }
  const extra = outer.additionalProperties as Schema;
  const mine = isPlainObject(inner.properties) ? inner.properties : {};
  for (const [name, schema] of Object.entries(mine)) {
    if (Object.hasOwn(known, name)) continue;
    const gap = containmentGap(
      schema as Schema,
      extra,
      formatPointer([...tokensOf(at), name]),
    );
    if (gap !== undefined) return gap;
  }
  const rest: Schema = inner.patternProperties !== undefined
    ? true
    : (inner.additionalProperties ?? true) as Schema;
  const gap = containmentGap(rest, extra, `${at}/*`);
  return gap === undefined
    ? undefined
    : `${where}: may have properties the new schema does not allow`;
}

function tokensOf(at: string): string[] {
  const parsed = parsePointer(at);
  return parsed.ok ? parsed.value : [];
}

// ---- running the lens on the schema --------------------------------------

interface Node {
  /** The subschema at the path. */
  schema: Schema;
  /** Whether every instance has a value there. */
  present: boolean;
}

/** The subschema at `path` of `root`, walking only objects known present. */
function locate(root: Schema, path: readonly string[], what: string): Node {
  let schema = root;
  let present = true;
  for (let i = 0; i < path.length; i++) {
    const here = formatPointer(path.slice(0, i)) || '""';
    if (!present) refuse(`${what}: ${here} may be absent`);
    if (onlyType(schema, "array")) {
      refuse(`${what}: ${here} is an array; reach into arrays with "map"`);
    }
    if (!onlyType(schema, "object") || typeof schema === "boolean") {
      refuse(`${what}: ${here} is not known to be an object`);
    }
    const required = Array.isArray(schema.required) &&
      schema.required.includes(path[i]);
    schema = propertyOf(schema, path[i]);
    present = required && schema !== false;
  }
  return { schema, present };
}

function sourceAt(root: Schema, path: readonly string[], what: string): Schema {
  const node = locate(root, path, what);
  if (!node.present) {
    refuse(
      `${what}: ${
        formatPointer(path) || '""'
      } is not required by the schema it reads`,
    );
  }
  return node.schema;
}

/** An object schema reduced to the keywords an edit keeps true. */
function loosen(schema: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { type: "object" };
  out.properties = {
    ...(isPlainObject(schema.properties) ? schema.properties : {}),
  };
  out.required = Array.isArray(schema.required) ? [...schema.required] : [];
  if (
    schema.patternProperties === undefined &&
    schema.additionalProperties !== undefined
  ) {
    out.additionalProperties = schema.additionalProperties;
  }
  return out;
}

/** `root` with the value at `path` replaced (`undefined`: removed). */
function rewrite(
  root: Schema,
  path: readonly string[],
  child: Schema | undefined,
  what: string,
): Schema {
  if (path.length === 0) {
    if (child === undefined) {
      refuse(`${what}: cannot remove the whole document`);
    }
    return child;
  }
  const parent = locate(root, path.slice(0, -1), what);
  if (!parent.present || !onlyType(parent.schema, "object")) {
    refuse(
      `${what}: the parent of ${formatPointer(path)} is not a required object`,
    );
  }
  const edit = (node: Schema, depth: number): Schema => {
    const object = loosen(node as Record<string, unknown>);
    const props = object.properties as Record<string, Schema>;
    const required = object.required as string[];
    const name = path[depth];
    if (depth === path.length - 1) {
      props[name] = child === undefined ? false : child;
      const i = required.indexOf(name);
      if (child === undefined && i >= 0) required.splice(i, 1);
      if (child !== undefined && i < 0) required.push(name);
    } else {
      props[name] = edit(
        propertyOf(node as Record<string, unknown>, name),
        depth + 1,
      );
    }
    return object;
  };
  return edit(root, 0);
}

function deriveOps(
  root: Schema,
  ops: readonly LensOp[],
  where: string,
): Schema {
  for (let i = 0; i < ops.length; i++) {
    root = deriveOp(root, ops[i], `${where}ops/${i} (${ops[i].op})`);
  }
  return root;
}

function pointer(text: string): string[] {
  const parsed = parsePointer(text);
  return parsed.ok ? parsed.value : refuse(parsed.error.message);
}

function deriveOp(root: Schema, op: LensOp, what: string): Schema {
  switch (op.op) {
    case "rename": {
      const from = pointer(op.from);
      const value = sourceAt(root, from, what);
      return rewrite(
        rewrite(root, from, undefined, what),
        pointer(op.to),
        value,
        what,
      );
    }
    case "copy":
      return rewrite(
        root,
        pointer(op.to),
        sourceAt(root, pointer(op.from), what),
        what,
      );
    case "add":
      return deriveAdd(root, op, what);
    case "remove": {
      const path = pointer(op.path);
      sourceAt(root, path, what);
      return rewrite(root, path, undefined, what);
    }
    case "hoist": {
      const host = pointer(op.host);
      const name = [...host, op.name];
      const value = sourceAt(root, name, what);
      if (op.removeFromHost !== false) {
        root = rewrite(root, name, undefined, what);
      }
      return rewrite(root, pointer(op.to), value, what);
    }
    case "plunge":
      return derivePlunge(root, op, what);
    case "wrap": {
      const path = pointer(op.path);
      const items = sourceAt(root, path, what);
      return rewrite(root, path, {
        type: "array",
        items,
        minItems: 1,
        maxItems: 1,
      }, what);
    }
    case "head":
      return deriveHead(root, op.path, what);
    case "convert":
      return deriveConvert(root, op, what);
    case "in": {
      const path = pointer(op.path);
      const value = sourceAt(root, path, what);
      if (!onlyType(value, "object")) {
        refuse(`${what}: ${op.path || '""'} is not known to be an object`);
      }
      return rewrite(root, path, deriveOps(value, op.ops, `${what}: `), what);
    }
    case "map": {
      const path = pointer(op.path);
      const value = sourceAt(root, path, what);
      if (!onlyType(value, "array") || typeof value === "boolean") {
        refuse(`${what}: ${op.path || '""'} is not known to be an array`);
      }
      if (Array.isArray(value.items) || value.prefixItems !== undefined) {
        refuse(`${what}: map over tuple arrays is not supported`);
      }
      const items = deriveOps(
        (value.items ?? true) as Schema,
        op.ops,
        `${what}: `,
      );
      const out: Record<string, unknown> = { type: "array", items };
      if (value.minItems !== undefined) out.minItems = value.minItems;
      if (value.maxItems !== undefined) out.maxItems = value.maxItems;
      return rewrite(root, path, out, what);
    }
  }
}

function deriveAdd(
  root: Schema,
  op: Extract<LensOp, { op: "add" }>,
  what: string,
): Schema {
  const path = pointer(op.path);
  const parent = locate(root, path.slice(0, -1), what);
  if (!parent.present || !onlyType(parent.schema, "object")) {
    refuse(`${what}: the parent of ${op.path} is not a required object`);
  }
  const current = propertyOf(
    parent.schema as Record<string, unknown>,
    path[path.length - 1],
  );
  const inserted: Schema = { const: op.default };
  const child: Schema = current === false
    ? inserted
    : { anyOf: [{ allOf: [op.schema as Schema, current] }, inserted] };
  return rewrite(root, path, child, what);
}

function derivePlunge(
  root: Schema,
  op: Extract<LensOp, { op: "plunge" }>,
  what: string,
): Schema {
  const from = pointer(op.from);
  const value = sourceAt(root, from, what);
  if (op.removeFromSource !== false) {
    root = rewrite(root, from, undefined, what);
  }
  const hostPath = pointer(op.host);
  const host = locate(root, hostPath, what);
  const created: Schema = {
    type: "object",
    properties: { [op.name]: value },
    required: [op.name],
  };
  if (host.present) {
    if (!onlyType(host.schema, "object")) {
      refuse(`${what}: host ${op.host || '""'} is not known to be an object`);
    }
    return rewrite(root, [...hostPath, op.name], value, what);
  }
  if (op.createHost === false) {
    refuse(`${what}: host ${op.host} may be absent and createHost is false`);
  }
  if (host.schema === false) return rewrite(root, hostPath, created, what);
  if (!onlyType(host.schema, "object")) {
    refuse(`${what}: host ${op.host} may be absent or not an object`);
  }
  const filled = rewrite(host.schema, [op.name], value, what);
  return rewrite(root, hostPath, { anyOf: [filled, created] }, what);
}

function deriveHead(root: Schema, at: string, what: string): Schema {
  const path = pointer(at);
  const value = sourceAt(root, path, what);
  if (typeof value === "boolean" || !onlyType(value, "array")) {
    refuse(`${what}: ${at || '""'} is not known to be an array`);
  }
  if ("const" in value || Array.isArray(value.enum)) {
    const values = "const" in value ? [value.const] : value.enum as unknown[];
    if (!values.every((v) => Array.isArray(v) && v.length > 0)) {
      refuse(`${what}: ${at} may be an empty array`);
    }
    return rewrite(
      root,
      path,
      { enum: values.map((v) => (v as unknown[])[0]) },
      what,
    );
  }
  if (typeof value.minItems !== "number" || value.minItems < 1) {
    refuse(`${what}: ${at || '""'} needs minItems >= 1 in the schema it reads`);
  }
  const first: Schema = Array.isArray(value.items)
    ? ((value.items[0] ?? value.additionalItems ?? true) as Schema)
    : ((value.items ?? true) as Schema);
  return rewrite(root, path, first, what);
}

const TOTAL_BUILTINS: Record<string, Schema | undefined> = {
  lowercase: { type: "string" },
  uppercase: { type: "string" },
  int_to_string: { type: "string" },
};

function deriveConvert(
  root: Schema,
  op: Extract<LensOp, { op: "convert" }>,
  what: string,
): Schema {
  const path = pointer(op.path);
  const value = sourceAt(root, path, what);
  const types = typesOf(value);
  if (types === null) refuse(`${what}: the type of ${op.path} is not declared`);
  for (const t of types) {
    if (!typeFits(t as never, op.fromType)) {
      refuse(`${what}: ${op.path} may be ${t}, not ${op.fromType}`);
    }
  }
  const out = convertedSchema(value, op.forward, what, op.path);
  for (const t of typesOf(out) ?? []) {
    if (!typeFits(t as never, op.toType)) {
      refuse(`${what}: a result may be ${t}, not ${op.toType}`);
    }
  }
  return rewrite(root, path, out, what);
}

function convertedSchema(
  value: Schema,
  forward: Transform,
  what: string,
  at: string,
): Schema {
  if (
    typeof value !== "boolean" &&
    ("const" in value || Array.isArray(value.enum))
  ) {
    const inputs = "const" in value ? [value.const] : value.enum as unknown[];
    const outputs = inputs.map((input) => {
      const result = runTransform(forward, input);
      return result.ok
        ? result.value
        : refuse(`${what}: ${result.error.message}`);
    });
    return { enum: outputs };
  }
  if ("map" in forward) {
    if (!Object.hasOwn(forward, "default")) {
      refuse(
        `${what}: a table without default needs an enum or const at ${at}`,
      );
    }
    return { enum: [...Object.values(forward.map), forward.default] };
  }
  const builtin = TOTAL_BUILTINS[forward.builtin];
  if (builtin !== undefined) return builtin;
  if (
    forward.builtin === "unix_millis_to_rfc3339" && typeof value !== "boolean"
  ) {
    const low = value.minimum, high = value.maximum;
    if (
      typeof low === "number" && typeof high === "number" && low >= -8.64e15 &&
      high <= 8.64e15
    ) {
      return { type: "string" };
    }
    refuse(
      `${what}: unix_millis_to_rfc3339 needs minimum and maximum within ±8.64e15 at ${at}`,
    );
  }
  return refuse(
    `${what}: ${forward.builtin} is partial; ${at} needs an enum or const`,
  );
}

// ---- the entry points ----------------------------------------------------

/** A schema nested beyond the call stack (the walks here recurse). */
function tooDeep(): { ok: false; error: ReturnType<typeof fail>["error"] } {
  return fail(
    "schema_invalid",
    "Lens proof failed: a schema is nested too deeply to analyse",
  );
}

/**
 * Fills in each `add` op's missing default from the new schema (its
 * `default`, else `{}` for objects and `[]` for arrays), as the registry
 * stores it. Fails when no default can be derived.
 */
export function fillDefaults(lens: Lens, next: Schema): Result<Lens> {
  const copy = structuredClone(lens);
  try {
    fillOps(copy.ops, inlineRefs(next), "");
  } catch (cause) {
    if (cause instanceof RangeError) return tooDeep();
    if (!(cause instanceof Refusal)) throw cause;
    return fail("schema_invalid", `Invalid lens: ${cause.message}`);
  }
  return ok(copy);
}

function fillOps(ops: LensOp[], next: Schema, where: string): void {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const what = `${where}ops/${i} (${op.op})`;
    if (op.op === "add" && op.default === undefined) {
      const target = lookup(next, pointer(op.path));
      const types = typeof target === "boolean" ? null : typesOf(target);
      if (typeof target !== "boolean" && target.default !== undefined) {
        op.default = target.default;
      } else if (types?.has("object")) op.default = {};
      else if (types?.has("array")) op.default = [];
      else {refuse(
          `${what}: no default given and none derivable from the new schema`,
        );}
    } else if (op.op === "in") {
      fillOps(op.ops, lookup(next, pointer(op.path)), `${what}: `);
    } else if (op.op === "map") {
      const target = lookup(next, pointer(op.path));
      fillOps(
        op.ops,
        typeof target === "boolean" ? target : (target.items ?? true) as Schema,
        `${what}: `,
      );
    }
  }
}

function lookup(schema: Schema, path: readonly string[]): Schema {
  for (const token of path) {
    if (typeof schema === "boolean") return schema;
    schema = propertyOf(schema, token);
  }
  return schema;
}

/**
 * Proves `lens` (defaults filled) safe from `previous` to `next`: on success
 * also returns its compiled ops, ready to apply.
 */
export function proveLens(
  previous: Schema,
  next: Schema,
  lens: Lens,
): Result<CompiledOp[]> {
  try {
    const derived = deriveOps(inlineRefs(previous), lens.ops, "");
    const gap = containmentGap(derived, inlineRefs(next));
    if (gap !== undefined) {
      refuse(`the lens output may not fit schema ${lens.to}: ${gap}`);
    }
  } catch (cause) {
    if (cause instanceof RangeError) return tooDeep();
    if (!(cause instanceof Refusal)) throw cause;
    return fail("schema_invalid", `Lens proof failed: ${cause.message}`);
  }
  return ok(compileOps(lens.ops));
}

/** The schema a lens run on `previous` produces (for tests and docs). */
export function derivedSchema(previous: Schema, lens: Lens): Result<Schema> {
  try {
    return ok(deriveOps(inlineRefs(previous), lens.ops, ""));
  } catch (cause) {
    if (cause instanceof RangeError) return tooDeep();
    if (!(cause instanceof Refusal)) throw cause;
    return fail("schema_invalid", cause.message);
  }
}

/** Re-export for callers that compile stored lenses without a proof. */
export type { CompiledOp };
