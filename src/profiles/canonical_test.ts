import assert from "node:assert/strict";
import { validateSearchConfig } from "../search/config.ts";
import { emptyRegistry, planSchemaUpdate } from "../schema/registry.ts";
import { canonicalSchemaBody } from "./canonical.ts";
import { profileFor } from "./registry.ts";
import { PROFILE_KINDS } from "./profile.ts";

for (const kind of PROFILE_KINDS) {
  const profile = profileFor(kind)!;
  const options = profile.validate({ kind });
  assert.ok(options.ok);
  const registry = profile.canonicalRegistry(options.value);
  if (registry === null) continue;
  Deno.test(`canonical registry of ${kind}: a schema update the schema and search modules accept`, () => {
    const body = canonicalSchemaBody(registry);
    const search = validateSearchConfig(body.search);
    assert.ok(search.ok, search.ok ? "" : search.error.message);
    const planned = planSchemaUpdate(emptyRegistry("s"), body, {
      tail: 0,
      empty: true,
    });
    assert.ok(planned.ok, planned.ok ? "" : planned.error.message);
    assert.equal(planned.value.currentVersion, 1);
    assert.deepEqual(planned.value.boundaries, [{ position: 0, version: 1 }]);
    assert.deepEqual(planned.value.routingKey, registry.routingKey);
    // The canonical registry itself is left as it was.
    assert.equal(
      typeof (registry.search!.fields as Record<string, {
        bindings: unknown[];
      }>)[Object.keys(registry.search!.fields)[0]].bindings[0],
      "string",
    );
  });
}

Deno.test("passThrough profiles leave elements unchanged and unkeyed (the engine skips them)", () => {
  for (const kind of PROFILE_KINDS) {
    const profile = profileFor(kind)!;
    if (profile.passThrough !== true) continue;
    const options = profile.validate({ kind });
    assert.ok(options.ok);
    for (const element of [{ a: 1 }, [1, 2], "x", 3, null]) {
      const out = profile.normalize(element, options.value, { nowMs: 0 });
      assert.ok(out.ok);
      assert.equal(out.value.length, 1);
      assert.equal(out.value[0].value, element);
      assert.equal(out.value[0].routingKey, null);
    }
  }
});
