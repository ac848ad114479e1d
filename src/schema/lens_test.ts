import assert from "node:assert/strict";
import fc from "fast-check";
import {
  applyLens,
  compileOps,
  type Lens,
  type LensOp,
  parseLens,
  runBuiltin,
} from "./lens.ts";

function lens(ops: LensOp[]): Lens {
  return { apiVersion: "durable.lens/v1", schema: "s", from: 1, to: 2, ops };
}

function run(value: unknown, ops: LensOp[]): unknown {
  const parsed = parseLens(lens(ops));
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.error.message);
  const out = applyLens(structuredClone(value), compileOps(parsed.value.ops));
  assert.ok(out.ok, out.ok ? "" : out.error.message);
  return out.value;
}

function failure(value: unknown, ops: LensOp[]): string {
  const out = applyLens(structuredClone(value), compileOps(ops));
  assert.equal(out.ok, false);
  return out.ok ? "" : out.error.message;
}

Deno.test("rename moves a value and fails when the source is absent", () => {
  assert.deepEqual(
    run({ a: 1, b: 2 }, [{ op: "rename", from: "/a", to: "/c" }]),
    { b: 2, c: 1 },
  );
  assert.deepEqual(
    run({ a: { x: 1 }, o: {} }, [{ op: "rename", from: "/a/x", to: "/o/y" }]),
    { a: {}, o: { y: 1 } },
  );
  assert.match(failure({}, [{ op: "rename", from: "/a", to: "/c" }]), /absent/);
});

Deno.test("copy duplicates a value without sharing it", () => {
  const out = run({ a: { n: 1 } }, [
    { op: "copy", from: "/a", to: "/b" },
    { op: "add", path: "/b/m", schema: { type: "integer" }, default: 2 },
  ]);
  assert.deepEqual(out, { a: { n: 1 }, b: { n: 1, m: 2 } });
  assert.match(failure({}, [{ op: "copy", from: "/a", to: "/c" }]), /absent/);
});

Deno.test("add inserts when absent and keeps a present value that fits its schema", () => {
  const add: LensOp = {
    op: "add",
    path: "/n",
    schema: { type: "integer" },
    default: 0,
  };
  assert.deepEqual(run({ id: "a" }, [add]), { id: "a", n: 0 });
  assert.deepEqual(run({ id: "a", n: 7 }, [add]), { id: "a", n: 7 });
  // A present value the new field cannot hold is replaced.
  assert.deepEqual(run({ id: "a", n: "x" }, [add]), { id: "a", n: 0 });
  assert.match(
    failure({}, [{ ...add, path: "/a/b" }] as LensOp[]),
    /missing parent/,
  );
});

Deno.test("remove deletes a value and fails when absent", () => {
  const op: LensOp = { op: "remove", path: "/a", schema: {} };
  assert.deepEqual(run({ a: 1, b: 2 }, [op]), { b: 2 });
  assert.match(failure({ b: 2 }, [op]), /absent/);
});

Deno.test("hoist lifts a member out of its host", () => {
  const value = { user: { id: "u", name: "n" } };
  assert.deepEqual(
    run(value, [{ op: "hoist", host: "/user", name: "id", to: "/userId" }]),
    { user: { name: "n" }, userId: "u" },
  );
  assert.deepEqual(
    run(value, [{
      op: "hoist",
      host: "/user",
      name: "id",
      to: "/userId",
      removeFromHost: false,
    }]),
    { user: { id: "u", name: "n" }, userId: "u" },
  );
  assert.match(
    failure({ user: 1 }, [{
      op: "hoist",
      host: "/user",
      name: "id",
      to: "/x",
    }]),
    /not an object/,
  );
});

