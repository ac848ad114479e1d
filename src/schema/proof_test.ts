import assert from "node:assert/strict";
import fc from "fast-check";
import { applyLens, type Lens, type LensOp, parseLens } from "./lens.ts";
import {
  containmentGap,
  fillDefaults,
  proveLens,
  type Schema,
} from "./proof.ts";
import { compileSchema } from "./validate.ts";

function lens(ops: LensOp[]): Lens {
  return { apiVersion: "durable.lens/v1", schema: "s", from: 1, to: 2, ops };
}

function prove(previous: Schema, next: Schema, ops: LensOp[]) {
  const filled = fillDefaults(lens(ops), next);
  if (!filled.ok) return filled;
  return proveLens(previous, next, filled.value);
}

function accepted(previous: Schema, next: Schema, ops: LensOp[]): void {
  const result = prove(previous, next, ops);
  assert.ok(result.ok, result.ok ? "" : result.error.message);
}

function refused(
  previous: Schema,
  next: Schema,
  ops: LensOp[],
  pattern: RegExp,
): void {
  const result = prove(previous, next, ops);
  assert.equal(result.ok, false, `accepted ${JSON.stringify(ops)}`);
  if (!result.ok) {
    assert.equal(result.error.kind, "schema_invalid");
    assert.match(result.error.message, pattern);
  }
}

const V1 = { type: "object", required: ["id"] };
const V2 = {
  type: "object",
  required: ["id", "n"],
  properties: { n: { type: "integer" } },
};

Deno.test("proof: adding a required field with a default (spec test 13)", () => {
  accepted(V1, V2, [{
    op: "add",
    path: "/n",
    schema: { type: "integer" },
    default: 0,
  }]);
  refused(V1, V2, [{
    op: "add",
    path: "/n",
    schema: { type: "integer" },
    default: "zero",
  }], /\/n/);
  // Without a default, the new schema must supply one.
  refused(
    V1,
    V2,
    [{ op: "add", path: "/n", schema: { type: "integer" } }],
    /no default/,
  );
  accepted(V1, { ...V2, properties: { n: { type: "integer", default: 3 } } }, [
    { op: "add", path: "/n", schema: { type: "integer" } },
  ]);
});

Deno.test("proof: remove of a field the new schema still requires (spec test 14)", () => {
  const v1 = {
    type: "object",
    required: ["id"],
    properties: { id: { type: "string" } },
  };
  refused(
    v1,
    v1,
    [{ op: "remove", path: "/id", schema: {} }],
    /\/id: may be absent/,
  );
  accepted(v1, { type: "object" }, [{ op: "remove", path: "/id", schema: {} }]);
});

Deno.test("proof: untouched fields must still fit the new schema", () => {
  const v1 = {
    type: "object",
    required: ["a"],
    properties: { a: { type: "string" } },
  };
  const v2 = {
    type: "object",
    required: ["a"],
    properties: { a: { type: "integer" } },
  };
  refused(
    v1,
    v2,
    [{ op: "add", path: "/b", schema: {}, default: 1 }],
    /\/a: may be string/,
  );
});

Deno.test("proof: sources must be required in the schema they read", () => {
  const v1 = { type: "object", properties: { a: { type: "string" } } };
  const v2 = { type: "object", properties: { b: { type: "string" } } };
  refused(v1, v2, [{ op: "rename", from: "/a", to: "/b" }], /not required/);
  accepted({ ...v1, required: ["a"] }, { ...v2, required: ["b"] }, [{
    op: "rename",
    from: "/a",
    to: "/b",
  }]);
  refused({ ...v1, required: ["a"] }, {
    ...v2,
    required: ["b"],
    properties: { b: { type: "integer" } },
  }, [
    { op: "rename", from: "/a", to: "/b" },
  ], /may be string/);
});

Deno.test("proof: sequences see the shape earlier ops produced", () => {
  const v1 = {
    type: "object",
    required: ["t"],
    properties: { t: { type: "string" } },
    additionalProperties: false,
  };
  const v2 = {
    type: "object",
    required: ["tags"],
    properties: {
      tags: { type: "array", items: { type: "string" }, minItems: 1 },
    },
    additionalProperties: false,
  };
  accepted(v1, v2, [{ op: "rename", from: "/t", to: "/tags" }, {
    op: "wrap",
    path: "/tags",
    mode: "singleton",
  }]);
  refused(
    v1,
    v2,
    [{ op: "rename", from: "/t", to: "/tags" }],
    /tags: may be string/,
  );
  // Back again: head needs minItems >= 1.
  accepted(v2, v1, [{ op: "head", path: "/tags" }, {
    op: "rename",
    from: "/tags",
    to: "/t",
  }]);
  const loose = {
    ...v2,
    properties: { tags: { type: "array", items: { type: "string" } } },
  };
  refused(loose, v1, [{ op: "head", path: "/tags" }], /minItems/);
});

