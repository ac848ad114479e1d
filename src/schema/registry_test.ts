import assert from "node:assert/strict";
import {
  activate,
  emptyRegistry,
  parseStoredRegistry,
  planSchemaUpdate,
  type Registry,
  registryJson,
  SCHEMA_VERSIONS_MAX,
} from "./registry.ts";
import { needsPromotion, promote, versionAt } from "./promote.ts";
import { routingKeys } from "./routing_key.ts";

const EMPTY = { tail: 0, empty: true };

function update(registry: Registry, body: unknown, context = EMPTY): Registry {
  const result = planSchemaUpdate(registry, body, context);
  assert.ok(result.ok, result.ok ? "" : result.error.message);
  return result.value;
}

function refusal(registry: Registry, body: unknown, context = EMPTY) {
  const result = planSchemaUpdate(registry, body, context);
  assert.equal(result.ok, false, "update accepted");
  return result.ok ? undefined as never : result.error;
}

const V1 = { type: "object", required: ["id"] };
const V2 = {
  type: "object",
  required: ["id", "n"],
  properties: { n: { type: "integer" } },
};
const LENS = {
  apiVersion: "durable.lens/v1",
  schema: "s1",
  from: 1,
  to: 2,
  ops: [{ op: "add", path: "/n", schema: { type: "integer" }, default: 0 }],
};

Deno.test("planSchemaUpdate(): first schema on an empty stream (spec test 8)", () => {
  const next = update(emptyRegistry("s1"), {
    schema: V1,
    routingKey: { jsonPointer: "/id", required: true },
  });
  assert.equal(next.currentVersion, 1);
  assert.deepEqual(next.boundaries, [{ position: 0, version: 1 }]);
  assert.deepEqual(next.routingKey, { jsonPointer: "/id", required: true });
  const json = registryJson(next, (p) => `offset:${p}`);
  assert.equal(json.apiVersion, "durable.streams/schema-registry/v1");
  assert.deepEqual(json.boundaries, [{ offset: "offset:0", version: 1 }]);
});

Deno.test("planSchemaUpdate(): versioning rules (spec tests 12, 13, 15)", () => {
  const v1 = update(emptyRegistry("s1"), { schema: V1 });
  assert.match(
    refusal(emptyRegistry("s1"), { schema: V1 }, { tail: 40, empty: false })
      .message,
    /first schema requires empty stream/,
  );
  assert.match(
    refusal(v1, { schema: V2 }, { tail: 10, empty: false }).message,
    /lens required/,
  );
  const mismatch = refusal(v1, {
    schema: V2,
    lens: { ...LENS, from: 0, to: 2 },
  });
  assert.equal(mismatch.kind, "lens_version_mismatch");
  assert.equal(
    refusal(v1, { schema: V2, lens: { ...LENS, schema: "other" } }).kind,
    "schema_invalid",
  );
  const v2 = update(v1, { schema: V2, lens: LENS }, { tail: 90, empty: false });
  assert.equal(v2.currentVersion, 2);
  assert.deepEqual(v2.boundaries, [{ position: 0, version: 1 }, {
    position: 90,
    version: 2,
  }]);
  assert.deepEqual(v2.lenses["1"], LENS);
  assert.match(
    refusal(v2, {
      schema: V2,
      lens: {
        ...LENS,
        from: 2,
        to: 3,
        ops: [{ op: "remove", path: "/id", schema: {} }],
      },
    }).message,
    /Lens proof failed/,
  );
});

Deno.test("planSchemaUpdate(): refuses unknown keys and misplaced search", () => {
  const none = emptyRegistry("s");
  for (
    const body of [
      { schemas: {} },
      { indexes: [] },
      { routing_key: "/id" },
      [],
      "x",
      {},
    ]
  ) {
    assert.equal(
      refusal(none, body).kind,
      "schema_invalid",
      JSON.stringify(body),
    );
  }
  assert.match(
    refusal(none, { search: { fields: {} } }).message,
    /search needs a schema/,
  );
  assert.match(
    refusal(none, { apiVersion: "v0", schema: V1 }).message,
    /apiVersion/,
  );
  assert.match(
    refusal(none, { schema: { $ref: "http://x/y" } }).message,
    /fragment/,
  );
  assert.match(
    refusal(none, { schema: V1, search: [] }).message,
    /search must be an object/,
  );
  const both = update(none, {
    schema: V1,
    search: { primaryTimestampField: "ts" },
  });
  assert.deepEqual(both.search, { primaryTimestampField: "ts" });
});