Deno.test("plunge pushes a value into a host, creating it when allowed", () => {
  assert.deepEqual(
    run({ id: "u" }, [{
      op: "plunge",
      from: "/id",
      host: "/user",
      name: "id",
    }]),
    { user: { id: "u" } },
  );
  assert.deepEqual(
    run({ id: "u", user: { a: 1 } }, [{
      op: "plunge",
      from: "/id",
      host: "/user",
      name: "id",
      removeFromSource: false,
    }]),
    { id: "u", user: { a: 1, id: "u" } },
  );
  assert.match(
    failure({ id: "u" }, [{
      op: "plunge",
      from: "/id",
      host: "/user",
      name: "id",
      createHost: false,
    }]),
    /host is absent/,
  );
});

Deno.test("wrap and head turn a value into a singleton and back", () => {
  assert.deepEqual(
    run({ t: "a" }, [{ op: "wrap", path: "/t", mode: "singleton" }]),
    { t: ["a"] },
  );
  assert.deepEqual(run("a", [{ op: "wrap", path: "", mode: "singleton" }]), [
    "a",
  ]);
  assert.deepEqual(run({ t: ["a", "b"] }, [{ op: "head", path: "/t" }]), {
    t: "a",
  });
  assert.match(failure({ t: [] }, [{ op: "head", path: "/t" }]), /non-empty/);
});

Deno.test("convert maps through a table or a builtin and checks both types", () => {
  const table: LensOp = {
    op: "convert",
    path: "/s",
    fromType: "string",
    toType: "integer",
    forward: { map: { low: 1, high: 2 }, default: 0 },
    backward: { map: { "1": "low", "2": "high" } },
  };
  assert.deepEqual(run({ s: "high" }, [table]), { s: 2 });
  assert.deepEqual(run({ s: "other" }, [table]), { s: 0 });
  assert.match(failure({ s: 5 }, [table]), /expected string, found integer/);
  const partial = { ...table, forward: { map: { low: 1 } } } as LensOp;
  assert.match(failure({ s: "x" }, [partial]), /no mapping/);
  const badResult = { ...table, forward: { map: { low: "one" } } } as LensOp;
  assert.match(
    failure({ s: "low" }, [badResult]),
    /result is string, not integer/,
  );
});

Deno.test("the six builtins", () => {
  const cases: [Parameters<typeof runBuiltin>[0], unknown, unknown][] = [
    ["lowercase", "AbC", "abc"],
    ["uppercase", "AbC", "ABC"],
    ["string_to_int", "-42", -42],
    ["int_to_string", 42, "42"],
    ["rfc3339_to_unix_millis", "1970-01-01T00:00:01.5+00:00", 1500],
    ["rfc3339_to_unix_millis", "1970-01-01T00:00:00.123456789Z", 123],
    ["unix_millis_to_rfc3339", 1500, "1970-01-01T00:00:01.500Z"],
  ];
  for (const [name, input, output] of cases) {
    const result = runBuiltin(name, input);
    assert.ok(result.ok, name);
    assert.deepEqual(result.value, output, name);
  }
  for (
    const [name, input] of [
      ["string_to_int", "12abc"],
      ["string_to_int", "99999999999999999999"],
      ["int_to_string", 1.5],
      ["lowercase", 1],
      ["rfc3339_to_unix_millis", "2026-12-01 10:00:00"],
      ["unix_millis_to_rfc3339", 1e20],
    ] as const
  ) assert.equal(runBuiltin(name, input).ok, false, `${name}(${input})`);
});

Deno.test("in and map apply nested ops and write back replaced roots", () => {
  assert.deepEqual(
    run({ o: { a: 1 } }, [{
      op: "in",
      path: "/o",
      ops: [{ op: "rename", from: "/a", to: "/b" }],
    }]),
    { o: { b: 1 } },
  );
  assert.deepEqual(
    run({ o: { a: 1 } }, [{
      op: "in",
      path: "/o",
      ops: [{ op: "wrap", path: "", mode: "singleton" }],
    }]),
    { o: [{ a: 1 }] },
  );
  assert.deepEqual(
    run({ tags: ["A", "B"] }, [{
      op: "map",
      path: "/tags",
      ops: [{
        op: "convert",
        path: "",
        fromType: "string",
        toType: "string",
        forward: { builtin: "lowercase" },
        backward: { builtin: "uppercase" },
      }],
    }]),
    { tags: ["a", "b"] },
  );
  assert.match(
    failure({ o: [1] }, [{ op: "in", path: "/o", ops: [] }]),
    /expects an object/,
  );
  assert.match(
    failure({ o: {} }, [{ op: "map", path: "/o", ops: [] }]),
    /expects an array/,
  );
});