Deno.test("proof: convert needs a total mapping or a closed source", () => {
  const v1 = {
    type: "object",
    required: ["s"],
    properties: { s: { type: "string" } },
  };
  const closed = {
    type: "object",
    required: ["s"],
    properties: { s: { enum: ["low", "high"] } },
  };
  const v2 = {
    type: "object",
    required: ["s"],
    properties: { s: { type: "integer" } },
  };
  const table = (forward: unknown): LensOp => ({
    op: "convert",
    path: "/s",
    fromType: "string",
    toType: "integer",
    forward: forward as never,
    backward: { builtin: "int_to_string" },
  });
  refused(
    v1,
    v2,
    [table({ map: { low: 1, high: 2 } })],
    /needs an enum or const/,
  );
  accepted(v1, v2, [table({ map: { low: 1, high: 2 }, default: 0 })]);
  accepted(closed, v2, [table({ map: { low: 1, high: 2 } })]);
  refused(closed, v2, [table({ map: { low: 1 } })], /no mapping for "high"/);
  refused(v1, v2, [table({ builtin: "string_to_int" })], /partial/);
  const digits = { ...closed, properties: { s: { enum: ["1", "22"] } } };
  accepted(digits, v2, [table({ builtin: "string_to_int" })]);
  const wrongType = { ...v2, properties: { s: { type: "string" } } };
  refused(
    closed,
    wrongType,
    [table({ map: { low: 1, high: 2 } })],
    /\/s: a possible value/,
  );
});

Deno.test("proof: in and map need objects and arrays on both sides", () => {
  const v1 = {
    type: "object",
    required: ["o", "xs"],
    properties: {
      o: {
        type: "object",
        required: ["a"],
        properties: { a: { type: "integer" } },
      },
      xs: {
        type: "array",
        items: {
          type: "object",
          required: ["a"],
          properties: { a: { type: "integer" } },
        },
      },
    },
  };
  const v2 = {
    type: "object",
    required: ["o", "xs"],
    properties: {
      o: {
        type: "object",
        required: ["b"],
        properties: { b: { type: "integer" } },
      },
      xs: {
        type: "array",
        items: {
          type: "object",
          required: ["b"],
          properties: { b: { type: "integer" } },
        },
      },
    },
  };
  const rename: LensOp = { op: "rename", from: "/a", to: "/b" };
  accepted(v1, v2, [{ op: "in", path: "/o", ops: [rename] }, {
    op: "map",
    path: "/xs",
    ops: [rename],
  }]);
  refused(
    v1,
    v2,
    [{ op: "in", path: "/o", ops: [rename] }],
    /\/xs\/\*\/b: may be absent/,
  );
  refused(
    v1,
    v2,
    [{ op: "map", path: "/o", ops: [rename] }],
    /not known to be an array/,
  );
  refused(
    v1,
    v2,
    [{ op: "rename", from: "/xs/0/a", to: "/xs/0/b" }],
    /array; reach into arrays with "map"/,
  );
});

Deno.test("proof: hoist and plunge", () => {
  const nested = {
    type: "object",
    required: ["user"],
    properties: {
      user: {
        type: "object",
        required: ["id"],
        properties: { id: { type: "string" } },
      },
    },
  };
  const flat = {
    type: "object",
    required: ["userId"],
    properties: { userId: { type: "string" } },
  };
  accepted(nested, flat, [{
    op: "hoist",
    host: "/user",
    name: "id",
    to: "/userId",
  }]);
  const flatId = {
    type: "object",
    required: ["id"],
    properties: { id: { type: "string" } },
    additionalProperties: false,
  };
  const openId = { ...flatId, additionalProperties: true };
  refused(openId, nested, [{
    op: "plunge",
    from: "/id",
    host: "/user",
    name: "id",
  }], /may be absent or not an object/);
  accepted(flatId, nested, [{
    op: "plunge",
    from: "/id",
    host: "/user",
    name: "id",
  }]);
  refused(flatId, nested, [{
    op: "plunge",
    from: "/id",
    host: "/user",
    name: "id",
    createHost: false,
  }], /createHost/);
});

