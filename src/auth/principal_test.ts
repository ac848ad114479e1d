import assert from "node:assert/strict";
import { parseGlob } from "../glob.ts";
import { envKey, parseKeysFile } from "./keys.ts";
import { Principal } from "./principal.ts";
import { keysFileText } from "./_testing.ts";

function principal(scopes: string[], streams: string[]): Principal {
  const parsed = parseKeysFile(
    keysFileText([{ id: "k", secret: "x".repeat(16), scopes, streams }]),
  );
  assert.ok(parsed.ok);
  return Principal.of(parsed.value[0]);
}

function glob(pattern: string) {
  const parsed = parseGlob(pattern);
  assert.ok(parsed.ok);
  return parsed.value;
}

Deno.test("Principal grants a scope only on its streams; admin implies all", () => {
  const writer = principal(["write"], ["eu/**"]);
  assert.equal(writer.allows("write", "eu/orders"), true);
  assert.equal(writer.allows("write", "us/orders"), false);
  assert.equal(writer.allows("read", "eu/orders"), false);
  assert.equal(writer.hasScope("write"), true);
  assert.equal(writer.hasScope("delete"), false);
  const admin = Principal.of(envKey("0123456789abcdef"));
  for (const scope of ["read", "write", "delete", "admin"] as const) {
    assert.equal(admin.allows(scope, "any/where"), true);
  }
  assert.equal(Principal.NOBODY.hasScope("read"), false);
  assert.equal(Principal.OPEN.allows("delete", "x"), true);
});

Deno.test("Principal.allowsPattern() needs the whole pattern within a glob", () => {
  const tenant = principal(["admin"], ["t1/**"]);
  assert.equal(tenant.allowsPattern("admin", glob("t1/events/*")), true);
  assert.equal(tenant.allowsPattern("admin", glob("*/events")), false);
  assert.equal(tenant.allowsPattern("admin", glob("**")), false);
});

Deno.test("Principal.authorize() names the key and the missing scope", () => {
  const reader = principal(["read"], ["**"]);
  assert.equal(reader.authorize("read", "a"), undefined);
  const denied = reader.authorize("write", "eu/orders");
  assert.equal(denied?.kind, "forbidden");
  assert.equal(denied?.message, "key 'k' lacks scope write for eu/orders");
  assert.equal(reader.authorize("admin")?.message, "key 'k' lacks scope admin");
});