Deno.test("parseLens() refuses malformed documents", () => {
  const good = lens([{ op: "rename", from: "/a", to: "/b" }]);
  assert.ok(parseLens(good).ok);
  const bad: [unknown, RegExp][] = [
    [{ ...good, apiVersion: "x" }, /apiVersion/],
    [{ ...good, extra: 1 }, /additional/],
    [{ ...good, ops: [] }, /fewer than 1/],
    [{ ...good, from: -1 }, />= 0/],
    [lens([{ op: "nope" } as never]), /unknown op "nope"/],
    [lens([{ op: "rename", from: "a", to: "/b" }]), /pattern/],
    [lens([{ op: "rename", from: "/a~2", to: "/b" }]), /"~" must be followed/],
    [
      lens([{ op: "rename", from: "", to: "/b" }]),
      /must not be the whole document/,
    ],
    [
      lens([{
        op: "in",
        path: "/a",
        ops: [{ op: "add", path: "/x" } as never],
      }]),
      /ops\/0: ops\/0: must have required property 'schema'/,
    ],
    [
      lens([{ op: "add", path: "/x", schema: { $ref: "#/a" } }]),
      /must not use \$ref/,
    ],
    [
      lens([{ op: "rename", from: "/a", to: "/b", x: 1 } as never]),
      /additional/,
    ],
  ];
  for (const [doc, pattern] of bad) {
    const result = parseLens(doc);
    assert.equal(result.ok, false, JSON.stringify(doc));
    if (!result.ok) {
      assert.equal(result.error.kind, "schema_invalid");
      assert.match(result.error.message, pattern);
    }
  }
});

// ---- a reference evaluator: immutable, recursive, written separately -----

type J = unknown;
const isObj = (v: J): v is Record<string, J> =>
  v !== null && typeof v === "object" && !Array.isArray(v);
const toks = (p: string) =>
  p === ""
    ? []
    : p.slice(1).split("/").map((t) =>
      t.replaceAll("~1", "/").replaceAll("~0", "~")
    );

function refGet(v: J, path: string[]): J {
  if (path.length === 0) return v;
  if (!isObj(v) || !Object.hasOwn(v, path[0])) return undefined;
  return refGet(v[path[0]], path.slice(1));
}
function refSet(v: J, path: string[], x: J): J {
  if (path.length === 0) return x;
  if (!isObj(v)) throw new Error("no parent");
  if (path.length > 1 && !Object.hasOwn(v, path[0])) {
    throw new Error("no parent");
  }
  return { ...v, [path[0]]: refSet(v[path[0]], path.slice(1), x) };
}
function refDel(v: J, path: string[]): J {
  if (!isObj(v) || !Object.hasOwn(v, path[0])) throw new Error("absent");
  if (path.length === 1) {
    const { [path[0]]: _, ...rest } = v;
    return rest;
  }
  return { ...v, [path[0]]: refDel(v[path[0]], path.slice(1)) };
}
function refNeed(v: J, path: string[]): J {
  const x = refGet(v, path);
  if (x === undefined) throw new Error("absent");
  return x;
}
function refOp(v: J, op: LensOp): J {
  switch (op.op) {
    case "rename": {
      const x = refNeed(v, toks(op.from));
      return refSet(refDel(v, toks(op.from)), toks(op.to), x);
    }
    case "copy":
      return refSet(v, toks(op.to), refNeed(v, toks(op.from)));
    case "add": {
      const x = refGet(v, toks(op.path));
      const fits = (op.schema as { type: string }).type === "integer"
        ? Number.isInteger(x)
        : true;
      return x !== undefined && fits ? v : refSet(v, toks(op.path), op.default);
    }
    case "remove":
      return refDel(v, toks(op.path));
    case "wrap":
      return refSet(v, toks(op.path), [refNeed(v, toks(op.path))]);
    case "head": {
      const x = refNeed(v, toks(op.path));
      if (!Array.isArray(x) || x.length === 0) throw new Error("head");
      return refSet(v, toks(op.path), x[0]);
    }
    case "in": {
      const x = refNeed(v, toks(op.path));
      if (!isObj(x)) throw new Error("in");
      return refSet(v, toks(op.path), op.ops.reduce(refOp, x));
    }
    case "map": {
      const x = refNeed(v, toks(op.path));
      if (!Array.isArray(x)) throw new Error("map");
      return refSet(
        v,
        toks(op.path),
        x.map((item) => op.ops.reduce(refOp, item)),
      );
    }
    default:
      throw new Error("not modelled");
  }
}
function refApply(v: J, ops: LensOp[]): { ok: true; value: J } | { ok: false } {
  try {
    return { ok: true, value: ops.reduce(refOp, v) };
  } catch {
    return { ok: false };
  }
}