Deno.test("proof: fragment $ref in either schema is followed", () => {
  const v1 = {
    $defs: { id: { type: "string" } },
    type: "object",
    required: ["id"],
    properties: { id: { $ref: "#/$defs/id" } },
  };
  const v2 = {
    definitions: { key: { type: "string", minLength: 0 } },
    type: "object",
    required: ["key"],
    properties: { key: { $ref: "#/definitions/key" } },
  };
  refused(v1, v2, [{ op: "rename", from: "/id", to: "/key" }], /minLength/);
  accepted(v1, { ...v2, definitions: { key: { type: "string" } } }, [{
    op: "rename",
    from: "/id",
    to: "/key",
  }]);
  const recursive = {
    $defs: {
      n: { type: "object", properties: { next: { $ref: "#/$defs/n" } } },
    },
    $ref: "#/$defs/n",
  };
  refused(recursive, recursive, [{
    op: "add",
    path: "/x",
    schema: {},
    default: 1,
  }], /recursive/);
});

Deno.test("containmentGap() checks bounds, enums and closed objects", () => {
  assert.equal(
    containmentGap({ type: "integer" }, { type: "number" }),
    undefined,
  );
  assert.notEqual(
    containmentGap({ type: "number" }, { type: "integer" }),
    undefined,
  );
  assert.equal(
    containmentGap({ enum: [1, 2] }, { type: "integer", maximum: 2 }),
    undefined,
  );
  assert.notEqual(
    containmentGap({ enum: [1, 3] }, { type: "integer", maximum: 2 }),
    undefined,
  );
  assert.equal(
    containmentGap({ type: "string", maxLength: 3 }, {
      type: "string",
      maxLength: 5,
    }),
    undefined,
  );
  assert.notEqual(
    containmentGap({ type: "string" }, { type: "string", maxLength: 5 }),
    undefined,
  );
  assert.notEqual(
    containmentGap({ type: "object" }, {
      type: "object",
      additionalProperties: false,
    }),
    undefined,
  );
  assert.equal(
    containmentGap(
      {
        type: "object",
        properties: { a: { type: "integer" } },
        additionalProperties: false,
      },
      {
        type: "object",
        properties: { a: { type: "number" } },
        additionalProperties: false,
      },
    ),
    undefined,
  );
  assert.notEqual(containmentGap({ type: "string" }, false), undefined);
});

// ---- soundness: accepted lenses keep every old instance valid --------------

const NAMES = ["a", "b", "c"];

type S = Record<string, unknown>;
const arbLeaf: fc.Arbitrary<S> = fc.constantFrom<S>(
  { type: "integer" },
  { type: "string" },
  { enum: ["x", "y"] },
  { type: "integer", minimum: 0, maximum: 5 },
  { type: "array", items: { type: "integer" }, minItems: 1 },
  { type: "array", items: { type: "string" } },
  {},
);
const arbSchema: fc.Arbitrary<S> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    arbLeaf,
    tie("object"),
  ),
  object: fc.record({
    properties: fc.dictionary(fc.constantFrom(...NAMES), tie("node"), {
      maxKeys: 3,
    }),
    required: fc.subarray(NAMES),
    closed: fc.boolean(),
  }).map(({ properties, required, closed }) => {
    const out: S = {
      type: "object",
      properties,
      required: required.filter((n) => n in properties || !closed),
    };
    if (closed) out.additionalProperties = false;
    return out;
  }),
})).object as fc.Arbitrary<S>;

/** Instances of the small schema language above, including extra members. */
function arbInstance(schema: S, depth = 0): fc.Arbitrary<unknown> {
  if (schema.enum) return fc.constantFrom(...schema.enum as unknown[]);
  if (schema.type === "integer") {
    return fc.integer({
      min: (schema.minimum as number) ?? -9,
      max: (schema.maximum as number) ?? 9,
    });
  }
  if (schema.type === "string") return fc.constantFrom("x", "y", "1", "");
  if (schema.type === "array") {
    return fc.array(arbInstance(schema.items as S, depth + 1), {
      minLength: (schema.minItems as number) ?? 0,
      maxLength: 2,
    });
  }
  if (schema.type !== "object") {
    return depth > 2 ? fc.constantFrom(1, "x", null) : fc.oneof(
      fc.constantFrom(1, "x", null, true),
      fc.array(fc.integer(), { maxLength: 2 }),
      fc.constant({ a: 1 }),
    );
  }
  const props = schema.properties as Record<string, S>;
  const required = schema.required as string[];
  const members: Record<string, fc.Arbitrary<unknown>> = {};
  for (const name of NAMES) {
    if (name in props) members[name] = arbInstance(props[name], depth + 1);
    else if (schema.additionalProperties !== false) {
      members[name] = arbInstance({}, depth + 1);
    }
  }
  return fc.record(members, {
    requiredKeys: required.filter((n) => n in members),
  });
}