Deno.test("planSchemaUpdate(): routing key kept, replaced or cleared", () => {
  const keyed = update(emptyRegistry("s"), {
    routingKey: { jsonPointer: "/k" },
  });
  assert.deepEqual(keyed.routingKey, { jsonPointer: "/k", required: false });
  assert.equal(keyed.currentVersion, 0);
  const withSchema = update(keyed, { schema: V1 });
  assert.deepEqual(withSchema.routingKey, {
    jsonPointer: "/k",
    required: false,
  });
  assert.equal(update(withSchema, { routingKey: null }).routingKey, null);
  for (
    const rule of [
      { jsonPointer: "" },
      { jsonPointer: "k" },
      { jsonPointer: "/k", required: "yes" },
      { pointer: "/k" },
      "/k",
    ]
  ) {
    assert.equal(
      refusal(keyed, { routingKey: rule }).kind,
      "schema_invalid",
      JSON.stringify(rule),
    );
  }
});

Deno.test("planSchemaUpdate(): at most SCHEMA_VERSIONS_MAX versions", () => {
  let registry = update(emptyRegistry("s"), { schema: { type: "object" } });
  registry = { ...registry, currentVersion: SCHEMA_VERSIONS_MAX };
  registry.schemas[String(SCHEMA_VERSIONS_MAX)] = { type: "object" };
  const lens = {
    ...LENS,
    schema: "s",
    from: SCHEMA_VERSIONS_MAX,
    to: SCHEMA_VERSIONS_MAX + 1,
  };
  assert.match(
    refusal(registry, { schema: { type: "object" }, lens }).message,
    /at most 1000 versions/,
  );
});

Deno.test("promote() upgrades records by the version of their position", () => {
  const v1 = update(emptyRegistry("s1"), { schema: V1 }, {
    tail: 100,
    empty: true,
  });
  const v2 = update(v1, { schema: V2, lens: LENS }, {
    tail: 200,
    empty: false,
  });
  const active = activate(v2);
  assert.equal(needsPromotion(active), true);
  assert.equal(needsPromotion(activate(v1)), false);
  assert.deepEqual([50, 100, 199, 200, 500].map((p) => versionAt(active, p)), [
    0,
    1,
    1,
    2,
    2,
  ]);
  const promoted = promote(active, 150, { id: "a" });
  assert.ok(promoted.ok);
  assert.deepEqual(promoted.value, { id: "a", n: 0 });
  const current = promote(active, 250, { id: "b", n: 5 });
  assert.ok(current.ok);
  assert.deepEqual(current.value, { id: "b", n: 5 });
  // Before the first boundary (a fork's inherited records): as written.
  const early = promote(active, 10, { anything: true });
  assert.ok(early.ok);
  assert.deepEqual(early.value, { anything: true });
});

Deno.test("routingKeys() applies the pointer rules", () => {
  const keyed = activate(
    update(emptyRegistry("s"), {
      schema: V1,
      routingKey: { jsonPointer: "/user/id", required: true },
    }),
  );
  const keys = routingKeys(
    keyed,
    [{ user: { id: "a" } }, { user: { id: "é" } }],
    undefined,
    1024,
  );
  assert.ok(keys.ok);
  assert.deepEqual(keys.value, ["a", "é"]);
  const cases: [unknown[], string | undefined, RegExp][] = [
    [[{ user: { id: "a" } }], "h", /Stream-Key cannot be used/],
    [
      [{ user: { id: "a" } }, { user: {} }],
      undefined,
      /element 1: .*routing key missing/,
    ],
    [
      [{ user: { id: 5 } }],
      undefined,
      /element 0: .*must be a string, found number/,
    ],
    [[{ user: { id: "" } }], undefined, /1 to 1024 bytes/],
    [[{ user: { id: "é".repeat(513) } }], undefined, /1 to 1024 bytes/],
  ];
  for (const [elements, header, pattern] of cases) {
    const result = routingKeys(keyed, elements, header, 1024);
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.equal(result.error.kind, "bad_request");
      assert.match(result.error.message, pattern);
    }
  }
  const optional = activate(
    update(emptyRegistry("s"), { routingKey: { jsonPointer: "/k" } }),
  );
  const some = routingKeys(optional, [{ k: "x" }, {}], undefined, 1024);
  assert.ok(some.ok);
  assert.deepEqual(some.value, ["x", undefined]);
  const none = routingKeys(activate(emptyRegistry("s")), [{}], "h", 1024);
  assert.ok(none.ok);
  assert.equal(none.value, null);
});

Deno.test("parseStoredRegistry() round-trips and refuses junk as corrupt", () => {
  const registry = update(emptyRegistry("s1"), {
    schema: V1,
    routingKey: { jsonPointer: "/id" },
  });
  const back = parseStoredRegistry(JSON.stringify(registry));
  assert.ok(back.ok);
  assert.deepEqual(back.value, registry);
  for (const text of ["{", "[]", '{"schema":1}']) {
    const bad = parseStoredRegistry(text);
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.equal(bad.error.kind, "corrupt");
  }
});