const NAMES = ["a", "b", "c"];
const arbPath = fc.array(fc.constantFrom(...NAMES), {
  minLength: 1,
  maxLength: 2,
})
  .map((t) => "/" + t.join("/"));
const arbValue: fc.Arbitrary<J> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.integer({ min: -3, max: 3 }),
    fc.constantFrom("x", "y"),
    fc.array(tie("value"), { maxLength: 2 }),
    fc.dictionary(fc.constantFrom(...NAMES), tie("value"), { maxKeys: 3 }),
  ),
})).value;
const arbOp: fc.Arbitrary<LensOp> = fc.letrec((tie) => ({
  op: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({
      op: fc.constant("rename" as const),
      from: arbPath,
      to: arbPath,
    }),
    fc.record({ op: fc.constant("copy" as const), from: arbPath, to: arbPath }),
    fc.record({
      op: fc.constant("add" as const),
      path: arbPath,
      schema: fc.constant({ type: "integer" }),
      default: fc.integer({ min: 0, max: 9 }),
    }),
    fc.record({
      op: fc.constant("remove" as const),
      path: arbPath,
      schema: fc.constant({}),
    }),
    fc.record({
      op: fc.constant("wrap" as const),
      path: fc.oneof(arbPath, fc.constant("")),
      mode: fc.constant("singleton" as const),
    }),
    fc.record({
      op: fc.constant("head" as const),
      path: fc.oneof(arbPath, fc.constant("")),
    }),
    fc.record({
      op: fc.constant("in" as const),
      path: fc.oneof(arbPath, fc.constant("")),
      ops: fc.array(tie("op"), { minLength: 1, maxLength: 2 }),
    }),
    fc.record({
      op: fc.constant("map" as const),
      path: fc.oneof(arbPath, fc.constant("")),
      ops: fc.array(tie("op"), { minLength: 1, maxLength: 2 }),
    }),
  ),
})).op as fc.Arbitrary<LensOp>;

Deno.test("applyLens() agrees with a reference evaluator (fast-check)", () => {
  let succeeded = 0;
  const arbDoc = fc.dictionary(fc.constantFrom(...NAMES), arbValue, {
    minKeys: 1,
    maxKeys: 3,
  });
  fc.assert(
    fc.property(
      arbDoc,
      fc.array(arbOp, { minLength: 1, maxLength: 3 }),
      (value, ops) => {
        const expected = refApply(structuredClone(value), ops);
        const actual = applyLens(structuredClone(value), compileOps(ops));
        assert.equal(
          actual.ok,
          expected.ok,
          actual.ok ? "" : actual.error.message,
        );
        if (!actual.ok || !expected.ok) return;
        succeeded++;
        assert.deepEqual(actual.value, expected.value);
      },
    ),
    { numRuns: 1000 },
  );
  assert.ok(succeeded > 30, `only ${succeeded} lenses applied`);
});