const arbPath = fc.array(fc.constantFrom(...NAMES), {
  minLength: 1,
  maxLength: 2,
}).map((t) => "/" + t.join("/"));
const arbOp: fc.Arbitrary<LensOp> = fc.oneof(
  fc.record({ op: fc.constant("rename" as const), from: arbPath, to: arbPath }),
  fc.record({ op: fc.constant("copy" as const), from: arbPath, to: arbPath }),
  fc.record({
    op: fc.constant("add" as const),
    path: arbPath,
    schema: arbLeaf,
    default: fc.constantFrom(0, "x", [1]),
  }),
  fc.record({
    op: fc.constant("remove" as const),
    path: arbPath,
    schema: fc.constant({}),
  }),
  fc.record({
    op: fc.constant("wrap" as const),
    path: arbPath,
    mode: fc.constant("singleton" as const),
  }),
  fc.record({ op: fc.constant("head" as const), path: arbPath }),
  fc.record({
    op: fc.constant("hoist" as const),
    host: arbPath,
    name: fc.constantFrom(...NAMES),
    to: arbPath,
  }),
  fc.record({
    op: fc.constant("plunge" as const),
    from: arbPath,
    host: arbPath,
    name: fc.constantFrom(...NAMES),
  }),
  fc.record({
    op: fc.constant("convert" as const),
    path: arbPath,
    fromType: fc.constant("string" as const),
    toType: fc.constant("integer" as const),
    forward: fc.constantFrom({ map: { x: 1, y: 2 } }, {
      map: { x: 1 },
      default: 0,
    }, { builtin: "string_to_int" as const }),
    backward: fc.constant({ builtin: "int_to_string" as const }),
  }),
  fc.record({
    op: fc.constant("in" as const),
    path: arbPath,
    ops: fc.array(
      fc.record({
        op: fc.constant("rename" as const),
        from: arbPath,
        to: arbPath,
      }),
      { minLength: 1, maxLength: 2 },
    ),
  }),
  fc.record({
    op: fc.constant("map" as const),
    path: arbPath,
    ops: fc.array(
      fc.record({
        op: fc.constant("add" as const),
        path: arbPath,
        schema: arbLeaf,
        default: fc.constant(0),
      }),
      { minLength: 1, maxLength: 1 },
    ),
  }),
);

Deno.test("proof: an accepted lens turns every old instance into a new one (fast-check)", () => {
  let provenCount = 0;
  let checkedInstances = 0;
  // New schemas: either unrelated, or the old one (the lens must then keep
  // its shape), or trivially loose; all three yield acceptances and refusals.
  const arbCase = fc.tuple(
    arbSchema,
    fc.array(arbOp, { minLength: 1, maxLength: 2 }),
    fc.integer({ min: 0, max: 2 }),
    arbSchema,
  )
    .map(([previous, ops, pick, other]) => ({
      previous,
      ops,
      next: [other, previous, { type: "object" }][pick],
    }));
  fc.assert(
    fc.property(
      arbCase.chain((c) =>
        fc.tuple(
          fc.constant(c),
          fc.array(arbInstance(c.previous), { minLength: 1, maxLength: 12 }),
        )
      ),
      ([c, instances]) => {
        const parsed = parseLens(lens(c.ops));
        if (!parsed.ok) return;
        const proven = prove(c.previous, c.next, parsed.value.ops);
        if (!proven.ok) return;
        provenCount++;
        const validPrevious = compileSchema(c.previous);
        const validNext = compileSchema(c.next);
        assert.ok(validPrevious.ok && validNext.ok);
        for (const instance of instances) {
          if (validPrevious.value.check(instance) !== undefined) continue;
          checkedInstances++;
          const out = applyLens(structuredClone(instance), proven.value);
          assert.ok(
            out.ok,
            `lens failed on ${JSON.stringify(instance)}: ${
              !out.ok && out.error.message
            }`,
          );
          const problem: string | undefined = validNext.value.check(out.value);
          assert.equal(
            problem,
            undefined,
            `${JSON.stringify(instance)} -> ${JSON.stringify(out.value)}`,
          );
        }
      },
    ),
    { numRuns: 4000 },
  );
  assert.ok(provenCount > 40, `only ${provenCount} lenses proven`);
  assert.ok(
    checkedInstances > 300,
    `only ${checkedInstances} instances checked`,
  );
});

Deno.test("proof: a schema nested beyond the stack is refused, not a crash", () => {
  let deep: Schema = { type: "object" };
  for (let i = 0; i < 100_000; i++) {
    deep = { type: "object", properties: { a: deep } };
  }
  const result = prove(deep, deep, [{
    op: "add",
    path: "/b",
    schema: {},
    default: 1,
  }]);
  assert.equal(result.ok, false);
  if (!result.ok) assert.equal(result.error.kind, "schema_invalid");
});
